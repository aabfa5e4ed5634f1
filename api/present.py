"""How numbers and states read on the pages: one confidence scale in worded bands, money, dates, ages.

Every page that shows a match's confidence shows it through :func:`band`, so the same pair reads the same
way on the need page, the match page, the achievement page, the enterprise page and in search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from api.docking import ABANDON_ZH, STAGE_ZH
from graph.model import AbandonReason, DockingStage

#: at or above this (and the need's threshold) a match reads 高度匹配
HIGH_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Band:
    label: str  # 高度匹配 / 可能相关 / 仅供参考
    css: str  # high / possible / reference
    hint: str  # one sentence: what the band means


HIGH = Band("高度匹配", "high", "文字内容、产业链与合作关系都表明它很可能满足需求。")
POSSIBLE = Band("可能相关", "possible", "达到匹配阈值：值得联系成果方核实。")
REFERENCE = Band("仅供参考", "reference", "低于匹配阈值：相关性弱，仅作参考。")
BANDS = (HIGH, POSSIBLE, REFERENCE)


def band(confidence: float, threshold: float) -> Band:
    """The worded band of a confidence, relative to the threshold under which a need counts as a gap."""
    if confidence >= max(HIGH_CONFIDENCE, threshold):
        return HIGH
    if confidence >= threshold:
        return POSSIBLE
    return REFERENCE


def percent(confidence: float) -> str:
    return f"{confidence * 100:.0f}%"


def wan(amount: float | None) -> str:
    """万元 without a trailing ``.0``: 100 万元, 12.5 万元; 面议 when unknown."""
    if amount is None:
        return "面议"
    return f"{amount:,.2f}".rstrip("0").rstrip(".") + " 万元"


def age(since: datetime | date | None, now: datetime | None = None) -> str:
    """How long ago, in days (今天 / 3 天 / 5 周 / 4 个月)."""
    if since is None:
        return "—"
    now = now or datetime.now(UTC)
    if isinstance(since, datetime):
        start = since if since.tzinfo else since.replace(tzinfo=UTC)
        days = (now - start).days
    else:
        days = (now.date() - since).days
    if days <= 0:
        return "今天"
    if days < 14:
        return f"{days} 天"
    if days < 60:
        return f"{days // 7} 周"
    return f"{days // 30} 个月"


def stage_zh(stage: DockingStage | str) -> str:
    return STAGE_ZH.get(DockingStage(stage), str(stage))


def abandon_zh(reason: AbandonReason | str | None) -> str:
    return ABANDON_ZH.get(AbandonReason(reason), "") if reason else ""


FILTERS = {"percent": percent, "wan": wan, "age": age, "stage_zh": stage_zh, "abandon_zh": abandon_zh}
