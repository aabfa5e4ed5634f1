"""The bureau's pages: the cockpit (驾驶舱) with the plan's targets, counties, responsible units, activity
over time and the chain gap map; one segment's needs, supply, deals and candidate special projects (one
click turns a topic into a 揭榜挂帅 draft); and the audit log in words.

The bureau reads every need in full (``api.policy``); what it reads of non-public needs still goes through
its :class:`~api.gate.NeedGate`, so those views are audited like any other. Thin over :mod:`bureau.cockpit`,
:mod:`bureau.gapmap`, :mod:`bureau.topics` and :mod:`bureau.challenges`.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from api.auth import ROLE_NAMES_ZH, Principal, Role
from api.errors import ApiError
from api.gate import gate_for
from api.pages import bureau_render, check_csrf, login_redirect, page_principal, render
from api.policy import Act, Resource, authorize
from api.services.catalogue import display_names
from bureau import svg
from graph.model import LABEL_ZH, Challenge, ChallengeStatus, NodeLabel
from graph.zh import AUDIT_ACTION_ZH, AUDIT_DETAIL_ZH, CHAIN_POSITION_ZH, CHALLENGE_STATUS_ZH

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 50


def _bureau(request: Request) -> Principal | Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    authorize(me, Resource.STATISTICS, Act.READ)
    return me


def gap_map_for(request: Request) -> Any:
    """The gap map: unmet = no match of the need reaches the confidence threshold, read from each need's stored
    matches (matcher.standing: a read per need, never a query) once the engine is built; before that, the
    graph's record of solved needs (a page view never waits for an index build)."""
    from bureau.gapmap import build_gap_map

    standing = request.app.state.upkeep.standing()
    return build_gap_map(request.app.state.store, standing.unmet() if standing is not None else None)


def _amount(value: float, unit: str) -> str:
    if unit == "万元" and abs(value) >= 10000:
        return f"{value / 10000:,.2f}亿元"
    return f"{value:,.0f}{unit}" if abs(value) >= 100 or value == int(value) else f"{value:,.1f}{unit}"


def _target_chart(plan: Any) -> Markup:
    rows = []
    for row in plan.rows:
        p = row.progress
        if p.current is None:
            rows.append(svg.Bar(label=p.metric_label, share=0, text="无数据", status="no_data", note=p.note[:40]))
            continue
        text = f"{_amount(p.current, p.unit)} / {_amount(p.target_value, p.unit)}"
        rows.append(svg.Bar(label=p.metric_label, share=row.share or 0, text=text, status=p.status,
                            marker=row.expected_share))
    return svg.bar_chart(rows, f"规划目标完成进度（{plan.as_of}年）")


@router.get("/bureau", response_class=HTMLResponse)
def cockpit(request: Request, year: int | None = Query(None, ge=2000, le=2100)) -> Response:
    from bureau.cockpit import activity_trend, county_table, default_year, department_view, plan_view

    me = _bureau(request)
    if isinstance(me, Response):
        return me
    store = request.app.state.store
    as_of = year or default_year(store)
    plan = plan_view(store, as_of)
    first = plan.years[0] if plan.years else as_of - 4
    trend = activity_trend(store, first, max(as_of, first, date.today().year))
    counties = county_table(store, as_of, first)
    departments = department_view(plan)
    gap_map = gap_map_for(request)
    challenges = [Challenge.from_props(p) for p in store.list_props(NodeLabel.CHALLENGE, limit=200)]
    charts = {
        "targets": _target_chart(plan) if plan.rows else None,
        "departments": svg.stacked_bars(
            [(dept, sorted(counts.items(), key=lambda kv: ["achieved", "on_track", "behind", "no_data",
                                                           "unknown_metric"].index(kv[0])))
             for dept, counts, _ in departments[:8]], "各责任单位牵头目标的完成状态") if departments else None,
        "trend": svg.column_chart(trend.periods, trend.series(), "需求、匹配、对接与成交（按年）", "件 / 笔")
        if not trend.empty else None,
        "amount": svg.bar_chart([svg.Bar(label=f"{y}年", share=a / max(*trend.amount_wan, 1.0),
                                         text=_amount(a, "万元"))
                                 for y, a in zip(trend.periods, trend.amount_wan, strict=True)],
                                "成果转化合同成交额（按年）") if any(trend.amount_wan) else None,
    }
    county_charts = []
    for key, label in counties.metrics:
        ranking = [(c, v) for c, v in counties.ranking(key) if v]
        if ranking:
            peak = ranking[0][1] or 1
            unit = label.rsplit("（", 1)[-1].rstrip("）")
            county_charts.append((label, svg.bar_chart(
                [svg.Bar(label=c, share=v / peak, text=_amount(v, unit)) for c, v in ranking[:8]],
                f"各县（市、区）{label}")))
    return render(
        request, "cockpit.html", me, plan=plan, as_of=as_of, years_menu=_years_menu(plan.years, as_of),
        trend=trend, counties=counties, county_charts=county_charts, departments=departments,
        gap_map=gap_map, ranked=gap_map.ranked(8), charts=charts, amount=_amount,
        challenges=sorted(challenges, key=lambda c: (c.status == ChallengeStatus.DRAFT, c.name)),
        challenge_status_zh=CHALLENGE_STATUS_ZH, position_zh=CHAIN_POSITION_ZH)


def _years_menu(years: list[int], as_of: int) -> list[int]:
    out = sorted(set(years) | {as_of})
    return out[-7:]


