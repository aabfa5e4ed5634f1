"""揭榜挂帅 at the bureau's desk: drafting a challenge (from a form or from a candidate topic), moving it
through its lifecycle, the teams it recommends, the applications (揭榜申报) it receives, their review and the
award. The web pages and the API are thin over these functions.

**Recommended teams** come from :func:`matcher.solvers.teams.assemble_teams`; what this module adds is an
honest, bounded fit (:class:`TeamFit`, 0–100 with a worded band). A competence counts as covered only when a
member's own works show it in whole words: the competence itself, or most of its meaning-carrying words
(weighted by how rare they are in general Chinese, so 碳化硅 counts for more than 器件 or 技术). The fit is

- 70 points: the competences covered (a partial showing counts half),
- 15 points: how closely the members have already worked together (co-invention, joint projects ...),
- 15 points: the challenge's conditions met (a lead with industrialisation, a local partner, the team size).

A partial showing counts as covered when the member's works also stand far out on the competence in the
matcher's expertise ranking (``STRONG_AFFINITY``): breeders write 选育 where the challenge says 育种. A high
ranking alone never counts: without one of the competence's words in a work it is a coincidence of n-grams.

When the best team covers fewer than half of the competences the bureau is told plainly (``weak_fit``).

**Confidentiality**: a challenge drafted from unmet needs keeps their ids for the bureau, but its public text
(name, statement, competences) is written only from public needs and the public chain vocabulary: a
published notice never carries a non-public need's wording or its enterprise.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bureau.topics import BUREAU_DEPARTMENT, TopicCandidate, publish_topic
from graph.exceptions import NotFoundError, ValidationError
from graph.model import (
    LABEL_ZH,
    ApplicationStatus,
    Challenge,
    ChallengeApplication,
    ChallengeRequirement,
    ChallengeStatus,
    Confidentiality,
    Department,
    Milestone,
    NodeLabel,
    Relation,
    RelType,
)
from graph.store import GraphStore
from graph.zh import CHALLENGE_ACTION_ZH, CHALLENGE_STATUS_ZH, REQUIREMENT_ZH
from ingest.policy import department_id
from ingest.text import general_idf, normalize, tokenize

if TYPE_CHECKING:  # the matcher is imported where it is used: the bureau's other views run without it
    from matcher.solvers.coi import ConflictPolicy

S = ChallengeStatus
#: statuses in which the bureau may still edit a challenge's text (nobody has applied yet)
EDITABLE = (S.DRAFT, S.PUBLISHED)
#: statuses a notice is shown in (every workspace role reads them)
NOTICE_STATUSES = tuple(s for s in ChallengeStatus if s != S.DRAFT)
#: a competence shown this much by one work counts as covered; half of it as partly covered
COVERED, PARTLY = 0.6, 0.3
#: the expertise ranking's affinity (z-scores over the works) above which a partial showing counts as covered
STRONG_AFFINITY = 5.0
#: the fit's parts, in points out of 100
COVERAGE_POINTS, COHESION_POINTS, CONDITION_POINTS = 70, 15, 15
BANDS = ((75, "高度契合"), (55, "较为契合"), (35, "部分契合"), (0, "契合度低"))
LINK_ZH = {"co_inventor": "共同完成成果", "collaborated": "曾有合作", "same_project": "同在项目",
           "same_platform": "同在平台", "same_employer": "同一单位"}
_SPLIT = re.compile(r"[、，,；;/\n\r]+")
_MILESTONE = re.compile(r"^(?P<name>.+?)[\s,，:：]*(?P<due>\d{4}-\d{1,2}-\d{1,2})?$")


def _now() -> datetime:
    return datetime.now(UTC)


# --- the challenge form -------------------------------------------------------------------------

class ChallengeForm(BaseModel):
    """What the bureau's form says, as text (the page re-shows it as typed when something is wrong)."""

    name: str = ""
    statement: str = ""
    segment_id: str = ""
    budget_wan: str = ""
    deadline: str = ""
    competences: str = ""
    lead_industrialised: str = ""  # the condition's wording; empty = not required
    local_partner: str = ""
    competence_condition: str = ""
    min_team_size: str = ""
    milestones: str = ""  # one per line: 名称 YYYY-MM-DD

    @classmethod
    def of(cls, challenge: Challenge) -> ChallengeForm:
        req = {r.kind: r.value for r in challenge.requirements}
        return cls(
            name=challenge.name, statement=challenge.statement, segment_id=challenge.segment_id or "",
            budget_wan=f"{challenge.budget_wan:g}" if challenge.budget_wan is not None else "",
            deadline=challenge.deadline.isoformat() if challenge.deadline else "",
            competences="、".join(challenge.competences),
            lead_industrialised=req.get("lead_industrialised", ""), local_partner=req.get("local_partner", ""),
            competence_condition=req.get("competence", ""), min_team_size=req.get("min_team_size", ""),
            milestones="\n".join(f"{m.name} {m.due.isoformat() if m.due else ''}".strip()
                                 for m in challenge.milestones),
        )


