"""Test fixtures: real graph servers for the test session, a clean graph per test.

The integration tests run on each graph backend selected for the session: the embedded ArcadeDB and a
real Neo4j 5 (built with Maven from ``tools/neo4j-server``, reached over ``neo4j://`` so the routing
driver is what is tested). Choose with ``--graph-backends arcadedb,neo4j`` or ``TECHMATCH_TEST_BACKENDS``;
by default both run when Java and Maven are found (or the launcher is already built). Modules marked
``all_backends`` run on every selected backend; the others, and the pure unit tests, on ArcadeDB only.
When Neo4j was not selected because it cannot be built, the run says so loudly at the end; when it was
selected and cannot start, every Neo4j test errors with the cause.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.server import EmbeddedGraphServer, ServerInfo
from graph.store import GraphStore, connect

SHARED = Path(os.environ.get("TECHMATCH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
BACKENDS = ("arcadedb", "neo4j")
_SELECTED = pytest.StashKey[tuple[list[str], str | None]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--graph-backends",
        default=None,
        help="comma-separated graph servers for the integration tests: arcadedb,neo4j "
        "(default: $TECHMATCH_TEST_BACKENDS, else both when Java and Maven are found)",
    )


def _select_backends(config: pytest.Config) -> tuple[list[str], str | None]:
    """The backends to run, and why Neo4j was left out when it was left out by default."""
    raw = config.getoption("--graph-backends") or os.environ.get("TECHMATCH_TEST_BACKENDS", "")
    if raw.strip():
        chosen = [b.strip() for b in raw.split(",") if b.strip()]
        unknown = [b for b in chosen if b not in BACKENDS]
        if unknown or not chosen:
            raise pytest.UsageError(f"unknown graph backend {unknown}: choose from {', '.join(BACKENDS)}")
        return list(dict.fromkeys(chosen)), None
    from graph.exceptions import ServerStartError
    from graph.neo4j_server import find_java, find_maven, launcher_built

    try:
        if not launcher_built():
            find_maven()
        find_java()
    except ServerStartError as exc:
        return ["arcadedb"], str(exc)
    return list(BACKENDS), None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "all_backends: the module's graph tests run on every selected backend (ArcadeDB and Neo4j 5)"
    )
    config.addinivalue_line(
        "markers", "only_backends(*names): the test runs on these backends only (skipped when not selected)"
    )
    config.stash[_SELECTED] = _select_backends(config)


def pytest_report_header(config: pytest.Config) -> str:
    backends, _ = config.stash[_SELECTED]
    return f"graph backends: {', '.join(backends)} (modules marked all_backends run on each; the rest on arcadedb)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "graph_server" not in metafunc.fixturenames:
        return
    selected, why_not = metafunc.config.stash[_SELECTED]
    only = metafunc.definition.get_closest_marker("only_backends")
    if only is not None:
        left_out = f"not among the selected graph backends ({why_not or ', '.join(selected) + ' chosen'})"
        params = [
            b if b in selected else pytest.param(b, marks=pytest.mark.skip(reason=f"{b} {left_out}"))
            for b in only.args
        ]
        metafunc.parametrize("graph_server", params, indirect=True, scope="session", ids=list(only.args))
        return
    backends = selected if metafunc.definition.get_closest_marker("all_backends") else ["arcadedb"]
    metafunc.parametrize("graph_server", backends, indirect=True, scope="session", ids=backends)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    _, why_not = config.stash[_SELECTED]
    if why_not:
        bar = "!" * 100
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(f"NEO4J 5 WAS NOT TESTED: {why_not}", red=True, bold=True)
        terminalreporter.write_line(
            "(the integration tests ran on ArcadeDB only; ./test.sh and CI install Maven and require Neo4j)",
            red=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)


class GraphServers:
    """The session's graph servers, started on first use and kept until the end (so a test may use two)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._servers: dict[str, EmbeddedGraphServer] = {}
        self._infos: dict[str, ServerInfo] = {}
        self._failures: dict[str, BaseException] = {}

    def get(self, backend: str) -> ServerInfo:
        if backend in self._failures:  # start once: every later test gets the same clear error at once
            raise self._failures[backend]
        if backend not in self._infos:
            try:
                self._infos[backend] = self._start(backend)
            except Exception as exc:
                self._failures[backend] = exc
                raise
        return self._infos[backend]

    def _start(self, backend: str) -> ServerInfo:
        if backend == "neo4j":
            from graph.neo4j_server import Neo4jGraphServer, ensure_launcher

            launcher = ensure_launcher(print)
            server: EmbeddedGraphServer = Neo4jGraphServer(
                self._tmp.mktemp("neo4j"), database="tmtest", heap_mb=1024, launcher=launcher
            )
            self._servers[backend] = server
            info = server.start()
            # neo4j:// is the routing scheme a cluster needs: every Neo4j test goes through it.
            return dataclasses.replace(info, uri=info.uri.replace("bolt://", "neo4j://", 1))
        server = EmbeddedGraphServer(self._tmp.mktemp("graph"), database="tmtest", heap_mb=768)
        self._servers[backend] = server
        return server.start()

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()


@pytest.fixture(scope="session")
def graph_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphServers]:
    servers = GraphServers(tmp_path_factory)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def graph_server(request: pytest.FixtureRequest, graph_servers: GraphServers) -> ServerInfo:
    """A real graph server for the session: ArcadeDB, or Neo4j 5 reached through the routing driver."""
    return graph_servers.get(getattr(request, "param", "arcadedb"))


@pytest.fixture(scope="session")
def graph_backend(graph_server: ServerInfo) -> str:
    """The name of the session's graph backend: arcadedb or neo4j."""
    return graph_server.backend


@pytest.fixture(scope="session")
def _session_store(graph_server: ServerInfo) -> Iterator[GraphStore]:
    store = connect(graph_server.uri, graph_server.user, graph_server.password, graph_server.database)
    store.setup_schema()
    yield store
    store.close()


@pytest.fixture()
def store(_session_store: GraphStore) -> Iterator[GraphStore]:
    """The session's graph, emptied before each test."""
    _session_store.clear()
    yield _session_store


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def serve_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Real ``techmatch serve`` subprocesses, one per backend, shared by the operations tests (serve_world)."""
    from serve_world import Services

    services = Services(tmp_path_factory)
    yield services
    services.stop_all()


@pytest.fixture(params=["arcadedb", "neo4j"], scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """Each selected graph backend, for the modules that drive a real ``techmatch serve``."""
    selected, _ = request.config.stash[_SELECTED]
    if request.param not in selected:
        pytest.skip(f"{request.param} is not among the selected graph backends")
    return request.param


@pytest.fixture()
def service(backend: str, serve_services: Any) -> Any:
    """The running ``techmatch serve`` of that backend (tests/serve_world.py)."""
    return serve_services.get(backend)
