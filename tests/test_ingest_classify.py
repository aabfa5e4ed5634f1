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

    from ingest.classify import cached_industry_model

    train = _training_file(tmp_path / "achievements.jsonl")
    first = cached_industry_model(tmp_path / "a" / "cache", path=train)
    second = cached_industry_model(tmp_path / "b" / "cache", path=train)
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


_PLACE_SCRIPT = """
import json, sys
from graph.model import Need
from ingest.classify import default_placer
texts = json.loads(sys.argv[1])
placer = default_placer()
out = [[d.chain_id, d.confidence, [(p.segment_id, p.confidence, p.method) for p in d.placements]]
       for d in placer.decide_many(texts)]
print(json.dumps({"labels": placer.model.predict(texts), "decisions": out}, ensure_ascii=False))
"""


def test_the_shipped_model_gives_the_same_labels_in_two_fresh_data_directories(tmp_path):
    """ingest/data/chain_model.npz is the placer's model: two processes with empty data directories and no shared
    data at all load it and give the same labels, chains, segments and confidences, bit for bit."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ingest.classify import MODEL_FILE, MODEL_INFO_FILE

    assert MODEL_FILE.is_file() and MODEL_FILE.stat().st_size < 5_000_000
    info = json.loads(MODEL_INFO_FILE.read_text(encoding="utf-8"))
    assert info["built_by"] == "python -m ingest.build_classifier" and info["labels"] == 128
    texts = ["尼龙66切片熔融保持后发黄，寻求热稳定剂", "高镍正极材料的锂电池储能系统", "抗旱小麦新品种选育",
             "开关柜局部放电在线监测", "一种碳纤维增强复合材料的制备方法", "手机游戏界面优化"]
    root = Path(__file__).resolve().parents[1]
    results = []
    for name in ("a", "b"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TECHMATCH_")}
        env.update(TECHMATCH_DATA_DIR=str(tmp_path / name), TECHMATCH_SHARED=str(tmp_path / "no-shared-data"))
        done = subprocess.run([sys.executable, "-c", _PLACE_SCRIPT, json.dumps(texts, ensure_ascii=False)],
                              cwd=root, env=env, capture_output=True, text=True, timeout=120, check=True)
        results.append(json.loads(done.stdout))
        assert not (tmp_path / name / "cache").exists()  # nothing trained, nothing cached
    assert results[0] == results[1]
    chains = [d[0] for d in results[0]["decisions"]]
    assert chains[0] == "chain-nylon" and chains[5] is None and sum(c is not None for c in chains) >= 4


def test_the_packed_model_scores_like_the_model_it_was_packed_from(tmp_path):
    """pack -> file -> load keeps the vectoriser exactly and the weights to int8 precision: same labels."""
    import numpy as np

    from ingest.classify import load_model, save_model

    train = _training_file(tmp_path / "achievements.jsonl")
    from ingest.classify import zhibei_examples

    texts, fine, _ = zhibei_examples(train)
    model = IndustryModel.train(texts, fine)
    save_model(model, tmp_path / "m.npz", {"source": "test"})
    packed = load_model(tmp_path / "m.npz")
    assert packed.labels == model.labels
    assert (model.vectorizer.transform(texts) != packed.vectorizer.transform(texts)).nnz == 0
    assert np.mean(np.array(model.predict(texts)) == np.array(packed.predict(texts))) > 0.99
    assert np.abs(model.predict_proba(texts) - packed.predict_proba(texts)).max() < 0.05


def test_the_shipped_models_vectoriser_gives_sklearns_matrix_bit_for_bit():
    """The sklearn-free vectoriser of the shipped model against sklearn's own on texts with runs of white space,
    full-width and traditional characters, latin, digits, characters outside the vocabulary, a lone surrogate,
    empty texts: the same columns and the very same floating-point numbers."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ingest.classify import MODEL_FILE, CharBigramTfidf, _analyzer_text, shipped_industry_model

    model = shipped_industry_model(MODEL_FILE)
    assert model is not None and isinstance(model.vectorizer, CharBigramTfidf)
    ours = model.vectorizer
    theirs = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, preprocessor=_analyzer_text,
                             vocabulary=dict(ours.vocabulary_))
    theirs.idf_ = ours.idf_
    texts = ["尼龙66切片  熔融保持后\n\n\t黄变", "", "   ", "ＰＡ６６　全角 與 繁體", "GIS开关柜局放在线监测 3.2kV",
             "\ud800孤立代理", "🚀 emoji 与 符号 ※", "a", "高压开关柜" * 50, "x y\tz\r\n"]
    a, b = theirs.transform(texts), ours.transform(texts)
    a.sort_indices()
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


def test_the_keyword_scan_finds_every_segment_keyword_in_the_text_overlapping_ones_too(keyword_placer):
    from ingest import text as textpipe

    index = keyword_placer.index
    texts = ["锂离子电池正极材料与尼龙66切片的热稳定剂", "PA66 改性尼龙、碳纤维复合材料和光伏储能", "与我们无关的文字",
             " ".join(w for words in index.keywords.values() for w, _ in words[:2])]
    for text in texts:
        norm = textpipe.normalize(text)
        want_hits = {seg: [w for w, _ in words if w in norm] for seg, words in index.keywords.items()}
        want_hits = {seg: ws for seg, ws in want_hits.items() if ws}
        scores, hits = index.keyword_scores(text)
        assert hits == want_hits and list(hits) == list(want_hits)
        assert scores == pytest.approx({seg: sum(wt for w, wt in index.keywords[seg] if w in norm)
                                        for seg in want_hits})
