"""The layering the code promises: route modules parse, call a service and render; the queries live in
``api/services`` (and the other library modules), never in ``api/routes``. And the app serves every router
it has: none is left out quietly at start."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROUTES = Path(__file__).resolve().parents[1] / "api" / "routes"
CYPHER = re.compile(r"\b(?:OPTIONAL\s+)?MATCH\s*\(|\bMERGE\s*\(|\bCREATE\s*\(|\bDETACH\s+DELETE\b|\bUNWIND\b"
                    r"|\bRETURN\b|\bSET\s+\w+\.")
QUERY_METHODS = {"read", "write", "transaction", "run"}


def _receiver(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def cypher_in(source: str) -> list[str]:
    """Where ``source`` holds Cypher text or sends a query to the graph: ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CYPHER.search(node.value):
            found.append(f"{node.lineno}: Cypher text {node.value[:60]!r}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in QUERY_METHODS
              and (_receiver(node.func.value).endswith("store") or _receiver(node.func.value) == "tx")):
            found.append(f"{node.lineno}: a query sent with .{node.func.attr}()")
    return found


def test_the_scan_finds_a_query_in_a_string_and_in_an_f_string_and_the_call_that_sends_it():
    source = ('ROWS = "MATCH (n:Need) RETURN n.id AS id"\n'
              'def f(request, label, ids):\n'
              '    return request.app.state.store.read(f"MATCH (x:{label}) WHERE x.id IN $ids RETURN x", ids=ids)\n')
    hits = cypher_in(source)
    assert {hit.split(":")[0] for hit in hits if "Cypher text" in hit} == {"1", "3"}
    assert [hit for hit in hits if "query sent" in hit] == ["3: a query sent with .read()"]
    assert cypher_in('authorize(me, Resource.CHALLENGE, Act.CREATE)\nLABEL = NodeLabel.MERGE_RECORD\n'
                     'x = "需求 MATCH 规则"\n') == []


@pytest.mark.parametrize("module", sorted(p.name for p in ROUTES.glob("*.py")))
def test_no_route_module_holds_a_query(module):
    assert cypher_in((ROUTES / module).read_text(encoding="utf-8")) == [], (
        f"api/routes/{module}: move the query into api/services")


def test_the_app_serves_every_router_module(tmp_path):
    from api.app import ROUTE_MODULES, create_app, iter_routes
    from api.config import ApiSettings

    on_disk = {f"api.routes.{p.stem}" for p in ROUTES.glob("*.py") if p.stem != "__init__"}
    assert {m.__name__ for m in ROUTE_MODULES} == on_disk
    app = create_app(ApiSettings(data_dir=tmp_path, session_secret="test-session-secret", load_demo=False))
    served = {getattr(endpoint, "__module__", "") for _, _, endpoint in iter_routes(app)}
    assert on_disk <= served, f"routers left out: {sorted(on_disk - served)}"
