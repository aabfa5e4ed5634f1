"""Every internal value a person may read has its Chinese name in graph.zh (or graph.model.LABEL_ZH), and every
audit action the service records is named there too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.model import (
    LABEL_ZH,
    ApplicationStatus,
    ChainPosition,
    ChallengeStatus,
    Confidentiality,
    NeedStatus,
    NodeLabel,
    RejectReason,
    Verdict,
)
from graph.zh import (
    APPLICATION_STATUS_ZH,
    AUDIT_ACTION_ZH,
    CHAIN_POSITION_ZH,
    CHALLENGE_ACTION_ZH,
    CHALLENGE_STATUS_ZH,
    CONFIDENTIALITY_ZH,
    NEED_STATUS_ZH,
    REJECT_REASON_ZH,
    VERDICT_ZH,
    internal_values,
    zh,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("enum", "table"), [
    (ChallengeStatus, CHALLENGE_STATUS_ZH), (ChallengeStatus, CHALLENGE_ACTION_ZH), (NeedStatus, NEED_STATUS_ZH),
    (Confidentiality, CONFIDENTIALITY_ZH), (ChainPosition, CHAIN_POSITION_ZH), (Verdict, VERDICT_ZH),
    (RejectReason, REJECT_REASON_ZH), (ApplicationStatus, APPLICATION_STATUS_ZH), (NodeLabel, LABEL_ZH),
])
def test_every_value_of_a_closed_enum_has_a_chinese_name(enum, table):
    for member in enum:
        name = table[member.value] if member.value in table else table[member]
        assert name and re.search(r"[\u4e00-\u9fff]", name), (enum.__name__, member)


def test_every_audit_action_the_service_records_is_named():
    recorded: set[str] = set()
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        recorded |= set(re.findall(r"\.record(?:_many)?\([^,]+,\s*\"([a-z_]+)\"", text))
    assert {"view_need", "post_need", "feedback", "apply_challenge", "award_challenge"} <= recorded
    assert recorded <= set(AUDIT_ACTION_ZH), recorded - set(AUDIT_ACTION_ZH)


def test_zh_names_enum_members_and_values_alike_and_falls_back_only_for_free_text():
    assert zh("challenge_status", ChallengeStatus.APPLICATIONS_OPEN) == zh("challenge_status", "applications_open")
    assert zh("chain_position", "upstream") == "上游"
    assert zh("requirement", "local_partner") == "联合本地企业实施"
    assert zh("requirement", "自定义条件") == "自定义条件"
    assert {"applications_open", "upstream", "Talent", "ChainSegment", "view_need"} <= internal_values()
