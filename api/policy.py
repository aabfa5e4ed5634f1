"""Who may see what and who may do what: the one place the service decides it.

**Visibility of a need** (:func:`need_visibility`): full, desensitised or nothing.

- public needs, and needs whose enterprise agreed to reveal itself: every workspace role reads them in full;
- brokers-only needs: brokers and the bureau read them in full; other enterprises see them desensitised;
- private needs: the posting enterprise, its assigned brokers and the bureau read them in full; everyone
  else sees them desensitised;
- admins manage users and keys and see no need at all; a caller without credentials sees nothing.

A desensitised need is its own type (:class:`DesensitisedNeedView`): no name, text, enterprise, id or
anything derived from them, only the chain segments, a status and terms taken from the public chain
taxonomy's vocabulary (never from the free text, where product models and customers hide). Its ``ref`` is an
HMAC of the need id under the server's secret: stable for one deployment, unlinkable to the id.

**The role table** (:data:`ROLE_TABLE`): for each resource and action, which roles may act and on which
records (any record, the records of the enterprises they act for, the records they entered themselves, or
the needs they may read in full). Routes and the bulk upload both ask :func:`permits` / :func:`authorize`,
so a file row is held to the same rule as the single-entity route. ``docs/security.md`` prints the table;
a test keeps the two the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from api.auth import Principal, Role
from api.errors import ApiError
from graph.model import Confidentiality, CooperationMode, Maturity, Need, NeedStatus


class Visibility(StrEnum):
    FULL = "full"
    DESENSITISED = "desensitised"
    HIDDEN = "hidden"


def _facts(need: Need | Mapping[str, Any]) -> tuple[str, str | None, bool]:
    """(confidentiality, enterprise id, reveal_identity) of a need object or its stored properties."""
    if isinstance(need, Need):
        return need.confidentiality.value, need.enterprise_id, need.reveal_identity
    conf = need.get("confidentiality") or Confidentiality.PUBLIC.value
    return str(getattr(conf, "value", conf)), need.get("enterprise_id"), bool(need.get("reveal_identity"))


def need_visibility(viewer: Principal | None, need: Need | Mapping[str, Any]) -> Visibility:
    """What ``viewer`` may see of ``need`` (a Need or its stored properties)."""
    if viewer is None or viewer.role == Role.ADMIN:
        return Visibility.HIDDEN
    confidentiality, enterprise_id, revealed = _facts(need)
    if viewer.role == Role.BUREAU or viewer.may_act_for(enterprise_id):
        return Visibility.FULL
    if confidentiality == Confidentiality.PUBLIC.value or revealed:
        return Visibility.FULL
    if confidentiality == Confidentiality.BROKERS.value and viewer.role == Role.BROKER:
        return Visibility.FULL
    return Visibility.DESENSITISED


def visibility_params(viewer: Principal) -> dict[str, Any]:
    """The viewer as Cypher parameters for :data:`FULL_VIEW_CONDITION` (lists filter in the query, so that
    counts and ``has_more`` are computed after filtering)."""
    return {
        "v_all": viewer.role == Role.BUREAU,
        "v_acts_for": sorted(_acts_for(viewer)),
        "v_broker": viewer.role == Role.BROKER,
    }


#: the Cypher form of ``need_visibility(...) == FULL`` for a need ``n`` (parameters: :func:`visibility_params`)
FULL_VIEW_CONDITION = (
    "($v_all OR n.enterprise_id IN $v_acts_for OR n.confidentiality = 'public' OR n.reveal_identity = true "
    "OR ($v_broker AND n.confidentiality = 'brokers'))"
)


def _acts_for(viewer: Principal) -> set[str]:
    if viewer.role == Role.ENTERPRISE and viewer.enterprise_id:
        return {viewer.enterprise_id}
    if viewer.role == Role.BROKER:
        return set(viewer.assigned)
    return set()


# --- the role table -------------------------------------------------------------------------------

class Resource(StrEnum):
    NEED = "需求"
    NEED_MATCHES = "需求的匹配结果"
    VERDICT = "匹配评价（接受/拒绝）"
    ACHIEVEMENT = "科技成果"
    ACHIEVEMENT_ENTERPRISES = "成果→企业推荐"
    ENTERPRISE_RECOMMENDATIONS = "企业→成果推荐"
    PUBLIC_ENTITY = "企业、机构、人才、平台、产业链等公共实体"
    MERGE_RECORD = "机构合并记录"
    CHALLENGE = "揭榜挂帅榜单"
    CHALLENGE_SOLVERS = "揭榜团队推荐"
    CHALLENGE_APPLICATION = "揭榜申报"
    SEARCH = "语义搜索"
    UPLOAD = "批量上传"
    DOCKING = "对接（联系、洽谈、签约）"
    INBOX = "本人的通知与订阅"
    STATISTICS = "统计、报表与审计日志"
    ACCOUNTS = "用户与 API 密钥"


class Act(StrEnum):
    READ = "查看"
    CREATE = "新建"
    UPDATE = "修改"
    DELETE = "删除"
    LOWER_CONFIDENTIALITY = "降低保密级别"
    REVEAL_IDENTITY = "同意公开企业身份"
    ESCALATE = "提交科技局"
    REVIEW = "评审"


class Scope(StrEnum):
    ANY = "全部"
    OWN = "本企业 / 所服务企业的"
    CURATED = "本人录入的"
    READABLE = "可完整查看的需求的"
    PUBLISHED = "已发布的"
    ON_BEHALF = "代高校院所团队 / 所服务企业"
    SUBMITTED = "本企业 / 本人提交的"


_E, _K, _B, _A = Role.ENTERPRISE, Role.BROKER, Role.BUREAU, Role.ADMIN
ANY, OWN, CURATED, READABLE, PUBLISHED = Scope.ANY, Scope.OWN, Scope.CURATED, Scope.READABLE, Scope.PUBLISHED
ON_BEHALF, SUBMITTED = Scope.ON_BEHALF, Scope.SUBMITTED

#: (resource, action) -> {role: the records that role may act on}; a role not listed may not act at all
ROLE_TABLE: dict[tuple[Resource, Act], dict[Role, Scope]] = {
    (Resource.NEED, Act.READ): {_E: ANY, _K: ANY, _B: ANY},  # what is shown: need_visibility
    (Resource.NEED, Act.CREATE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.NEED, Act.UPDATE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.NEED, Act.DELETE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.NEED, Act.LOWER_CONFIDENTIALITY): {_E: OWN},
    (Resource.NEED, Act.REVEAL_IDENTITY): {_E: OWN},
    (Resource.NEED, Act.ESCALATE): {_E: OWN, _K: OWN},
    (Resource.NEED_MATCHES, Act.READ): {_E: OWN, _K: READABLE, _B: ANY},
    (Resource.VERDICT, Act.READ): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.VERDICT, Act.CREATE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.ACHIEVEMENT, Act.READ): {_E: ANY, _K: ANY, _B: ANY},
    (Resource.ACHIEVEMENT, Act.CREATE): {_K: ANY, _B: ANY},
    (Resource.ACHIEVEMENT, Act.UPDATE): {_K: CURATED, _B: ANY},
    (Resource.ACHIEVEMENT, Act.DELETE): {_K: CURATED, _B: ANY},
    (Resource.ACHIEVEMENT_ENTERPRISES, Act.READ): {_K: ANY, _B: ANY},  # hidden needs' enterprises desensitised
    (Resource.ENTERPRISE_RECOMMENDATIONS, Act.READ): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.PUBLIC_ENTITY, Act.READ): {_E: ANY, _K: ANY, _B: ANY},
    (Resource.PUBLIC_ENTITY, Act.CREATE): {_B: ANY},
    (Resource.PUBLIC_ENTITY, Act.UPDATE): {_B: ANY},
    (Resource.PUBLIC_ENTITY, Act.DELETE): {_B: ANY},
    (Resource.MERGE_RECORD, Act.READ): {_B: ANY},
    (Resource.CHALLENGE, Act.READ): {_E: PUBLISHED, _K: PUBLISHED, _B: ANY},
    (Resource.CHALLENGE, Act.CREATE): {_B: ANY},
    (Resource.CHALLENGE, Act.UPDATE): {_B: ANY},
    (Resource.CHALLENGE, Act.DELETE): {_B: ANY},
    (Resource.CHALLENGE_SOLVERS, Act.READ): {_B: ANY},
    # a team applies through an enterprise (for itself) or a broker (for a university's or institute's team,
    # or an enterprise it serves); the bureau, which sets the challenge, reviews and does not apply
    (Resource.CHALLENGE_APPLICATION, Act.READ): {_E: SUBMITTED, _K: SUBMITTED, _B: ANY},
    (Resource.CHALLENGE_APPLICATION, Act.CREATE): {_E: OWN, _K: ON_BEHALF},
    (Resource.CHALLENGE_APPLICATION, Act.REVIEW): {_B: ANY},
    (Resource.SEARCH, Act.READ): {_E: ANY, _K: ANY, _B: ANY},
    (Resource.UPLOAD, Act.CREATE): {_K: OWN, _B: ANY},  # each row: the rule of its entity, see upload_rule
    (Resource.DOCKING, Act.READ): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.DOCKING, Act.CREATE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.DOCKING, Act.UPDATE): {_E: OWN, _K: OWN, _B: ANY},
    (Resource.INBOX, Act.READ): {_E: ANY, _K: ANY, _B: ANY, _A: ANY},  # one's own inbox only
    (Resource.INBOX, Act.CREATE): {_E: ANY, _K: ANY, _B: ANY},  # saved searches and segment subscriptions
    (Resource.INBOX, Act.DELETE): {_E: ANY, _K: ANY, _B: ANY},
    (Resource.STATISTICS, Act.READ): {_B: ANY},
    (Resource.ACCOUNTS, Act.READ): {_A: ANY},
    (Resource.ACCOUNTS, Act.CREATE): {_A: ANY},
    (Resource.ACCOUNTS, Act.UPDATE): {_A: ANY},
    (Resource.ACCOUNTS, Act.DELETE): {_A: ANY},
}

#: entities a file may hold, and the resource whose rule each row is held to
UPLOAD_RESOURCE: dict[str, Resource] = {
    "achievement": Resource.ACHIEVEMENT,
    "need": Resource.NEED,
    "enterprise": Resource.PUBLIC_ENTITY,
    "institution": Resource.PUBLIC_ENTITY,
    "talent": Resource.PUBLIC_ENTITY,
    "platform": Resource.PUBLIC_ENTITY,
}

_DENIED_ZH = {
    Act.READ: "你无权查看{what}",
    Act.CREATE: "你无权新建{what}",
    Act.UPDATE: "你无权修改{what}",
    Act.DELETE: "你无权删除{what}",
    Act.LOWER_CONFIDENTIALITY: "只有发布需求的企业本身可以降低保密级别",
    Act.REVEAL_IDENTITY: "只有发布需求的企业本身可以同意公开企业身份",
    Act.ESCALATE: "只有发布需求的企业或其经纪人可以提交科技局",
    Act.REVIEW: "你无权评审{what}",
}


def roles_for(resource: Resource, act: Act) -> frozenset[Role]:
    """The roles that may perform ``act`` on at least some ``resource`` records."""
    return frozenset(ROLE_TABLE.get((resource, act), {}))


@dataclass(frozen=True)
class Target:
    """The facts about one record that the role table's scopes read."""

    enterprise_id: str | None = None  # the enterprise the record belongs to (a need's poster)
    curator_id: str | None = None  # the broker who entered it (achievements)
    readable: bool = False  # a need the caller may read in full
    published: bool = False  # a challenge that is no longer a draft
    submitter_id: str | None = None  # the user who submitted it (applications)


