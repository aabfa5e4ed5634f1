"""揭榜挂帅 in the browser: the notices (榜单公告) every workspace role reads, the application form (揭榜申报)
for enterprises and brokers, and the bureau's desk: create, edit and publish a challenge, see the recommended
teams with their bounded fit and conflicts of interest, review the applications and award the challenge.

Who may do what is the role table's (:mod:`api.policy`); what a notice or the form shows is the published
challenge only — never a non-public need behind it (see :mod:`bureau.challenges`). Thin over that module.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Principal, Role
from api.errors import ApiError
from api.policy import Act, Resource, Target, authorize, permits
from api.routes.bureau_pages import bureau_render
from api.routes.web import _check_csrf, _login_redirect, _page_principal
from api.services.catalogue import names_by_id
from api.services.challenges import institutions, partner_enterprises, talents
from bureau import svg
from bureau.challenges import (
    EDITABLE,
    ApplicationForm,
    ChallengeForm,
    FormErrors,
    application_fit,
    applications_for,
    award,
    change_status,
    create_challenge,
    get_application,
    get_challenge,
    next_statuses,
    notice_facts,
    parse_applicant,
    recommend_teams,
    review_application,
    submit_application,
    update_challenge,
)
from graph.exceptions import NotFoundError, ValidationError
from graph.model import Challenge, ChallengeApplication, ChallengeStatus, NodeLabel
from graph.zh import APPLICATION_STATUS_ZH, CHALLENGE_ACTION_ZH, CHALLENGE_STATUS_ZH

router = APIRouter(include_in_schema=False)
NOT_FOUND = "没有该榜单，或它尚未发布"
FORM_FIELDS = tuple(ChallengeForm.model_fields)


def _me(request: Request) -> Principal | Response:
    me = _page_principal(request)
    return _login_redirect(request) if me is None else me


def _visible(me: Principal, challenge: Challenge) -> bool:
    return permits(me, Resource.CHALLENGE, Act.READ, Target(published=challenge.status != ChallengeStatus.DRAFT))


def _readable_challenge(request: Request, me: Principal, challenge_id: str) -> Challenge:
    """The challenge, when the caller may read it (drafts: the bureau only); else 404 as if it did not exist."""
    authorize(me, Resource.CHALLENGE, Act.READ)
    try:
        challenge = get_challenge(request.app.state.store, challenge_id)
    except NotFoundError:
        raise ApiError(404, NOT_FOUND) from None
    if not _visible(me, challenge):
        raise ApiError(404, NOT_FOUND)
    return challenge


def _my_applications(request: Request, me: Principal, challenge_id: str) -> list[ChallengeApplication]:
    return [a for a in applications_for(request.app.state.store, challenge_id)
            if permits(me, Resource.CHALLENGE_APPLICATION, Act.READ, _app_target(a))]


def _app_target(app: ChallengeApplication) -> Target:
    ent = app.applicant_id if app.applicant_label == NodeLabel.ENTERPRISE.value else None
    return Target(enterprise_id=ent, submitter_id=app.submitted_by)


# --- notices -----------------------------------------------------------------------------------

@router.get("/challenges", response_class=HTMLResponse)
def notices(request: Request) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.CHALLENGE, Act.READ)
    store = request.app.state.store
    items = [Challenge.from_props(p) for p in store.list_props(NodeLabel.CHALLENGE, limit=500)]
    items = [c for c in items if _visible(me, c)]
    open_first = sorted(items, key=lambda c: (c.status != ChallengeStatus.APPLICATIONS_OPEN,
                                              c.status == ChallengeStatus.DRAFT, c.name))
    return bureau_render(request, "challenges.html", me, challenges=open_first, status_zh=CHALLENGE_STATUS_ZH,
                         is_bureau=me.role == Role.BUREAU)


@router.get("/challenges/{challenge_id}", response_class=HTMLResponse)
def notice(request: Request, challenge_id: str) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    challenge = _readable_challenge(request, me, challenge_id)
    can_apply = (challenge.status == ChallengeStatus.APPLICATIONS_OPEN
                 and permits(me, Resource.CHALLENGE_APPLICATION, Act.CREATE))
    return bureau_render(request, "challenge_notice.html", me, c=challenge,
                         facts=notice_facts(request.app.state.store, challenge), can_apply=can_apply,
                         mine=_my_applications(request, me, challenge.id) if me.role != Role.BUREAU else [],
                         status_zh=CHALLENGE_STATUS_ZH, app_status_zh=APPLICATION_STATUS_ZH,
                         is_bureau=me.role == Role.BUREAU)


# --- applying ----------------------------------------------------------------------------------

def _applicant_choices(request: Request, me: Principal) -> list[tuple[str, str]]:
    """(``Label:id``, name) the caller may apply for: an enterprise itself; a broker, any university or
    institute team and the enterprises it serves."""
    store = request.app.state.store
    if me.role == Role.ENTERPRISE and me.enterprise_id:
        own = names_by_id(store, NodeLabel.ENTERPRISE, [me.enterprise_id])
        return [(f"Enterprise:{k}", v) for k, v in own.items()]
    if me.role == Role.BROKER:
        served = names_by_id(store, NodeLabel.ENTERPRISE, sorted(me.assigned))
        return ([(f"Institution:{i.id}", i.name) for i in institutions(store)]
                + [(f"Enterprise:{k}", v) for k, v in sorted(served.items(), key=lambda kv: kv[1])])
    return []


def _apply_page(request: Request, me: Principal, challenge: Challenge, form: ApplicationForm | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    store = request.app.state.store
    return bureau_render(request, "challenge_apply.html", me, status_code=status_code, c=challenge,
                         facts=notice_facts(store, challenge), form=form or ApplicationForm(), errors=errors or {},
                         applicants=_applicant_choices(request, me), talents=talents(store),
                         partners=partner_enterprises(store))


@router.get("/challenges/{challenge_id}/apply", response_class=HTMLResponse)
def apply_form(request: Request, challenge_id: str) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    challenge = _readable_challenge(request, me, challenge_id)
    authorize(me, Resource.CHALLENGE_APPLICATION, Act.CREATE)
    if challenge.status != ChallengeStatus.APPLICATIONS_OPEN:
        raise ApiError(409, f"该榜单目前为“{CHALLENGE_STATUS_ZH[challenge.status.value]}”，不接受揭榜申报")
    return _apply_page(request, me, challenge)


@router.post("/challenges/{challenge_id}/apply")
def apply(request: Request, challenge_id: str, applicant: str = Form("", max_length=200),
          team_name: str = Form("", max_length=100), lead_id: str = Form("", max_length=128),
          members: str = Form("", max_length=2000), partner_id: str = Form("", max_length=128),
          plan: str = Form("", max_length=3000), budget_wan: str = Form("", max_length=12),
          csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    _check_csrf(request, csrf)
    challenge = _readable_challenge(request, me, challenge_id)
    form = ApplicationForm(applicant=applicant, team_name=team_name, lead_id=lead_id, members=members,
                           partner_id=partner_id, plan=plan, budget_wan=budget_wan)
    try:
        label, applicant_id = parse_applicant(applicant)
        ent = applicant_id if label == NodeLabel.ENTERPRISE.value else None
        authorize(me, Resource.CHALLENGE_APPLICATION, Act.CREATE, Target(enterprise_id=ent))
        app = submit_application(request.app.state.store, challenge, form, me.user_id)
    except FormErrors as exc:
        return _apply_page(request, me, challenge, form, exc.errors, 422)
    except ValidationError as exc:
        return _apply_page(request, me, challenge, form, {"status": str(exc)}, 409)
    request.app.state.audit.record(me, "apply_challenge", NodeLabel.APPLICATION, app.id)
    return RedirectResponse(f"/challenges/{quote(challenge.id)}?msg=applied", status_code=303)


# --- the bureau's desk -------------------------------------------------------------------------

def _bureau(request: Request, act: Act = Act.UPDATE) -> Principal | Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.CHALLENGE, act)
    return me


def _segments(request: Request) -> list[tuple[str, str]]:
    return [(s["id"], f"{chain['name']} · {s['name']}") for chain in request.app.state.store.chain_topology()
            for s in chain["segments"]]


def _form_page(request: Request, me: Principal, form: ChallengeForm, challenge: Challenge | None,
               errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    return bureau_render(request, "challenge_form.html", me, status_code=status_code, form=form, c=challenge,
                         errors=errors or {}, segments=_segments(request))


def _read_form(values: dict[str, str]) -> ChallengeForm:
    return ChallengeForm(**{k: values.get(k, "") for k in FORM_FIELDS})


@router.get("/bureau/challenges/new", response_class=HTMLResponse)
def new_form(request: Request) -> Response:
    me = _bureau(request, Act.CREATE)
    return me if isinstance(me, Response) else _form_page(request, me, ChallengeForm(), None)


async def _form_values(request: Request) -> dict[str, str]:
    """The posted form's text fields (the challenge form has a dozen; the route reads them as one)."""
    form = await request.form()
    return {k: v[:5000] for k, v in form.items() if isinstance(v, str)}


