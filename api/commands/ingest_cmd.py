"""``techmatch ingest PATH...``: load spreadsheets and exports (achievements, needs, enterprises, talents,
institutions, platforms) into the graph, with a report per file, reject files and merge reports."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from graph.settings import get_settings
from graph.store import open_store
from ingest.mapping import ENTITY_TYPES, builtin_mappings, load_mapping_file


def _run(args: argparse.Namespace) -> int:
    from ingest.loader import Loader, ensure_taxonomy, plan_paths

    settings = get_settings()
    mappings = load_mapping_file(args.mapping) if args.mapping else builtin_mappings()
    planned = plan_paths(args.paths, entity=args.type, fmt=args.format)
    rejects_dir = Path(args.rejects) if args.rejects else None
    if rejects_dir is None:
        # the input may sit on a read-only share; fall back to the data directory then
        rejects_dir = None if all(_writable(p.parent) for p, _ in planned) else settings.data_dir / "rejects"
    started = time.perf_counter()
    reports = []
    with open_store(settings) as store:
        placer = None
        if not args.no_classify:
            from ingest.classify import default_placer

            ensure_taxonomy(store)
            placer = default_placer(settings)
        loader = Loader(store, mappings=mappings, placer=placer, batch_size=args.batch_size,
                        rejects_dir=rejects_dir, progress=not args.quiet)
        for path, entity in planned:
            report = loader.load(path, entity=entity, fmt=None if args.format in ("auto", "zhibei") else args.format)
            reports.append(report)
            print(report.summary())
            if report.unknown_columns:
                print(f"  columns not used (no field of {report.entity} has that header): "
                      f"{', '.join(report.unknown_columns)}; see docs/ingest.md or pass --mapping")
            for err in report.errors[: args.show_errors]:
                print(f"  {Path(report.source).name}: {err}")
            if len(report.errors) > args.show_errors:
                print(f"  ... {len(report.errors) - args.show_errors} more")
            if report.rejects_file:
                print(f"  rejected rows written to {report.rejects_file} (the reason is in its error column; "
                      "fix the rows and load that file again)")
            if report.merges_file:
                print(f"  merges and possible duplicates for review: {report.merges_file}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2,
                                              default=str), encoding="utf-8")
    print(f"done: {len(reports)} file(s), {sum(r.rows_read for r in reports)} rows in "
          f"{time.perf_counter() - started:.1f} s")
    return 1 if any(r.rejected for r in reports) and args.strict else 0


def _writable(directory: Path) -> bool:
    import os

    return os.access(directory, os.W_OK)


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