def permits(principal: Principal | None, resource: Resource, act: Act, target: Target | None = None) -> bool:
    """Whether the role table lets ``principal`` perform ``act`` on this record (``target`` None: on some)."""
    if principal is None:
        return False
    scope = ROLE_TABLE.get((resource, act), {}).get(principal.role)
    if scope is None:
        return False
    if scope == Scope.ANY or target is None:
        return True
    if scope == Scope.OWN:
        return target.enterprise_id is not None and principal.may_act_for(target.enterprise_id)
    if scope == Scope.CURATED:
        return bool(principal.broker_id) and target.curator_id == principal.broker_id
    if scope == Scope.READABLE:
        return target.readable
    if scope == Scope.PUBLISHED:
        return target.published
    if scope == Scope.ON_BEHALF:  # a university's or institute's team, or an enterprise the broker serves
        return target.enterprise_id is None or principal.may_act_for(target.enterprise_id)
    if scope == Scope.SUBMITTED:
        return bool(target.submitter_id and target.submitter_id == principal.user_id) or (
            principal.role == Role.ENTERPRISE and target.enterprise_id is not None
            and principal.may_act_for(target.enterprise_id))
    return False


def authorize(principal: Principal, resource: Resource, act: Act, target: Target | None = None) -> None:
    """:func:`permits` or a 403 that says, in Chinese, what the caller may not do."""
    if not permits(principal, resource, act, target):
        raise ApiError(403, _DENIED_ZH[act].format(what=resource.value))


