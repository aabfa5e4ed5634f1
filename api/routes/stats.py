"""Bureau statistics: what the graph holds, how needs and verdicts stand, the chain overview."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from api.auth import Principal, require_roles
from api.deps import get_store
from api.errors import ERROR_RESPONSES
from api.policy import Act, Resource, roles_for
from graph.model import SERVICE_LABELS, NodeLabel
from graph.store import GraphStore

router = APIRouter(prefix="/api/stats", tags=["bureau"], responses=ERROR_RESPONSES)
BUREAU = require_roles(*roles_for(Resource.STATISTICS, Act.READ))
#: service bookkeeping, not part of the knowledge graph's statistics
_SERVICE_LABELS = {label.value for label in SERVICE_LABELS}
_NEEDS_BY = (
    f"MATCH (n:{NodeLabel.NEED.value}) RETURN n.status AS status, n.confidentiality AS confidentiality, "
    "count(n) AS c"
)
_VERDICTS = f"MATCH (f:{NodeLabel.FEEDBACK.value}) RETURN f.verdict AS verdict, f.reason AS reason, count(f) AS c"
_SEGMENT_LOAD = (
    # COUNT {} subqueries: ArcadeDB rejects OPTIONAL MATCH after an aggregating WITH
    f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) RETURN s.id AS id, s.name AS name, s.chain_id AS chain_id, "
    f"COUNT {{ (:{NodeLabel.NEED.value})-[:IN_SEGMENT]->(s) }} AS needs, "
    f"COUNT {{ (:{NodeLabel.ACHIEVEMENT.value})-[:IN_SEGMENT]->(s) }} AS achievements ORDER BY s.chain_id, s.order"
)


class SegmentLoad(BaseModel):
    id: str
    name: str
    chain_id: str | None
    needs: int
    achievements: int


class Stats(BaseModel):
    nodes: dict[str, int]
    relations: dict[str, int]
    needs_by_status: dict[str, int]
    needs_by_confidentiality: dict[str, int]
    verdicts: dict[str, int]
    reject_reasons: dict[str, int]
    segments: list[SegmentLoad]


def collect_stats(store: GraphStore) -> Stats:
    nodes = {k: v for k, v in store.count_by_label().items() if k not in _SERVICE_LABELS}
    by_status: dict[str, int] = {}
    by_conf: dict[str, int] = {}
    for row in store.read(_NEEDS_BY):
        by_status[str(row["status"])] = by_status.get(str(row["status"]), 0) + int(row["c"])
        by_conf[str(row["confidentiality"])] = by_conf.get(str(row["confidentiality"]), 0) + int(row["c"])
    verdicts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for row in store.read(_VERDICTS):
        verdicts[str(row["verdict"])] = verdicts.get(str(row["verdict"]), 0) + int(row["c"])
        if row["reason"]:
            reasons[str(row["reason"])] = reasons.get(str(row["reason"]), 0) + int(row["c"])
    segments = [SegmentLoad.model_validate(r) for r in store.read(_SEGMENT_LOAD)]
    return Stats(nodes=nodes, relations=store.count_relations(), needs_by_status=by_status,
                 needs_by_confidentiality=by_conf, verdicts=verdicts, reject_reasons=reasons, segments=segments)


@router.get("", response_model=Stats, summary="Counts, needs, verdicts and the load of every chain segment")
def get_stats(store: GraphStore = Depends(get_store), principal: Principal = Depends(BUREAU)) -> Stats:
    return collect_stats(store)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _solver_ranker(request: Request) -> Any:
    """Candidate solvers of a topic, when the matcher is there, from the solver index kept in the data directory
    (read, not built, unless the works changed since; the app's scorer)."""
    try:
        from matcher.solvers.ranking import rank_solvers
        from matcher.solvers.stored import solvers_root, stored_solver_index
    except ImportError:
        return lambda _text, _k: []
    settings = request.app.state.settings
    scorer = "lexical" if settings.embedder == "none" else "combined"
    index = stored_solver_index(request.app.state.store, scorer=scorer, root=solvers_root(settings.data_dir))
    return lambda text, k: [{"label": m.solver.label.value, "id": m.solver.id, "name": m.name}
                            for m in rank_solvers(request.app.state.store, text, k=k, index=index).matches]


@router.get("/report.xlsx", summary="The bureau's report as an Excel workbook: targets by year, county and unit, "
            "gap map, chokepoints, candidate topics, activity over time, challenges",
            response_class=Response, responses={200: {"content": {XLSX: {}}, "description": "an .xlsx file"}})
def report_xlsx(request: Request, store: GraphStore = Depends(get_store),
                principal: Principal = Depends(BUREAU)) -> Response:
    from bureau.cockpit import activity_trend, default_year
    from bureau.export import bureau_tables, store_challenge_rows, write_xlsx
    from bureau.gapmap import build_gap_map
    from bureau.targets import plan_years, target_progress
    from bureau.topics import curate_topics
    from matcher.index.words import StoredWords, words_root

    standing = request.app.state.upkeep.standing()  # each need's last computed matches: a read per need
    gap_map = build_gap_map(store, standing.unmet() if standing is not None else None)
    as_of = default_year(store)
    progress = target_progress(store, as_of)
    years = plan_years(progress) or [as_of]
    topics = curate_topics(store, gap_map, solver_ranker=_solver_ranker(request),
                           words=StoredWords(words_root(request.app.state.settings.data_dir)))
    trend = activity_trend(store, years[0], max(as_of, years[0], date.today().year))
    tables = bureau_tables(progress, gap_map, topics, trend, store_challenge_rows(store))
    request.app.state.settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=request.app.state.settings.data_dir) as tmp:
        path = write_xlsx(tables, Path(tmp) / "report.xlsx")
        body = path.read_bytes()
    disposition = 'attachment; filename="techmatch-report.xlsx"'
    return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})
