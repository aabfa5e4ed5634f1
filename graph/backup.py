"""Backup and restore of a data directory: the graph, the matcher's persisted indexes, the session secret.

A backup (``techmatch backup FILE``) is one gzip-compressed tar archive, written owner-only (0600) under a
temporary name and renamed into place when complete (an interrupted backup leaves no file):

- ``manifest.json``: format, version, when, from which server, counts of nodes by label and relationships by
  type, what else is inside;
- ``graph.jsonl``: the whole graph in the dump format of :mod:`graph.dump` (``graph export``), types preserved,
  accounts included;
- ``session-secret``: the secret that signs forms and hidden-need handles (pages and links handed out before
  the backup keep working after a restore); absent when it is set in the environment instead;
- ``index/...``: the matcher's persisted indexes (generations, dense rows, graph context) and
  ``cache/embeddings/*.sqlite`` (the encoders' vectors, copied with SQLite's online backup): the slow parts
  to rebuild. They are a cache of the graph: at start the engine compares the graph's content hashes with the
  indexed ones and re-indexes what differs, so a copy a little older or newer than the graph is made right at
  the first start, never misread.

**Consistency while the service runs.** The graph is read by label pages (``graph.dump``), each page a read
transaction, which alone would not be one moment's graph: a need posted between two pages could be kept
without its ``POSTED`` edge. So the backup first takes the data directory's *write gate* exclusively
(:mod:`graph.writegate`): it waits for the techmatch writes in flight to commit, and every techmatch write that
starts later, in any process on this data directory (the service, its workers, commands beside it), waits
until the graph has been read. Reads go on. No write commits between the first page and the last, so the
archive holds the graph as of one moment; the export's own count check (every node and relationship counted
before reading was read) confirms it. Writers that do not go through techmatch on this data directory (another
host on a shared Neo4j) are not held: back such a graph up with the graph server's own tools.

A restore (``techmatch restore FILE``) builds a complete new data directory beside the target
(``.<name>.restoring-<pid>``): a fresh graph server, the schema, the graph imported batch by batch with
progress, the counts compared with the manifest, the indexes and secret put back. Only when everything is
there is it renamed into place; an interrupted restore removes it and leaves the target as it was. A target
whose graph holds nodes is refused unless ``--force``, which keeps the old directory as
``<name>.before-restore-<time>``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.dump import Progress, export_graph, import_graph
from graph.exceptions import DataDirLockedError, ValidationError
from graph.files import FILE_MODE, private_dir
from graph.settings import GraphSettings
from graph.store import GraphStore, open_store
from graph.writegate import writes_held

FORMAT = "techmatch-backup"
VERSION = 1
GRAPH_MEMBER = "graph.jsonl"
MANIFEST = "manifest.json"
SECRET = "session-secret"
#: what the server, the locks and the logs keep in a data directory: never part of a backup
_SKIP_NAMES = {"writer.lock", "server.lock", "server.pid", "server.json"}

Say = Callable[[str], None]


@dataclass
class BackupReport:
    path: Path
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    files: int = 0
    size: int = 0
    seconds: float = 0.0
    held_writes_s: float = 0.0


def _quiet(_: str) -> None:
    pass


def backup(settings: GraphSettings, path: Path, progress: Progress | None = None, say: Say = _quiet,
           artifacts: bool = True, gate_timeout_s: float = 60.0) -> BackupReport:
    """Write a backup of ``settings.data_dir``'s graph (and, with ``artifacts``, its indexes) to ``path``."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValidationError(f"目录 {path.parent} 不存在，无法写出 {path.name}", where=str(path))
    started = time.monotonic()
    report = BackupReport(path=path)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".work", dir=path.parent))
    partial = path.with_name(f".{path.name}.partial")
    try:
        os.chmod(work, 0o700)
        dump = work / GRAPH_MEMBER
        with open_store(settings, setup_schema=False) as store:
            server = _agent(store)
            say("正在等待进行中的写入完成（备份期间新的写入排队等候，读取不受影响）……")
            with writes_held(settings.data_dir, gate_timeout_s):
                held = time.monotonic()
                exported = export_graph(store, dump, progress=progress)
                report.held_writes_s = time.monotonic() - held
        report.nodes, report.relationships = exported.nodes, exported.relationships
        say(f"图已读出：{exported.node_total} 个节点、{exported.relationship_total} 条关系"
            f"（写入排队 {report.held_writes_s:.1f} 秒）")
        extras = _artifacts(settings, work) if artifacts else []
        manifest = {
            "format": FORMAT, "version": VERSION,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "server": server, "data_dir": str(settings.data_dir),
            "counts": {"nodes": exported.nodes, "relationships": exported.relationships},
            "consistency": "writes held through the data directory's write gate while the graph was read",
            "artifacts": [name for name, _ in extras],
        }
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
            tar.add(dump, arcname=GRAPH_MEMBER, recursive=False)
            for name, source in extras:
                tar.add(source, arcname=name, recursive=False)
            report.files = 2 + len(extras)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
        report.size = path.stat().st_size
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _agent(store: GraphStore) -> str:
    try:
        return str(store.driver.get_server_info().agent)
    except Exception:  # noqa: BLE001 - informative only
        return "unknown"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), FILE_MODE, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _artifacts(settings: GraphSettings, work: Path) -> list[tuple[str, Path]]:
    """(name in the archive, file to add): the session secret, the persisted indexes, the vectors' SQLite
    caches (through SQLite's backup API: a consistent copy while the service writes them)."""
    root = Path(settings.data_dir)
    out: list[tuple[str, Path]] = []
    if (root / SECRET).is_file():
        out.append((SECRET, root / SECRET))
    index = root / "index"
    if index.is_dir():
        for file in sorted(index.rglob("*")):
            if file.is_file() and file.name not in _SKIP_NAMES and not file.name.endswith(".tmp"):
                copy = work / "files" / file.relative_to(root)
                copy.parent.mkdir(parents=True, exist_ok=True)
                try:  # a generation pruned by the service meanwhile is simply not part of the copy
                    shutil.copyfile(file, copy)
                except FileNotFoundError:
                    continue
                out.append((file.relative_to(root).as_posix(), copy))
    embeddings = root / "cache" / "embeddings"
    if embeddings.is_dir():
        for db in sorted(embeddings.glob("*.sqlite")):
            copy = work / "files" / db.relative_to(root)
            copy.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as src, \
                    contextlib.closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)
            out.append((db.relative_to(root).as_posix(), copy))
    return out


