"""The Chinese name of every internal value a person may read: statuses, positions, levels, verdicts,
requirement kinds, audit actions. One place, so that a page, an Excel sheet, a CSV file and the command
line all say the same thing, and a test can check that no raw value slips through.

``graph.model.LABEL_ZH`` names the node labels; this module names the rest. :func:`zh` looks a value up in
one of the tables and falls back to the value itself only for free text (never for an enum value: those
are all in a table, which ``tests/test_zh.py`` checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from graph.model import (
    LABEL_ZH,
    AbandonReason,
    ChainPosition,
    ChallengeStatus,
    Confidentiality,
    DockingStage,
    NeedStatus,
    RejectReason,
    Verdict,
)

CONFIDENTIALITY_ZH: dict[str, str] = {
    Confidentiality.PUBLIC.value: "公开",
    Confidentiality.BROKERS.value: "仅经纪人可见",
    Confidentiality.PRIVATE.value: "保密",
}
NEED_STATUS_ZH: dict[str, str] = {
    NeedStatus.OPEN.value: "征集中",
    NeedStatus.MATCHED.value: "已对接",
    NeedStatus.CLOSED.value: "已关闭",
}
CHALLENGE_STATUS_ZH: dict[str, str] = {
    ChallengeStatus.DRAFT.value: "草稿",
    ChallengeStatus.PUBLISHED.value: "已发布榜单",
    ChallengeStatus.APPLICATIONS_OPEN.value: "接受揭榜申报",
    ChallengeStatus.AWARDED.value: "已确定揭榜方",
    ChallengeStatus.IN_PROGRESS.value: "攻关实施中",
    ChallengeStatus.ACCEPTED.value: "已验收",
    ChallengeStatus.FAILED.value: "已终止（流榜或未通过验收）",
}
#: the button that moves a challenge into a status (the lifecycle's verbs, as the bureau says them)
CHALLENGE_ACTION_ZH: dict[str, str] = {
    ChallengeStatus.DRAFT.value: "撤回修改",
    ChallengeStatus.PUBLISHED.value: "发布榜单",
    ChallengeStatus.APPLICATIONS_OPEN.value: "开放揭榜申报",
    ChallengeStatus.AWARDED.value: "确定揭榜方",
    ChallengeStatus.IN_PROGRESS.value: "启动攻关",
    ChallengeStatus.ACCEPTED.value: "通过验收",
    ChallengeStatus.FAILED.value: "终止（流榜或未通过验收）",
}
CHAIN_POSITION_ZH: dict[str, str] = {
    ChainPosition.UPSTREAM.value: "上游",
    ChainPosition.MIDSTREAM.value: "中游",
    ChainPosition.DOWNSTREAM.value: "下游",
}
VERDICT_ZH: dict[str, str] = {Verdict.ACCEPT.value: "已接受", Verdict.REJECT.value: "已拒绝",
                              Verdict.WITHDRAWN.value: "已撤销"}
DOCKING_STAGE_ZH: dict[str, str] = {
    DockingStage.ACCEPTED.value: "已接受", DockingStage.CONTACTED.value: "已联系",
    DockingStage.NEGOTIATING.value: "洽谈中", DockingStage.SIGNED.value: "已签约",
    DockingStage.ABANDONED.value: "已终止",
}
ABANDON_REASON_ZH: dict[str, str] = {
    AbandonReason.PRICE.value: "价格谈不拢", AbandonReason.MATURITY.value: "成熟度不够（未过小试/中试）",
    AbandonReason.IP_UNCLEAR.value: "知识产权权属不清", AbandonReason.CAPACITY.value: "企业承接能力不足",
    AbandonReason.NO_RESPONSE.value: "对方无回应", AbandonReason.OFF_TOPIC.value: "技术并不对路",
    AbandonReason.OTHER.value: "其他",
}
REJECT_REASON_ZH: dict[str, str] = {
    RejectReason.OFF_TOPIC.value: "技术方向不符",
    RejectReason.IMMATURE.value: "成熟度不够",
    RejectReason.TOO_EXPENSIVE.value: "价格超出预算",
    RejectReason.WRONG_COOPERATION.value: "合作方式不符",
    RejectReason.ALREADY_KNOWN.value: "企业已掌握或已接触",
    RejectReason.OTHER.value: "其他",
}
#: a plan target's state (bureau.targets.TargetProgress.status)
TARGET_STATUS_ZH: dict[str, str] = {
    "achieved": "已完成", "on_track": "进度正常", "behind": "滞后", "no_data": "无数据", "unknown_metric": "未知指标",
}
#: how a target compares (Target.comparator): 200家以上, 10名左右, 5%以内
COMPARATOR_ZH: dict[str, str] = {">=": "以上", "~": "左右", "<=": "以内"}
#: how a metric counts (bureau.targets.Metric.kind)
METRIC_KIND_ZH: dict[str, str] = {"stock": "存量", "cumulative": "累计", "per_year": "每年", "rate": "增长率"}
#: a 揭榜挂帅 challenge's requirement kinds (graph.model.ChallengeRequirement.kind)
REQUIREMENT_ZH: dict[str, str] = {
    "lead_industrialised": "牵头人有产业化经历",
    "local_partner": "联合本地企业实施",
    "competence": "具备专门能力或条件",
    "min_team_size": "团队最少人数",
}
#: a 揭榜申报's state
APPLICATION_STATUS_ZH: dict[str, str] = {
    "submitted": "已提交", "shortlisted": "评审通过", "declined": "未通过评审", "awarded": "揭榜成功",
}
#: what an audit event records (api.audit.AuditLog.record's ``action``)
AUDIT_ACTION_ZH: dict[str, str] = {
    "view_need": "查看需求全文", "view_matches": "查看需求的匹配结果", "reveal": "同意公开企业身份",
    "feedback": "评价匹配", "post_need": "发布需求", "change_need": "修改需求", "delete_need": "删除需求",
    "change_password": "修改本人密码", "create_user": "新建用户", "set_active": "启用或停用账号",
    "set_password": "重设用户密码", "issue_key": "签发 API 密钥", "revoke_key": "吊销 API 密钥",
    "ingest": "批量上传", "create_challenge": "新建揭榜挂帅榜单", "change_challenge": "修改揭榜挂帅榜单",
    "delete_challenge": "删除揭榜挂帅榜单", "challenge_status": "变更榜单状态", "apply_challenge": "提交揭榜申报",
    "review_application": "评审揭榜申报", "award_challenge": "确定揭榜方", "draft_from_topic": "由候选专题生成榜单草稿",
    "docking_open": "开始对接", "docking_contact": "记录对接联系", "docking_note": "记录洽谈",
    "docking_stage": "推进对接",
    "docking_abandon": "终止对接", "docking_sign": "登记技术合同", "view_docking": "查看对接记录",
    "escalate_need": "提交科技局", "upload": "浏览器上传", "export_queue": "导出待评价匹配", "login": "登录",
}
#: how much of a need an audited view showed (the ``detail`` of view events)
AUDIT_DETAIL_ZH: dict[str, str] = {
    "full": "全文", "full (drawing)": "全文（关系图）", "full (match)": "全文（匹配说明）",
    "True": "启用", "False": "停用", "true": "启用", "false": "停用",
    **CONFIDENTIALITY_ZH, **VERDICT_ZH,
}

#: every table above, by the name a caller asks for
TABLES: dict[str, Mapping[str, str]] = {
    "label": {str(k): v for k, v in LABEL_ZH.items()},
    "confidentiality": CONFIDENTIALITY_ZH,
    "need_status": NEED_STATUS_ZH,
    "challenge_status": CHALLENGE_STATUS_ZH,
    "chain_position": CHAIN_POSITION_ZH,
    "verdict": VERDICT_ZH,
    "reject_reason": REJECT_REASON_ZH,
    "docking_stage": DOCKING_STAGE_ZH,
    "abandon_reason": ABANDON_REASON_ZH,
    "target_status": TARGET_STATUS_ZH,
    "comparator": COMPARATOR_ZH,
    "metric_kind": METRIC_KIND_ZH,
    "requirement": REQUIREMENT_ZH,
    "application_status": APPLICATION_STATUS_ZH,
    "audit_action": AUDIT_ACTION_ZH,
}


def zh(table: str, value: object, default: str | None = None) -> str:
    """The Chinese name of ``value`` in ``table`` (an enum member or its value); ``default`` (else the value
    itself) when the table has none."""
    key = value.value if isinstance(value, Enum) else str(value if value is not None else "")
    found = TABLES[table].get(key)
    if found is not None:
        return found
    return default if default is not None else key


def internal_values() -> set[str]:
    """Every English enum value a person must never read on a page or in an export (for the tests that scan
    pages and reports; short everyday words such as ``open`` are the callers' to judge in context)."""
    out: set[str] = set()
    for name, table in TABLES.items():
        if name in ("comparator",):
            continue
        out.update(k for k in table if k.isascii() and any(c.isalpha() for c in k))
    return out
