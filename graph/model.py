"""The techmatch domain model: every node and relationship type, in one place.

Nodes are pydantic v2 models with a stable ``id``. ``to_props`` flattens a node into
properties a Bolt server stores (strings, numbers, booleans, lists of those); nested
values become JSON strings. Labels and relationship types are closed enums: the graph
layer only ever puts these identifiers into Cypher text, values always go in parameters.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graph.exceptions import ValidationError


class NodeLabel(StrEnum):
    TALENT = "Talent"
    INSTITUTION = "Institution"
    ACHIEVEMENT = "Achievement"
    ENTERPRISE = "Enterprise"
    PLATFORM = "Platform"
    INDUSTRY_CHAIN = "IndustryChain"
    CHAIN_SEGMENT = "ChainSegment"
    NEED = "Need"
    CHALLENGE = "Challenge"
    PROJECT = "Project"
    BROKER = "Broker"
    REGION = "Region"
    POLICY = "Policy"
    TARGET = "Target"
    TASK = "Task"
    DEPARTMENT = "Department"
    FEEDBACK = "Feedback"
    MERGE_RECORD = "MergeRecord"
    USER = "User"  # a person who logs in to the service (api)
    API_KEY = "ApiKey"  # a hashed API key of a User (api)
    AUDIT_EVENT = "AuditEvent"  # one view of a non-public need, or another audited action (api)
    SESSION = "Session"  # a web login session, kept server-side so that logout ends it (api)
    DOCKING = "Docking"  # 对接: a broker carrying an accepted match towards a contract
    DOCKING_EVENT = "DockingEvent"  # one step of a docking: a contact, a meeting, negotiation notes, a stage change
    NEED_STANDING = "NeedStanding"  # a need's best matches and gap verdict as last computed (matcher.standing)
    NOTIFICATION = "Notification"  # an inbox item for one user (api)
    OUTBOX_MESSAGE = "OutboxMessage"  # a message waiting for e-mail or SMS delivery (api)
    SUBSCRIPTION = "Subscription"  # a saved search or a chain-segment subscription of one user (api)
    UPLOAD_JOB = "UploadJob"  # a file uploaded in the browser, loaded in the background (api)
    APPLICATION = "Application"  # a team's 揭榜申报 to a challenge, with the bureau's review


class RelType(StrEnum):
    AFFILIATED_WITH = "AFFILIATED_WITH"  # Talent -> Institution | Enterprise
    INVENTED = "INVENTED"  # Talent -> Achievement
    OWNS = "OWNS"  # Institution | Enterprise | Talent -> Achievement
    IN_SEGMENT = "IN_SEGMENT"  # Achievement | Need | Enterprise | Challenge | Platform | Project -> ChainSegment
    PART_OF = "PART_OF"  # ChainSegment -> IndustryChain
    UPSTREAM_OF = "UPSTREAM_OF"  # ChainSegment -> ChainSegment
    POSTED = "POSTED"  # Enterprise -> Need ; Department | Enterprise -> Challenge
    HOSTS = "HOSTS"  # Institution | Enterprise -> Platform
    MEMBER_OF = "MEMBER_OF"  # Talent -> Platform
    COLLABORATED_WITH = "COLLABORATED_WITH"  # org/talent <-> org/talent (earlier joint work)
    TRANSFERRED_TO = "TRANSFERRED_TO"  # Achievement -> Enterprise (a deal: date, amount, contract_no)
    APPLIED_TO = "APPLIED_TO"  # Talent | Institution | Enterprise -> Challenge
    SOLVES = "SOLVES"  # Achievement -> Need | Challenge ; Talent -> Challenge (awarded)
    LOCATED_IN = "LOCATED_IN"  # Enterprise | Institution | Platform -> Region
    WORKED_ON = "WORKED_ON"  # Talent -> Project
    UNDERTAKES = "UNDERTAKES"  # Institution | Enterprise -> Project
    ASSIGNED_TO = "ASSIGNED_TO"  # Broker -> Enterprise (the broker looks after it)
    SHAREHOLDER_OF = "SHAREHOLDER_OF"  # Talent | Enterprise | Institution -> Enterprise
    EMPLOYED_BY = "EMPLOYED_BY"  # Talent -> Enterprise (side employment, a COI fact)
    HAS_TARGET = "HAS_TARGET"  # Policy -> Target
    HAS_TASK = "HAS_TASK"  # Policy -> Task
    RESPONSIBLE_FOR = "RESPONSIBLE_FOR"  # Department -> Task | Target
    NAMES = "NAMES"  # Policy | Task -> IndustryChain | Enterprise | Institution | Platform
    ABOUT = "ABOUT"  # Feedback -> Need | Achievement | Enterprise | Challenge
    GAVE = "GAVE"  # Broker -> Feedback
    MERGED_INTO = "MERGED_INTO"  # MergeRecord -> the surviving node


class Maturity(StrEnum):
    RESEARCH = "研发"
    LAB = "小试"
    PILOT = "中试"
    SAMPLE = "样品"
    INDUSTRIAL = "产业化"


MATURITY_ORDER: dict[Maturity, int] = {m: i for i, m in enumerate(Maturity)}


class CooperationMode(StrEnum):
    TRANSFER = "转让"
    LICENSE = "许可"
    JOINT_DEVELOPMENT = "合作开发"
    EQUITY = "作价入股"
    COMMISSIONED = "委托开发"
    OTHER = "其他"


class AchievementKind(StrEnum):
    INVENTION_PATENT = "发明专利"
    UTILITY_MODEL = "实用新型"
    DESIGN_PATENT = "外观设计"
    SOFTWARE = "软件著作权"
    KNOW_HOW = "技术秘密"
    NEW_VARIETY = "植物新品种"
    PAPER = "论文"
    OTHER = "其他"


class InstitutionKind(StrEnum):
    UNIVERSITY = "高校"
    RESEARCH_INSTITUTE = "科研院所"
    HOSPITAL = "医院"
    OTHER = "其他"


class PlatformKind(StrEnum):
    STATE_KEY_LAB = "国家重点实验室"
    KEY_LAB = "重点实验室"
    INNOVATION_CENTER = "技术创新中心"
    ENGINEERING_CENTER = "工程技术研究中心"
    ENTERPRISE_TECH_CENTER = "企业技术中心"
    NEW_RD_INSTITUTION = "新型研发机构"
    ACADEMICIAN_WORKSTATION = "院士工作站"
    SCHOLAR_WORKSTATION = "中原学者工作站"
    INCUBATOR = "孵化器"
    MAKERSPACE = "众创空间"
    AGRI_PARK = "农业科技园区"
    OTHER = "其他"


class PlatformLevel(StrEnum):
    NATIONAL = "国家级"
    PROVINCIAL = "省级"
    MUNICIPAL = "市级"


class EnterpriseSize(StrEnum):
    LARGE = "大型"
    MEDIUM = "中型"
    SMALL = "小型"
    MICRO = "微型"


class ChainPosition(StrEnum):
    UPSTREAM = "upstream"
    MIDSTREAM = "midstream"
    DOWNSTREAM = "downstream"


class Confidentiality(StrEnum):
    """Who may read a need's text and the poster's identity."""

    PUBLIC = "public"
    BROKERS = "brokers"  # brokers and the bureau
    PRIVATE = "private"  # the poster, its assigned broker and the bureau; others see it desensitised


class ChallengeStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    APPLICATIONS_OPEN = "applications_open"
    AWARDED = "awarded"
    IN_PROGRESS = "in_progress"
    ACCEPTED = "accepted"
    FAILED = "failed"


class NeedStatus(StrEnum):
    OPEN = "open"
    MATCHED = "matched"
    CLOSED = "closed"


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    WITHDRAWN = "withdrawn"  # an earlier verdict taken back: the pair is judged by nobody again


class DockingStage(StrEnum):
    """Where a docking (对接) stands, from an accepted match to a registered contract."""

    ACCEPTED = "accepted"  # 已接受匹配，待联系成果方
    CONTACTED = "contacted"  # 已联系成果方
    NEGOTIATING = "negotiating"  # 洽谈中（会谈、走访、议价）
    SIGNED = "signed"  # 已签约
    ABANDONED = "abandoned"  # 已终止


OPEN_DOCKING_STAGES = (DockingStage.ACCEPTED, DockingStage.CONTACTED, DockingStage.NEGOTIATING)


class ContactChannel(StrEnum):
    PHONE = "电话"
    VISIT = "走访"
    MEETING = "会谈"
    EMAIL = "邮件"
    ONLINE = "线上洽谈"
    OTHER = "其他"


class AbandonReason(StrEnum):
    """Why a docking ended without a contract: what lets the product learn (users.md)."""

    PRICE = "price"  # 价格谈不拢
    MATURITY = "maturity"  # 成熟度不够（未过小试/中试）
    IP_UNCLEAR = "ip_unclear"  # 知识产权权属不清（职务发明未理清）
    CAPACITY = "capacity"  # 企业承接能力不足
    NO_RESPONSE = "no_response"  # 成果方或企业无回应
    OFF_TOPIC = "off_topic"  # 技术并不对路
    OTHER = "other"


class ContractType(StrEnum):
    """技术合同 types of the Civil Code's technology-contract chapter, with 作价入股 as listings know it."""

    TRANSFER = "技术转让"
    LICENSE = "技术许可"
    JOINT_DEVELOPMENT = "合作开发"
    COMMISSIONED_DEVELOPMENT = "委托开发"
    EQUITY = "作价入股"
    CONSULTING = "技术咨询"
    SERVICE = "技术服务"


