"""``techmatch ingest-policy FILE``: read a plan's targets, tasks and responsible units into the graph."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ingest-policy",
        help="load a plan (实施方案) into the graph: targets, tasks, responsible units, named chains/orgs",
        description="Parse a government plan in plain text (UTF-8 or GB18030) and write a Policy with its Targets, "
        "Tasks and Departments, linked to the chains and organisations it names. Re-running is idempotent.",
    )
    parser.add_argument("file", type=Path, help="the plan as a text file")
    parser.add_argument("--dry-run", action="store_true", help="parse and print, write nothing")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ingest.policy import build_policy_graph, load_policy, parse_policy, read_policy_text

    if args.dry_run:
        parsed = parse_policy(read_policy_text(args.file), source=str(args.file))
        _, _, report = build_policy_graph(parsed, None, source=str(args.file))
        if args.json:
            print(json.dumps(asdict(parsed), ensure_ascii=False, indent=2, default=str))
            return 0
        print(f"{parsed.name} {parsed.doc_number} ({parsed.issued_on}), horizon {parsed.horizon_year}")
        for t in parsed.targets:
            print(f"  target {t.metric:26s} {t.comparator} {t.value:g} {t.unit}  by {t.deadline_year}  {t.name}")
        for task in parsed.tasks:
            print(f"  task {task.number:2d} {task.name}  [{'、'.join(task.responsible)}]")
        for w in report.warnings:
            print(f"  warning: {w}")
        return 0

    from graph.store import open_store

    with open_store(args.settings) as store:
        report = load_policy(store, args.file)
    if args.json:
        print(json.dumps(asdict(report), ensure_ascii=False, indent=2))
        return 0
    print(
        f"{report.name}: {report.targets} targets, {report.tasks} tasks, {report.departments} departments "
        f"(created {report.created}, updated {report.updated}, unchanged {report.unchanged})"
    )
    if report.chains_named:
        print("  chains named: " + "、".join(report.chains_named))
    if report.orgs_named:
        print("  organisations named: " + "、".join(report.orgs_named))
    if report.unlinked_mentions:
        print("  named but not in the graph: " + "、".join(report.unlinked_mentions))
    for name in report.unmapped_targets:
        print(f"  target without a known metric: {name}")
    for w in report.warnings:
        print(f"  warning: {w}")
    return 0
