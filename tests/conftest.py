"""Test fixtures: one real embedded Bolt server per test session, a clean graph per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.server import EmbeddedGraphServer, ServerInfo
from graph.store import GraphStore, connect

SHARED = Path(os.environ.get("TECHMATCH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def graph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerInfo]:
    server = EmbeddedGraphServer(tmp_path_factory.mktemp("graph"), database="tmtest", heap_mb=768)
    info = server.start()
    yield info
    server.stop()


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
