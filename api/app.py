"""The techmatch web service: ``create_app(settings, store=None, engine=None)`` builds the FastAPI app.

The JSON API lives under ``/api`` (one router module per resource group in ``api/routes``), the Chinese
web workspace at ``/`` (server-rendered Jinja2, assets under ``/static`` served by the app itself).
When no store is given the lifespan opens the configured graph and closes it on shutdown.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.audit import AuditLog
from api.auth import AccountService, FormSigner, LoginGuard, RequestLimiter, SessionStore
from api.config import ApiSettings, load_settings
from api.errors import BodySizeLimit, install_error_handlers
from api.gate import VocabularySource
from api.jobs import JobRunner
from api.notifications import Notifier
from api.observability import RequestTelemetry
from api.observability import router as probes
from api.routes import (
    admin,
    admin_pages,
    audit_log,
    bureau_pages,
    challenge_pages,
    challenges,
    dockings,
    docs,
    entities,
    feedback,
    ingest,
    matching,
    needs,
    stats,
    web,
    workspace,
)
from api.security import SameOriginForms, SecurityHeaders
from api.services.uploads import mark_interrupted_uploads
from api.upkeep import Upkeep
from graph.files import private_dir, write_private
from graph.store import GraphStore, open_store
from matcher.engine import MatchEngine

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
#: every router the service has, imported above: a module of ours that fails to import stops the start (it is
#: never a feature quietly left out)
ROUTE_MODULES = (entities, needs, challenges, matching, feedback, ingest, stats, audit_log, admin, web, bureau_pages,
                 challenge_pages, admin_pages, workspace, dockings, docs)
#: the packages of this project: one of them missing is a broken install, not an optional part
OWN_PACKAGES = frozenset({"api", "graph", "ingest", "matcher", "bureau", "evaluation"})
JSON_BODY_LIMIT = 1 * 1024 * 1024
UPLOAD_PATHS = ("/api/ingest",)

API_DESCRIPTION = """
techmatch: knowledge-graph matchmaking for technology transfer (科技成果 ↔ 企业需求 ↔ 人才) for the
Pingdingshan science bureau.

**Authentication**: send your API key in the `X-API-Key` header (or `Authorization: Bearer <key>`).
Keys are issued by an admin (`POST /api/admin/users/{user_id}/keys`). Roles:
`enterprise` (its own needs and their matches), `broker` (the enterprises assigned to it),
`bureau` (everything, challenges and statistics), `admin` (users and keys).

**Errors** always come as `{"error": code, "detail": message, "field": where-or-null}` with a 4xx/5xx status.

**Paging**: list endpoints take `page` (from 1) and `page_size` (at most 200) and answer `has_more`.