# --- restore ---------------------------------------------------------------------------------------

@dataclass
class RestoreReport:
    data_dir: Path
    manifest: dict[str, Any]
    nodes: dict[str, int] = field(default_factory=dict)
    relationships: dict[str, int] = field(default_factory=dict)
    kept_old: Path | None = None
    artifacts: int = 0
    seconds: float = 0.0

    @property
    def same_counts(self) -> bool:
        counts = self.manifest.get("counts", {})
        return counts.get("nodes", {}) == self.nodes and counts.get("relationships", {}) == self.relationships


def read_manifest(path: Path) -> dict[str, Any]:
    """The backup's manifest, checked: a techmatch backup of a version this code reads."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            manifest = json.loads(member.read()) if member else None
    except (OSError, tarfile.TarError, KeyError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path} 不是可读的 techmatch 备份文件（{exc}）", where=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValidationError(f"{path} 不是 techmatch 备份文件（没有 {FORMAT!r} 清单）", where=str(path))
    if manifest.get("version") != VERSION:
        raise ValidationError(f"{path} 是第 {manifest.get('version')} 版备份，本程序只读第 {VERSION} 版",
                              where=str(path))
    return manifest


def restore(settings: GraphSettings, path: Path, target: Path | None = None, force: bool = False,
            progress: Progress | None = None, say: Say = _quiet) -> RestoreReport:
    """Restore the backup at ``path`` into the data directory ``target`` (default: the settings' one)."""
    from graph.server import embedded_server, find_running_server

    if settings.graph_uri:
        raise ValidationError(
            "restore 恢复到本机数据目录；已设置 TECHMATCH_GRAPH_URI（外部图服务器）时请用 techmatch graph import "
            "导入备份里的 graph.jsonl（tar -xzf 备份文件 graph.jsonl）")
    path = Path(path)
    manifest = read_manifest(path)
    started = time.monotonic()
    target = Path(target or settings.data_dir).expanduser().resolve()
    running = find_running_server(target)
    if running is not None or _locked(target):
        who = f"（pid {running.owner_pid}，{running.owner}）" if running else ""
        raise DataDirLockedError(f"数据目录 {target} 正在被另一个 techmatch 进程{who}使用：请先停止它再恢复")
    existing = _graph_nodes(settings, target)
    if existing and not force:
        raise ValidationError(
            f"目标数据目录 {target} 的图里已有 {existing} 个节点：请恢复到新目录（--data-dir），"
            "或加 --force 覆盖（原目录改名保留）")
    private_dir(target.parent)
    staging = target.parent / f".{target.name}.restoring-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    report = RestoreReport(data_dir=target, manifest=manifest)
    try:
        private_dir(staging)
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                if member.name in (MANIFEST,) or not member.isfile():
                    continue
                if member.name != GRAPH_MEMBER:
                    report.artifacts += 1
                _extract(tar, member, staging)
        dump = staging / GRAPH_MEMBER
        staged = settings.model_copy(update={"data_dir": staging})
        server = embedded_server(staged)
        say(f"正在启动新的图服务器（{staging}）……")
        with open_store(staged, setup_schema=True) as store:
            import_graph(store, dump, progress=progress)
            report.nodes, report.relationships = store.count_by_label(), store.count_relations()
        dump.unlink()
        if server.pid_file.exists():  # stopped with the store: nothing of it may move with the directory
            raise ValidationError(f"恢复用的图服务器没有停止（{server.pid_file}）")
        if not report.same_counts:
            raise ValidationError("恢复后的计数与备份清单不一致（见上表）；目标目录没有改动", where=str(path))
        if target.exists() and any(target.iterdir()):
            report.kept_old = target.with_name(f"{target.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            target.rename(report.kept_old)
        elif target.exists():
            target.rmdir()
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path) -> None:
    """One regular file of the archive under ``root`` (0600), refusing names that would leave it."""
    name = Path(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise ValidationError(f"备份里有不安全的文件名 {member.name!r}，已拒绝")
    dest = root / name
    private_dir(dest.parent)
    source = tar.extractfile(member)
    if source is None:
        return
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _locked(data_dir: Path) -> bool:
    """Whether a live process holds the directory's lock (a server of a command, or a serve starting)."""
    import fcntl

    lock = data_dir / "server.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _graph_nodes(settings: GraphSettings, target: Path) -> int:
    """Nodes in the graph of ``target`` (0 when it has none yet: no server is started for an empty directory)."""
    if not ((target / "arcadedb").exists() or (target / "neo4j").exists()):
        return 0
    with open_store(settings.model_copy(update={"data_dir": target}), setup_schema=False) as store:
        return sum(store.count_by_label().values())
