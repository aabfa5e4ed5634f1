"""Resource faults meet one clear line: a full disk, memory, a dead graph server; the traceback goes to the log,
nothing is half-written, and a rerun completes the data."""

from __future__ import annotations

import errno
import logging

import pytest

from cli import main as cli_main
from graph.model import NodeLabel
from ingest.loader import Loader

pytestmark = pytest.mark.all_backends


def test_a_full_disk_is_one_line_naming_the_cause_and_the_traceback_goes_to_the_log(monkeypatch, tmp_path, capsys):
    from cli.commands import outbox_cmd

    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))

    def full(args):  # noqa: ANN001, ANN202
        raise OSError(errno.ENOSPC, "No space left on device", "/data/cache/vectors.npy")

    monkeypatch.setattr(outbox_cmd, "_deliver", full)
    assert cli_main.main(["outbox", "deliver"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "磁盘空间不足" in err[0] and "vectors.npy" in err[0] and "Traceback" not in err[0]
    log = (tmp_path / "data" / "logs" / "techmatch.log").read_text(encoding="utf-8")
    assert "Traceback" in log and "OSError" in log


@pytest.mark.parametrize(("exc", "words"), [
    (MemoryError(), "内存不足"),
    (PermissionError(errno.EACCES, "denied", "/srv/x.csv"), "没有权限访问 /srv/x.csv"),
    (RuntimeError("Neo.DatabaseError.General.UnknownError: No space left on device"), "磁盘空间不足"),
    (ValueError("something odd"), "内部错误（ValueError）"),
])
def test_other_faults_get_a_sentence_too(exc, words):
    assert words in cli_main.explain_failure(exc)


def test_a_dead_graph_server_is_named_as_such():
    from neo4j.exceptions import ServiceUnavailable

    assert "无法连接图数据库" in cli_main.explain_failure(ServiceUnavailable("gone"))


def test_a_load_cut_by_a_full_disk_leaves_whole_batches_and_a_rerun_completes_it(store, tmp_path, caplog):
    rows = ["成果名称,成果简介"] + [f"成果{i:03d},一种改进的材料方法{i}" for i in range(25)]
    path = tmp_path / "成果.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    def disk_fills(batch_no: int, nodes: object) -> None:
        if batch_no == 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    loader = Loader(store, batch_size=10, rejects_dir=tmp_path / "rej", before_batch=disk_fills, progress=False)
    with caplog.at_level(logging.ERROR), pytest.raises(OSError):
        loader.load(path)
    assert "磁盘空间不足" in cli_main.explain_failure(OSError(errno.ENOSPC, "No space left on device"))
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 20, "two whole batches, nothing of the third"
    report = Loader(store, batch_size=10, rejects_dir=tmp_path / "rej", progress=False).load(path)
    assert (report.created, report.unchanged) == (5, 20)
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 25
    assert not list(tmp_path.glob("**/*.tmp")), "no temporary file left behind"
