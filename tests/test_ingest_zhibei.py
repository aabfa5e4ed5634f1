"""The zhibei record mapping: every raw value form seen in the export becomes a typed value."""

from __future__ import annotations

import json
from datetime import date

import pytest

from graph.exceptions import ValidationError
from graph.model import AchievementKind, CooperationMode, Maturity
from ingest.zhibei import achievement_from_record, need_from_record, parse_cooperation, parse_price_wan

ACH = {
    "id": "ach-1", "name": "久坐卫士", "description": "根据泉州师范学院专利技术（ZL201720001285.X）",
    "application_scope": "",
    "industry": "电子信息-计算机软件", "industry_l1": "电子信息", "ip_type": "发明专利", "maturity": "通过中试",
    "cooperation": "完全转让许可转让技术入股合作生产", "price": "100.0万元-200.0万元", "post_time": "2020-03-20",
}
NEED = {
    "id": "req-1", "name": "LED手电筒红外开关改进", "description": "需要设计一款红外控制的LED手电筒。",
    "sector_gbt4754": "制造业", "cooperation": "技术转让,技术许可,委托开发",
    "valid_period": "2020-01-1310:49:39.0至2021-01-1310:49:41.0", "post_time": "2020-01-13",
}


def test_achievement_fields_are_typed():
    a = achievement_from_record(ACH)
    assert a.maturity is Maturity.PILOT and a.kind is AchievementKind.INVENTION_PATENT
    assert a.cooperation_modes == [CooperationMode.TRANSFER, CooperationMode.LICENSE, CooperationMode.EQUITY,
                                   CooperationMode.JOINT_DEVELOPMENT]
    assert a.price_wan == 100.0 and a.posted_on == date(2020, 3, 20) and a.industry == "电子信息-计算机软件"


def test_need_deadline_is_the_end_of_the_valid_period():
    n = need_from_record(NEED)
    assert n.deadline == date(2021, 1, 13)
    assert n.cooperation_modes == [CooperationMode.TRANSFER, CooperationMode.LICENSE, CooperationMode.COMMISSIONED]


def test_missing_optional_fields_are_tolerated():
    a = achievement_from_record({"id": "a", "name": "x", "price": "面议", "maturity": ""})
    n = need_from_record({"id": "n", "name": "y", "valid_period": "至", "cooperation": ""})
    assert a.price_wan is None and a.maturity is None and a.kind is AchievementKind.OTHER
    assert n.deadline is None and n.cooperation_modes == []


@pytest.mark.parametrize(
    ("rec", "field"),
    [
        ({"id": "a", "name": ""}, "name"),
        ({"name": "x"}, "id"),
        ({"id": "a", "name": "x", "maturity": "大概中试"}, "maturity"),
        ({"id": "a", "name": "x", "price": "很贵"}, "price"),
        ({"id": "a", "name": "x", "post_time": "昨天"}, "post_time"),
    ],
)
def test_bad_input_names_the_field(rec, field):
    with pytest.raises(ValidationError) as info:
        achievement_from_record(rec)
    assert info.value.field == field


def test_price_and_cooperation_forms():
    assert parse_price_wan("5000元") == 0.5
    assert parse_price_wan("9.0万元-9.0万元") == 9.0
    assert parse_cooperation("委托开发,其他") == [CooperationMode.COMMISSIONED, CooperationMode.OTHER]


def test_every_real_record_but_the_empty_one_maps(shared_dir):
    root = shared_dir / "data" / "zhibei"
    bad = []
    for path, fn in ((root / "achievements_dedup.jsonl", achievement_from_record),
                     (root / "requirements_dedup.jsonl", need_from_record)):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            try:
                fn(rec)
            except ValidationError:
                bad.append(rec["id"])
    assert bad == ["req-00831"]  # the one record with no name and no text
