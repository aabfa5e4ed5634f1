"""Enrichment in worker processes (``ingest.enrich``) against the real embedded graph: the same graph as the
serial load, errors that name the file and row, Ctrl-C that leaves whole batches and no worker behind."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from graph.exceptions import ValidationError
from graph.model import NodeLabel
from ingest import enrich
from ingest.classify import default_placer
from ingest.loader import Loader, ensure_taxonomy

HEADERS = ["成果名称", "成果简介", "应用范围", "所属行业", "持有单位"]
SUBJECTS = ["尼龙66切片", "锂电池正极材料", "高压开关柜", "碳纤维复合材料", "智能电网调度", "煤矿瓦斯监测",
            "农作物病虫害识别", "中药提取工艺"]
INDUSTRIES = ["新材料", "新能源", "装备制造", "新材料", "电子信息", "能源", "农业", "生物医药"]


def _rows(n: int) -> list[list[str]]:
    """Achievements whose texts give keywords, institutions, patent numbers and chain placements."""
    out = []
    for i in range(n):
        subject, industry = SUBJECTS[i % len(SUBJECTS)], INDUSTRIES[i % len(INDUSTRIES)]
        text = (f"依托郑州大学第{i}实验室的专利技术（ZL2017{i:08d}.X），本项目提出一种{subject}的改进方法，"
                f"提高了{subject}的稳定性和生产效率。")
        out.append([f"{subject}关键技术{i}", text, f"适用于{subject}的生产企业", industry,
                    f"河南第{i % 5}科技有限公司"])
    return out


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS)
        writer.writerows(rows)
    return path


def _graph(store) -> tuple[list[Any], list[Any]]:
    """Every node's properties (without the load time) and every edge with its properties, sorted."""
    nodes = store.read("MATCH (n) RETURN labels(n)[0] AS label, properties(n) AS p")
    edges = store.read("MATCH (a)-[r]->(b) RETURN a.id AS a, type(r) AS t, b.id AS b, properties(r) AS p")
    node_rows = sorted((r["label"], sorted((k, repr(v)) for k, v in r["p"].items() if k != "prov_loaded_at"))
                       for r in nodes)
    edge_rows = sorted((r["a"], r["t"], r["b"], sorted((k, repr(v)) for k, v in r["p"].items())) for r in edges)
    return node_rows, edge_rows


def _loader(store, tmp_path: Path, workers: int, **kw: Any) -> Loader:
    return Loader(store, placer=default_placer(), batch_size=7, progress=False, rejects_dir=tmp_path / "rejects",
                  workers=workers, **kw)


def test_pooled_and_serial_loads_write_the_same_graph(store, tmp_path):
    path = _write(tmp_path / "achievements.csv", _rows(40))
    graphs, reports = [], []
    for workers in (0, 2):
        store.clear()
        ensure_taxonomy(store)
        reports.append(_loader(store, tmp_path, workers).load(path))
        graphs.append(_graph(store))
    serial, pooled = reports
    assert (serial.created, serial.placed, serial.patents_extracted, serial.institutions_extracted) == \
        (pooled.created, pooled.placed, pooled.patents_extracted, pooled.institutions_extracted)
    assert serial.created == 40 and serial.placed > 0 and serial.institutions_extracted > 0
    assert graphs[0] == graphs[1]
    placed = store.read("MATCH (:Achievement)-[r:IN_SEGMENT]->(:ChainSegment) RETURN count(r) AS c")[0]["c"]
    assert placed >= serial.placed


def test_a_pooled_load_runs_its_batches_in_worker_processes(store, tmp_path, monkeypatch):
    path = _write(tmp_path / "achievements.csv", _rows(20))
    parent = multiprocessing.current_process().pid
    seen: list[int | None] = []
    original = enrich.enrich_batch

    def recording(nodes, rows, placer):
        import os

        out = original(nodes, rows, placer)
        # a worker's own pid rides back on the result's first keywords
        if out.finds and out.finds[0] is not None:
            out.finds[0].keywords.append(f"pid={os.getpid()}")
        return out

    monkeypatch.setattr(enrich, "enrich_batch", recording)
    _loader(store, tmp_path, 2).load(path)
    for props in store.all_props(NodeLabel.ACHIEVEMENT):
        seen.extend(int(k[4:]) for k in props["keywords"] if k.startswith("pid="))
    assert seen and parent not in seen
    assert multiprocessing.active_children() == [], "the workers are gone once the load returns"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_row_whose_text_cannot_be_processed_is_named_by_file_and_row(store, tmp_path, monkeypatch, workers):
    rows = _rows(20)
    rows[9][1] = "这一行的文本会让专利号识别出错。"

    def failing(text):
        if "出错" in text:
            raise RuntimeError("识别规则出错")
        return []

    monkeypatch.setattr(enrich, "find_patent_numbers", failing)  # forked workers inherit it
    path = _write(tmp_path / "achievements.csv", rows)
    with pytest.raises(ValidationError) as caught:
        _loader(store, tmp_path, workers).load(path)
    assert "achievements.csv" in str(caught.value) and "第 11 行" in str(caught.value)
    # rows 2-8 and 9-15 are the first two batches; the failing row (11) is in the second: only the first is written
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 7
    assert multiprocessing.active_children() == []