class FormErrors(ValidationError):
    """Every problem of a form at once: field -> a Chinese sentence."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("；".join(errors.values()), field=next(iter(errors), None))


def _number(text: str, what: str, errors: dict[str, str], field: str, integer: bool = False) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        errors[field] = f"{what}须为{'整数' if integer else '数字'}"
        return None
    if value < 0:
        errors[field] = f"{what}不能为负数"
        return None
    return value


def _date(text: str, what: str, errors: dict[str, str], field: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = f"{what}须写成 年-月-日，例如 2026-12-31"
        return None


def parse_challenge_form(store: GraphStore, form: ChallengeForm) -> dict[str, Any]:
    """The form's values as a Challenge's fields, or :class:`FormErrors` naming every field at fault."""
    errors: dict[str, str] = {}
    name, statement = form.name.strip(), form.statement.strip()
    if not name:
        errors["name"] = "请填写榜单名称"
    elif len(name) > 100:
        errors["name"] = "榜单名称不超过 100 个字"
    if not statement:
        errors["statement"] = "请写明攻关任务与指标"
    segment_id = form.segment_id.strip() or None
    if segment_id and store.get_props(NodeLabel.CHAIN_SEGMENT, segment_id) is None:
        errors["segment_id"] = "请从列表中选择产业链环节"
    budget = _number(form.budget_wan, "预算", errors, "budget_wan")
    deadline = _date(form.deadline, "截止日期", errors, "deadline")
    competences = [c.strip() for c in _SPLIT.split(form.competences) if c.strip()]
    if len(competences) > 8:
        errors["competences"] = "能力要求最多 8 项"
    requirements: list[ChallengeRequirement] = []
    for kind, text in (("lead_industrialised", form.lead_industrialised), ("local_partner", form.local_partner),
                       ("competence", form.competence_condition)):
        if text.strip():
            requirements.append(ChallengeRequirement(kind=kind, value=text.strip()[:200]))
    size = _number(form.min_team_size, "团队最少人数", errors, "min_team_size", integer=True)
    if size is not None and size > 1:
        requirements.append(ChallengeRequirement(kind="min_team_size", value=str(int(size))))
    milestones: list[Milestone] = []
    for line in form.milestones.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _MILESTONE.match(line)
        due = _date(m.group("due") or "", "里程碑日期", errors, "milestones") if m else None
        milestones.append(Milestone(name=(m.group("name") if m else line).strip()[:100], due=due))
    if errors:
        raise FormErrors(errors)
    return {"name": name, "statement": statement, "segment_id": segment_id, "budget_wan": budget,
            "deadline": deadline, "competences": competences, "requirements": requirements,
            "milestones": milestones}


def _bureau_department() -> Department:
    return Department(id=department_id(BUREAU_DEPARTMENT), name=BUREAU_DEPARTMENT)


def _segment_edge(challenge: Challenge) -> list[Relation]:
    if not challenge.segment_id:
        return []
    return [Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.CHALLENGE, source_id=challenge.id,
                     target_label=NodeLabel.CHAIN_SEGMENT, target_id=challenge.segment_id)]


def get_challenge(store: GraphStore, challenge_id: str) -> Challenge:
    node = store.get_node(NodeLabel.CHALLENGE, challenge_id)
    if not isinstance(node, Challenge):
        raise NotFoundError(NodeLabel.CHALLENGE.value, challenge_id)
    return node


def create_challenge(store: GraphStore, form: ChallengeForm) -> Challenge:
    """A new draft posted by the bureau (市科技局), in one transaction with its segment and owner edges."""
    fields = parse_challenge_form(store, form)
    dept = _bureau_department()
    challenge = Challenge(id="chal-" + uuid.uuid4().hex[:10], owner_id=dept.id, status=S.DRAFT, **fields)
    rels = [*_segment_edge(challenge),
            Relation(type=RelType.POSTED, source_label=NodeLabel.DEPARTMENT, source_id=dept.id,
                     target_label=NodeLabel.CHALLENGE, target_id=challenge.id)]
    store.write_batch([dept, challenge], rels)
    return challenge


def update_challenge(store: GraphStore, challenge_id: str, form: ChallengeForm) -> Challenge:
    """The edited text of a challenge nobody has applied to yet (draft or published)."""
    current = get_challenge(store, challenge_id)
    if current.status not in EDITABLE:
        raise ValidationError(f"榜单已“{CHALLENGE_STATUS_ZH[current.status.value]}”，不能再修改内容", field="status")
    fields = parse_challenge_form(store, form)
    updated = current.model_copy(update=fields)
    Challenge.model_validate(updated.model_dump())
    if current.segment_id and current.segment_id != updated.segment_id:
        store.delete_relation(_segment_edge(current)[0])
    store.update_node(updated)
    store.upsert_relations(_segment_edge(updated))
    return updated


def next_statuses(challenge: Challenge) -> list[ChallengeStatus]:
    """The moves the lifecycle allows from here, except the award (which names its winners)."""
    from matcher.solvers.challenges import TRANSITIONS

    order = list(ChallengeStatus)
    return sorted((s for s in TRANSITIONS[challenge.status] if s != S.AWARDED), key=order.index)


def change_status(store: GraphStore, challenge_id: str, wanted: ChallengeStatus | str) -> Challenge:
    """Move a challenge along its lifecycle, with a Chinese reason when the move is not allowed."""
    from matcher.solvers.challenges import ChallengeService, IllegalTransitionError

    try:
        wanted = ChallengeStatus(wanted)
    except ValueError:
        raise ValidationError("没有这种榜单状态", field="status") from None
    challenge = get_challenge(store, challenge_id)
    if wanted == S.AWARDED:
        raise ValidationError("确定揭榜方须选定一份揭榜申报", field="status")
    try:
        return ChallengeService(store).transition(challenge_id, wanted)
    except IllegalTransitionError:
        allowed = "、".join(f"“{CHALLENGE_ACTION_ZH[s.value]}”" for s in next_statuses(challenge)) or "无"
        raise ValidationError(
            f"榜单当前为“{CHALLENGE_STATUS_ZH[challenge.status.value]}”，不能“{CHALLENGE_ACTION_ZH[wanted.value]}”；"
            f"可以：{allowed}", field="status") from None
    except ValidationError as exc:
        if exc.field == "deadline":
            raise ValidationError(f"截止日期 {challenge.deadline} 已过，请先修改截止日期再发布",
                                  field="deadline") from None
        raise


# --- a draft from a candidate topic -------------------------------------------------------------

def draft_from_topic(store: GraphStore, topic: TopicCandidate, public_terms: Callable[[str], list[str]]) -> Challenge:
    """A draft challenge for a candidate special-project topic. Its name, statement and competences are
    written from the topic's public needs and from public vocabulary only (``public_terms`` finds that
    vocabulary in a text), so that publishing the draft cannot disclose a non-public need."""
    rows = store.read(
        "MATCH (n:Need) WHERE n.id IN $ids RETURN n.id AS id, n.name AS name, n.description AS text, "
        "n.keywords AS keywords, n.confidentiality AS conf, n.reveal_identity AS revealed ORDER BY n.id",
        ids=list(topic.need_ids))
    public = [r for r in rows if (r["conf"] or Confidentiality.PUBLIC.value) == Confidentiality.PUBLIC.value
              or r["revealed"]]
    hidden = [r for r in rows if r not in public]
    public_text = "\n".join(f"{r['name']}\n{r['text'] or ''}" for r in public)
    competences = [k for k in topic.keywords if k in public_text]
    for r in hidden:  # a non-public need contributes public vocabulary only
        competences += public_terms("\n".join([r["name"], r["text"] or "", *(r["keywords"] or [])]))
    competences = list(dict.fromkeys(c for c in competences if c))[:6]
    lines = [f"{i}. {r['name']}" for i, r in enumerate(public, start=1)]
    if hidden:
        terms = sorted({t for r in hidden for t in public_terms(f"{r['name']}\n{r['text'] or ''}")})
        lines.append(f"另有 {len(hidden)} 项未公开的企业需求" + (f"，涉及{'、'.join(terms[:6])}" if terms else ""))
    statement = "围绕本地企业的以下技术需求开展联合攻关（发布前请补充指标与验收要求）：\n" + "\n".join(lines)
    name = ("、".join(competences[:3]) + "关键技术攻关") if competences else f"{topic.chain_name}关键技术攻关"
    return publish_topic(store, topic, name=name, statement=statement, status=S.DRAFT,
                         competences=competences)


# --- recommended teams --------------------------------------------------------------------------

class CompetenceFit(BaseModel):
    competence: str
    share: float  # 0..1: how much of the competence the best work of the best member shows
    level: str  # 覆盖 | 部分覆盖 | 未见相关成果
    member_id: str | None = None
    member_name: str = ""
    work_title: str = ""
    terms: list[str] = []  # the whole words of the competence found in that work


class TeamFit(BaseModel):
    """A team's fit to a challenge in points out of 100, its parts, and the reading of each competence."""

    score: int
    band: str
    coverage: float  # 0..1
    cohesion: float  # 0..1
    conditions_met: int
    conditions: int
    coverage_points: int
    cohesion_points: int
    condition_points: int
    competences: list[CompetenceFit]

    @property
    def covered(self) -> int:
        return sum(1 for c in self.competences if c.level == "覆盖")

    @property
    def summary(self) -> str:
        parts = [f"能力覆盖 {self.coverage_points}/{COVERAGE_POINTS}"
                 f"（{self.covered}/{len(self.competences)} 项有成果支撑）",
                 f"协作基础 {self.cohesion_points}/{COHESION_POINTS}"]
        if self.conditions:
            parts.append(f"条件满足 {self.condition_points}/{CONDITION_POINTS}"
                         f"（{self.conditions_met}/{self.conditions} 项）")
        else:
            parts.append(f"条件满足 {self.condition_points}/{CONDITION_POINTS}（榜单未设条件）")
        return "；".join(parts)


