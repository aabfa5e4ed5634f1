"""``techmatch ingest PATH...``: load spreadsheets and exports (achievements, needs, enterprises, talents,
institutions, platforms) into the graph, with a report per file, reject files and merge reports."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.config import ApiSettings
from graph.exceptions import GraphUnavailableError, TechmatchError
from graph.store import GraphStore, open_store
from ingest.mapping import (
    ENTITY_NAMES,
    ENTITY_TYPES,
    ERROR_COLUMN,
    EntityMapping,
    builtin_mappings,
    load_mapping_file,
)

if TYPE_CHECKING:
    from ingest.classify import ChainPlacer
    from ingest.loader import IngestReport

log = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from ingest.loader import plan_paths

    settings = args.settings
    mappings = load_mapping_file(args.mapping) if args.mapping else builtin_mappings()
    failures: list[tuple[Path, str]] = []
    planned = plan_paths(args.paths, entity=args.type, fmt=args.format, problems=failures)
    for path, cause in failures:
        print(f"✗ {path}：没有载入：{cause}")
    rejects_dir = Path(args.rejects) if args.rejects else None
    if rejects_dir is None:
        # the input may sit on a read-only share; fall back to the data directory then
        rejects_dir = None if all(_writable(p.parent) for p, _ in planned) else settings.data_dir / "rejects"
    started = time.perf_counter()
    reports: list[IngestReport] = []
    if planned:
        reports = _load_all(planned, args, settings, mappings, rejects_dir, failures)
    if args.json:
        data = [r.as_dict() for r in reports] + [{"source": str(p), "failed": True, "error": c} for p, c in failures]
        Path(args.json).write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    rows = sum(r.rows_read for r in reports)
    took = time.perf_counter() - started
    if failures:
        names = "、".join(str(p) for p, _ in failures)
        print(f"完成：{len(reports)} 个文件已载入（共 {rows} 行），{len(failures)} 个没有载入：{names}；"
              f"用时 {took:.1f} 秒")
        return 1
    print(f"完成：{len(reports)} 个文件已载入，共 {rows} 行，用时 {took:.1f} 秒")
    return 1 if any(r.rejected for r in reports) and args.strict else 0


def _load_all(planned: list[tuple[Path, str | None]], args: argparse.Namespace, settings: ApiSettings,
              mappings: dict[str, EntityMapping], rejects_dir: Path | None, failures: list[tuple[Path, str]]
              ) -> list[IngestReport]:
    """Load each planned file in turn; a file that cannot be loaded is added to ``failures`` and the next
    one is loaded."""
    from ingest.loader import Loader

    reports: list[IngestReport] = []
    classify = not args.no_classify
    # the graph server takes seconds to start (its JVM): it starts in a thread while this one loads the
    # placement model and the tokenizer's tables, reads the first file and enriches its first batches
    graph = _GraphStarting(settings, taxonomy=classify)
    try:
        placer = _warm(classify, settings)
        loader = Loader(graph.future, mappings=mappings, placer=placer, batch_size=args.batch_size,
                        rejects_dir=rejects_dir, progress=not args.quiet, workers=None,
                        configured_workers=settings.ingest_workers)
        fmt = None if args.format in ("auto", "zhibei") else args.format
        for path, entity in planned:
            try:
                report = loader.load(path, entity=entity, fmt=fmt, sheet=args.sheet, header_row=args.header_row)
            except GraphUnavailableError:
                raise
            except Exception as exc:  # one bad file never stops the others; each is named with its cause
                if graph.failed_with(exc):
                    raise  # the graph itself did not start: not this file's fault
                cause = _cause(exc, path)
                if getattr(args, "verbose", False):
                    log.error("%s", path, exc_info=True)
                failures.append((path, cause))
                print(f"✗ {path}：没有载入：{cause}")
                continue
            reports.append(report)
            _print_report(report, args.show_errors)
    except BaseException as exc:
        graph.close(exc)
        raise
    graph.close(None)
    return reports


def _warm(classify: bool, settings: ApiSettings) -> ChainPlacer | None:
    """The chain placer (None with --no-classify) and the text pipeline's tables, which every row needs."""
    from ingest import text as textpipe

    placer = None
    if classify:
        from ingest.classify import default_placer

        placer = default_placer()
    textpipe.general_idf()
    textpipe.tokenize("尼龙66切片")
    return placer