**Confidentiality**: a need is `public`, `brokers` (brokers and bureau) or `private`; callers who may not
read it get a desensitised view (`desensitised: true`: chain segments and key terms, no name or text).
"""


class EngineProvider:
    """Build the matcher lazily and only once: persisted indexes are loaded (a first start builds the lexical
    ones), dense rows are computed in the background while the lexical channels answer. :meth:`if_built`
    answers the engine only when it is already built (writes keep its indexes current, they never trigger a
    build).

    An engine that cannot be built because a third-party module its configuration needs is missing (the
    sentence-transformers encoder without torch, say) is not silent: the error is logged, kept in
    :attr:`error` and reported by ``/readyz``, and the matching routes answer 503 with it. A module of our own
    missing is a broken install and raises."""

    def __init__(self, store: GraphStore, engine: MatchEngine | None, settings: ApiSettings) -> None:
        self.store, self.settings = store, settings
        self._engine = engine
        self._tried = engine is not None
        self._lock = threading.Lock()
        self.error: str | None = None

    def __call__(self) -> MatchEngine | None:
        if self._tried:
            return self._engine
        with self._lock:
            if not self._tried:
                try:
                    self._engine = MatchEngine.from_store(self.store, settings=self.settings, wait=False)
                except ModuleNotFoundError as exc:
                    if (exc.name or "").partition(".")[0] in OWN_PACKAGES:
                        raise
                    self.error = f"匹配引擎无法启动：缺少第三方模块 {exc.name}（请安装它，或改用不需要它的编码器）"
                    log.error("%s：%s", self.error, exc)
                self._tried = True
        return self._engine

    def if_built(self) -> MatchEngine | None:
        return self._engine


def _when_dense_ready(engine: MatchEngine, jobs: JobRunner, upkeep: Upkeep) -> None:
    """Refresh the standings once every dense channel answers (at once when they already do)."""
    if engine.keeper.dense_missing() and engine.wait_ready(None):
        jobs.submit("refresh-stale-standings", upkeep.refresh_stale)


def service_secret(settings: ApiSettings) -> str:
    """The secret that signs forms and hidden-need handles: the setting, else (in development: production
    requires the setting, :class:`api.config.ApiSettings`) one generated on the first start and kept
    (owner-only) in the data directory, so that every worker and every restart shares it."""
    if settings.session_secret:
        return settings.session_secret.get_secret_value()
    path = private_dir(settings.data_dir) / "session-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        write_private(path, secrets.token_urlsafe(32))
        return path.read_text(encoding="utf-8").strip()


def create_app(settings: ApiSettings | None = None, store: GraphStore | None = None,
               engine: MatchEngine | None = None) -> FastAPI:
    """The service; ``store`` and ``engine`` are injected in tests, opened from ``settings`` otherwise (read from
    the environment, once, when not given)."""
    settings = settings or load_settings()
    secret = service_secret(settings)

    def attach(app: FastAPI, graph: GraphStore) -> None:
        app.state.store = graph
        app.state.accounts = AccountService(graph)
        app.state.sessions = SessionStore(graph, settings.session_hours)
        app.state.audit = AuditLog(graph)
        app.state.vocabulary = VocabularySource(graph)
        app.state.jobs = JobRunner()
        app.state.notifier = Notifier(graph)
        provide = EngineProvider(graph, engine, settings)
        if_built = provide.if_built
        app.state.engine_if_built = if_built
        app.state.engine_error = lambda: provide.error
        app.state.upkeep = Upkeep(graph, app.state.jobs, app.state.notifier, if_built)

        def provide_and_catch_up() -> MatchEngine | None:
            first = if_built() is None
            built = provide()
            if first and built is not None:  # standings from before this start (or another engine) refreshed
                app.state.jobs.submit("refresh-stale-standings", app.state.upkeep.refresh_stale)
                app.state.upkeep.recalibrate()  # verdicts given since the last start
                if hasattr(built, "wait_ready"):
                    # standings made while only the lexical channels answered carry no gap verdict: redo them
                    # once the dense rows are ready
                    threading.Thread(target=_when_dense_ready, args=(built, app.state.jobs, app.state.upkeep),
                                     name="standings-after-embedding", daemon=True).start()
            return built

        app.state.engine_provider = provide_and_catch_up
        mark_interrupted_uploads(graph)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            if store is None:
                attach(app, stack.enter_context(open_store(settings)))
            try:
                yield
            finally:
                app.state.jobs.stop()
                built = app.state.engine_if_built() if hasattr(app.state, "engine_if_built") else None
                if built is not None and engine is None and hasattr(built, "close"):
                    built.close()  # stop the embedding job at a chunk boundary, release the index writer's lock

    app = FastAPI(
        title="techmatch",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN; api.routes.docs renders /docs itself
        redoc_url=None,
        openapi_tags=[
            {"name": "entities", "description": "achievements, enterprises, institutions, talents, platforms ..."},
            {"name": "needs", "description": "技术需求: post, read (with confidentiality), reveal"},
            {"name": "challenges", "description": "揭榜挂帅 challenges (bureau)"},
            {"name": "matching", "description": "need → achievements, achievement → enterprises, challenge → solvers"},
            {"name": "feedback", "description": "accept or reject a match"},
            {"name": "docking", "description": "对接: from an accepted match to a signed contract; notifications and "
             "subscriptions"},
            {"name": "ingest", "description": "upload a file, get a load report"},
            {"name": "bureau", "description": "statistics and the audit log"},
            {"name": "admin", "description": "users and API keys"},
        ],
    )
    app.state.settings = settings
    app.state.signer = FormSigner(secret)
    app.state.disclosure_secret = hmac.new(secret.encode(), b"disclosure", hashlib.sha256).digest()
    app.state.login_guard = LoginGuard(settings.login_attempts_per_minute, settings.login_failures_before_lockout,
                                       settings.login_lockout_minutes, settings.rate_limit_storage)
    app.state.request_limiter = RequestLimiter(settings.api_requests_per_minute, settings.rate_limit_storage)
    if store is not None:
        attach(app, store)
    install_error_handlers(app)
    app.state.html_error = web.render_error
    app.add_middleware(
        BodySizeLimit,
        json_limit=JSON_BODY_LIMIT,
        upload_limit=settings.max_upload_mb * 1024 * 1024,
        upload_paths=UPLOAD_PATHS,
    )
    app.add_middleware(SameOriginForms)
    app.add_middleware(SecurityHeaders, hsts=settings.cookie_secure)
    app.add_middleware(RequestTelemetry)  # outermost: every answer gets its request id, counted and logged
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(probes)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    return app


@runtime_checkable
class _MethodRoute(Protocol):
    """A route answering HTTP methods at a path (starlette's ``Route``, FastAPI's ``APIRoute``)."""

    path: str
    methods: Collection[str] | None


def iter_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], Any]]:
    """Every (path, methods, endpoint) the app serves, through included routers too (for tests and docs)."""
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):  # FastAPI's lazily included router
            for ctx in route.effective_route_contexts():
                yield ctx.path, frozenset(ctx.methods or ()), ctx.endpoint
        elif isinstance(route, _MethodRoute):
            yield route.path, frozenset(route.methods or ()), getattr(route, "endpoint", None)


def route_contexts(app: FastAPI) -> Iterator[Any]:
    """Every endpoint route (FastAPI's APIRoute, or its context inside an included router): ``path``,
    ``methods``, ``dependant``, ``include_in_schema``; for tests that must cover every route."""
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):
            yield from (ctx for ctx in route.effective_route_contexts() if hasattr(ctx, "dependant"))
        elif hasattr(route, "dependant"):
            yield route
