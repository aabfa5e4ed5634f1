"""What an operator watches: a request id on every request and log line, structured (JSON) access logs,
Prometheus metrics, and the health and readiness probes.

- ``/healthz``: the process answers (liveness); nothing else is checked.
- ``/readyz``: the graph answers a query within a second, the matcher's indexes are built; 503 otherwise,
  with what is missing (readiness: a load balancer sends no traffic until it is 200); under a supervised graph
  server also its state (running, restarting, failed) and how often it was restarted.
- ``/metrics``: Prometheus text (``prometheus_client``): requests by route template and status, latency
  histograms, match latency by question, rows loaded by outcome, the sizes of the matcher's indexes. With
  several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (see docs/operations.md).

A request id comes from the caller's ``X-Request-ID`` (when it looks like one) or is made up; it is sent
back in the response header and carried by every log line written while the request runs.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Role, principal_from_request
from api.errors import ApiError

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

log = logging.getLogger("techmatch.access")
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

HTTP_REQUESTS = Counter("techmatch_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_SECONDS = Histogram("techmatch_http_request_seconds", "time to answer an HTTP request", ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
MATCH_SECONDS = Histogram("techmatch_match_seconds", "time the matcher took for one question", ["question"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
INGEST_ROWS = Counter("techmatch_ingest_rows_total", "rows loaded through the service, by outcome", ["outcome"])
INDEX_DOCUMENTS = Gauge("techmatch_index_documents", "documents in the matcher's indexes", ["index"],
                        multiprocess_mode="livemax")
GRAPH_UP = Gauge("techmatch_graph_up", "1 when the graph server answered the last readiness check",
                 multiprocess_mode="livemin")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (``%(request_id)s`` / the JSON field)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: int = logging.INFO, json_lines: bool = True) -> None:
    """Log to stderr, one JSON object a line (time, level, logger, message, request id and extra fields)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                           rename_fields={"asctime": "time", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class RequestTelemetry:
    """Pure ASGI middleware: request id in, header out; metrics and one access log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _VALID_ID.match(given) else secrets.token_hex(8)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(seconds)
            if route not in ("/healthz", "/readyz", "/metrics", "/static"):
                log.info("request", extra={"method": method, "route": route, "status": status,
                                           "ms": round(seconds * 1000, 1), "request_id": request_id})
            REQUEST_ID.reset(token)


def _route_template(scope: Scope) -> str:
    """The route's path template (``/api/needs/{need_id}``), never the concrete path: ids do not become
    metric labels, and nothing a caller typed reaches the logs."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    if path:
        return str(path)
    raw = scope.get("path", "")
    return "/static" if raw.startswith("/static") else "(unmatched)"


# --- probes ----------------------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, Any] = {}
    graph_ok = _graph_answers(state)
    GRAPH_UP.set(1 if graph_ok else 0)
    checks["graph"] = {"ok": graph_ok, "detail": "图数据库可用" if graph_ok else "图数据库无响应"}
    supervisor = getattr(state, "supervisor", None)
    if supervisor is not None:
        status = supervisor.status()
        checks["graph"]["server"] = status.state
        checks["graph"]["restarts"] = status.restarts
        if not graph_ok and status.state != "running":
            checks["graph"]["detail"] = status.detail
    engine = state.engine_if_built() if hasattr(state, "engine_if_built") else None
    failed = state.engine_error() if hasattr(state, "engine_error") else None
    checks["matcher"] = {"ok": engine is not None,
                         "detail": "匹配索引已就绪" if engine is not None else failed or "匹配索引尚未建好"}
    if engine is not None:
        checks["matcher"]["documents"] = _index_sizes(engine)
    ready = all(c["ok"] for c in checks.values())
    if not _shows_details(request):  # a probe needs the status; why, and what is installed, is for operators
        checks = {name: {"ok": c["ok"]} for name, c in checks.items()}
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


#: roles that read why the service is not ready (module names, server state, index sizes)
OPERATOR_ROLES = frozenset({Role.ADMIN, Role.BUREAU})


def _shows_details(request: Request) -> bool:
    """Details go to a caller on this machine (not through a proxy) or to an operator's key or session."""
    host = request.client.host if request.client is not None else ""
    if host in ("127.0.0.1", "::1") and "x-forwarded-for" not in request.headers:
        return True
    try:
        principal = principal_from_request(request)
    except ApiError:  # a bad or throttled credential reads what anyone reads
        return False
    return principal is not None and principal.role in OPERATOR_ROLES


def _graph_answers(state: Any) -> bool:
    store = getattr(state, "store", None)
    if store is None or getattr(store, "down", None) is not None:  # known to be down: no need to ask
        return False
    try:
        return bool(store.ping())
    except Exception:  # a probe answers, it never raises
        return False


def _index_sizes(engine: MatchEngine) -> dict[str, int]:
    sizes = {}
    for name in ("achievements", "needs", "enterprises"):
        index = getattr(engine, name, None)
        if index is not None:
            sizes[name] = len(index)
            INDEX_DOCUMENTS.labels(name).set(len(index))
    return sizes


@router.get("/metrics")
def metrics(request: Request) -> Response:
    engine = request.app.state.engine_if_built() if hasattr(request.app.state, "engine_if_built") else None
    if engine is not None:
        _index_sizes(engine)
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: add up what each wrote
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
