"""Chain placement: keyword evidence, source labels, the 'none of our chains' outcome, the trained model."""

from __future__ import annotations

import pytest

from graph.model import Achievement, Need
from ingest.classify import ChainPlacer, IndustryModel, chain_weights, load_industry_chains


@pytest.fixture(scope="module")
def keyword_placer() -> ChainPlacer:
    return ChainPlacer(model=None)


def test_keywords_place_a_nylon_need_on_a_nylon_segment(keyword_placer):
    need = Need(id="n1", name="尼龙66切片黄变", description="尼龙66盐聚合后切片熔融保持发黄，寻求热稳定剂配方")
    decision = keyword_placer.decide(need.text)
    assert decision.chain_id == "chain-nylon"
    assert decision.placements[0].segment_id.startswith("seg-nylon-")
    assert decision.placements[0].method == "keywords"


def test_text_about_nothing_of_ours_is_placed_nowhere(keyword_placer):
    need = Need(id="n2", name="手机游戏界面优化", description="希望改进一款休闲手机游戏的用户界面和关卡设计")
    assert keyword_placer.place(need) == []
    assert keyword_placer.decide(need.text).chain_id is None


def test_source_label_maps_to_a_chain(keyword_placer):
    ach = Achievement(id="a1", name="春小麦新品种", description="抗旱高产", industry="现代农业-农林植物新品种")
    [placement] = keyword_placer.place(ach)
    assert placement.segment_id.startswith("seg-agri-") and placement.method.startswith("label")


def test_mapping_table_falls_back_to_the_coarse_label():
    table = load_industry_chains()
    assert chain_weights("现代农业-不存在的细类", table) == {"chain-agri": 1.0}
    assert chain_weights("电子信息-计算机软件", table) == {}


def test_a_small_trained_model_feeds_the_placer():
    texts = ["小麦新品种选育 抗病高产", "玉米杂交种 高产稳产", "锂电池正极材料 储能", "光伏组件 太阳能电池"] * 3
    labels = ["现代农业-农林植物新品种"] * 2 * 3 + ["新能源-电池", "新能源-太阳能"] * 3
    labels = [labels[i] for i in range(len(texts))]
    model = IndustryModel.train(texts, labels)
    placer = ChainPlacer(model=model)
    decision = placer.decide("一种水稻新品种的选育方法")
    assert decision.chain_id == "chain-agri"
    assert model.predict_proba(["储能电池"]).shape == (1, len(model.labels))