class RejectReason(StrEnum):
    """The fixed list a broker picks from when rejecting a match."""

    OFF_TOPIC = "off_topic"  # 技术方向不符
    IMMATURE = "immature"  # 成熟度不够
    TOO_EXPENSIVE = "too_expensive"  # 价格超出预算
    WRONG_COOPERATION = "wrong_cooperation"  # 合作方式不符
    ALREADY_KNOWN = "already_known"  # 企业已掌握或已接触
    OTHER = "other"


# ---------------------------------------------------------------------------------------------
# Nodes


class Provenance(BaseModel):
    """Where a node came from: the file and row it was loaded from, and when."""

    model_config = ConfigDict(extra="forbid")
    source: str
    row: int | None = None
    loaded_at: datetime | None = None


class Node(BaseModel):
    """Base of every node. ``label`` is the graph label; ``id`` is stable and unique per label."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, str_strip_whitespace=True)
    label: ClassVar[NodeLabel]
    #: properties searched by name-like text queries in the API
    title_field: ClassVar[str] = "name"

    id: str = Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")
    demo: bool = False
    provenance: Provenance | None = None

    def to_props(self) -> dict[str, Any]:
        """Flatten to Bolt-storable properties, with a content hash for change detection."""
        props: dict[str, Any] = {}
        for name, value in self.model_dump(mode="python", exclude={"provenance"}).items():
            props[name] = _to_prop(value)
        if self.provenance is not None:
            props["prov_source"] = self.provenance.source
            props["prov_row"] = self.provenance.row
            props["prov_loaded_at"] = (
                self.provenance.loaded_at.isoformat() if self.provenance.loaded_at else None
            )
        props["content_hash"] = content_hash(props)
        return {k: v for k, v in props.items() if v is not None}

    @classmethod
    def from_props(cls, props: dict[str, Any]) -> Self:
        """Rebuild a node from stored properties (inverse of ``to_props``)."""
        data: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if name == "provenance":
                continue
            if name in props and props[name] is not None:
                value = props[name]
                if isinstance(value, str) and _is_json_field(field.annotation):
                    value = json.loads(value)
                data[name] = value
        if props.get("prov_source"):
            data["provenance"] = Provenance(
                source=props["prov_source"],
                row=props.get("prov_row"),
                loaded_at=props.get("prov_loaded_at"),
            )
        return cls.model_validate(data)

    @property
    def display_name(self) -> str:
        return str(getattr(self, self.title_field, self.id))


_PROVENANCE_KEYS = ("prov_source", "prov_row", "prov_loaded_at", "content_hash")


def content_hash(props: dict[str, Any]) -> str:
    """A hash of what a node says, ignoring where and when it was loaded."""
    body = {k: v for k, v in props.items() if k not in _PROVENANCE_KEYS and v is not None}
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()


def _to_prop(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (str, int, float, bool, StrEnum, date)) for v in value):
            return [_to_prop(v) for v in value]
        return json.dumps([_jsonable(v) for v in value], ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _is_json_field(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return False  # an enum is stored as its value; "<enum 'Verdict'>" must not read as a dict
    text = str(annotation)
    return "dict" in text or "Milestone" in text or "Requirement" in text


class Region(Node):
    label = NodeLabel.REGION
    name: str = Field(min_length=1)
    kind: str = "区县"  # 市 / 区 / 县 / 县级市 / 开发区
    parent_id: str | None = None


class Institution(Node):
    label = NodeLabel.INSTITUTION
    name: str = Field(min_length=1)
    kind: InstitutionKind = InstitutionKind.UNIVERSITY
    canonical_name: str | None = None
    aliases: list[str] = []
    region: str | None = None
    description: str = ""


class Talent(Node):
    label = NodeLabel.TALENT
    name: str = Field(min_length=1)
    title: str = ""  # 教授 / 研究员 / 高级工程师 ...
    expertise: list[str] = []
    bio: str = ""
    high_level: bool = False  # 高层次创新人才
    academician: bool = False
    region: str | None = None
    email: str | None = None


class Achievement(Node):
    """A 科技成果: a patent, a piece of know-how, software, a paper offered for transfer."""

    label = NodeLabel.ACHIEVEMENT
    name: str = Field(min_length=1)
    description: str = ""
    application_scope: str = ""
    kind: AchievementKind = AchievementKind.OTHER
    patent_numbers: list[str] = []
    maturity: Maturity | None = None
    cooperation_modes: list[CooperationMode] = []
    price_wan: float | None = Field(default=None, ge=0, description="asking price, 万元; None = 面议")
    owners: list[str] = []  # names as given; OWNS edges link the resolved organisations
    inventors: list[str] = []
    industry: str = ""  # source taxonomy label, kept verbatim
    keywords: list[str] = []
    posted_on: date | None = None
    region: str | None = None
    #: the broker who entered it (through the API or an upload); a broker may change only its own entries
    curator_id: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(p for p in (self.name, self.description, self.application_scope) if p)


class Enterprise(Node):
    label = NodeLabel.ENTERPRISE
    name: str = Field(min_length=1)
    credit_code: str | None = Field(default=None, pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
    canonical_name: str | None = None
    aliases: list[str] = []
    region: str | None = None
    size: EnterpriseSize | None = None
    high_tech: bool = False  # 高新技术企业
    tech_sme: bool = False  # 科技型中小企业
    description: str = ""
    products: list[str] = []
    founded_on: date | None = None
    high_tech_since: int | None = None  # year recognised


class Platform(Node):
    label = NodeLabel.PLATFORM
    name: str = Field(min_length=1)
    kind: PlatformKind = PlatformKind.OTHER
    level: PlatformLevel = PlatformLevel.MUNICIPAL
    description: str = ""
    region: str | None = None
    established_year: int | None = None


class IndustryChain(Node):
    label = NodeLabel.INDUSTRY_CHAIN
    name: str = Field(min_length=1)
    description: str = ""
    priority: bool = False  # one of the plan's leading chains
    keywords: list[str] = []


class ChainSegment(Node):
    label = NodeLabel.CHAIN_SEGMENT
    name: str = Field(min_length=1)
    chain_id: str
    position: ChainPosition
    order: int = 0  # left-to-right position within the chain
    description: str = ""
    keywords: list[str] = []
    aliases: list[str] = []


class Need(Node):
    """A 技术需求 posted by an enterprise."""

    label = NodeLabel.NEED
    name: str = Field(min_length=1)
    description: str = ""
    enterprise_id: str | None = None
    budget_wan: float | None = Field(default=None, ge=0)
    deadline: date | None = None
    cooperation_modes: list[CooperationMode] = []
    #: the least maturity the enterprise will consider (中试以上 → 中试); None = not stated (then read from the text)
    min_maturity: Maturity | None = None
    confidentiality: Confidentiality = Confidentiality.PUBLIC
    status: NeedStatus = NeedStatus.OPEN
    sector: str = ""  # source sector label, verbatim
    keywords: list[str] = []
    posted_on: date | None = None
    reveal_identity: bool = False  # the enterprise agreed to show its name and text
    contact_name: str = ""  # 联系人 (shown to those who read the need in full)
    contact_phone: str = ""
    region: str | None = None  # 所在县区 of the enterprise's site concerned
    #: the enterprise (or its broker) submitted this unmet need to the bureau (提交科技局)
    escalated_on: date | None = None

    @property
    def text(self) -> str:
        return "\n".join(p for p in (self.name, self.description) if p)


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    due: date | None = None
    done: bool = False


class ChallengeRequirement(BaseModel):
    """A condition a solver team must meet, e.g. a lead with prior industrialisation."""

    model_config = ConfigDict(extra="forbid")
    kind: str  # lead_industrialised | local_partner | competence | min_team_size ...
    value: str = ""


class Challenge(Node):
    """A 揭榜挂帅 challenge: a bottleneck the government or an enterprise posts for teams to solve."""

    label = NodeLabel.CHALLENGE
    name: str = Field(min_length=1)
    statement: str = Field(min_length=1)
    segment_id: str | None = None
    budget_wan: float | None = Field(default=None, ge=0)
    deadline: date | None = None
    owner_id: str | None = None  # an Enterprise or Department id
    status: ChallengeStatus = ChallengeStatus.DRAFT
    competences: list[str] = []
    requirements: list[ChallengeRequirement] = []
    milestones: list[Milestone] = []
    source_need_ids: list[str] = []  # the unmet needs a curated topic gathered (bureau.topics.publish_topic)

    def min_team_size(self) -> int:
        """The ``min_team_size`` requirement as a number of people (1 when the challenge states none)."""
        size = next((r.value for r in self.requirements if r.kind == "min_team_size"), "1")
        try:
            return max(0, int(size))
        except ValueError as exc:
            raise ValidationError(f"团队最少人数须为整数，现为 {size!r}", field="requirements",
                                  where=self.id) from exc


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    SHORTLISTED = "shortlisted"  # the bureau's review passed it
    DECLINED = "declined"
    AWARDED = "awarded"


class ChallengeApplication(Node):
    """A 揭榜申报: a team applying to a challenge — the applicant unit (an institution or an enterprise), the
    lead and members (talents where the graph knows them, names otherwise), a local partner enterprise, the
    plan — and the bureau's review. Seen by the bureau and by whoever submitted it."""

    label = NodeLabel.APPLICATION
    title_field: ClassVar[str] = "team_name"
    challenge_id: str
    applicant_label: str  # Institution | Enterprise
    applicant_id: str
    team_name: str = Field(min_length=1, max_length=100)
    lead_id: str | None = None  # a Talent
    lead_name: str = ""
    member_ids: list[str] = []  # Talents
    member_names: list[str] = []  # members the graph does not know, as written
    partner_id: str | None = None  # an Enterprise that carries the result into production
    plan: str = Field(default="", max_length=3000)
    budget_wan: float | None = Field(default=None, ge=0)
    submitted_by: str = ""  # the user id
    submitted_at: datetime | None = None
    status: ApplicationStatus = ApplicationStatus.SUBMITTED
    review_score: int | None = Field(default=None, ge=0, le=100)
    review_comment: str = Field(default="", max_length=1000)
    reviewed_by: str = ""
    reviewed_at: datetime | None = None


