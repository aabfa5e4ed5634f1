"""The layering the code promises: route modules parse, call a service and render; the queries live in
``api/services`` (and the other library modules), never in ``api/routes``. The app serves every router it has:
none is left out quietly at start. The command line sits on top: no library package imports ``cli``. And the
benchmarks, judging scripts and notebooks use the packages' public names only: nothing private to import, no
private attribute to reach into."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ROOT / "api" / "routes"
#: the packages below the command line: they may be imported by ``cli``, never the other way round
LIBRARY_PACKAGES = ("graph", "matcher", "ingest", "bureau", "api", "evaluation")
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


def imports_of(source: str, package: str) -> list[str]:
    """Where ``source`` imports ``package`` or one of its modules (at any depth: in a function too): ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{node.lineno}: import {name}" for name in names
                  if name == package or name.startswith(package + ".")]
    # importlib.import_module("cli.…") with the name written out
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and _receiver(node.func) == "import_module" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                and (node.args[0].value == package or node.args[0].value.startswith(package + "."))):
            found.append(f"{node.lineno}: import_module({node.args[0].value!r})")
    return found


def test_the_import_scan_finds_the_command_line_imported_in_every_form():
    source = ("import cli\n"
              "from cli.main import main\n"
              "def f():\n"
              "    from cli.commands import serve\n"
              "    import cli.commands.rank as rank\n"
              "    return importlib.import_module('cli.commands.demo')\n")
    assert [hit.split(":")[0] for hit in imports_of(source, "cli")] == ["1", "2", "4", "5", "6"]
    # a name that only starts with the same letters, a relative import and a string are not imports of it
    assert imports_of("import client\nfrom clinic import x\nfrom . import cli\nx = 'cli.main'\n", "cli") == []


@pytest.mark.parametrize("package", LIBRARY_PACKAGES)
def test_no_library_package_imports_the_command_line(package):
    offenders = {str(path.relative_to(ROOT)): hits for path in sorted((ROOT / package).rglob("*.py"))
                 if (hits := imports_of(path.read_text(encoding="utf-8"), "cli"))}
    assert offenders == {}, f"{package}/ imports the command line (cli sits on top): {offenders}"


@pytest.mark.parametrize("package", [p for p in LIBRARY_PACKAGES if p != "evaluation"])
def test_no_product_package_imports_the_evaluation_package(package):
    # judged sets and labels (the demo's included) stay apart from what they judge: benchmarks, tests and the
    # command line may read them, the product never does
    offenders = {str(path.relative_to(ROOT)): hits for path in sorted((ROOT / package).rglob("*.py"))
                 if (hits := imports_of(path.read_text(encoding="utf-8"), "evaluation"))}
    assert offenders == {}, f"{package}/ imports the evaluation package: {offenders}"

#: our packages: a script outside them uses their public names only
OWN_PACKAGES = (*LIBRARY_PACKAGES, "cli")
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("eval/**/*.py"), *ROOT.glob("notebooks/*.ipynb")])


def _ours(module: str) -> bool:
    return module.split(".")[0] in OWN_PACKAGES


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(source: str) -> list[str]:
    """Where ``source`` imports a private name of our packages or reaches into a private attribute of an object
    (``x._y``; ``self._y`` and ``cls._y`` are a class's own business): ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _ours(node.module):
            found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if _private(a.name)]
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if _ours(a.name) and any(_private(part) for part in a.name.split("."))]
        elif (isinstance(node, ast.Attribute) and _private(node.attr)
              and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def script_source(path: Path) -> str:
    """A script's Python: a notebook's code cells, joined (its shell and magic lines left out)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = ["".join(cell["source"]) for cell in json.loads(text)["cells"] if cell["cell_type"] == "code"]
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def test_the_private_scan_finds_private_imports_and_attributes_and_leaves_public_ones_alone():
    source = ("from cli.commands.rank_needs import _clean\n"
              "from ingest import text as text_mod, _hidden\n"
              "import matcher._internal.x\n"
              "text_mod._token_cache.clear()\n"
              "timer = Timer(5, engine.keeper._stop.set)\n")
    assert [hit.split(":")[0] for hit in private_uses(source)] == ["1", "2", "3", "4", "5"]
    public = ("from ingest.zhibei import clean_record\n"
              "from benchmarks.scale import _own_helper\n"  # a benchmark's own helpers are not a package's
              "class Run:\n"
              "    def __init__(self):\n"
              "        self._cache = {}\n"
              "        super().__init__()\n"
              "text_mod.clear_token_cache()\n")
    assert private_uses(public) == []


@pytest.mark.parametrize("script", [str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_benchmarks_and_scripts_use_public_names_only(script):
    assert private_uses(script_source(ROOT / script)) == [], (
        f"{script}: give the helper a public, documented name in the package that owns it and use that")
