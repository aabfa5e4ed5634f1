"""``techmatch rank ...``: batch ranking used to evaluate the matcher on data it has not seen."""

from __future__ import annotations

import argparse
import importlib

#: modules each exposing ``register(rank_subparsers)``
RANK_MODULES = ("cli.commands.rank_needs", "cli.commands.rank_experts")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rank",
        help="batch-rank records from files on a throwaway graph (evaluation)",
        description="Rank records from JSON Lines files with the service's pipeline, on a throwaway embedded "
        "graph that is removed afterwards. Output: query_id<TAB>item_id<TAB>rank<TAB>score.",
    )
    rank_sub = parser.add_subparsers(dest="rank_command", metavar="WHAT")
    for name in RANK_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(rank_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