class Project(Node):
    """A 重大科技专项 (major special project)."""

    label = NodeLabel.PROJECT
    name: str = Field(min_length=1)
    description: str = ""
    year: int | None = None
    budget_wan: float | None = Field(default=None, ge=0)
    status: str = "立项"  # 立项 / 在研 / 验收 / 终止
    core_technology: bool = False  # counted as a 重大关键核心技术 breakthrough
    region: str | None = None


class Broker(Node):
    label = NodeLabel.BROKER
    name: str = Field(min_length=1)
    organisation: str = ""
    certified_year: int | None = None
    region: str | None = None


class Policy(Node):
    label = NodeLabel.POLICY
    name: str = Field(min_length=1)
    doc_number: str = ""
    issued_on: date | None = None
    text_digest: str = ""


class Target(Node):
    """A quantitative goal of a plan, e.g. 高新技术企业 200家以上 by 2025."""

    label = NodeLabel.TARGET
    name: str = Field(min_length=1)
    metric: str  # a key the bureau's metrics know, e.g. high_tech_enterprises
    value: float
    unit: str = ""
    comparator: str = ">="  # >= (以上) | ~ (左右)
    deadline_year: int | None = None
    baseline_year: int | None = None
    sentence: str = ""


class Task(Node):
    label = NodeLabel.TASK
    name: str = Field(min_length=1)
    number: int | None = None
    text: str = ""
    section: str = ""


