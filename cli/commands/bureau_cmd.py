"""``techmatch bureau ...``: the science bureau's view — targets against reality, the chain gap map,
candidate special-project topics, pictures and Excel/CSV exports. Help and output are in Chinese (the
bureau's staff read them); ``--json`` is for programs and keeps the internal keys."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any


class ChineseHelp(argparse.HelpFormatter):
    """argparse's help with its own words in Chinese too (用法 / 选项)."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "用法：" if prefix is None else prefix)


def _chinese(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser._optionals.title = "选项"
    parser.add_argument("-h", "--help", action="help", help="显示本帮助并退出")
    return parser


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bureau", formatter_class=ChineseHelp, add_help=False,
        help="科技局视图：规划目标、产业链缺口、候选专项、图表与报表",
        description="已导入的规划目标与图谱中实际情况的对比、产业链缺口图、由未满足需求聚类出的候选专项、"
        "图表（按文件后缀输出 PNG/SVG/PDF）以及供科技局报告使用的 Excel/CSV 报表。",
    )
    _chinese(parser)
    bsub = parser.add_subparsers(dest="bureau_command", metavar="子命令", title="子命令")

    def add(
        name: str, help_text: str, func: Any, *, unmet: bool = False, targets: bool = False
    ) -> argparse.ArgumentParser:
        p = _chinese(bsub.add_parser(name, help=help_text, description=help_text, formatter_class=ChineseHelp,
                                     add_help=False))
        if targets:
            p.add_argument("--as-of", type=int, default=None, metavar="年份", help="统计到哪一年年底（默认：今年）")
            p.add_argument("--policy", default=None, metavar="规划编号", help="只看这一份规划")
        if unmet:
            p.add_argument(
                "--unmet", choices=("matcher", "graph"), default="matcher",
                help="由谁判断需求未满足：matcher 为匹配引擎（没有候选达到置信度阈值，默认），"
                "graph 为图谱记录（需求仍在征集且没有成果解决它，更快）",
            )
            p.add_argument("--chain", action="append", default=None, metavar="产业链编号",
                           help="只看这条产业链（可重复）")
        p.set_defaults(func=func)
        return p

    p = add("targets", "各项规划目标的完成进度：按年度、县区和责任单位", _targets, targets=True)
    p.add_argument("--json", action="store_true", help="以 JSON 输出（供程序读取）")
    p.add_argument("--by", choices=("target", "department", "region"), default="target",
                   help="target 按目标（默认），department 按责任单位，region 按县区")
    p = add("gaps", "产业链缺口图与卡脖子环节排名", _gaps, unmet=True)
    p.add_argument("--top", type=int, default=15, metavar="个数", help="列出前几个卡脖子环节（默认 15）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出（供程序读取）")
    p = add("topics", "由各产业链未满足的需求聚类出的候选重大专项", _topics, unmet=True)
    p.add_argument("--distance", type=float, default=None, metavar="距离", help="合并需求的余弦距离阈值")
    p.add_argument("--json", action="store_true", help="以 JSON 输出（供程序读取）")
    p = add("publish-topic", "把一个候选专项发布为揭榜挂帅榜单（草稿或已发布）", _publish, unmet=True)
    p.add_argument("topic_id", metavar="专项编号", help="techmatch bureau topics 列出的编号")
    p.add_argument("--name", default=None, metavar="名称", help="榜单名称（默认：拟定名称）")
    p.add_argument("--statement", default=None, metavar="任务", help="攻关任务与指标")
    p.add_argument("--budget", type=float, default=None, metavar="万元", help="资金支持（万元）")
    p.add_argument("--status", choices=("draft", "published"), default="draft",
                   help="draft 草稿（默认），published 直接发布")
    p.add_argument("--distance", type=float, default=None, metavar="距离", help="合并需求的余弦距离阈值")
    for name, what in (
        ("chart-map", "产业链缺口图（按未满足需求着色）"),
        ("chart-segments", "各环节的需求与供给"),
    ):
        p = add(name, what, _chart, unmet=True)
        p.add_argument("--output", type=Path, required=True, metavar="文件", help="文件名.png / .svg / .pdf")
    p = add("chart-targets", "规划目标的逐年完成进度", _chart, targets=True)
    p.add_argument("--output", type=Path, required=True, metavar="文件", help="文件名.png / .svg / .pdf")
    p = add("chart-teams", "一个揭榜挂帅榜单的推荐团队及其能力覆盖", _chart_teams)
    p.add_argument("challenge_id", metavar="榜单编号")
    p.add_argument("--output", type=Path, required=True, metavar="文件", help="文件名.png / .svg / .pdf")
    p = add("charts", "全部图表（缺口图、目标进度、环节供需、动态趋势、县区对比）输出到一个目录", _charts, unmet=True,
            targets=True)
    p.add_argument("--output-dir", type=Path, required=True, metavar="目录", help="输出目录")
    p.add_argument("--format", choices=("png", "svg", "pdf"), action="append", default=None,
                   help="可重复；默认 png 和 svg")
    p = add("export", "目标、缺口、候选专项、动态趋势与揭榜挂帅报表（Excel 或 CSV）", _export, unmet=True,
            targets=True)
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx", help="xlsx（默认）或 csv")
    p.add_argument("--output", type=Path, required=True, metavar="路径", help="report.xlsx，或 CSV 的输出目录")
    p.add_argument("--no-topics", action="store_true", help="不做候选专项聚类（更快）")
    p = add("refresh", "重新计算缺失或过期的需求匹配结果，分析需求的词语与关键词，"
            "并备好各产业链的候选专项聚类与候选揭榜方（缺口图、候选专项与报表读取它们）",
            _refresh)
    p.add_argument("--all", action="store_true", help="全部需求都重新计算，不只是过期的")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def need_is_unmet_for(store: Any, mode: str, settings: Any) -> Any:
    """The ``need_is_unmet`` callable for ``--unmet``: the graph's record, or the matcher's ``is_gap`` as stored
    in each need's standing (:mod:`matcher.standing`): one read, never a match per need. Standings missing or
    made by another engine are computed first, once, as a batch (:func:`refresh_standings`)."""
    from bureau.gapmap import graph_need_is_unmet

    if mode == "graph":
        return graph_need_is_unmet(store)
    return current_verdicts(store, settings)[1].unmet()