class TeamMember(BaseModel):
    id: str
    name: str
    role: str  # 牵头人 | 成员
    affiliation: str = ""
    covers: list[str] = []  # the competences this member brings


class Named(BaseModel):
    id: str
    name: str


class RecommendedTeam(BaseModel):
    rank: int
    lead: TeamMember
    members: list[TeamMember]
    partner: Named | None = None
    fit: TeamFit
    ties: list[str] = []  # how members already worked together, in words
    conditions: dict[str, bool] = {}  # the condition's Chinese name -> met


class ConflictOut(BaseModel):
    id: str
    name: str
    kind: str  # 人才 | 机构 | 企业
    reasons: list[str]


class TeamAdvice(BaseModel):
    challenge_id: str
    competences: list[str]
    teams: list[RecommendedTeam]
    conflicts: list[ConflictOut]
    weak_fit: bool
    warning: str = ""


def competence_share(competence: str, works: Iterable[Any]) -> tuple[float, str, list[str]]:
    """How much of ``competence`` the best of ``works`` (objects with ``text`` and ``title``) shows: 1 when it
    holds the competence itself, else the share of its words found, each weighted by its general-Chinese IDF.
    Returns (share, that work's title, the words found)."""
    whole = normalize(competence).lower()
    words = [w for w in dict.fromkeys(tokenize(competence)) if len(w) >= 2] or [whole]
    idf, median = general_idf()
    weights = {w: idf.get(w, median) for w in words}
    total = sum(weights.values()) or 1.0
    best: tuple[float, str, list[str]] = (0.0, "", [])
    for work in works:
        body = normalize(work.text).lower()
        if whole and whole in body:
            return 1.0, work.title or work.text[:40], [competence]
        found = [w for w in words if w.lower() in body]
        share = sum(weights[w] for w in found) / total
        if share > best[0]:
            best = (round(share, 3), work.title or work.text[:40], found)
    return best