class Department(Node):
    label = NodeLabel.DEPARTMENT
    name: str = Field(min_length=1)


class Feedback(Node):
    """A broker's verdict on one match, with the reason; the re-ranker learns from these."""

    label = NodeLabel.FEEDBACK
    title_field: ClassVar[str] = "id"
    question: str = "need_achievement"  # need_achievement | achievement_enterprise | enterprise_achievement
    query_id: str
    candidate_id: str
    verdict: Verdict
    reason: RejectReason | None = None
    comment: str = ""
    user: str = ""
    at: datetime | None = None
    #: how much this verdict teaches the re-ranker (a signed contract counts as several plain verdicts)
    strength: float = Field(default=1.0, ge=0, le=10)
    features: dict[str, float] = {}


class MergeRecord(Node):
    """A reviewable record of two organisation records merged as duplicates, and why."""

    label = NodeLabel.MERGE_RECORD
    title_field: ClassVar[str] = "id"
    kept_id: str
    merged_name: str
    kept_name: str
    reason: str
    source: str = ""


class User(Node):
    """A service account: its role decides what it may see; enterprise and broker users name their org."""

    label = NodeLabel.USER
    name: str = Field(min_length=1, max_length=64)  # the login name
    full_name: str = ""
    role: str  # enterprise | broker | bureau | admin (api.auth.Role)
    password_hash: str = ""  # scrypt, with its salt; empty = no web login
    enterprise_id: str | None = None  # for role enterprise
    broker_id: str | None = None  # for role broker
    active: bool = True
    email: str = ""  # for the outbox's e-mail delivery
    phone: str = ""  # for the outbox's SMS delivery


