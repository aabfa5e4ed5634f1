"""Map records of the zhibei listings export (科技成果 and 技术需求 JSON Lines) onto the domain model.

The export's values are free-ish text: maturity "已有样品", cooperation "完全转让许可转让技术入股" (no
separators) or "技术转让,技术许可,委托开发", price "面议" or "100.0万元-200.0万元", valid period
"2020-01-1310:49:39.0至2021-01-1310:49:41.0". This module turns them into typed values, accepting
missing or empty optional fields and raising :class:`graph.exceptions.ValidationError` (with the
field) when a required value is missing or a value cannot be understood.

The value parsers (``parse_maturity``, ``parse_cooperation``, ``parse_price_wan`` ...) are public so
the generic column loaders can reuse them for spreadsheets that use the same wording.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from graph.exceptions import ValidationError
from graph.model import Achievement, AchievementKind, CooperationMode, Maturity, Need

# --- vocabularies (the distinct values seen in the data, plus the usual synonyms) ----------------

MATURITY_WORDS: dict[str, Maturity] = {
    "正在研发": Maturity.RESEARCH,
    "研发": Maturity.RESEARCH,
    "研发阶段": Maturity.RESEARCH,
    "实验室阶段": Maturity.RESEARCH,
    "通过小试": Maturity.LAB,
    "小试": Maturity.LAB,
    "小试阶段": Maturity.LAB,
    "通过中试": Maturity.PILOT,
    "中试": Maturity.PILOT,
    "中试阶段": Maturity.PILOT,
    "已有样品": Maturity.SAMPLE,
    "样品": Maturity.SAMPLE,
    "样机": Maturity.SAMPLE,
    "可以量产": Maturity.INDUSTRIAL,
    "量产": Maturity.INDUSTRIAL,
    "产业化": Maturity.INDUSTRIAL,
    "已产业化": Maturity.INDUSTRIAL,
    "批量生产": Maturity.INDUSTRIAL,
}

#: cooperation words, longest first matters for the unseparated achievement form
COOPERATION_WORDS: dict[str, CooperationMode] = {
    "完全转让": CooperationMode.TRANSFER,
    "技术转让": CooperationMode.TRANSFER,
    "转让": CooperationMode.TRANSFER,
    "许可转让": CooperationMode.LICENSE,
    "技术许可": CooperationMode.LICENSE,
    "许可": CooperationMode.LICENSE,
    "技术入股": CooperationMode.EQUITY,
    "作价入股": CooperationMode.EQUITY,
    "入股": CooperationMode.EQUITY,
    "合作生产": CooperationMode.JOINT_DEVELOPMENT,
    "合作开发": CooperationMode.JOINT_DEVELOPMENT,
    "联合开发": CooperationMode.JOINT_DEVELOPMENT,
    "委托开发": CooperationMode.COMMISSIONED,
    "技术开发": CooperationMode.COMMISSIONED,
    "其他": CooperationMode.OTHER,
    "其它": CooperationMode.OTHER,
}
_COOP_PATTERN = re.compile("|".join(sorted(map(re.escape, COOPERATION_WORDS), key=len, reverse=True)))

IP_TYPE_WORDS: dict[str, AchievementKind] = {
    "发明专利": AchievementKind.INVENTION_PATENT,
    "发明": AchievementKind.INVENTION_PATENT,
    "实用新型专利": AchievementKind.UTILITY_MODEL,
    "实用新型": AchievementKind.UTILITY_MODEL,
    "外观专利": AchievementKind.DESIGN_PATENT,
    "外观设计专利": AchievementKind.DESIGN_PATENT,
    "外观设计": AchievementKind.DESIGN_PATENT,
    "软件著作权": AchievementKind.SOFTWARE,
    "软著": AchievementKind.SOFTWARE,
    # 非专利技术 (unpatented technology) is what the model calls know-how
    "非专利技术": AchievementKind.KNOW_HOW,
    "技术秘密": AchievementKind.KNOW_HOW,
    "专有技术": AchievementKind.KNOW_HOW,
    "植物新品种": AchievementKind.NEW_VARIETY,
    "新品种": AchievementKind.NEW_VARIETY,
    "论文": AchievementKind.PAPER,
    "其他": AchievementKind.OTHER,
    "其它": AchievementKind.OTHER,
}

_NEGOTIABLE = {"面议", "议价", "协商", "价格面议", "商议"}
_NUMBER = r"(\d+(?:\.\d+)?)"
_PRICE_RANGE = re.compile(rf"^{_NUMBER}\s*(万元|万|元)?\s*[-~～至到]\s*{_NUMBER}\s*(万元|万|元)?$")
_PRICE_ONE = re.compile(rf"^{_NUMBER}\s*(万元|万|元)?$")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")


def _text(rec: dict[str, Any], key: str) -> str:
    value = rec.get(key)
    if value is None:
        return ""
    return str(value).strip()


def _allowed(words: dict[str, Any]) -> str:
    return "/".join(dict.fromkeys(v.value for v in words.values()))


def parse_maturity(value: Any, field: str = "maturity") -> Maturity | None:
    """'已有样品' -> Maturity.SAMPLE; empty -> None; anything else is a ValidationError."""
    text = str(value or "").strip()
    if not text:
        return None
    if text in MATURITY_WORDS:
        return MATURITY_WORDS[text]
    try:
        return Maturity(text)
    except ValueError:
        raise ValidationError(
            f"{text!r} 不是 {'/'.join(m.value for m in Maturity)} 之一", field=field
        ) from None


def parse_cooperation(value: Any, field: str = "cooperation") -> list[CooperationMode]:
    """'完全转让许可转让' or '技术转让,技术许可' -> [TRANSFER, LICENSE] (in order, no repeats)."""
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = re.split(r"[,，、;；/|\s]+", str(value or ""))
    modes: list[CooperationMode] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        # the achievement export glues the words together; consume known words left to right
        pos = 0
        while pos < len(part):
            m = _COOP_PATTERN.match(part, pos)
            if m is None:
                try:
                    mode = CooperationMode(part[pos:])
                except ValueError:
                    raise ValidationError(
                        f"{part!r} 不是合作方式（可用：{_allowed(COOPERATION_WORDS)}）", field=field
                    ) from None
                pos = len(part)
            else:
                mode = COOPERATION_WORDS[m.group(0)]
                pos = m.end()
            if mode not in modes:
                modes.append(mode)
    return modes


def parse_kind(value: Any, field: str = "ip_type") -> AchievementKind:
    """'发明专利' -> INVENTION_PATENT, '非专利技术' -> KNOW_HOW; empty -> OTHER."""
    text = str(value or "").strip()
    if not text:
        return AchievementKind.OTHER
    if text in IP_TYPE_WORDS:
        return IP_TYPE_WORDS[text]
    try:
        return AchievementKind(text)
    except ValueError:
        raise ValidationError(f"{text!r} 不是成果类型（可用：{_allowed(IP_TYPE_WORDS)}）",
                              field=field) from None


def _to_wan(number: str, unit: str | None) -> float:
    amount = float(number)
    # a bare number is taken as 万元, the unit every listing in the export uses
    return amount / 10000.0 if unit == "元" else amount


def parse_price_wan(value: Any, field: str = "price") -> float | None:
    """Asking price in 万元: '面议'/empty -> None; '100.0万元-200.0万元' -> 100.0 (the lower bound).

    The lower bound is kept because a range is where negotiation starts; a buyer's budget filter
    should not exclude a listing that would accept the low end.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValidationError(f"金额 {value} 是负数", field=field)
        return float(value)
    text = str(value).strip().replace(",", "").replace("，", "")
    if not text or text in _NEGOTIABLE:
        return None
    m = _PRICE_RANGE.match(text)
    if m:
        low_unit = m.group(2) or m.group(4)
        return _to_wan(m.group(1), low_unit)
    m = _PRICE_ONE.match(text)
    if m:
        return _to_wan(m.group(1), m.group(2))
    raise ValidationError(
        f"{text!r} 不是金额（可写 面议、万元数，或 10万元-20万元 这样的范围）", field=field
    )