def test_ctrl_c_during_a_pooled_load_keeps_whole_batches_and_stops_the_workers(store, tmp_path):
    path = _write(tmp_path / "achievements.csv", _rows(40))
    seen: list[int] = []

    def interrupt(batch_no, nodes):
        seen.append(batch_no)
        if batch_no == 3:
            raise KeyboardInterrupt

    loader = _loader(store, tmp_path, 2, before_batch=interrupt)
    with pytest.raises(KeyboardInterrupt):
        loader.load(path)
    assert seen == [1, 2, 3]
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 14, "batches 1 and 2 whole, nothing of batch 3"
    assert multiprocessing.active_children() == []
    loader.before_batch = None
    report = loader.load(path)
    assert (report.created, report.unchanged) == (26, 14)


def test_large_loads_use_workers_unless_told_otherwise_and_small_ones_stay_in_one_process(monkeypatch):
    from api.config import load_settings

    monkeypatch.delenv("TECHMATCH_INGEST_WORKERS", raising=False)
    unset = load_settings().ingest_workers
    assert unset is None
    monkeypatch.setattr(enrich.os, "cpu_count", lambda: 2)
    assert enrich.workers_for(enrich.POOL_AUTO_ROWS, None, unset) == 2, "a large file: one worker per core"
    assert enrich.workers_for(enrich.POOL_AUTO_ROWS - 1, None, unset) == 0, "a smaller one stays in one process"
    monkeypatch.setattr(enrich.os, "cpu_count", lambda: 1)
    assert enrich.workers_for(300_000, None, unset) == 0, "one core: the loader and the graph server need it"
    assert enrich.workers_for(100_000, None) == 0, "a library caller that configures nothing: one process"
    assert enrich.workers_for(3, 2) == 2, "asked for by the caller"
    monkeypatch.setenv("TECHMATCH_INGEST_WORKERS", "0")
    assert enrich.workers_for(300_000, None, load_settings().ingest_workers) == 0, "0: always in one process"
    monkeypatch.setenv("TECHMATCH_INGEST_WORKERS", "2")
    configured = load_settings().ingest_workers
    assert enrich.workers_for(100_000, None, configured) == 2
    assert enrich.workers_for(enrich.POOL_MIN_ROWS - 1, None, configured) == 0, "a small file is not worth the fork"


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.update(int(x) for x in (task / "children").read_text().split())
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the process tree from /proc")
def test_ctrl_c_in_the_ingest_command_with_workers_exits_cleanly_leaving_whole_batches(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = _write(tmp_path / "achievements.csv", _rows(3000))
    env = {**os.environ, "TECHMATCH_DATA_DIR": str(tmp_path / "data"), "TECHMATCH_INGEST_WORKERS": "2"}
    root = Path(__file__).resolve().parents[1]
    # a session of its own, as a terminal gives: Ctrl-C reaches the command and its workers together
    proc = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(path), "-q", "--batch-size", "50"],
                            cwd=root, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= _children(proc.pid)
        if len(seen) >= 3:  # the graph server and both workers
            break
        time.sleep(0.05)
    assert len(seen) >= 3, "the command started its graph server and two workers"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "已中断" in err and "Traceback" not in err
    assert not [pid for pid in seen if _alive(pid)], "no worker and no graph server is left running"
    # what was written is whole batches, and running the command again completes the load
    done = subprocess.run([sys.executable, "-m", "cli", "ingest", str(path), "-q", "--batch-size", "50",
                           "--json", str(tmp_path / "report.json")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))[0]
    assert report["created"] + report["unchanged"] == 3000
    assert report["unchanged"] % 50 == 0 and report["created"] > 0


def test_ctrl_c_while_the_pool_forks_is_raised_once_the_fork_is_done():
    import os
    import signal

    reached_end_of_block = False
    with pytest.raises(KeyboardInterrupt):
        with enrich._interrupt_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            # the after-fork callbacks run here in a real fork: an exception raised in them would be lost
            for _ in range(1000):
                pass
            reached_end_of_block = True
    assert reached_end_of_block, "the interrupt waited for the block to finish"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Ctrl-C's handler is restored"