_RANK = {"覆盖": 2, "部分覆盖": 1, "未见相关成果": 0}


def _level(share: float, affinity: float = 0.0) -> str:
    if share >= COVERED or (share >= PARTLY and affinity >= STRONG_AFFINITY):
        return "覆盖"
    return "部分覆盖" if share >= PARTLY else "未见相关成果"


Affinity = Callable[[str, str], float]


def team_fit(competences: Sequence[str], members: Sequence[tuple[str, str, list[Any]]], cohesion: float,
             conditions: Mapping[str, bool], affinity: Affinity | None = None) -> TeamFit:
    """The bounded fit of a team: ``members`` are (id, name, works); ``conditions`` the requirement kinds
    with whether the team meets them; ``affinity(competence, member id)`` the expertise ranking's score."""
    fits: list[CompetenceFit] = []
    for comp in competences:
        best = CompetenceFit(competence=comp, share=0.0, level=_level(0.0))
        for member_id, name, works in members:
            share, title, terms = competence_share(comp, works)
            level = _level(share, affinity(comp, member_id) if affinity and share else 0.0)
            if (_RANK[level], share) > (_RANK[best.level], best.share):
                best = CompetenceFit(competence=comp, share=share, level=level, member_id=member_id,
                                     member_name=name, work_title=title, terms=terms)
        fits.append(best)
    credit = [1.0 if f.level == "覆盖" else 0.5 if f.level == "部分覆盖" else 0.0 for f in fits]
    coverage = sum(credit) / len(credit) if credit else 0.0
    met = sum(1 for ok in conditions.values() if ok)
    cond_share = met / len(conditions) if conditions else 1.0
    cohesion = min(max(cohesion, 0.0), 1.0)
    cov_pts = round(COVERAGE_POINTS * coverage)
    coh_pts = round(COHESION_POINTS * cohesion)
    cond_pts = round(CONDITION_POINTS * cond_share)
    score = max(0, min(100, cov_pts + coh_pts + cond_pts))
    band = next(name for floor, name in BANDS if score >= floor)
    return TeamFit(score=score, band=band, coverage=round(coverage, 3), cohesion=round(cohesion, 3),
                   conditions_met=met, conditions=len(conditions), coverage_points=cov_pts,
                   cohesion_points=coh_pts, condition_points=cond_pts, competences=fits)


