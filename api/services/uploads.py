"""Uploads in the browser: each caller's upload jobs, loading one file in the background with its progress on
the job, and failing the jobs a process that is gone left running."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import State

from api.auth import Principal
from api.policy import UploadRowPolicy
from graph.model import NodeLabel, UploadJob
from graph.store import GraphStore
from ingest.classify import ChainPlacer, default_placer

_JOB = NodeLabel.UPLOAD_JOB.value
_JOBS_OF = (f"MATCH (j:{_JOB}) WHERE $all OR j.user_id = $uid "
            "RETURN properties(j) AS p ORDER BY j.created_at DESC LIMIT 20")
_PROGRESS = f"MATCH (j:{_JOB} {{id: $id}}) SET j.rows_done = $done"
_UNFINISHED = f"MATCH (j:{_JOB}) WHERE j.status IN ['queued', 'running'] RETURN j.id AS id, j.worker AS worker"
_FAIL = f"MATCH (j:{_JOB}) WHERE j.id IN $ids SET j.status = 'failed', j.error = $why"
INTERRUPTED_ZH = "服务重启，上传中断：请重新上传该文件（已写入的批次不会重复）"


def upload_jobs(store: GraphStore, user_id: str, everyone: bool = False) -> list[UploadJob]:
    """The 20 latest upload jobs of ``user_id`` (of every user when ``everyone``)."""
    rows = store.read(_JOBS_OF, all=everyone, uid=user_id)
    return [j for j in (UploadJob.from_props(r["p"]) for r in rows) if isinstance(j, UploadJob)]


def record_progress(store: GraphStore, job_id: str, rows_done: int) -> None:
    store.write(_PROGRESS, id=job_id, done=rows_done)


def chain_placer(state: State) -> ChainPlacer:
    """One chain placer per app: uploads are placed on chain segments like the ingest command's rows."""
    placer = getattr(state, "chain_placer", None)
    if placer is None:
        placer = state.chain_placer = default_placer()
    return placer


def run_upload(state: State, me: Principal, job_id: str, path: Path) -> None:
    """Load one uploaded file, recording progress on its job; the report and reject file stay with the job."""
    from graph.exceptions import TechmatchError
    from ingest.loader import Loader
    from ingest.readers import ReadLimits, open_table

    store, settings = state.store, state.settings
    job = store.get_node(NodeLabel.UPLOAD_JOB, job_id)
    assert isinstance(job, UploadJob)
    limits = ReadLimits(max_rows=settings.max_upload_rows, max_seconds=settings.max_upload_seconds)
    batch = 200

    def progress(batch_no: int, nodes: Any) -> None:
        record_progress(store, job_id, min(batch_no * batch, job.rows_total or batch_no * batch))

    try:
        total = open_table(path, limits=limits).total_hint or 0
        job = job.model_copy(update={"status": "running", "rows_total": total})
        store.update_node(job)
        loader = Loader(store, placer=chain_placer(state), batch_size=batch, rejects_dir=path.parent,
                        before_batch=progress, progress=False, limits=limits, row_policy=UploadRowPolicy(me))
        report = loader.load(path, entity=job.entity or None, source_name=job.file_name)
        job = job.model_copy(update={
            "status": "done", "rows_done": report.rows_read, "finished_at": datetime.now(UTC),
            "report_json": json.dumps({**report.as_dict(), "summary": report.summary()}, ensure_ascii=False,
                                      default=str)[:200_000],
            "rejects_file": Path(report.rejects_file).name if report.rejects_file else ""})
        store.update_node(job)
        if report.created or report.updated:
            state.upkeep.after_load()
    except TechmatchError as exc:
        store.update_node(job.model_copy(update={"status": "failed", "finished_at": datetime.now(UTC),
                                                 "error": str(exc).replace(str(path), job.file_name)[:1000]}))
    except Exception:
        store.update_node(job.model_copy(update={"status": "failed", "finished_at": datetime.now(UTC),
                                                 "error": "加载时出现内部错误，已记录在日志中"}))
        raise
    finally:
        path.unlink(missing_ok=True)  # the reject file stays for download; the upload itself does not


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def mark_interrupted_uploads(store: GraphStore) -> int:
    """Uploads that a process on this host started and did not finish (it is gone) are failed, with a sentence
    that says what to do; other workers' running uploads are left alone."""
    host = socket.gethostname()
    gone = []
    for r in store.read(_UNFINISHED):
        worker_host, _, pid = str(r["worker"] or "").rpartition(":")
        if worker_host == host and not _alive(int(pid) if pid.isdigit() else -1):
            gone.append(r["id"])
    if gone:
        store.write(_FAIL, ids=gone, why=INTERRUPTED_ZH)
    return len(gone)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