def _engine(store: Any, settings: Any) -> Any:
    from graph.exceptions import TechmatchError

    try:
        from matcher.engine import MatchEngine
    except ImportError as exc:
        raise TechmatchError("匹配引擎不可用：请改用 --unmet graph") from exc
    return MatchEngine(store, settings)  # not opened: the standings' version needs only its channels and curve


def refresh_standings(store: Any, settings: Any, everything: bool = False) -> Any:
    """Bring the needs' standings up to date: say how many are stale, compute them as one batch job with a
    progress line on stderr (the engine's indexes are opened only when something is stale; needs matched a batch
    at a time, :meth:`matcher.standing.StandingMatches.refresh_batch`). Ctrl-C stops it; the batches written so
    far stay, and the next run computes only what is left."""
    return current_verdicts(store, settings, everything)[0]


def current_verdicts(store: Any, settings: Any, everything: bool = False) -> tuple[Any, Any]:
    """:func:`refresh_standings`, and every need's gap verdict once they are current (``Verdicts``): the
    verdicts read to find the stale standings are the answer when none is stale (no second read)."""
    import sys

    from matcher.standing import StandingMatches

    engine = _engine(store, settings)
    standing = StandingMatches(store, engine)
    verdicts = standing.verdicts()
    total = verdicts.needs
    stale = [r["id"] for r in store.read("MATCH (n:Need) RETURN n.id AS id ORDER BY id")] if everything \
        else verdicts.stale
    if not stale:
        print(f"{total:,} 个需求的匹配结果均为最新，直接读取", file=sys.stderr, flush=True)
        return standing, verdicts
    what = "全部重新计算" if everything else "缺失或已过期（需求或成果有变动，或匹配引擎已更换）"
    print(f"{len(stale):,} / {total:,} 个需求的匹配结果{what}，现在计算……", file=sys.stderr, flush=True)
    try:
        engine.open(wait=True)
        last = [0.0]

        def show(p: Any) -> None:
            if p.done == p.total or p.seconds - last[0] >= 2.0:
                last[0] = p.seconds
                print(p.line(), file=sys.stderr, flush=True)

        standing.refresh_batch(stale, progress=show)
    finally:
        engine.close()
    print(f"已更新 {len(stale):,} 个需求的匹配结果", file=sys.stderr, flush=True)
    return standing, standing.verdicts()


def _store(args: argparse.Namespace):  # noqa: ANN202 - the store's context manager
    from graph.store import open_store

    return open_store(args.settings)