def _affiliations(store: GraphStore, talent_ids: Sequence[str]) -> dict[str, str]:
    rows = store.read("MATCH (t:Talent)-[:AFFILIATED_WITH]->(o) WHERE t.id IN $ids RETURN t.id AS id, o.name AS org",
                      ids=list(talent_ids))
    out: dict[str, str] = {}
    for r in rows:
        out.setdefault(r["id"], r["org"] or "")
    return out


def _competences(challenge: Challenge) -> list[str]:
    return list(dict.fromkeys(c.strip() for c in challenge.competences if c.strip())) or [challenge.name]


def talent_affinity(index: Any, challenge: Challenge) -> Affinity:
    """The expertise ranking's affinity of each talent to each competence (the query assemble_teams uses)."""
    competences = _competences(challenge)
    scores = index.expertise.solver_scores([f"{c} {challenge.name}" for c in competences])
    column = {key: i for i, key in enumerate(index.expertise.solver_ids)}
    row = {c: i for i, c in enumerate(competences)}

    def lookup(competence: str, talent_id: str) -> float:
        i = column.get(f"{NodeLabel.TALENT.value}:{talent_id}")
        return float(scores[row[competence], i]) if i is not None and competence in row else 0.0

    return lookup


def recommend_teams(store: GraphStore, challenge: Challenge, index: Any, n_teams: int = 3,
                    policy: ConflictPolicy | None = None) -> TeamAdvice:
    """Up to ``n_teams`` recommended teams with their bounded fit, the 回避 removals (the rules of ``policy``: the
    configured ones, :meth:`ConflictPolicy.from_settings`), and a plain warning when even the best team is far
    from the challenge."""
    from matcher.solvers.refs import SolverRef
    from matcher.solvers.teams import assemble_teams

    competences = _competences(challenge)
    proposals, conflicts = assemble_teams(store, challenge, index=index, n_teams=max(12, n_teams * 4),
                                           policy=policy)
    member_ids = sorted({m.id for p in proposals for m in p.members})
    affiliation = _affiliations(store, member_ids)
    affinity = talent_affinity(index, challenge)
    scored: list[tuple[TeamFit, float, Any]] = []
    for p in proposals:
        members = [(m.id, p.names.get(m.id, m.id), index.expertise.works_of(m.key)) for m in p.members]
        conditions = {REQUIREMENT_ZH.get(k, k): ok for k, ok in p.requirements.items()}
        scored.append((team_fit(competences, members, p.cohesion, conditions, affinity), p.score, p))
    scored.sort(key=lambda x: (-x[0].score, -x[1], sorted(m.id for m in x[2].members)))
    teams: list[RecommendedTeam] = []
    for fit, _, p in scored[:n_teams]:
        brings: dict[str, list[str]] = {}  # every competence a member's own works show, not only where best
        for m in p.members:
            works = index.expertise.works_of(m.key)
            brings[m.id] = [c for c in competences
                            if _level(competence_share(c, works)[0], affinity(c, m.id)) != "未见相关成果"]
        team = [TeamMember(id=m.id, name=p.names.get(m.id, m.id), role="牵头人" if m.id == p.lead.id else "成员",
                           affiliation=affiliation.get(m.id, ""), covers=brings.get(m.id, []))
                for m in p.members]
        team.sort(key=lambda m: m.role != "牵头人")
        ties = [f"{p.names.get(lk.a, lk.a)}与{p.names.get(lk.b, lk.b)}{LINK_ZH.get(lk.kind, lk.kind)}"
                + (f"「{lk.via}」" if lk.via else "") for lk in p.links]
        teams.append(RecommendedTeam(
            rank=len(teams) + 1, lead=team[0], members=team,
            partner=Named(id=p.partner.id, name=p.partner_name) if p.partner else None, fit=fit,
            ties=list(dict.fromkeys(ties))[:6],
            conditions={REQUIREMENT_ZH.get(k, k): ok for k, ok in p.requirements.items()}))
    removed = []
    for key, found in sorted(conflicts.items()):
        ref = SolverRef.from_key(key)
        info = index.solvers.get(key)
        removed.append(ConflictOut(id=ref.id, name=info.name if info else ref.id,
                                   kind=LABEL_ZH[ref.label],
                                   reasons=list(dict.fromkeys(c.reason for c in found))))
    advice = TeamAdvice(challenge_id=challenge.id, competences=competences, teams=teams, conflicts=removed,
                        weak_fit=False)
    best = teams[0].fit if teams else None
    if best is None:
        advice.weak_fit = True
        advice.warning = "图谱中没有找到能组成团队的人才：建议扩大征集范围，或邀请市外高校院所揭榜。"
    elif best.coverage < 0.5:
        missing = [c.competence for c in best.competences if c.level == "未见相关成果"]
        advice.weak_fit = True
        advice.warning = (
            f"推荐的最佳团队只有 {best.covered}/{len(best.competences)} 项能力有成果支撑"
            + (f"，{'、'.join(missing)}未见相关成果" if missing else "")
            + "，与榜单要求差距较大：建议扩大征集范围、邀请市外团队，或调整榜单的能力要求。")
    return advice