class ApiKey(Node):
    """An API key, stored only as a salted hash; ``id`` is the public key prefix."""

    label = NodeLabel.API_KEY
    title_field: ClassVar[str] = "id"
    user_id: str
    key_hash: str
    created_at: datetime | None = None
    revoked: bool = False


class Session(Node):
    """A web login session. ``id`` is a hash of the cookie's token (the token itself is never stored)."""

    label = NodeLabel.SESSION
    title_field: ClassVar[str] = "id"
    user_id: str
    created_at: datetime
    expires_at: datetime


class AuditEvent(Node):
    """An append-only record of who saw or changed what (every view of a non-public need)."""

    label = NodeLabel.AUDIT_EVENT
    title_field: ClassVar[str] = "id"
    at: datetime
    user_id: str
    role: str
    action: str  # view_need | view_match | reveal | feedback | create_key ...
    target_label: str = ""
    target_id: str = ""
    detail: str = ""


class Docking(Node):
    """对接: one accepted match carried by a broker towards a technology contract."""

    label = NodeLabel.DOCKING
    title_field: ClassVar[str] = "id"
    need_id: str
    achievement_id: str
    enterprise_id: str  # the need's enterprise (the future contract's buyer)
    broker_id: str | None = None  # the broker carrying it (None: the enterprise or the bureau itself)
    stage: DockingStage = DockingStage.ACCEPTED
    opened_at: datetime
    updated_at: datetime
    owner_contact: str = ""  # who at the achievement's side (技术转移办公室, the inventor)
    abandon_reason: AbandonReason | None = None
    abandon_note: str = ""
    contract_type: ContractType | None = None
    amount_wan: float | None = Field(default=None, ge=0)
    tech_amount_wan: float | None = Field(default=None, ge=0)  # 技术交易额 (what the registration counts)
    signed_on: date | None = None
    contract_no: str = ""
    registration_no: str = ""  # 技术合同认定登记号
    registered_on: date | None = None


