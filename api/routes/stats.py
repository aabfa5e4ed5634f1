"""Bureau statistics: what the graph holds, how needs and verdicts stand, the chain overview."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import Principal, require_roles
from api.deps import Store
from api.errors import ERROR_RESPONSES
from api.policy import Act, Resource, roles_for
from api.services.stats import Stats, collect_stats

router = APIRouter(prefix="/api/stats", tags=["bureau"], responses=ERROR_RESPONSES)
BUREAU = require_roles(*roles_for(Resource.STATISTICS, Act.READ))


@router.get("", response_model=Stats, summary="Counts, needs, verdicts and the load of every chain segment")
def get_stats(store: Store, principal: Principal = Depends(BUREAU)) -> Stats:
    return collect_stats(store)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _solver_ranker(request: Request) -> Any:
    """Candidate solvers of a topic, when the matcher is there, from the solver index kept in the data directory
    (read, not built, unless the works changed since; the app's scorer), each topic's ranking kept and read
    while its inputs hold."""
    try:
        from matcher.solvers.stored_rankings import StoredRankings
    except ImportError:
        return lambda _text, _k: []
    settings = request.app.state.settings
    scorer = "lexical" if settings.embedder == "none" else "combined"
    return StoredRankings(request.app.state.store, settings.data_dir, scorer=scorer, settings=settings)


@router.get("/report.xlsx", summary="The bureau's report as an Excel workbook: targets by year, county and unit, "
            "gap map, chokepoints, candidate topics, activity over time, challenges",
            response_class=Response, responses={200: {"content": {XLSX: {}}, "description": "an .xlsx file"}})
def report_xlsx(request: Request, store: Store, principal: Principal = Depends(BUREAU)) -> Response:
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
    data_dir = request.app.state.settings.data_dir
    topics = curate_topics(store, gap_map, solver_ranker=_solver_ranker(request),
                           words=StoredWords(words_root(data_dir)), data_dir=data_dir)
    trend = activity_trend(store, years[0], max(as_of, years[0], date.today().year))
    tables = bureau_tables(progress, gap_map, topics, trend, store_challenge_rows(store))
    request.app.state.settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=request.app.state.settings.data_dir) as tmp:
        path = write_xlsx(tables, Path(tmp) / "report.xlsx")
        body = path.read_bytes()
    disposition = 'attachment; filename="techmatch-report.xlsx"'
    return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})