# --- applications (揭榜申报) ---------------------------------------------------------------------

class ApplicationForm(BaseModel):
    applicant: str = ""  # "Institution:inst-x" | "Enterprise:ent-x"
    team_name: str = ""
    lead_id: str = ""
    members: str = ""  # names or talent ids, separated by 、，, or new lines
    partner_id: str = ""
    plan: str = ""
    budget_wan: str = ""


def application_id(challenge_id: str, applicant_label: str, applicant_id: str) -> str:
    """One application per applicant unit and challenge: applying again replaces it."""
    return "app-" + hashlib.sha1(f"{challenge_id}|{applicant_label}|{applicant_id}".encode()).hexdigest()[:12]


def parse_applicant(text: str) -> tuple[str, str]:
    label, _, node_id = text.partition(":")
    if label not in (NodeLabel.INSTITUTION.value, NodeLabel.ENTERPRISE.value) or not node_id:
        raise FormErrors({"applicant": "请选择申报单位（高校院所或企业）"})
    return label, node_id


def submit_application(store: GraphStore, challenge: Challenge, form: ApplicationForm, submitted_by: str
                       ) -> ChallengeApplication:
    """Store a team's application, with APPLIED_TO edges from the applicant unit and the team's talents.
    The caller has checked that the submitter may apply for this applicant (the role table)."""
    if challenge.status != S.APPLICATIONS_OPEN:
        raise ValidationError(f"该榜单目前为“{CHALLENGE_STATUS_ZH[challenge.status.value]}”，不接受揭榜申报",
                              field="status")
    errors: dict[str, str] = {}
    label, applicant_id = parse_applicant(form.applicant)
    applicant = store.get_props(NodeLabel(label), applicant_id)
    if applicant is None:
        errors["applicant"] = "申报单位不在系统中，请从列表中选择"
    team_name = form.team_name.strip() or (f"{applicant['name']}揭榜团队" if applicant else "")
    lead = store.get_props(NodeLabel.TALENT, form.lead_id.strip()) if form.lead_id.strip() else None
    if lead is None:
        errors["lead_id"] = "请选择团队牵头人"
    member_ids: list[str] = []
    member_names: list[str] = []
    for item in _SPLIT.split(form.members):
        item = item.strip()
        if not item:
            continue
        rows = store.read("MATCH (t:Talent) WHERE t.id = $x OR t.name = $x RETURN t.id AS id", x=item)
        if len(rows) == 1:
            member_ids.append(rows[0]["id"])
        else:
            member_names.append(item[:40])
    partner_id = form.partner_id.strip() or None
    if partner_id and store.get_props(NodeLabel.ENTERPRISE, partner_id) is None:
        errors["partner_id"] = "合作企业不在系统中，请从列表中选择"
    budget = _number(form.budget_wan, "申请经费", errors, "budget_wan")
    if len(form.plan) > 3000:
        errors["plan"] = "实施方案不超过 3000 字"
    if errors:
        raise FormErrors(errors)
    assert lead is not None and applicant is not None
    members = [m for m in dict.fromkeys(member_ids) if m != lead["id"]]
    app = ChallengeApplication(
        id=application_id(challenge.id, label, applicant_id), challenge_id=challenge.id, applicant_label=label,
        applicant_id=applicant_id, team_name=team_name[:100], lead_id=lead["id"], lead_name=lead["name"],
        member_ids=members, member_names=member_names, partner_id=partner_id, plan=form.plan.strip(),
        budget_wan=budget, submitted_by=submitted_by, submitted_at=_now())
    rels = [Relation(type=RelType.APPLIED_TO, source_label=NodeLabel(label), source_id=applicant_id,
                     target_label=NodeLabel.CHALLENGE, target_id=challenge.id)]
    rels += [Relation(type=RelType.APPLIED_TO, source_label=NodeLabel.TALENT, source_id=t,
                      target_label=NodeLabel.CHALLENGE, target_id=challenge.id) for t in [lead["id"], *members]]
    store.write_batch([app], rels)
    return app