class DockingEvent(Node):
    """One step of a docking: a contact, a meeting, negotiation notes, or a stage change."""

    label = NodeLabel.DOCKING_EVENT
    title_field: ClassVar[str] = "id"
    docking_id: str
    at: datetime
    kind: str  # contact | note | stage
    channel: ContactChannel | None = None
    who: str = ""  # the person spoken to
    note: str = ""
    stage: DockingStage | None = None  # for kind "stage": the stage entered
    user_id: str = ""


class NeedStanding(Node):
    """A need's matches as last computed: the best achievements (above and under the threshold), the gap
    verdict and the engine that produced them. Bureau views and work queues read these instead of matching
    every need per view; :mod:`matcher.standing` keeps them current."""

    label = NodeLabel.NEED_STANDING
    title_field: ClassVar[str] = "id"  # the need's id
    achievement_ids: list[str] = []  # best first
    confidences: list[float] = []
    threshold: float = 0.0
    best_confidence: float = 0.0
    is_gap: bool = True
    engine_version: str = ""
    refreshed_at: datetime | None = None


class Notification(Node):
    """An inbox item of one user: what happened, in one Chinese sentence, and where to look."""

    label = NodeLabel.NOTIFICATION
    title_field: ClassVar[str] = "title"
    user_id: str
    kind: str  # new_fit | new_need | docking_stage | saved_search | segment
    title: str
    body: str = ""
    link: str = ""
    created_at: datetime
    read: bool = False
    dedupe_key: str = ""  # one notification per key and user (a fitting achievement is announced once)


