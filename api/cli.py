"""The ``techmatch`` command line. Each subcommand lives in its own module under ``api/commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: command modules, each exposing ``register(subparsers)``; a new command is a new module here
COMMAND_MODULES = (
    "api.commands.graph_cmd",
    "api.commands.demo",
    "api.commands.ingest_cmd",
    "api.commands.ingest_policy",
    "api.commands.rank",
    "api.commands.serve",
    "api.commands.bureau_cmd",
    "api.commands.index_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="techmatch",
        description="techmatch: knowledge-graph matchmaking for technology transfer (科技成果 ↔ 企业需求 ↔ 人才).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; -v shows the traceback
        from graph.exceptions import TechmatchError

        if isinstance(exc, TechmatchError) and not args.verbose:
            print(f"techmatch: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
