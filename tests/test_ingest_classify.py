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


def _training_file(path):
    """A zhibei-shaped training set whose labels overlap in wording, so the solver's visiting order matters."""
    import json
    import random

    rng = random.Random(7)
    pools = {"新材料-高分子材料": "尼龙切片聚合热稳定剂纤维", "现代农业-农林植物新品种": "小麦玉米品种育种抗病高产",
             "新能源-电池": "锂电池正极储能电解液", "新能源-太阳能": "光伏组件太阳能硅片逆变",
             "新能源-电能与电力": "开关柜绝缘局放变压器", "新材料-碳材料": "碳纤维复合材料树脂石墨烯",
             "生物医药": "中药提取制剂工艺疫苗", "装备制造-自动化": "传感器控制机器人数控"}
    labels, common = list(pools), "一种方法装置系统及其制备应用技术研究提高效率降低成本"
    with path.open("w", encoding="utf-8") as f:
        for i in range(400):
            own, other = rng.choice(labels), rng.choice(labels)
            text = "".join(rng.choice(pools[own]) for _ in range(8)) + "".join(
                rng.choice(pools[other]) for _ in range(5)) + "".join(rng.choice(common) for _ in range(12))
            f.write(json.dumps({"id": f"a{i}", "name": text[:10], "description": text[10:], "industry": own},
                               ensure_ascii=False) + "\n")
    return path


def test_the_placement_model_is_the_same_in_every_fresh_data_directory(tmp_path):
    import numpy as np

    from graph.settings import Settings
    from ingest.classify import cached_industry_model

    train = _training_file(tmp_path / "achievements.jsonl")
    first = cached_industry_model(Settings(data_dir=tmp_path / "a"), path=train)
    second = cached_industry_model(Settings(data_dir=tmp_path / "b"), path=train)
    assert first is not None and second is not None and first is not second
    assert list((tmp_path / "a" / "cache" / "ingest").glob("*.pkl")) and list((tmp_path / "b" / "cache").rglob("*.pkl"))
    texts = ["尼龙66切片熔融保持后发黄，寻求热稳定剂", "高镍正极材料的锂电池储能系统", "抗旱小麦新品种选育",
             "开关柜局部放电在线监测", "一种碳纤维增强复合材料的制备方法", "手机游戏界面优化"]
    # the same model, bit for bit: liblinear's visiting order is seeded
    assert np.array_equal(first.classifier.coef_, second.classifier.coef_)
    assert np.array_equal(first.predict_proba(texts), second.predict_proba(texts))
    nodes = [Need(id=f"n{i}", name=t[:8], description=t) for i, t in enumerate(texts)]
    placed_a = ChainPlacer(model=first).place_many(nodes)
    placed_b = ChainPlacer(model=second).place_many(nodes)
    assert placed_a == placed_b and any(placed_a)