@router.post("/bureau/challenges/new")
def create(request: Request, values: dict[str, str] = Depends(_form_values)) -> Response:
    me = _bureau(request, Act.CREATE)
    if isinstance(me, Response):
        return me
    _check_csrf(request, values.get("csrf", ""))
    form = _read_form(values)
    try:
        challenge = create_challenge(request.app.state.store, form)
    except FormErrors as exc:
        return _form_page(request, me, form, None, exc.errors, 422)
    request.app.state.audit.record(me, "create_challenge", NodeLabel.CHALLENGE, challenge.id)
    return RedirectResponse(f"/bureau/challenges/{quote(challenge.id)}?msg=created", status_code=303)


@router.get("/bureau/challenges/{challenge_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, challenge_id: str) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    challenge = _readable_challenge(request, me, challenge_id)
    if challenge.status not in EDITABLE:
        raise ApiError(409, f"榜单已“{CHALLENGE_STATUS_ZH[challenge.status.value]}”，不能再修改内容")
    return _form_page(request, me, ChallengeForm.of(challenge), challenge)


@router.post("/bureau/challenges/{challenge_id}/edit")
def edit(request: Request, challenge_id: str, values: dict[str, str] = Depends(_form_values)) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    _check_csrf(request, values.get("csrf", ""))
    challenge = _readable_challenge(request, me, challenge_id)
    form = _read_form(values)
    try:
        updated = update_challenge(request.app.state.store, challenge.id, form)
    except FormErrors as exc:
        return _form_page(request, me, form, challenge, exc.errors, 422)
    except ValidationError as exc:
        return _form_page(request, me, form, challenge, {"status": str(exc)}, 409)
    request.app.state.audit.record(me, "change_challenge", NodeLabel.CHALLENGE, updated.id)
    return RedirectResponse(f"/bureau/challenges/{quote(updated.id)}?msg=saved", status_code=303)


@router.post("/bureau/challenges/{challenge_id}/status")
def move(request: Request, challenge_id: str, status: str = Form(..., max_length=40),
         csrf: str = Form("", max_length=100)) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    _check_csrf(request, csrf)
    challenge = _readable_challenge(request, me, challenge_id)
    try:
        updated = change_status(request.app.state.store, challenge.id, status)
    except ValidationError as exc:
        return _desk(request, me, challenge, error=str(exc), status_code=409)
    request.app.state.audit.record(me, "challenge_status", NodeLabel.CHALLENGE, updated.id, updated.status.value)
    return RedirectResponse(f"/bureau/challenges/{quote(updated.id)}?msg=status", status_code=303)


def _desk(request: Request, me: Principal, challenge: Challenge, error: str | None = None,
          status_code: int = 200) -> HTMLResponse:
    from api.routes.matching import conflict_policy, solver_index
    from matcher.solvers.coi import check_conflicts
    from matcher.solvers.refs import SolverRef

    authorize(me, Resource.CHALLENGE_SOLVERS, Act.READ)
    store = request.app.state.store
    index = solver_index(request)
    policy = conflict_policy(request)
    advice = recommend_teams(store, challenge, index, policy=policy)
    team_charts = [svg.coverage_chart(t.fit.competences, f"第 {t.rank} 队的能力覆盖") for t in advice.teams]
    apps = applications_for(store, challenge.id)
    fits = {a.id: application_fit(store, challenge, a, index) for a in apps}
    app_conflicts: dict[str, list[str]] = {}
    for a in apps:
        refs = [SolverRef(label=NodeLabel.TALENT, id=t) for t in [a.lead_id, *a.member_ids] if t]
        refs.append(SolverRef(label=NodeLabel(a.applicant_label), id=a.applicant_id))
        found = check_conflicts(store, challenge, refs, policy)
        names = {**names_by_id(store, NodeLabel.TALENT, [r.id for r in refs]),
                 **names_by_id(store, NodeLabel(a.applicant_label), [a.applicant_id])}
        app_conflicts[a.id] = [f"{names.get(c.candidate.id, '')}：{c.reason}" for cs in found.values() for c in cs]
    people = names_by_id(store, NodeLabel.TALENT, [t for a in apps for t in [a.lead_id or "", *a.member_ids] if t])
    units = {**names_by_id(store, NodeLabel.INSTITUTION, [a.applicant_id for a in apps]),
             **names_by_id(store, NodeLabel.ENTERPRISE,
                           [a.applicant_id for a in apps] + [a.partner_id or "" for a in apps])}
    return bureau_render(
        request, "challenge_manage.html", me, status_code=status_code, c=challenge,
        facts=notice_facts(store, challenge), advice=advice, team_charts=team_charts, apps=apps, fits=fits,
        app_conflicts=app_conflicts, people=people, units=units, error=error,
        members_text={a.id: "、".join([people[t] for t in a.member_ids if t in people] + a.member_names) for a in apps},
        actions=[(s.value, CHALLENGE_ACTION_ZH[s.value]) for s in next_statuses(challenge)],
        editable=challenge.status in EDITABLE, can_award=challenge.status == ChallengeStatus.APPLICATIONS_OPEN,
        status_zh=CHALLENGE_STATUS_ZH, app_status_zh=APPLICATION_STATUS_ZH)


@router.get("/bureau/challenges/{challenge_id}", response_class=HTMLResponse)
def desk(request: Request, challenge_id: str) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    return _desk(request, me, _readable_challenge(request, me, challenge_id))


@router.post("/bureau/challenges/{challenge_id}/applications/{application_id}/review")
def review(request: Request, challenge_id: str, application_id: str, score: str = Form("", max_length=8),
           decision: str = Form("", max_length=20), comment: str = Form("", max_length=1000),
           csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    _check_csrf(request, csrf)
    authorize(me, Resource.CHALLENGE_APPLICATION, Act.REVIEW)
    challenge = _readable_challenge(request, me, challenge_id)
    try:
        app = review_application(request.app.state.store, challenge.id, application_id, score, comment, decision,
                                 me.user_id)
    except NotFoundError:
        raise ApiError(404, "没有该揭榜申报") from None
    except ValidationError as exc:
        return _desk(request, me, challenge, error=str(exc), status_code=422)
    request.app.state.audit.record(me, "review_application", NodeLabel.APPLICATION, app.id, app.status.value)
    return RedirectResponse(f"/bureau/challenges/{quote(challenge.id)}?msg=reviewed#applications", status_code=303)


@router.post("/bureau/challenges/{challenge_id}/award")
def award_page(request: Request, challenge_id: str, application_id: str = Form(..., max_length=128),
               csrf: str = Form("", max_length=100)) -> Response:
    me = _bureau(request)
    if isinstance(me, Response):
        return me
    _check_csrf(request, csrf)
    challenge = _readable_challenge(request, me, challenge_id)
    try:
        get_application(request.app.state.store, challenge.id, application_id)
        updated, app = award(request.app.state.store, challenge.id, application_id)
    except NotFoundError:
        raise ApiError(404, "没有该揭榜申报") from None
    except ValidationError as exc:
        return _desk(request, me, challenge, error=str(exc), status_code=409)
    request.app.state.audit.record(me, "award_challenge", NodeLabel.CHALLENGE, updated.id, app.team_name)
    return RedirectResponse(f"/bureau/challenges/{quote(updated.id)}?msg=awarded", status_code=303)