def role_table_markdown() -> str:
    """The role table as the Markdown table ``docs/security.md`` shows."""
    roles = (Role.ENTERPRISE, Role.BROKER, Role.BUREAU, Role.ADMIN)
    from api.auth import ROLE_NAMES_ZH

    lines = ["| 对象 | 操作 | " + " | ".join(ROLE_NAMES_ZH[r] for r in roles) + " |",
             "|---|---|" + "---|" * len(roles)]
    for (resource, act), rule in ROLE_TABLE.items():
        cells = [rule[r].value if r in rule else "—" for r in roles]
        lines.append(f"| {resource.value} | {act.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- views of a need ----------------------------------------------------------------------------

class NeedView(BaseModel):
    """A need in full, for a caller who may read it."""

    desensitised: Literal[False] = False
    id: str
    name: str
    description: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    confidentiality: Confidentiality
    status: NeedStatus
    segments: list[str] = []
    key_terms: list[str] = []
    budget_wan: float | None = None
    deadline: date | None = None
    posted_on: date | None = None
    cooperation_modes: list[CooperationMode] = []
    min_maturity: Maturity | None = None
    sector: str = ""
    reveal_identity: bool = False
    can_manage: bool = False
    contact_name: str = ""
    contact_phone: str = ""
    region: str | None = None
    escalated_on: date | None = None


class DesensitisedNeedView(BaseModel):
    """A need as someone who may not read it sees it: its chain segments, a status and public terms.

    No name, text, enterprise, id, budget or date: ``ref`` is an opaque handle (an HMAC of the id)."""

    desensitised: Literal[True] = True
    ref: str
    confidentiality: Confidentiality
    status: NeedStatus
    segments: list[str] = []
    key_terms: list[str] = []


AnyNeedView = NeedView | DesensitisedNeedView


def opaque_need_ref(secret: bytes, need_id: str) -> str:
    """A handle for a hidden need: stable under one secret, and no hash of the id anyone can recompute."""
    return "dn-" + hmac.new(secret, f"need:{need_id}".encode(), hashlib.sha256).hexdigest()[:20]


def random_ref(prefix: str = "hidden") -> str:
    """A handle that links to nothing: fresh for every answer."""
    return f"{prefix}-{secrets.token_hex(8)}"


# --- public vocabulary ----------------------------------------------------------------------------

class Vocabulary:
    """The chain taxonomy's public terms (chain and segment names, keywords, aliases): the only words a
    desensitised need or a hidden candidate's explanation may carry."""

    def __init__(self, terms: Iterable[str]) -> None:
        clean = {t.strip() for t in terms if t and len(t.strip()) >= 2}
        self.terms = frozenset(clean)
        self._lower = {t.lower(): t for t in clean}
        ordered = sorted(clean, key=lambda t: (-len(t), t))
        self._pattern = re.compile("|".join(re.escape(t) for t in ordered), re.IGNORECASE) if ordered else None

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and term.lower() in self._lower

    def find(self, text: str, limit: int = 6, banned: str = "") -> list[str]:
        """Vocabulary terms in ``text``, longest first, none inside another one found or inside ``banned``."""
        if self._pattern is None or not text:
            return []
        found = {self._lower[m.group(0).lower()] for m in self._pattern.finditer(text)}
        out: list[str] = []
        for term in sorted(found, key=lambda t: (-len(t), t)):
            if any(term.lower() in kept.lower() for kept in out):
                continue
            if banned and (term in banned or banned in term):
                continue
            out.append(term)
            if len(out) >= limit:
                break
        return out

    def keep(self, terms: Iterable[str]) -> list[str]:
        """Those of ``terms`` that are public vocabulary."""
        return [t for t in terms if t in self]


@lru_cache(maxsize=1)
def shipped_vocabulary() -> Vocabulary:
    from graph.taxonomy import domain_terms

    return Vocabulary(domain_terms())


def need_key_terms(need: Need, enterprise_name: str | None, vocabulary: Vocabulary, limit: int = 6) -> list[str]:
    """Key terms of a need in full: its own keywords, else public vocabulary in its text."""
    if need.keywords:
        banned = enterprise_name or ""
        out = [t for t in dict.fromkeys(need.keywords)
               if len(t) >= 2 and not (banned and (t in banned or banned in t))]
        return out[:limit]
    return vocabulary.find(need.text, limit=limit, banned=enterprise_name or "")


def desensitised_terms(need: Need, enterprise_name: str | None, vocabulary: Vocabulary, limit: int = 6) -> list[str]:
    """Terms a desensitised need may show: public vocabulary found in its text and keywords, nothing else."""
    text = "\n".join([need.text, *need.keywords])
    return vocabulary.find(text, limit=limit, banned=enterprise_name or "")


# --- bulk upload: each row under the rule of its entity -------------------------------------------

class UploadRowPolicy:
    """The role table applied to each row of an uploaded file (:class:`ingest.loader.RowPolicy`): a row may
    create or change only what the caller could create or change through the single-entity routes.

    - achievements: a broker's new rows are stamped as its own; it may change only rows it entered before;
    - needs: only for enterprises the caller acts for (the bureau: any known enterprise); a row may not lower
      a stored need's confidentiality (only the enterprise itself may), and never sets ``reveal_identity``;
    - enterprises, institutions, talents, platforms: the bureau only (the upload is refused whole otherwise).
    """

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def may_upload(self, entity: str) -> bool:
        resource = UPLOAD_RESOURCE.get(entity)
        return resource is not None and permits(self.principal, resource, Act.CREATE)

    def admit(self, entity: str, node: Any, existing: Any, enterprise_id: str | None) -> tuple[Any, str | None]:
        from graph.model import Achievement

        p = self.principal
        resource = UPLOAD_RESOURCE.get(entity)
        if resource is None or not permits(p, resource, Act.CREATE):
            return node, f"你无权上传{resource.value if resource else entity}"
        if isinstance(node, Achievement):
            if existing is not None and not permits(p, Resource.ACHIEVEMENT, Act.UPDATE,
                                                    Target(curator_id=existing.curator_id)):
                return node, "该成果已由他人录入，你只能修改本人录入的成果"
            if p.role == Role.BROKER:
                node = node.model_copy(update={"curator_id": p.broker_id})
            elif existing is not None and existing.curator_id and not node.curator_id:
                node = node.model_copy(update={"curator_id": existing.curator_id})
            return node, None
        if isinstance(node, Need):
            if enterprise_id is None:
                return node, "需求须写明发布企业，且该企业已在系统中登记"
            if not permits(p, Resource.NEED, Act.CREATE, Target(enterprise_id=enterprise_id)):
                return node, "你只能为所服务的企业上传需求"
            if existing is not None:
                if not permits(p, Resource.NEED, Act.UPDATE, Target(enterprise_id=existing.enterprise_id)):
                    return node, "该需求属于其他企业，不能覆盖"
                order = [Confidentiality.PUBLIC, Confidentiality.BROKERS, Confidentiality.PRIVATE]
                if order.index(node.confidentiality) < order.index(existing.confidentiality) and not permits(
                        p, Resource.NEED, Act.LOWER_CONFIDENTIALITY, Target(enterprise_id=existing.enterprise_id)):
                    return node, "只有发布需求的企业本身可以降低保密级别"
                node = node.model_copy(update={"reveal_identity": existing.reveal_identity})
            else:
                node = node.model_copy(update={"reveal_identity": False})
            return node, None
        return node, None


if __name__ == "__main__":  # python -m api.policy: the table docs/security.md prints
    print(role_table_markdown())
