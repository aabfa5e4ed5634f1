"""``techmatch backup`` while the service runs and ``techmatch restore`` into a fresh data directory: the same
counts per label and type, the same top matches, the indexes and the session secret brought along; writes
wait for a backup instead of splitting it; a non-empty target is refused without --force; an interrupted
restore leaves nothing behind."""

from __future__ import annotations

import json
import stat
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from serve_world import alive, run_cli, serve_env, server_pid

from api.config import ApiSettings
from evaluation.demo_labels import GAP_NEEDS, INTENDED_MATCHES
from graph.store import open_store
from graph.writegate import GraphBusyError, WriteGate, gate_path, writes_held


def _top(settings: ApiSettings, needs: list[str], persist: bool) -> tuple[dict, dict[str, list[tuple[str, float]]]]:
    """The graph's counts and the top 10 achievements of ``needs`` (lexical engine)."""
    from matcher.engine import MatchEngine

    with open_store(settings, setup_schema=False) as store:
        counts = {"nodes": store.count_by_label(), "relationships": store.count_relations()}
        engine = MatchEngine.from_store(store, settings=settings, embedder=None, extra_embedders=[], persist=persist)
        try:
            return counts, {need: [(m.candidate_id, round(m.score, 6))
                                   for m in engine.match_need(need, k=10, include_weak=True, explain=False).matches]
                            for need in needs}
        finally:
            if hasattr(engine, "close"):
                engine.close()


def _counts(settings: ApiSettings) -> dict[str, dict[str, int]]:
    with open_store(settings, setup_schema=False) as store:  # attached to the running service
        return {"nodes": store.count_by_label(), "relationships": store.count_relations()}


def _settled(settings: ApiSettings, timeout: float = 60) -> dict[str, dict[str, int]]:
    """The live graph's counts once the service's start-up work (the needs' standings) has been written."""
    last, deadline = _counts(settings), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _counts(settings)
        if now == last and "NeedStanding" in now["nodes"]:
            return now
        last = now
    return last


def test_backup_while_serving_then_restore_into_a_fresh_directory(service, backend, tmp_path):
    archive = tmp_path / "techmatch.tar.gz"
    pid = server_pid(service.data_dir)
    source = ApiSettings(data_dir=service.data_dir, local_graph=backend, embedder="none", extra_embedders="none")
    target = ApiSettings(data_dir=tmp_path / "restored", local_graph=backend, embedder="none", extra_embedders="none")
    before = _settled(source)
    done = run_cli(service.env, "backup", str(archive))
    assert done.returncode == 0, done.stderr
    assert "已备份" in done.stdout and "仅本人可读" in done.stdout
    assert alive(pid) and server_pid(service.data_dir) == pid, "the service's graph server was attached to, not stopped"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != archive.name], "no temporary file left"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert {"manifest.json", "graph.jsonl", "session-secret"} <= set(names)
    assert any(n.startswith("index/") for n in names), "the persisted indexes come along"

    fresh = tmp_path / "restored"
    env = serve_env(tmp_path / "elsewhere", backend)
    restored = run_cli(env, "restore", str(archive), "--data-dir", str(fresh))
    assert restored.returncode == 0, restored.stderr
    assert "计数与备份一致" in restored.stdout
    assert not list(tmp_path.glob(".restored.restoring-*")), "the staging directory is gone"
    assert (fresh / "session-secret").read_text() == (service.data_dir / "session-secret").read_text()
    assert not (fresh / "server.pid").exists() and not (fresh / "graph.jsonl").exists()

    needs = [*list(INTENDED_MATCHES)[:3], *list(GAP_NEEDS)[:1]]
    after, top_after = _top(target, needs, persist=True)  # the restored indexes, mapped
    assert after == manifest["counts"] == before
    assert top_after == _top(source, needs, persist=False)[1]

    again = run_cli(env, "restore", str(archive), "--data-dir", str(fresh))
    assert again.returncode == 1 and "已有" in again.stderr and "--force" in again.stderr


def test_a_write_waits_for_the_backup_and_lands_after_it(tmp_path):
    gate = WriteGate(gate_path(tmp_path), timeout_s=10)
    landed: list[float] = []

    def writer() -> None:
        with gate.write():
            landed.append(time.monotonic())

    with writes_held(tmp_path):
        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.5)
        assert not landed, "a write committed while the backup was reading"
        released = time.monotonic()
    thread.join(5)
    assert landed and landed[0] >= released
    impatient = WriteGate(gate_path(tmp_path), timeout_s=0.2)
    with writes_held(tmp_path), pytest.raises(GraphBusyError, match="techmatch backup 正在读取"), impatient.write():
        pass
    gate.close()
    impatient.close()


def test_restore_refuses_what_is_not_a_backup_before_starting_anything(tmp_path, backend):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file")
    env = serve_env(tmp_path / "data", backend)
    done = run_cli(env, "restore", str(junk), "--data-dir", str(tmp_path / "t"))
    assert done.returncode == 1 and "不是可读的 techmatch 备份文件" in done.stderr
    assert not (tmp_path / "t").exists() and not (tmp_path / "data" / "server.pid").exists()


def _fake_archive(archive: Path) -> None:
    """A well-formed backup of an empty graph with one index file."""
    import io

    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("manifest.json", json.dumps({"format": "techmatch-backup", "version": 1,
                                                         "counts": {"nodes": {}, "relationships": {}}}).encode()),
                           ("graph.jsonl", b"{}"), ("index/needs/manifest.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_interrupted_restore_leaves_the_target_untouched(tmp_path, monkeypatch):
    from graph import backup as backup_mod

    archive = tmp_path / "b.tar.gz"
    _fake_archive(archive)

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backup_mod, "open_store", interrupted)
    target = tmp_path / "target"
    with pytest.raises(KeyboardInterrupt):
        backup_mod.restore(ApiSettings(data_dir=target), archive, target=target)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["b.tar.gz"], "nothing half-written"


def test_a_backup_names_a_missing_directory_without_a_server(tmp_path):
    from graph.backup import backup

    with pytest.raises(Exception, match="不存在"):
        backup(ApiSettings(data_dir=tmp_path / "d"), Path(tmp_path / "no" / "b.tar.gz"))
    assert not (tmp_path / "d").exists()


def test_force_replaces_a_non_empty_target_and_keeps_it_aside(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from graph import backup as backup_mod

    target = tmp_path / "target"
    (target / "arcadedb").mkdir(parents=True)
    (target / "old-file").write_text("kept")
    archive = tmp_path / "b.tar.gz"
    _fake_archive(archive)

    class FakeStore:
        def __init__(self, settings: ApiSettings) -> None:
            self.full = Path(settings.data_dir) == target

        def count_by_label(self) -> dict[str, int]:
            return {"Need": 5} if self.full else {}

        def count_relations(self) -> dict[str, int]:
            return {}

    @contextmanager
    def fake_open(settings: ApiSettings, setup_schema: bool = True):  # noqa: ANN202
        yield FakeStore(settings)

    monkeypatch.setattr(backup_mod, "open_store", fake_open)
    monkeypatch.setattr(backup_mod, "import_graph", lambda *a, **k: None)
    with pytest.raises(Exception, match="已有 5 个节点"):
        backup_mod.restore(ApiSettings(data_dir=target), archive, target=target)
    report = backup_mod.restore(ApiSettings(data_dir=target), archive, target=target, force=True)
    assert report.kept_old is not None and (report.kept_old / "old-file").read_text() == "kept"
    assert (target / "index" / "needs" / "manifest.json").exists() and not (target / "old-file").exists()