def applications_for(store: GraphStore, challenge_id: str) -> list[ChallengeApplication]:
    rows = store.read("MATCH (a:Application {challenge_id: $cid}) RETURN properties(a) AS p ORDER BY a.submitted_at",
                      cid=challenge_id)
    return [ChallengeApplication.from_props(r["p"]) for r in rows]


def get_application(store: GraphStore, challenge_id: str, app_id: str) -> ChallengeApplication:
    node = store.get_node(NodeLabel.APPLICATION, app_id)
    if not isinstance(node, ChallengeApplication) or node.challenge_id != challenge_id:
        raise NotFoundError(NodeLabel.APPLICATION.value, app_id)
    return node


def application_fit(store: GraphStore, challenge: Challenge, app: ChallengeApplication, index: Any) -> TeamFit:
    """The applied team read like a recommended one: its talents' works against the competences, the ties
    among them, and the conditions it meets."""
    from matcher.solvers.teams import _LINKS, LINK_WEIGHTS

    talents = [t for t in [app.lead_id, *app.member_ids] if t]
    names = {r["id"]: r["name"] for r in store.read("MATCH (t:Talent) WHERE t.id IN $ids RETURN t.id AS id, "
                                                    "t.name AS name", ids=talents)}
    members = [(t, names.get(t, t), index.expertise.works_of(f"{NodeLabel.TALENT.value}:{t}")) for t in talents]
    pairs: dict[frozenset[str], float] = {}
    for r in store.read(_LINKS, ids=talents):
        key = frozenset((r["a"], r["b"]))
        pairs[key] = max(pairs.get(key, 0.0), LINK_WEIGHTS[r["kind"]])
    n_pairs = len(talents) * (len(talents) - 1) // 2
    cohesion = sum(pairs.values()) / n_pairs if n_pairs else 0.5
    conditions: dict[str, bool] = {}
    size = len(talents) + len(app.member_names)
    for req in challenge.requirements:
        if req.kind == "min_team_size":
            conditions[REQUIREMENT_ZH[req.kind]] = size >= challenge.min_team_size()
        elif req.kind == "local_partner":
            local = bool(app.partner_id) or app.applicant_label == NodeLabel.ENTERPRISE.value
            conditions[REQUIREMENT_ZH[req.kind]] = local
        elif req.kind == "lead_industrialised":
            record = index.records.get(f"{NodeLabel.TALENT.value}:{app.lead_id}")
            conditions[REQUIREMENT_ZH[req.kind]] = bool(record and record.industrialised)
    return team_fit(_competences(challenge), members, cohesion, conditions, talent_affinity(index, challenge))