class _GraphStarting:
    """The command's graph store, opened (its server started, the schema and, when placing, the chain taxonomy
    written) in a thread; :attr:`future` gives it to the loader, which waits only where a row needs it."""

    def __init__(self, settings: ApiSettings, taxonomy: bool) -> None:
        import threading
        from concurrent.futures import Future

        self.future: Future[GraphStore] = Future()
        self._opened: Any = None
        self._settings = settings
        self._taxonomy = taxonomy
        self._thread = threading.Thread(target=self._open, name="ingest-graph-start", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            opened = open_store(self._settings)
            store = opened.__enter__()
            self._opened = opened
            if self._taxonomy:
                from ingest.loader import ensure_taxonomy

                ensure_taxonomy(store)
        except BaseException as exc:  # given to whoever waits on the store
            self.future.set_exception(exc)
            return
        self.future.set_result(store)

    def failed_with(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the graph's own failure to start."""
        return self.future.done() and self.future.exception() is exc

    def close(self, exc: BaseException | None) -> None:
        """Stop what was started (the server started for this command); after Ctrl-C it waits for the start
        to finish first, so no graph server is left running."""
        while self._thread.is_alive():
            self._thread.join(0.2)  # short waits: a second Ctrl-C still interrupts
        if self._opened is not None:
            opened, self._opened = self._opened, None
            opened.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
        elif exc is None and (error := self.future.exception()) is not None:
            # no file got as far as writing (each failed on its own), but the graph did not start either
            raise error


def _cause(exc: BaseException, path: Path) -> str:
    """The error's message without the file name it starts with (the line names the file already)."""
    if not isinstance(exc, (TechmatchError, OSError)):
        return f"内部错误（{type(exc).__name__}: {exc}）；加 -v 可看到详细信息"
    if isinstance(exc, OSError) and not isinstance(exc, TechmatchError):
        return f"无法读取（{exc.strerror or exc}）"
    text = str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def _print_report(report: IngestReport, show_errors: int) -> None:
    print(report.summary())
    for note in report.notes:
        print(f"  {note}")
    if report.unknown_columns:
        print(f"  没有用到的列（{ENTITY_NAMES.get(report.entity, report.entity)}没有这样的表头）："
              f"{'、'.join(report.unknown_columns)}；表头的写法见 docs/ingest.md，或用 --mapping 补充")
    for err in report.errors[:show_errors]:
        print(f"  {Path(report.source).name}：{err}")
    if len(report.errors) > show_errors:
        print(f"  ……还有 {len(report.errors) - show_errors} 条")
    if report.rejects_file:
        print(f"  被拒绝的行已写入 {report.rejects_file}（原因在“{ERROR_COLUMN}”列）：改正这些行后直接载入这个文件即可")
    if report.merges_file:
        print(f"  合并记录和可能的重复（请复核）：{report.merges_file}")


def _writable(directory: Path) -> bool:
    """Writable, and not marked read-only: root passes ``os.access`` on a ``r-x`` directory (a read-only data
    share), and the rejects of a file there belong in the data directory, not beside it."""
    import os
    import stat

    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    return os.access(directory, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ingest",
        help="load achievements, needs, enterprises, talents, institutions, platforms from CSV/JSONL/XLSX",
        description="Load files into the graph. Each row is validated; bad rows go to a reject file (same format "
        "plus an error column 错误原因) you can fix and reload; loading a file again changes nothing. A directory "
        "holding the zhibei export (achievements_dedup.jsonl, requirements_dedup.jsonl) is recognised.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    parser.add_argument("--type", choices=ENTITY_TYPES, default=None,
                        help="what the files hold (default: from the file name, else from the headers)")
    parser.add_argument("--format", choices=("auto", "zhibei", "csv", "jsonl", "xlsx"), default="auto",
                        help="input format (default: from the extension; zhibei = the zhibei export directory)")
    parser.add_argument("--sheet", metavar="NAME|N", default=None,
                        help="the sheet of an .xlsx to read, by name or number from 1 (default: the first sheet "
                        "whose header fits an entity; instruction sheets such as 填写说明 are skipped)")
    parser.add_argument("--header-row", type=int, metavar="N", default=None,
                        help="the row of an .xlsx sheet that holds the header, from 1 (default: found among the "
                        "first rows by its known headers, so title rows above it are skipped)")
    parser.add_argument("--mapping", metavar="FILE", help="YAML/JSON file with extra column headers per field")
    parser.add_argument("--rejects", metavar="DIR",
                        help="where reject and merge reports go (default: next to the input)")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
    parser.add_argument("--no-classify", action="store_true", help="do not place rows on chain segments")
    parser.add_argument("--show-errors", type=int, default=20, metavar="N", help="print the first N rejects")
    parser.add_argument("--json", metavar="FILE", help="also write the reports as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when any row is rejected")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


