"""Institutions and patent numbers found in free text, and organisation name resolution."""

from __future__ import annotations

import pytest

from graph.model import InstitutionKind, NodeLabel
from ingest.extraction import find_institutions, find_patent_numbers, patent_check_char
from ingest.resolution import OrgResolver, canonical_org_name


def test_patent_and_institution_from_the_zhibei_sentence():
    text = "本产品根据泉州师范学院专利技术（ZL201720001285.X），利用光来“听”使用者的呼吸率和心率"
    assert find_patent_numbers(text) == ["ZL201720001285.X"]
    [inst] = find_institutions(text)
    assert inst.name == "泉州师范学院" and inst.kind is InstitutionKind.UNIVERSITY


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("专利号：201310731023.5", ["ZL201310731023.5"]),
        ("ZL 2015 1 0534700.3", ["ZL201510534700.3"]),
        ("ＺＬ２０１５１０５３４７００．３", ["ZL201510534700.3"]),
        ("老专利ZL93100001.2", ["ZL93100001.2"]),
        ("公开号CN102345678A", ["CN102345678A"]),
        ("申请号201810162726", ["ZL201810162726." + patent_check_char("201810162726")]),
        ("电话13812345678，项目编号201510534700", []),
        ("品种权号：CNA20060204.7", []),
    ],
)
def test_patent_number_formats(text, expected):
    assert find_patent_numbers(text) == expected


def test_check_character_of_a_known_number():
    assert patent_check_char("201720001285") == "X"


def test_institutions_are_cut_at_clause_words_and_reduced_to_the_university():
    text = (
        "由西北农林科技大学植物保护学院、中国农业科学院作物科学研究所和平凉市农业科学院共同选育，"
        "经甘肃省农科院植保所鉴定。"
    )
    names = [m.name for m in find_institutions(text)]
    assert names == ["西北农林科技大学", "中国农业科学院作物科学研究所", "平凉市农业科学院", "甘肃省农科院植保所"]


def test_generic_mentions_are_not_institutions():
    text = "广大高校院所和大学生团队均可参与，已推广到1000余所医院，希望软件给他推荐一个医院；洛阳轴承研究所有限公司。"
    assert find_institutions(text) == []


def test_canonical_names_drop_region_legal_form_and_group():
    assert canonical_org_name("中国平煤神马集团尼龙科技有限公司") == "平煤神马尼龙科技"
    assert canonical_org_name("河南省平顶山市神马工程塑料有限责任公司（原工塑厂）") == "神马工程塑料"
    assert canonical_org_name("河南大学") == "河南大学"
    assert canonical_org_name("甘肃省农科院") == "甘肃省农业科学院"


def test_name_variants_resolve_to_one_organisation():
    r = OrgResolver()
    first = r.resolve("中国平煤神马集团尼龙科技有限公司")
    for variant in ("平煤神马尼龙科技", "平煤神马集团尼龙科技有限公司", "平煤神马尼龙"):
        res = r.resolve(variant)
        assert res.org.id == first.org.id and res.merged and res.reason
    assert first.org.label is NodeLabel.ENTERPRISE


def test_generic_or_conflicting_names_are_kept_apart_and_listed_for_review():
    r = OrgResolver()
    nylon = r.resolve("中国平煤神马集团尼龙科技有限公司").org.id
    assert r.resolve("尼龙科技公司").org.id != nylon
    henan = r.resolve("河南省华兴科技有限公司").org.id
    assert r.resolve("福建省华兴科技有限公司").org.id != henan
    a = r.resolve("某某电气有限公司", credit_code="91410400172205398P").org.id
    assert r.resolve("某某电气有限公司", credit_code="91410400MA9XXXXX1A").org.id != a
    assert {c.name for c in r.candidates} >= {"尼龙科技公司", "福建省华兴科技有限公司"}