@router.get("/bureau/segments/{segment_id}", response_class=HTMLResponse)
def segment_page(request: Request, segment_id: str) -> Response:
    from bureau.cockpit import segment_detail
    from bureau.topics import curate_topics
    from matcher.index.words import StoredWords, words_root

    me = _bureau(request)
    if isinstance(me, Response):
        return me
    store = request.app.state.store
    gap_map = gap_map_for(request)
    try:
        detail = segment_detail(store, gap_map, segment_id)
    except KeyError:
        raise ApiError(404, "没有这个产业链环节") from None
    gate = gate_for(request, me)
    needs = gate.views([n for n in (gate.load(i) for i in detail.need_ids) if n is not None])
    topics = [t for t in curate_topics(store, gap_map, chain_ids=[detail.gap.chain_id],
                                       solver_ranker=lambda _text, _k: [],
                                       words=StoredWords(words_root(request.app.state.settings.data_dir)),
                                       data_dir=request.app.state.settings.data_dir)
              if segment_id in t.segment_ids]
    supply = svg.bar_chart([
        svg.Bar(label=name, share=value / max(detail.gap.demand, detail.gap.supply, 1), text=f"{value}",
                status=status)
        for name, value, status in (
            ("需求（含揭榜挂帅）", detail.gap.demand, "on_track"), ("未满足的需求", detail.gap.unmet_demand, "behind"),
            ("成果", detail.gap.achievements, "achieved"), ("人才", detail.gap.talents, "achieved"),
            ("平台", detail.gap.platforms, "achieved"), ("可承接企业", detail.gap.enterprises, "achieved"))
    ], f"{detail.gap.segment_name}：需求与供给")
    return bureau_render(request, "cockpit_segment.html", me, d=detail, needs=needs, topics=topics,
                   unmet=set(detail.gap.unmet_need_ids), supply_chart=supply, position_zh=CHAIN_POSITION_ZH,
                   challenge_status_zh=CHALLENGE_STATUS_ZH)


@router.post("/bureau/topics/draft")
def draft_from_topic(request: Request, need_ids: list[str] = Form(..., max_length=50),
                     csrf: str = Form("", max_length=100)) -> Response:
    from bureau.challenges import draft_from_topic as make_draft
    from bureau.topics import topic_for_needs

    me = _bureau(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    authorize(me, Resource.CHALLENGE, Act.CREATE)
    store = request.app.state.store
    need_ids = [n[:128] for n in need_ids if n]
    topic = topic_for_needs(store, need_ids, request.app.state.settings.data_dir)
    vocabulary = request.app.state.vocabulary.get()
    challenge = make_draft(store, topic, lambda text: vocabulary.find(text, limit=6))
    request.app.state.audit.record(me, "draft_from_topic", NodeLabel.CHALLENGE, challenge.id,
                                   f"{len(topic.need_ids)} 项需求")
    return RedirectResponse(f"/bureau/challenges/{quote(challenge.id)}/edit?msg=drafted", status_code=303)


# --- the audit log, in words -------------------------------------------------------------------

_UNNAMED = {NodeLabel.API_KEY.value: "一把 API 密钥"}
_ROLES = {r.value: ROLE_NAMES_ZH[r] for r in Role}


def _audit_rows(request: Request, events: list[Any]) -> list[dict[str, str]]:
    """Who (the user's name), what (in Chinese), on what (its name), how much (in Chinese): never an id."""
    wanted: dict[str, set[str]] = {NodeLabel.USER.value: {e.user_id for e in events}}
    for e in events:
        if e.target_label and e.target_id:
            wanted.setdefault(e.target_label, set()).add(e.target_id)
        if e.action == "feedback" and " " in e.detail:
            wanted.setdefault(NodeLabel.ACHIEVEMENT.value, set()).add(e.detail.split(" ", 1)[1])
        if e.action == "issue_key":
            wanted[NodeLabel.USER.value].add(e.detail)
    names = display_names(request.app.state.store, wanted)
    out = []
    for e in events:
        kind = LABEL_ZH.get(e.target_label, "") if e.target_label else ""
        target = names.get((e.target_label, e.target_id)) or _UNNAMED.get(e.target_label) or (
            "（已删除或无名称）" if kind else "—")
        detail = AUDIT_DETAIL_ZH.get(e.detail) or CHALLENGE_STATUS_ZH.get(e.detail) or _ROLES.get(e.detail, "")
        if e.action == "feedback" and " " in e.detail:
            verdict, candidate = e.detail.split(" ", 1)
            detail = AUDIT_DETAIL_ZH.get(verdict, "") + "：" + names.get((NodeLabel.ACHIEVEMENT.value, candidate), "")
        elif e.action == "issue_key":
            detail = "密钥属于 " + (names.get((NodeLabel.USER.value, e.detail)) or "（已删除的用户）")
        elif not detail and e.detail and not e.detail.isascii():
            detail = e.detail  # written in Chinese by the service itself
        who = names.get((NodeLabel.USER.value, e.user_id)) or (
            "未登录" if e.user_id == "anonymous" else "（已删除的用户）")
        out.append({"at": e.at.astimezone().strftime("%Y-%m-%d %H:%M"), "who": who, "role": _ROLES.get(e.role, ""),
                    "action": AUDIT_ACTION_ZH.get(e.action, "其他操作"), "kind": kind, "target": target,
                    "detail": detail})
    return out


@router.get("/bureau/audit", response_class=HTMLResponse)
def audit_page(request: Request, page: int = Query(1, ge=1, le=10_000)) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    events = request.app.state.audit.query(skip=(page - 1) * AUDIT_PAGE, limit=AUDIT_PAGE + 1)
    return bureau_render(request, "cockpit_audit.html", me, rows=_audit_rows(request, events[:AUDIT_PAGE]), page=page,
                   has_more=len(events) > AUDIT_PAGE)