def _targets(args: argparse.Namespace) -> int:
    from bureau.targets import progress_by_department, progress_by_region, target_progress

    with _store(args) as store:
        progress = target_progress(store, args.as_of, args.policy)
    if not progress:
        print("图谱中还没有规划目标：请先运行 `techmatch ingest-policy 文件` 导入实施方案")
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
            print(region + "：" + "；".join(f"{k} {v:g}" for k, v in values.items()))
        return 0
    for p in progress:
        print(_target_line(p))
    return 0


def _amount(value: float, unit: str) -> str:
    if unit == "万元" and abs(value) >= 10000:
        return f"{value / 10000:g}亿元"
    return f"{value:g}{unit}"


def _target_line(p: Any) -> str:
    from graph.zh import COMPARATOR_ZH, TARGET_STATUS_ZH

    status = TARGET_STATUS_ZH.get(p.status, p.status)
    goal = f"{_amount(p.target_value, p.unit)}{COMPARATOR_ZH.get(p.comparator, '')}"
    if p.current is None:
        return f"{p.metric_label}：目标 {goal}，{status}（{p.note}）"
    if p.kind == "per_year":
        pace = "（每年目标）"
    elif p.remaining_years:
        pace = f"，剩 {p.remaining_years} 年，每年需新增 {_amount(p.pace_needed, p.unit)}"
    else:
        pace = "，规划期已到"
    return (f"{p.metric_label}：{_amount(p.current, p.unit)} / {goal}（{p.deadline_year} 年），"
            f"还差 {_amount(p.gap, p.unit)}{pace}  [{status}]" + (f"  注：{p.note}" if p.note else ""))


def _refresh(args: argparse.Namespace) -> int:
    import sys
    import time

    from bureau.topics import analyse_need_texts, prepare_topics

    with _store(args) as store:
        refresh_standings(store, args.settings, everything=args.all)
        started = time.perf_counter()

        def show(done: int, total: int) -> None:
            print(f"需求的词语与关键词：已分析 {done:,} / {total:,}（{time.perf_counter() - started:.0f} 秒；"
                  "Ctrl-C 可中断，已分析的会保留）", file=sys.stderr, flush=True)

        total = analyse_need_texts(store, progress=show, data_dir=args.settings.data_dir)
        print(f"{total:,} 个需求的词语与关键词已备好（候选专项直接读取）", file=sys.stderr, flush=True)
        print("候选专项：按产业链聚类未满足的需求，并排出候选揭榜方……", file=sys.stderr, flush=True)
        started = time.perf_counter()
        topics = prepare_topics(store, args.settings.data_dir, current_verdicts(store, args.settings)[1].unmet())
    print(f"{len(topics):,} 个候选专项的聚类与候选揭榜方已备好（{time.perf_counter() - started:.0f} 秒；"
          "缺口图、候选专项与报表直接读取）", file=sys.stderr, flush=True)
    return 0


def _gap_map(store: Any, args: argparse.Namespace) -> Any:
    from bureau.gapmap import build_gap_map

    return build_gap_map(store, need_is_unmet_for(store, args.unmet, args.settings), args.chain)


def _gaps(args: argparse.Namespace) -> int:
    with _store(args) as store:
        gap_map = _gap_map(store, args)
    if args.json:
        print(json.dumps({"segments": [s.as_row() for s in gap_map.segments],
                          "ranked": [s.segment_id for s in gap_map.ranked(args.top)]}, ensure_ascii=False, indent=2))
        return 0
    for chain in gap_map.chains:
        print(f"{chain.name}：未满足需求 {chain.unmet_demand}")
        for s in chain.segments:
            print(f"  {s.segment_name}：需求 {s.demand}，未满足 {s.unmet_demand}，供给 {s.supply}，成交 {s.deals} 笔")
    print("卡脖子环节：")
    for i, s in enumerate(gap_map.ranked(args.top), start=1):
        print(f"  {i:2d}. {s.chain_name}·{s.segment_name}  评分 {s.score:g}"
              f"（需求 {s.demand} 中未满足 {s.unmet_demand}，供给 {s.supply}）")
    return 0


def _curate(store: Any, args: argparse.Namespace) -> list[Any]:
    from bureau.topics import DEFAULT_DISTANCE, curate_topics

    return curate_topics(
        store, _gap_map(store, args), chain_ids=args.chain,
        distance_threshold=args.distance if args.distance is not None else DEFAULT_DISTANCE,
        data_dir=args.settings.data_dir,
    )


