"""Build domain nodes from canonical records (the output of a column mapping), one builder per entity.

A builder returns the node plus the organisations the row names (an achievement's owners, a need's
enterprise, a talent's affiliation, a platform's host) so the loader can resolve and link them. Every
bad value raises :class:`graph.exceptions.ValidationError` with the canonical field name; the loader
turns that into the user's column name and row number.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError

from graph.exceptions import ValidationError
from graph.model import (
    Achievement,
    Confidentiality,
    EnterpriseSize,
    Institution,
    InstitutionKind,
    Need,
    Node,
    Platform,
    PlatformKind,
    PlatformLevel,
    RelType,
    Talent,
)
from ingest import text as textpipe
from ingest.cleaning import has_control, strip_control
from ingest.zhibei import (
    parse_cooperation,
    parse_date,
    parse_kind,
    parse_maturity,
    parse_price_wan,
    parse_valid_period,
)


@dataclass(frozen=True)
class OrgRef:
    """An organisation a row names, to be resolved to an Enterprise or Institution and linked."""

    name: str
    rel: RelType
    #: True: org -> node (OWNS, POSTED, HOSTS); False: node -> org (AFFILIATED_WITH)
    org_is_source: bool
    credit_code: str | None = None
    #: "enterprise" when the column can only name an enterprise; None lets the name decide
    kind: str | None = None


@dataclass
class Built:
    node: Node
    orgs: list[OrgRef] = field(default_factory=list)


#: fields that take a list (a JSON array is fine there; elsewhere it is a wrong-typed value)
LIST_FIELDS = frozenset({"owners", "inventors", "patent_numbers", "expertise", "products", "aliases", "cooperation"})

_LIST_SPLIT = re.compile(r"[,，、;；|/\n]+")
_TRUE = {"是", "有", "y", "yes", "true", "1", "√", "✓", "t"}
_FALSE = {"否", "无", "n", "no", "false", "0", "×", "f", ""}


def _shown(value: Any, limit: int = 60) -> str:
    """A value as JSON, cut short, for a message."""
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prepare_record(rec: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A canonical record checked for wrong-typed values and cleaned of control characters, and how many
    characters were removed. A JSON object, or a list where text is expected, is a
    :class:`ValidationError` naming the field (never stored as its Python text); a control character in
    the id is refused (ids are compared and shown everywhere); in text it is removed (newline and tab stay)."""
    out: dict[str, Any] = {}
    removed = 0
    for key, value in rec.items():
        if isinstance(value, dict):
            raise ValidationError(f"应为文本，却是一个 JSON 对象 {_shown(value)}", field=key)
        if isinstance(value, (list, tuple, set)):
            if key not in LIST_FIELDS:
                raise ValidationError(f"应为文本，却是一个列表 {_shown(list(value))}", field=key)
            items = []
            for item in value:
                if isinstance(item, (dict, list, tuple, set)):
                    raise ValidationError(f"列表里应为文本，却有 {_shown(item)}", field=key)
                if isinstance(item, str):
                    item, n = strip_control(item)
                    removed += n
                items.append(item)
            value = items
        elif isinstance(value, str):
            if key == "id" and has_control(value):
                raise ValidationError(f"编号 {_shown(value)} 含有控制字符（如 NUL、换行）：编号里不能有这些字符",
                                      field=key)
            value, n = strip_control(value)
            removed += n
        out[key] = value
    return out, removed