def review_application(store: GraphStore, challenge_id: str, app_id: str, score: str, comment: str,
                       decision: str, reviewer: str) -> ChallengeApplication:
    """The bureau's review: a score out of 100, an opinion and the decision (通过 / 不通过)."""
    app = get_application(store, challenge_id, app_id)
    if app.status == ApplicationStatus.AWARDED:
        raise ValidationError("该申报已揭榜成功，不能再评审", field="status")
    errors: dict[str, str] = {}
    value = _number(score, "评审得分", errors, "score", integer=True)
    if value is None and "score" not in errors:
        errors["score"] = "请填写评审得分（0–100）"
    elif value is not None and value > 100:
        errors["score"] = "评审得分为 0–100"
    try:
        status = {"shortlisted": ApplicationStatus.SHORTLISTED, "declined": ApplicationStatus.DECLINED}[decision]
    except KeyError:
        errors["decision"] = "请选择评审结论"
    if len(comment) > 1000:
        errors["comment"] = "评审意见不超过 1000 字"
    if errors:
        raise FormErrors(errors)
    updated = app.model_copy(update={"review_score": int(value or 0), "review_comment": comment.strip(),
                                     "status": status, "reviewed_by": reviewer, "reviewed_at": _now()})
    store.update_node(updated)
    return updated


def award(store: GraphStore, challenge_id: str, app_id: str) -> tuple[Challenge, ChallengeApplication]:
    """Award the challenge to one application: the challenge becomes 已确定揭榜方, the application 揭榜成功,
    and its talents get SOLVES edges — all in one transaction."""
    from matcher.solvers.challenges import TRANSITIONS

    challenge = get_challenge(store, challenge_id)
    if S.AWARDED not in TRANSITIONS[challenge.status]:
        raise ValidationError(f"榜单当前为“{CHALLENGE_STATUS_ZH[challenge.status.value]}”，不能确定揭榜方；"
                              "须在接受申报期间确定", field="status")
    app = get_application(store, challenge_id, app_id)
    if app.status == ApplicationStatus.DECLINED:
        raise ValidationError("该申报未通过评审，不能确定为揭榜方", field="application_id")
    winners = [t for t in [app.lead_id, *app.member_ids] if t]
    updated = challenge.model_copy(update={"status": S.AWARDED})
    won = app.model_copy(update={"status": ApplicationStatus.AWARDED})
    rels = [Relation(type=RelType.SOLVES, source_label=NodeLabel.TALENT, source_id=t,
                     target_label=NodeLabel.CHALLENGE, target_id=challenge_id) for t in dict.fromkeys(winners)]
    store.write_batch([updated, won], rels)
    return updated, won


# --- what a notice shows ------------------------------------------------------------------------

class NoticeFacts(BaseModel):
    """A challenge as its public notice (榜单公告) shows it: names, never ids of needs or users."""

    segment: str = ""
    chain: str = ""
    owner: str = ""
    requirements: list[tuple[str, str]] = []  # (the condition's name, its wording)
    public_needs: list[Named] = []  # the public needs it was drafted from


def notice_facts(store: GraphStore, challenge: Challenge) -> NoticeFacts:
    facts = NoticeFacts(requirements=[(REQUIREMENT_ZH.get(r.kind, "其他条件"),
                                       r.value if r.kind != "min_team_size" else f"不少于 {r.value} 人")
                                      for r in challenge.requirements])
    if challenge.segment_id:
        rows = store.read("MATCH (s:ChainSegment {id: $id}) OPTIONAL MATCH (s)-[:PART_OF]->(c:IndustryChain) "
                          "RETURN s.name AS seg, c.name AS chain", id=challenge.segment_id)
        if rows:
            facts.segment, facts.chain = rows[0]["seg"] or "", rows[0]["chain"] or ""
    if challenge.owner_id:
        label = store.find_label(challenge.owner_id)
        if label in (NodeLabel.DEPARTMENT.value, NodeLabel.ENTERPRISE.value):
            facts.owner = (store.get_props(NodeLabel(label), challenge.owner_id) or {}).get("name", "")
    if challenge.source_need_ids:
        rows = store.read("MATCH (n:Need) WHERE n.id IN $ids AND (n.confidentiality = 'public' OR "
                          "n.reveal_identity = true) RETURN n.id AS id, n.name AS name ORDER BY n.id",
                          ids=list(challenge.source_need_ids))
        facts.public_needs = [Named(id=r["id"], name=r["name"]) for r in rows]
    return facts