def _topics(args: argparse.Namespace) -> int:
    with _store(args) as store:
        topics = _curate(store, args)
    if args.json:
        print(json.dumps([asdict(t) for t in topics], ensure_ascii=False, indent=2))
        return 0
    if not topics:
        print("没有未满足的需求，也就没有候选专项")
    for t in topics:
        budget = f"预算估计 {t.budget_wan:g} 万元" if t.budget_wan is not None else "预算未知"
        print(f"{t.topic_id}  [{t.chain_name}] {t.title}：需求 {len(t.need_ids)} 项，{budget}")
        print(f"    提出企业：{'、'.join(t.enterprise_names) or '—'}")
        if t.solvers:
            print(f"    候选揭榜方：{'、'.join(str(s.get('name', '')) for s in t.solvers)}")
        elif t.solver_note:
            print(f"    候选揭榜方：（{t.solver_note}）")
    return 0


def _publish(args: argparse.Namespace) -> int:
    from bureau.topics import publish_topic
    from graph.exceptions import ValidationError
    from graph.model import ChallengeStatus

    with _store(args) as store:
        topics = {t.topic_id: t for t in _curate(store, args)}
        if args.topic_id not in topics:
            raise ValidationError(f"没有编号为 {args.topic_id} 的候选专项；请先运行 `techmatch bureau topics` 查看",
                                  field="topic_id")
        challenge = publish_topic(
            store, topics[args.topic_id], name=args.name, statement=args.statement,
            status=ChallengeStatus(args.status), budget_wan=args.budget,
        )
    from graph.zh import CHALLENGE_STATUS_ZH

    print(f"已生成揭榜挂帅榜单（{CHALLENGE_STATUS_ZH[challenge.status.value]}）：{challenge.name}")
    return 0


def _chart(args: argparse.Namespace) -> int:
    from bureau import charts

    with _store(args) as store:
        if args.bureau_command == "chart-targets":
            from bureau.targets import target_progress

            fig = charts.target_progress_figure(target_progress(store, args.as_of, args.policy))
        elif args.bureau_command == "chart-map":
            fig = charts.chain_map_figure(_gap_map(store, args))
        else:
            fig = charts.segment_supply_demand_figure(_gap_map(store, args))
    print(charts.save_figure(fig, args.output))
    return 0


def _chart_teams(args: argparse.Namespace) -> int:
    from bureau import charts
    from bureau.challenges import get_challenge, recommend_teams
    from matcher.solvers.coi import ConflictPolicy
    from matcher.solvers.ranking import SolverIndex

    with _store(args) as store:
        challenge = get_challenge(store, args.challenge_id)
        advice = recommend_teams(store, challenge, SolverIndex.build(store, scorer="lexical"),
                                 policy=ConflictPolicy.from_settings(args.settings))
    print(charts.save_figure(charts.team_coverage_figure(advice), args.output))
    return 0


def _charts(args: argparse.Namespace) -> int:
    from bureau import charts
    from bureau.cockpit import activity_trend, county_table, default_year
    from bureau.targets import plan_years, target_progress

    with _store(args) as store:
        as_of = args.as_of or default_year(store)
        progress = target_progress(store, as_of, args.policy)
        gap_map = _gap_map(store, args)
        years = plan_years(progress) or [as_of]
        trend = activity_trend(store, years[0], max(as_of, years[0], date.today().year))
        counties = county_table(store, as_of, years[0])
    figures = {
        "chain-map": charts.chain_map_figure(gap_map),
        "targets": charts.target_progress_figure(progress),
        "segments": charts.segment_supply_demand_figure(gap_map),
        "activity": charts.activity_figure(trend),
        "counties": charts.county_figure(counties, ("high_tech_enterprises", "tech_contract_turnover")),
    }
    for name, fig in figures.items():
        for fmt in args.format or ("png", "svg"):
            print(charts.save_figure(fig, args.output_dir / f"{name}.{fmt}"))
    return 0


def _export(args: argparse.Namespace) -> int:
    from bureau.cockpit import activity_trend, default_year
    from bureau.export import bureau_tables, export_report, store_challenge_rows
    from bureau.targets import plan_years, target_progress

    with _store(args) as store:
        as_of = args.as_of or default_year(store)
        progress = target_progress(store, as_of, args.policy)
        gap_map = _gap_map(store, args)
        topics = None
        if not args.no_topics:
            from bureau.topics import curate_topics

            topics = curate_topics(store, gap_map, chain_ids=args.chain, data_dir=args.settings.data_dir)
        years = plan_years(progress) or [as_of]
        trend = activity_trend(store, years[0], max(as_of, years[0], date.today().year))
        tables = bureau_tables(progress, gap_map, topics, trend, store_challenge_rows(store))
    for path in export_report(tables, args.format, args.output):
        print(path)
    return 0