class OutboxMessage(Node):
    """A message ready for e-mail or SMS delivery (delivered by an adapter; see docs/notifications.md)."""

    label = NodeLabel.OUTBOX_MESSAGE
    title_field: ClassVar[str] = "subject"
    channel: str  # email | sms
    to: str
    subject: str
    body: str
    created_at: datetime
    status: str = "pending"  # pending | sent | failed
    attempts: int = 0
    last_error: str = ""
    notification_id: str = ""


class Subscription(Node):
    """A saved search (its text) or a chain-segment subscription of one user."""

    label = NodeLabel.SUBSCRIPTION
    title_field: ClassVar[str] = "id"
    user_id: str
    kind: str  # search | segment
    query: str = ""  # the saved search text
    segment_id: str | None = None
    created_at: datetime


class UploadJob(Node):
    """A file uploaded in the browser and loaded in the background: its progress and report."""

    label = NodeLabel.UPLOAD_JOB
    title_field: ClassVar[str] = "file_name"
    user_id: str
    file_name: str
    entity: str = ""
    status: str = "queued"  # queued | running | done | failed
    rows_done: int = 0
    rows_total: int = 0
    created_at: datetime
    finished_at: datetime | None = None
    report_json: str = ""  # the load report, JSON
    error: str = ""
    rejects_file: str = ""  # the reject file's name inside the job's directory
    worker: str = ""  # host:pid of the process loading it (an interrupted load is recognised on restart)


#: the Chinese name of each label, for every place a person reads one
LABEL_ZH: dict[str, str] = {
    NodeLabel.TALENT: "人才", NodeLabel.INSTITUTION: "机构", NodeLabel.ACHIEVEMENT: "成果",
    NodeLabel.ENTERPRISE: "企业", NodeLabel.PLATFORM: "平台", NodeLabel.INDUSTRY_CHAIN: "产业链",
    NodeLabel.CHAIN_SEGMENT: "产业链环节", NodeLabel.NEED: "需求", NodeLabel.CHALLENGE: "揭榜挂帅榜单",
    NodeLabel.PROJECT: "项目", NodeLabel.BROKER: "技术经纪人", NodeLabel.REGION: "区县",
    NodeLabel.POLICY: "政策", NodeLabel.TARGET: "目标", NodeLabel.TASK: "任务", NodeLabel.DEPARTMENT: "部门",
    NodeLabel.FEEDBACK: "匹配评价", NodeLabel.MERGE_RECORD: "合并记录", NodeLabel.USER: "用户",
    NodeLabel.API_KEY: "API 密钥", NodeLabel.AUDIT_EVENT: "审计记录", NodeLabel.SESSION: "登录会话",
    NodeLabel.DOCKING: "对接", NodeLabel.DOCKING_EVENT: "对接记录", NodeLabel.NEED_STANDING: "需求匹配结果",
    NodeLabel.NOTIFICATION: "通知", NodeLabel.OUTBOX_MESSAGE: "待发消息", NodeLabel.SUBSCRIPTION: "订阅",
    NodeLabel.UPLOAD_JOB: "上传任务",
    NodeLabel.APPLICATION: "揭榜申报",
}

#: the service's own bookkeeping (accounts, keys, sessions, audit): not part of the knowledge graph
SERVICE_LABELS = frozenset({NodeLabel.USER, NodeLabel.API_KEY, NodeLabel.AUDIT_EVENT, NodeLabel.SESSION,
                            NodeLabel.NEED_STANDING, NodeLabel.NOTIFICATION, NodeLabel.OUTBOX_MESSAGE,
                            NodeLabel.SUBSCRIPTION, NodeLabel.UPLOAD_JOB})

NODE_TYPES: dict[NodeLabel, type[Node]] = {
    cls.label: cls
    for cls in (
        Region, Institution, Talent, Achievement, Enterprise, Platform, IndustryChain, ChainSegment,
        Need, Challenge, Project, Broker, Policy, Target, Task, Department, Feedback, MergeRecord,
        User, ApiKey, AuditEvent, Session, Docking, DockingEvent, NeedStanding, Notification, OutboxMessage,
        Subscription, UploadJob, ChallengeApplication,
    )
}


# ---------------------------------------------------------------------------------------------
# Relationships


