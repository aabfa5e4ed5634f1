"""``techmatch rank needs``: rank achievements for every need in a file, with the service's own pipeline.

    techmatch rank needs --achievements A.jsonl --needs N.jsonl --top 100 --output run.tsv

Records follow the zhibei export (achievements: id, name, description, application_scope, industry, ip_type,
maturity, cooperation, price, post_time; needs: id, name, description, sector_gbt4754, cooperation,
valid_period); other sources work when shaped the same way (e.g. CSL papers as id, name=title,
description=abstract). The records are loaded into a throwaway embedded graph in a temporary directory, the
:class:`~matcher.engine.MatchEngine` is built from that graph exactly as the service builds it, and the graph is
removed afterwards. Output lines: ``need_id<TAB>achievement_id<TAB>rank<TAB>score`` (score = calibrated
confidence, comparable across needs). A bad row is reported on stderr with its file and line and skipped;
ids are written back verbatim (ids the graph cannot hold, e.g. with spaces, are mapped internally).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from graph.exceptions import TechmatchError, ValidationError
from graph.model import Node
from graph.server import EmbeddedGraphServer
from graph.store import connect
from ingest.zhibei import clean_record

T = TypeVar("T", bound=Node)

#: fields a record cannot do without; any other field that does not parse is dropped with a warning
_ESSENTIAL = {"id", "name", "description"}


def register(rank_sub: argparse._SubParsersAction) -> None:
    p = rank_sub.add_parser(
        "needs",
        help="rank achievements for each need (need_id, achievement_id, rank, score)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--achievements", required=True, type=Path, help="achievements, JSON Lines")
    p.add_argument("--needs", required=True, type=Path, help="needs, JSON Lines")
    p.add_argument("--top", type=int, default=100, help="achievements per need (default 100)")
    p.add_argument("--output", "-o", type=Path, default=None, help="run file to write (default: stdout)")
    p.add_argument("--embedder", default=None,
                   help="e5-market | e5-small | use-m3 | st:<path-or-name> | none (default: settings)")
    p.set_defaults(func=run)


def _show_progress(progress: Any) -> None:
    """The embedding job's progress on stderr (a line per chunk; a long first run shows where it stands)."""
    _warn(progress.line())


def _warn(msg: str) -> None:
    print(f"techmatch rank needs: {msg}", file=sys.stderr)


def internal_id(external: str) -> str:
    """The graph id for an external id: itself when the graph can hold it, else a stable hash."""
    if external and len(external) <= 128 and not re.search(r"\s", external):
        return external
    return "x-" + hashlib.sha1(external.encode("utf-8")).hexdigest()


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each JSON object line; blank lines skipped, bad lines reported."""
    try:
        fh = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}", where=str(path)) from exc
    with fh:
        for no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                _warn(f"{path}:{no}: not valid JSON ({exc.msg}); skipped")
                continue
            if not isinstance(rec, dict):
                _warn(f"{path}:{no}: not a JSON object; skipped")
                continue
            yield no, rec


def load_nodes(
    path: Path, convert: Callable[[dict[str, Any]], T], what: str
) -> tuple[list[T], dict[str, str]]:
    """Nodes from a JSON Lines file and the map internal id → external id. Rows that cannot become a node
    are reported and skipped; an optional field that does not parse is dropped from its row (reported)."""
    nodes: dict[str, T] = {}
    external: dict[str, str] = {}
    for no, rec in read_records(path):
        rec = clean_record(rec)
        ext = str(rec.get("id", "")).strip()
        if not ext:
            _warn(f"{path}:{no}: {what} has no id; skipped")
            continue
        rec["id"] = internal_id(ext)
        node = None
        for _ in range(len(rec) + 1):
            try:
                node = convert(rec)
                break
            except (ValidationError, ValueError) as exc:
                field = getattr(exc, "field", None)
                if field and field not in _ESSENTIAL and rec.get(field) not in (None, ""):
                    _warn(f"{path}:{no}: {what} {ext}: {field} ignored ({exc})")
                    rec[field] = ""
                    continue
                _warn(f"{path}:{no}: {what} {ext}: {exc}; skipped")
                break
        if node is None:
            continue
        if node.id in nodes:
            _warn(f"{path}:{no}: {what} id {ext} repeated; the later record wins")
        nodes[node.id] = node
        external[node.id] = ext
    return list(nodes.values()), external


def run(args: argparse.Namespace) -> int:
    from ingest.zhibei import achievement_from_record, need_from_record
    from matcher.engine import MatchEngine

    if args.top < 1:
        raise ValidationError("--top must be at least 1", field="top")
    started = time.perf_counter()
    achievements, ach_ext = load_nodes(args.achievements, achievement_from_record, "achievement")
    needs, need_ext = load_nodes(args.needs, need_from_record, "need")
    if not achievements:
        raise ValidationError(f"no usable achievement in {args.achievements}", where=str(args.achievements))
    settings = args.settings
    if args.embedder is not None:
        settings = settings.model_copy(update={"embedder": args.embedder})
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="techmatch-rank-") as tmp:
        server = EmbeddedGraphServer(Path(tmp) / "graph", database="rank", heap_mb=settings.embedded_heap_mb,
                                     start_timeout_s=settings.embedded_start_timeout_s)
        info = server.start()
        try:
            store = connect(info.uri, info.user, info.password, info.database, settings.write_batch_size)
            try:
                store.setup_schema()
                store.upsert_nodes(achievements)
                store.upsert_nodes(needs)
                # the throwaway graph's indexes are not kept (persist=False); dense rows still come from the
                # data directory's content-addressed vector store, so a second run embeds nothing again
                engine = MatchEngine(store, settings=settings, persist=False)
                engine.on_progress(_show_progress)
                engine.open(wait=True)
                for need in needs:
                    result = engine.match_need(need, k=args.top, include_weak=True, explain=False)
                    for m in result.matches:
                        lines.append(f"{need_ext[need.id]}\t{ach_ext[m.candidate_id]}\t{m.rank}\t{m.confidence:.6g}")
            finally:
                store.close()
        finally:
            server.stop()
    body = "".join(line + "\n" for line in lines)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.output.with_name(args.output.name + ".part")
        tmp_out.write_text(body, encoding="utf-8")
        tmp_out.replace(args.output)  # a finished run file or none: never half of one
    else:
        sys.stdout.write(body)
    _warn(f"{len(needs)} needs x {len(achievements)} achievements ranked in {time.perf_counter() - started:.1f}s")
    return 0


__all__ = ["register", "run", "load_nodes", "internal_id", "TechmatchError"]