def parse_date(value: Any, field: str = "post_time") -> date | None:
    """'2020-03-20', '2020/3/20', '2020年3月20日', '2020-01-1310:49:39.0' -> a date; empty -> None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    m = _DATE.search(text)
    if not m:
        raise ValidationError(f"{text!r} 不是日期（应为 YYYY-MM-DD，如 2024-03-20）", field=field)
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ValidationError(f"{text!r} 不是有效的日期", field=field) from None


def parse_valid_period(value: Any, field: str = "valid_period") -> date | None:
    """'2020-01-1310:49:39.0至2021-01-1310:49:41.0' -> date(2021, 1, 13), the end of the period."""
    text = str(value or "").strip()
    if not text:
        return None
    parts = re.split(r"至|~|～|—|到", text)
    end = parts[-1].strip()
    if not end:
        return None  # '至' alone: no period given
    return parse_date(end, field=field)


def _required(rec: dict[str, Any], key: str) -> str:
    text = _text(rec, key)
    if not text:
        raise ValidationError(f"{key} 必填，但这里是空的", field=key)
    return text


def _record_id(rec: dict[str, Any]) -> str:
    rid = _required(rec, "id")
    if re.search(r"\s", rid) or len(rid) > 128:
        raise ValidationError(f"编号 {rid!r} 应为 1-128 个字符，且不能有空格", field="id")
    return rid


def clean_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A JSON Lines record made ready for :func:`achievement_from_record` / :func:`need_from_record`: null values
    become empty strings, a numeric id, name or description becomes text, and a record with no name takes the
    first 40 characters of its description as its name. The input is not changed."""
    out = {k: ("" if v is None else v) for k, v in rec.items()}
    for key, value in list(out.items()):
        if isinstance(value, (int, float)) and key in ("id", "name", "description"):
            out[key] = str(value)
    if not str(out.get("name", "")).strip():
        # a record with a description but no title still says what it is about
        desc = str(out.get("description", "")).strip()
        if desc:
            out["name"] = desc[:40]
    return out


def achievement_from_record(rec: dict[str, Any]) -> Achievement:
    """One zhibei achievement record (id, name, description, application_scope, industry, ip_type,
    maturity, cooperation, price, post_time ...) as an :class:`Achievement`. Keeps the id verbatim."""
    return Achievement(
        id=_record_id(rec),
        name=_required(rec, "name"),
        description=_text(rec, "description"),
        application_scope=_text(rec, "application_scope"),
        kind=parse_kind(rec.get("ip_type")),
        maturity=parse_maturity(rec.get("maturity")),
        cooperation_modes=parse_cooperation(rec.get("cooperation")),
        price_wan=parse_price_wan(rec.get("price")),
        industry=_text(rec, "industry"),
        posted_on=parse_date(rec.get("post_time")),
    )


def need_from_record(rec: dict[str, Any]) -> Need:
    """One zhibei requirement record (id, name, description, sector_gbt4754, cooperation,
    valid_period, post_time) as a :class:`Need`; the deadline is the end of the valid period."""
    return Need(
        id=_record_id(rec),
        name=_required(rec, "name"),
        description=_text(rec, "description"),
        cooperation_modes=parse_cooperation(rec.get("cooperation")),
        deadline=parse_valid_period(rec.get("valid_period")),
        sector=_text(rec, "sector_gbt4754"),
        posted_on=parse_date(rec.get("post_time")),
    )