def text_of(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel gives 2020.0 for a year cell
    return str(value).strip()


def list_of(rec: dict[str, Any], key: str) -> list[str]:
    value = rec.get(key)
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else _LIST_SPLIT.split(str(value))
    return list(dict.fromkeys(s for s in (str(i).strip() for i in items) if s))


def bool_of(rec: dict[str, Any], key: str) -> bool:
    value = rec.get(key)
    if isinstance(value, bool):
        return value
    text = text_of(rec, key).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{text!r} 不是 是/否", field=key)


def int_of(rec: dict[str, Any], key: str) -> int | None:
    text = text_of(rec, key)
    if not text:
        return None
    m = re.fullmatch(r"(\d{1,6})(?:\.0+)?\s*年?", text)
    if not m:
        raise ValidationError(f"{text!r} 不是整数", field=key)
    return int(m.group(1))


def enum_of(rec: dict[str, Any], key: str, enum: Any, words: dict[str, Any] | None = None) -> Any:
    text = text_of(rec, key)
    if not text:
        return None
    if words and text in words:
        return words[text]
    try:
        return enum(text)
    except ValueError:
        for member in enum:
            if member.value in text:  # "省级重点实验室" contains 重点实验室
                return member
    allowed = "/".join(m.value for m in enum)
    raise ValidationError(f"{text!r} 不是 {allowed} 之一", field=key)


def stable_id(prefix: str, *parts: str) -> str:
    """An id derived from content, so the same row loaded again gets the same id."""
    raw = "\n".join(textpipe.normalize(p) for p in parts)
    return f"{prefix}-{hashlib.sha1(raw.encode('utf-8')).hexdigest()[:16]}"


def _id(rec: dict[str, Any], prefix: str, *parts: str) -> str:
    given = text_of(rec, "id")
    if given:
        if re.search(r"\s", given) or len(given) > 128:
            raise ValidationError(f"编号 {given!r} 应为 1-128 个字符，且不能有空格", field="id")
        return given
    return stable_id(prefix, *parts)


def _name(rec: dict[str, Any]) -> str:
    name = text_of(rec, "name")
    if not name:
        raise ValidationError("名称必填，但这里是空的", field="name")
    return name


N = TypeVar("N", bound=Node)

#: what the model's own checks mean, in the words of the person who filled the file
_MODEL_ERRORS = {
    "string_pattern_mismatch": "格式不对",
    "string_too_long": "太长（最多 {max_length} 个字符）",
    "string_too_short": "不能为空",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "float_parsing": "不是数值",
    "int_parsing": "不是整数",
}


def _model(factory: Callable[..., N], **kwargs: Any) -> N:
    """Construct a node, turning pydantic's error into ours with the offending field."""
    try:
        return factory(**kwargs)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = str(err["loc"][0]) if err.get("loc") else None
        value = kwargs.get(loc) if loc else None
        if loc == "credit_code":
            raise ValidationError(f"{value!r} 不是有效的统一社会信用代码（18 位数字和大写字母）", field=loc) from None
        template = _MODEL_ERRORS.get(err.get("type", ""))
        message = template.format(**(err.get("ctx") or {})) if template else f"不符合要求（{err['msg']}）"
        raise ValidationError(f"{value!r} {message}", field=loc) from None


def build_achievement(rec: dict[str, Any]) -> Built:
    name = _name(rec)
    description = text_of(rec, "description")
    node = _model(
        Achievement,
        id=_id(rec, "ach", name, description),
        name=name,
        description=description,
        application_scope=text_of(rec, "application_scope"),
        kind=parse_kind(rec.get("ip_type")),
        maturity=parse_maturity(rec.get("maturity")),
        cooperation_modes=parse_cooperation(rec.get("cooperation")),
        price_wan=parse_price_wan(rec.get("price")),
        industry=text_of(rec, "industry"),
        posted_on=parse_date(rec.get("post_time")),
        owners=list_of(rec, "owners"),
        inventors=list_of(rec, "inventors"),
        patent_numbers=list_of(rec, "patent_numbers"),
        region=text_of(rec, "region") or None,
    )
    orgs = [OrgRef(name=o, rel=RelType.OWNS, org_is_source=True) for o in node.owners]
    return Built(node, orgs)


_CONFIDENTIALITY = {
    "公开": Confidentiality.PUBLIC, "经纪人可见": Confidentiality.BROKERS, "保密": Confidentiality.PRIVATE,
    "不公开": Confidentiality.PRIVATE, "内部": Confidentiality.BROKERS,
}


def build_need(rec: dict[str, Any]) -> Built:
    name = _name(rec)
    description = text_of(rec, "description")
    enterprise = text_of(rec, "enterprise")
    deadline = parse_date(rec.get("deadline"), field="deadline") or parse_valid_period(rec.get("valid_period"))
    budget = parse_price_wan(rec.get("budget"), field="budget")
    node = _model(
        Need,
        id=_id(rec, "need", name, description, enterprise),
        name=name,
        description=description,
        budget_wan=budget,
        deadline=deadline,
        cooperation_modes=parse_cooperation(rec.get("cooperation")),
        min_maturity=parse_maturity(rec.get("min_maturity"), field="min_maturity"),
        confidentiality=enum_of(rec, "confidentiality", Confidentiality, _CONFIDENTIALITY) or Confidentiality.PUBLIC,
        sector=text_of(rec, "sector"),
        posted_on=parse_date(rec.get("post_time")),
    )
    orgs = []
    code = text_of(rec, "credit_code").upper() or None
    if enterprise or code:
        orgs.append(OrgRef(name=enterprise, rel=RelType.POSTED, org_is_source=True, credit_code=code,
                           kind="enterprise"))
    return Built(node, orgs)


def build_enterprise(rec: dict[str, Any]) -> Built:
    from graph.model import Enterprise

    name = _name(rec)
    code = text_of(rec, "credit_code").upper() or None
    # the enterprise id is resolved by the loader (credit code or canonical name); this one is provisional
    node = _model(
        Enterprise,
        id=_id(rec, "ent", name, code or ""),
        name=name,
        credit_code=code,
        region=text_of(rec, "region") or None,
        size=enum_of(rec, "size", EnterpriseSize),
        high_tech=bool_of(rec, "high_tech"),
        tech_sme=bool_of(rec, "tech_sme"),
        description=text_of(rec, "description"),
        products=list_of(rec, "products"),
        founded_on=parse_date(rec.get("founded_on"), field="founded_on"),
        high_tech_since=int_of(rec, "high_tech_since"),
    )
    return Built(node)


def build_talent(rec: dict[str, Any]) -> Built:
    name = _name(rec)
    affiliation = text_of(rec, "affiliation")
    node = _model(
        Talent,
        id=_id(rec, "tal", name, affiliation, text_of(rec, "email")),
        name=name,
        title=text_of(rec, "title"),
        expertise=list_of(rec, "expertise"),
        bio=text_of(rec, "bio"),
        high_level=bool_of(rec, "high_level"),
        academician=bool_of(rec, "academician"),
        email=text_of(rec, "email") or None,
        region=text_of(rec, "region") or None,
    )
    orgs = [OrgRef(name=affiliation, rel=RelType.AFFILIATED_WITH, org_is_source=False)] if affiliation else []
    return Built(node, orgs)


_INSTITUTION_KIND = {"大学": InstitutionKind.UNIVERSITY, "学院": InstitutionKind.UNIVERSITY,
                     "研究所": InstitutionKind.RESEARCH_INSTITUTE, "研究院": InstitutionKind.RESEARCH_INSTITUTE,
                     "院所": InstitutionKind.RESEARCH_INSTITUTE}


def build_institution(rec: dict[str, Any]) -> Built:
    name = _name(rec)
    node = _model(
        Institution,
        id=_id(rec, "inst", name),
        name=name,
        kind=enum_of(rec, "kind", InstitutionKind, _INSTITUTION_KIND) or institution_kind(name),
        region=text_of(rec, "region") or None,
        description=text_of(rec, "description"),
        aliases=list_of(rec, "aliases"),
    )
    return Built(node)


def institution_kind(name: str) -> InstitutionKind:
    """The kind of an institution from its name: 大学/学院 -> 高校, 研究所/研究院/科学院 -> 科研院所 ..."""
    if "医院" in name:
        return InstitutionKind.HOSPITAL
    if re.search(r"(研究所|研究院|科学院|研究中心|实验室)", name):
        return InstitutionKind.RESEARCH_INSTITUTE
    if re.search(r"(大学|学院|学校)", name):
        return InstitutionKind.UNIVERSITY
    return InstitutionKind.OTHER


_LEVEL = {"国家": PlatformLevel.NATIONAL, "省": PlatformLevel.PROVINCIAL, "市": PlatformLevel.MUNICIPAL}


def build_platform(rec: dict[str, Any]) -> Built:
    name = _name(rec)
    host = text_of(rec, "host")
    level = enum_of(rec, "level", PlatformLevel, _LEVEL)
    if level is None:
        level = next((lv for word, lv in _LEVEL.items() if word in name), PlatformLevel.MUNICIPAL)
    kind = enum_of(rec, "kind", PlatformKind)
    if kind is None:
        # the longest kind named inside the platform's name, e.g. ...工程技术研究中心
        kind = max((k for k in PlatformKind if k.value in name), key=lambda k: len(k.value),
                   default=PlatformKind.OTHER)
    node = _model(
        Platform,
        id=_id(rec, "plat", name),
        name=name,
        kind=kind,
        level=level,
        description=text_of(rec, "description"),
        region=text_of(rec, "region") or None,
        established_year=int_of(rec, "established_year"),
    )
    orgs = [OrgRef(name=host, rel=RelType.HOSTS, org_is_source=True)] if host else []
    return Built(node, orgs)


BUILDERS: dict[str, Callable[[dict[str, Any]], Built]] = {
    "achievement": build_achievement,
    "need": build_need,
    "enterprise": build_enterprise,
    "talent": build_talent,
    "institution": build_institution,
    "platform": build_platform,
}
