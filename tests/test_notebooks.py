"""Every notebook in notebooks/ runs top to bottom against a graph the test starts, so none goes stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, store, graph_server, shared_dir: Path, monkeypatch) -> None:
    source = path.read_text(encoding="utf-8")
    if "graph.demo" in source and importlib.util.find_spec("graph.demo") is None:
        pytest.skip("graph.demo (the demo data set) is not in this checkout")
    # The kernel inherits this environment: graph.settings reads the connection from it.
    monkeypatch.setenv("TECHMATCH_GRAPH_URI", graph_server.uri)
    monkeypatch.setenv("TECHMATCH_GRAPH_USER", graph_server.user)
    monkeypatch.setenv("TECHMATCH_GRAPH_PASSWORD", graph_server.password)
    monkeypatch.setenv("TECHMATCH_GRAPH_DATABASE", graph_server.database)
    monkeypatch.setenv("TECHMATCH_SHARED", str(shared_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
