"""``techmatch bureau ...``: the science bureau's view — targets against reality, the chain gap map,
candidate special-project topics, pictures and Excel/CSV exports."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bureau",
        help="the bureau's view: plan targets, chain gaps, special-project topics, charts, exports",
        description="Targets of the ingested plan against the graph, the chain gap map, candidate topics from "
        "unmet needs, charts (PNG/SVG/PDF by file suffix) and exports for the bureau's reports.",
    )
    bsub = parser.add_subparsers(dest="bureau_command", metavar="WHAT")

    def add(
        name: str, help_text: str, func: Any, *, unmet: bool = False, targets: bool = False
    ) -> argparse.ArgumentParser:
        p = bsub.add_parser(name, help=help_text, description=help_text)
        if targets:
            p.add_argument("--as-of", type=int, default=None, help="the year progress is measured at (default: now)")
            p.add_argument("--policy", default=None, help="only this Policy id")
        if unmet:
            p.add_argument(
                "--unmet", choices=("matcher", "graph"), default="matcher",
                help="who decides a need is unmet: the matcher (no match reaches the confidence threshold; "
                "default) or, faster, the graph's record (open and nothing SOLVES it)",
            )
            p.add_argument("--chain", action="append", default=None, help="only this chain id (repeatable)")
        p.set_defaults(func=func)
        return p

    p = add("targets", "progress of every plan target, by year, county and responsible unit", _targets, targets=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--by", choices=("target", "department", "region"), default="target")
    p = add("gaps", "the chain gap map and the ranked 卡脖子 candidates", _gaps, unmet=True)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--json", action="store_true")
    p = add("topics", "candidate special-project topics from the unmet needs of each chain", _topics, unmet=True)
    p.add_argument("--distance", type=float, default=None, help="cosine distance threshold for merging needs")
    p.add_argument("--json", action="store_true")
    p = add("publish-topic", "publish one candidate topic as a 揭榜挂帅 challenge (draft or published)", _publish,
            unmet=True)
    p.add_argument("topic_id")
    p.add_argument("--name", default=None, help="the challenge's title (default: the draft title)")
    p.add_argument("--statement", default=None)
    p.add_argument("--budget", type=float, default=None, help="万元")
    p.add_argument("--status", choices=("draft", "published"), default="draft")
    p.add_argument("--distance", type=float, default=None)
    for name, what in (
        ("chart-map", "the chain map coloured by unmet demand"),
        ("chart-segments", "demand and supply per segment"),
    ):
        p = add(name, what, _chart, unmet=True)
        p.add_argument("--output", type=Path, required=True, help="file.png | file.svg | file.pdf")
    p = add("chart-targets", "target progress over time", _chart, targets=True)
    p.add_argument("--output", type=Path, required=True, help="file.png | file.svg | file.pdf")
    p = add("charts", "all three pictures into one directory (the matcher is asked once)", _charts, unmet=True,
            targets=True)
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--format", choices=("png", "svg", "pdf"), action="append", default=None,
                   help="repeatable; default png and svg")
    p = add("export", "targets, gaps and topics as an Excel workbook or CSV files", _export, unmet=True,
            targets=True)
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    p.add_argument("--output", type=Path, required=True, help="report.xlsx, or a directory for csv")
    p.add_argument("--no-topics", action="store_true", help="skip topic clustering")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def need_is_unmet_for(store: Any, mode: str) -> Any:
    """The ``need_is_unmet`` callable for ``--unmet``: the graph's record, or the matcher's ``is_gap``."""
    from bureau.gapmap import engine_need_is_unmet, graph_need_is_unmet

    if mode == "graph":
        return graph_need_is_unmet(store)
    from graph.exceptions import TechmatchError

    try:
        from matcher.engine import MatchEngine
    except ImportError as exc:
        raise TechmatchError("the matcher engine (matcher/engine.py) is not available; use --unmet graph") from exc
    # Only the verdict is needed: the best candidate, unexplained.
    return engine_need_is_unmet(MatchEngine.from_store(store), k=1, explain=False)


def _store():
    from graph.store import open_store

    return open_store()


def _targets(args: argparse.Namespace) -> int:
    from bureau.targets import progress_by_department, progress_by_region, target_progress

    with _store() as store:
        progress = target_progress(store, args.as_of, args.policy)
    if not progress:
        print("no targets in the graph: run `techmatch ingest-policy FILE` first")
        return 1
    if args.json:
        print(json.dumps([asdict(p) for p in progress], ensure_ascii=False, indent=2))
        return 0
    if args.by == "department":
        for dept, rows in progress_by_department(progress).items():
            print(dept)
            for p in rows:
                print("  " + _target_line(p))
        return 0
    if args.by == "region":
        for region, values in progress_by_region(progress).items():
            print(region + ": " + "；".join(f"{k} {v:g}" for k, v in values.items()))
        return 0
    for p in progress:
        print(_target_line(p))
    return 0


def _target_line(p: Any) -> str:
    from bureau.export import STATUS_ZH

    if p.current is None:
        return f"{p.metric_label:<14} target {p.target_value:g}{p.unit}  {STATUS_ZH.get(p.status, p.status)}: {p.note}"
    pace = f", needs {p.pace_needed:g}/yr over {p.remaining_years} yr" if p.kind != "per_year" else " (per year)"
    return (
        f"{p.metric_label:<14} {p.current:g}/{p.target_value:g}{p.unit} by {p.deadline_year} "
        f"gap {p.gap:g}{pace}  [{STATUS_ZH.get(p.status, p.status)}]"
        + (f"  ({p.note})" if p.note else "")
    )


def _gap_map(store: Any, args: argparse.Namespace) -> Any:
    from bureau.gapmap import build_gap_map

    return build_gap_map(store, need_is_unmet_for(store, args.unmet), args.chain)


def _gaps(args: argparse.Namespace) -> int:
    with _store() as store:
        gap_map = _gap_map(store, args)
    if args.json:
        print(json.dumps({"segments": [s.as_row() for s in gap_map.segments],
                          "ranked": [s.segment_id for s in gap_map.ranked(args.top)]}, ensure_ascii=False, indent=2))
        return 0
    for chain in gap_map.chains:
        print(f"{chain.name}: unmet demand {chain.unmet_demand}")
        for s in chain.segments:
            print(f"  {s.segment_name:<12} demand {s.demand:3d} unmet {s.unmet_demand:3d} supply {s.supply:3d} "
                  f"deals {s.deals:3d}")
    print("卡脖子 candidates:")
    for i, s in enumerate(gap_map.ranked(args.top), start=1):
        print(f"  {i:2d}. {s.chain_name}·{s.segment_name}  score {s.score:g}  "
              f"({s.unmet_demand}/{s.demand} unmet, supply {s.supply})")
    return 0


def _curate(store: Any, args: argparse.Namespace) -> list[Any]:
    from bureau.topics import DEFAULT_DISTANCE, curate_topics

    return curate_topics(
        store, _gap_map(store, args), chain_ids=args.chain,
        distance_threshold=args.distance if args.distance is not None else DEFAULT_DISTANCE,
    )


def _topics(args: argparse.Namespace) -> int:
    with _store() as store:
        topics = _curate(store, args)
    if args.json:
        print(json.dumps([asdict(t) for t in topics], ensure_ascii=False, indent=2))
        return 0
    if not topics:
        print("no unmet needs: no topics")
    for t in topics:
        budget = f"{t.budget_wan:g}万元" if t.budget_wan is not None else "预算未知"
        print(f"{t.topic_id}  [{t.chain_name}] {t.title}  needs {len(t.need_ids)}, {budget}")
        print(f"    enterprises: {'、'.join(t.enterprise_names) or '-'}")
        if t.solvers:
            print(f"    solvers: {'、'.join(str(s.get('name', s.get('id'))) for s in t.solvers)}")
        elif t.solver_note:
            print(f"    solvers: ({t.solver_note})")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from bureau.topics import publish_topic
    from graph.exceptions import ValidationError
    from graph.model import ChallengeStatus

    with _store() as store:
        topics = {t.topic_id: t for t in _curate(store, args)}
        if args.topic_id not in topics:
            raise ValidationError(f"no candidate topic {args.topic_id!r}; see `techmatch bureau topics`",
                                  field="topic_id")
        challenge = publish_topic(
            store, topics[args.topic_id], name=args.name, statement=args.statement,
            status=ChallengeStatus(args.status), budget_wan=args.budget,
        )
    print(f"challenge {challenge.id} ({challenge.status.value}): {challenge.name}")
    return 0


def _chart(args: argparse.Namespace) -> int:
    from bureau import charts

    with _store() as store:
        if args.bureau_command == "chart-targets":
            from bureau.targets import target_progress

            fig = charts.target_progress_figure(target_progress(store, args.as_of, args.policy))
        elif args.bureau_command == "chart-map":
            fig = charts.chain_map_figure(_gap_map(store, args))
        else:
            fig = charts.segment_supply_demand_figure(_gap_map(store, args))
    print(charts.save_figure(fig, args.output))
    return 0


def _charts(args: argparse.Namespace) -> int:
    from bureau import charts
    from bureau.targets import target_progress

    with _store() as store:
        progress = target_progress(store, args.as_of, args.policy)
        gap_map = _gap_map(store, args)
    figures = {
        "chain-map": charts.chain_map_figure(gap_map),
        "targets": charts.target_progress_figure(progress),
        "segments": charts.segment_supply_demand_figure(gap_map),
    }
    for name, fig in figures.items():
        for fmt in args.format or ("png", "svg"):
            print(charts.save_figure(fig, args.output_dir / f"{name}.{fmt}"))
    return 0


def _export(args: argparse.Namespace) -> int:
    from bureau.export import bureau_tables, export_report
    from bureau.targets import target_progress

    with _store() as store:
        progress = target_progress(store, args.as_of, args.policy)
        gap_map = _gap_map(store, args)
        topics = None
        if not args.no_topics:
            from bureau.topics import curate_topics

            topics = curate_topics(store, gap_map, chain_ids=args.chain)
    for path in export_report(bureau_tables(progress, gap_map, topics), args.format, args.output):
        print(path)
    return 0