class Relation(BaseModel):
    """A typed edge between two nodes, addressed by label and id."""

    model_config = ConfigDict(extra="forbid")
    type: RelType
    source_label: NodeLabel
    source_id: str = Field(min_length=1)
    target_label: NodeLabel
    target_id: str = Field(min_length=1)
    props: dict[str, Any] = {}

    @field_validator("props")
    @classmethod
    def _flat_props(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k: _to_prop(v) for k, v in value.items() if v is not None}

    def check_endpoints(self) -> None:
        """Raise ValueError when this type does not connect these labels."""
        allowed = RELATION_ENDPOINTS.get(self.type)
        if allowed is None:
            return
        if (self.source_label, self.target_label) not in allowed:
            raise ValueError(
                f"{self.type.value} cannot link {self.source_label.value} -> {self.target_label.value}"
            )


L = NodeLabel
_ORGS = (L.INSTITUTION, L.ENTERPRISE)
RELATION_ENDPOINTS: dict[RelType, set[tuple[NodeLabel, NodeLabel]]] = {
    RelType.AFFILIATED_WITH: {(L.TALENT, o) for o in _ORGS},
    RelType.INVENTED: {(L.TALENT, L.ACHIEVEMENT)},
    RelType.OWNS: {(o, L.ACHIEVEMENT) for o in (*_ORGS, L.TALENT)},
    RelType.IN_SEGMENT: {
        (x, L.CHAIN_SEGMENT)
        for x in (L.ACHIEVEMENT, L.NEED, L.ENTERPRISE, L.CHALLENGE, L.PLATFORM, L.PROJECT, L.INSTITUTION, L.TALENT)
    },
    RelType.PART_OF: {(L.CHAIN_SEGMENT, L.INDUSTRY_CHAIN)},
    RelType.UPSTREAM_OF: {(L.CHAIN_SEGMENT, L.CHAIN_SEGMENT)},
    RelType.POSTED: {(L.ENTERPRISE, L.NEED), (L.ENTERPRISE, L.CHALLENGE), (L.DEPARTMENT, L.CHALLENGE)},
    RelType.HOSTS: {(o, L.PLATFORM) for o in _ORGS},
    RelType.MEMBER_OF: {(L.TALENT, L.PLATFORM)},
    RelType.COLLABORATED_WITH: {
        (a, b) for a in (*_ORGS, L.TALENT) for b in (*_ORGS, L.TALENT)
    },
    RelType.TRANSFERRED_TO: {(L.ACHIEVEMENT, L.ENTERPRISE)},
    RelType.APPLIED_TO: {(x, L.CHALLENGE) for x in (L.TALENT, *_ORGS)},
    RelType.SOLVES: {(L.ACHIEVEMENT, L.NEED), (L.ACHIEVEMENT, L.CHALLENGE), (L.TALENT, L.CHALLENGE)},
    RelType.LOCATED_IN: {(x, L.REGION) for x in (*_ORGS, L.PLATFORM, L.TALENT, L.PROJECT)},
    RelType.WORKED_ON: {(L.TALENT, L.PROJECT)},
    RelType.UNDERTAKES: {(o, L.PROJECT) for o in _ORGS},
    RelType.ASSIGNED_TO: {(L.BROKER, L.ENTERPRISE)},
    RelType.SHAREHOLDER_OF: {(x, L.ENTERPRISE) for x in (L.TALENT, *_ORGS)},
    RelType.EMPLOYED_BY: {(L.TALENT, L.ENTERPRISE)},
    RelType.HAS_TARGET: {(L.POLICY, L.TARGET)},
    RelType.HAS_TASK: {(L.POLICY, L.TASK)},
    RelType.RESPONSIBLE_FOR: {(L.DEPARTMENT, L.TASK), (L.DEPARTMENT, L.TARGET)},
    RelType.NAMES: {
        (a, b)
        for a in (L.POLICY, L.TASK)
        for b in (L.INDUSTRY_CHAIN, L.ENTERPRISE, L.INSTITUTION, L.PLATFORM, L.REGION)
    },
    RelType.ABOUT: {(L.FEEDBACK, x) for x in (L.NEED, L.ACHIEVEMENT, L.ENTERPRISE, L.CHALLENGE, L.TALENT)},
    RelType.GAVE: {(L.BROKER, L.FEEDBACK)},
    RelType.MERGED_INTO: {(L.MERGE_RECORD, o) for o in _ORGS},
}


def node_from_props(label: NodeLabel | str, props: dict[str, Any]) -> Node:
    """Rebuild the typed node of ``label`` from stored properties."""
    return NODE_TYPES[NodeLabel(label)].from_props(props)
