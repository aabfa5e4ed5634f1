"""``techmatch rank experts``: batch expert finding (the 揭榜挂帅 solver pipeline) from JSON Lines files.

Loads the experts and their works into a throwaway embedded graph (a temporary directory, removed
afterwards), builds the solver index from that graph exactly as the service does, ranks every query
and writes ``query_id<TAB>expert_id<TAB>rank<TAB>score``. Bad input lines are reported on stderr with
their line numbers and skipped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from graph.exceptions import ValidationError
from graph.model import NodeLabel
from graph.server import EmbeddedGraphServer
from graph.store import GraphStore, connect
from matcher.index.job import JobProgress
from matcher.settings import MatcherSettings
from matcher.solvers.expert_works import (
    ExpertGraph,
    LineError,
    QueryRecord,
    expert_graph,
    parse_queries,
    parse_work_records,
)
from matcher.solvers.ranking import DEFAULT_AGGREGATION, SCORERS, SolverIndex


@dataclass
class ExpertRun:
    """Ranked experts per query id, best first, plus the input problems met on the way."""

    ranking: dict[str, list[tuple[str, float]]]
    errors: list[str]
    timings: dict[str, float]


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ValidationError(f"{what} file {path} does not exist", field=what) from exc
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{what} file {path} is not UTF-8 ({exc.reason} at byte {exc.start})",
                              field=what) from exc


@dataclass
class ExpertInput:
    """Parsed input: the experts' graph, the queries and the problems found in the files."""

    graph: ExpertGraph
    queries: list[QueryRecord]
    errors: list[str]


def read_inputs(works_path: Path, queries_path: Path) -> ExpertInput:
    """Parse both files; bad lines become messages with line numbers. Raises if no valid work remains."""
    records, work_errors = parse_work_records(_read_lines(Path(works_path), "works"))
    queries, query_errors = parse_queries(_read_lines(Path(queries_path), "queries"))
    errors = [f"{works_path}: {e}" for e in work_errors] + [f"{queries_path}: {e}" for e in query_errors]
    if not records:
        raise ValidationError(f"no valid work in {works_path}", field="works")
    return ExpertInput(expert_graph(records), queries, errors)


@contextmanager
def throwaway_graph(built: ExpertGraph, errors: list[str], heap_mb: int = 1024) -> Iterator[GraphStore]:
    """An embedded graph server in a temporary directory holding ``built``; stopped and removed on exit."""
    with tempfile.TemporaryDirectory(prefix="techmatch-rank-experts-") as tmp:
        server = EmbeddedGraphServer(Path(tmp), database="rankexperts", heap_mb=heap_mb)
        info = server.start()
        try:
            store = connect(info.uri, info.user, info.password, info.database)
            try:
                store.setup_schema()
                store.upsert_nodes(built.nodes)
                for rel in store.upsert_relations(built.relations).missing_endpoints:
                    errors.append(f"edge {rel.source_id} -> {rel.target_id} not written (missing endpoint)")
                yield store
            finally:
                store.close()
        finally:
            server.stop()


def build_expert_index(
    store: GraphStore, scorer: str = "combined", aggregation: str = DEFAULT_AGGREGATION, track_weight: float = 0.2,
    settings: MatcherSettings | None = None, progress: Callable[[JobProgress], None] | None = None,
) -> SolverIndex:
    """The service's solver index over the talents in ``store``; ``settings``: the dense encoder and the data
    directory whose vector store keeps its rows (a rerun encodes nothing); ``progress``: the embedding's."""
    return SolverIndex.build(store, scorer=scorer, aggregation=aggregation, track_weight=track_weight,
                             labels=(NodeLabel.TALENT,), settings=settings, progress=progress)


def to_expert_ids(built: ExpertGraph, ranked: list[list[tuple[str, float]]], queries: list[QueryRecord]
                  ) -> dict[str, list[tuple[str, float]]]:
    """Solver keys (``Talent:x-…``) back to the expert ids of the input file."""
    prefix = f"{NodeLabel.TALENT.value}:"
    return {
        q.id: [(built.talent_to_expert[key[len(prefix):]], score) for key, score in row]
        for q, row in zip(queries, ranked, strict=True)
    }


def rank_experts(
    works_path: Path,
    queries_path: Path,
    top: int = 100,
    scorer: str = "combined",
    aggregation: str = DEFAULT_AGGREGATION,
    track_weight: float = 0.2,
    heap_mb: int = 1024,
    settings: MatcherSettings | None = None,
) -> ExpertRun:
    """The whole batch: parse, load a throwaway graph, index it, rank. Raises if nothing valid remains."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = read_inputs(works_path, queries_path)
    with throwaway_graph(data.graph, data.errors, heap_mb) as store:
        timings["load_graph_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        index = build_expert_index(store, scorer, aggregation, track_weight, settings,
                                   progress=lambda p: print(p.line(), file=sys.stderr, flush=True))
        timings["index_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    ranked = index.rank([q.text for q in data.queries], k=top)
    timings["rank_s"] = time.perf_counter() - t2
    return ExpertRun(ranking=to_expert_ids(data.graph, ranked, data.queries), errors=data.errors, timings=timings)


def write_run(ranking: dict[str, list[tuple[str, float]]], out: TextIO) -> None:
    for qid, row in ranking.items():
        for rank, (expert, score) in enumerate(row, start=1):
            out.write(f"{qid}\t{expert}\t{rank}\t{score:.6f}\n")


def _run(args: argparse.Namespace) -> int:
    result = rank_experts(args.works, args.queries, args.top, args.scorer, args.aggregation, args.track_weight,
                          settings=args.settings)
    for problem in result.errors:
        print(f"techmatch rank experts: {problem}", file=sys.stderr)
    if args.output in (None, "-"):
        write_run(result.ranking, sys.stdout)
    else:
        out_path = Path(args.output)
        tmp = out_path.with_name(out_path.name + ".part")
        with tmp.open("w", encoding="utf-8") as fh:
            write_run(result.ranking, fh)
        tmp.replace(out_path)  # a crash never leaves half a run file
    return 0


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def register(rank_sub: argparse._SubParsersAction) -> None:
    parser = rank_sub.add_parser(
        "experts",
        help="rank experts (solvers) for query texts from their works",
        description="Expert finding: works {expert_id, expert_name, institution, title, text?, year?, kind?} and "
        "queries {id, text} as JSON Lines; output query_id<TAB>expert_id<TAB>rank<TAB>score.",
    )
    parser.add_argument("--works", type=Path, required=True, help="works JSON Lines")
    parser.add_argument("--queries", type=Path, required=True, help="queries JSON Lines")
    parser.add_argument("--top", type=_positive, default=100, help="experts per query (default 100)")
    parser.add_argument("--output", default="-", help="run file (default stdout)")
    parser.add_argument("--scorer", choices=sorted(SCORERS), default="combined")
    parser.add_argument("--aggregation", default=DEFAULT_AGGREGATION,
                        help="max | mean | sum | topk:K:DECAY | softmax:T | powermean:P")
    parser.add_argument("--track-weight", type=float, default=0.2, help="weight of the track-record bonus")
    parser.set_defaults(func=_run)


__all__: Sequence[str] = ("rank_experts", "register", "write_run", "ExpertRun", "LineError")
