"""``techmatch graph ...``: run, inspect and set up the graph itself."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from graph.settings import get_settings
from graph.store import open_store


def _counts(args: argparse.Namespace) -> int:
    with open_store(get_settings()) as store:
        counts = {"nodes": store.count_by_label(), "relationships": store.count_relations()}
    if args.json:
        print(json.dumps(counts, ensure_ascii=False, indent=2))
    else:
        for kind, table in counts.items():
            print(f"{kind}: {sum(table.values())}")
            for name, n in sorted(table.items()):
                print(f"  {name:<20} {n:>8}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    with open_store(get_settings(), setup_schema=True):
        print("constraints and indexes are in place")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Keep the embedded server up in the foreground, e.g. to explore it with another Bolt client."""
    settings = get_settings()
    if settings.graph_uri:
        print(f"a graph URI is configured ({settings.graph_uri}); nothing to start")
        return 0
    from graph.server import embedded_server

    server = embedded_server(settings)
    info = server.start()
    print(f"graph server ready at {info.uri} (database {info.database}, user {info.user})")
    print(f"password in {server.secret_file}; log in {info.log_file}; Ctrl-C to stop")
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        done.wait()
    finally:
        server.stop()
        print("graph server stopped")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("graph", help="run or inspect the graph server", description=__doc__)
    gsub = parser.add_subparsers(dest="graph_command", metavar="ACTION")
    p = gsub.add_parser("counts", help="node and relationship counts by label")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_counts)
    p = gsub.add_parser("schema", help="create the constraints and indexes (idempotent)")
    p.set_defaults(func=_schema)
    p = gsub.add_parser("run", help="run the embedded server in the foreground")
    p.set_defaults(func=_run)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
