"""``techmatch demo ...``: load the demo dataset (taxonomy + a realistic Pingdingshan graph) and inspect it."""

from __future__ import annotations

import argparse
import json
import sys

from graph.demo import demo_counts, load_demo, read_demo
from graph.store import open_store


def _print_table(title: str, table: dict[str, int], expected: dict[str, int] | None = None) -> None:
    print(f"{title}: {sum(table.values())}")
    for name in sorted(set(table) | set(expected or {})):
        line = f"  {name:<16} {table.get(name, 0):>6}"
        if expected is not None:
            line += f"  (files: {expected.get(name, 0)})"
        print(line)


def _load(args: argparse.Namespace) -> int:
    progress = None if args.quiet else (lambda msg: print(f"... {msg}", file=sys.stderr))
    with open_store(args.settings) as store:
        report = load_demo(store, progress=progress)
        in_graph = store.count_by_label()
    if args.json:
        out = {
            "demo_entities": report.counts,
            "graph_nodes": in_graph,
            "created": report.nodes.created + report.relations.created + report.taxonomy.created,
            "updated": report.nodes.updated + report.relations.updated + report.taxonomy.updated,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(
        f"demo loaded: nodes {report.nodes.created} created / {report.nodes.updated} updated / "
        f"{report.nodes.unchanged} unchanged; relationships {report.relations.created} created / "
        f"{report.relations.updated} updated / {report.relations.unchanged} unchanged; "
        f"taxonomy {report.taxonomy.created + report.taxonomy.updated} changed"
    )
    _print_table("nodes in the graph by label", in_graph)
    return 0


def _counts(args: argparse.Namespace) -> int:
    expected = read_demo().counts()
    with open_store(args.settings) as store:
        loaded = demo_counts(store)
    if args.json:
        print(json.dumps({"in_graph": loaded, "in_files": expected}, ensure_ascii=False, indent=2))
    else:
        _print_table("demo nodes in the graph", loaded, expected)
    return 0


def _check(args: argparse.Namespace) -> int:
    data = read_demo()  # raises with every problem listed
    print(f"demo files are valid: {len(data.nodes)} nodes, {len(data.relations)} relationships")
    _print_table("by label", data.counts())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="load or inspect the demo dataset", description=__doc__)
    dsub = parser.add_subparsers(dest="demo_command", metavar="ACTION")
    p = dsub.add_parser("load", help="load the taxonomy and the demo into the configured graph (idempotent)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_load)
    p = dsub.add_parser("counts", help="demo nodes in the graph by label, next to what the files hold")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_counts)
    p = dsub.add_parser("check", help="validate the demo files without a graph")
    p.set_defaults(func=_check)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
