"""The shared Chinese text pipeline: normalisation, words, character n-grams, keywords."""

from __future__ import annotations

from ingest.text import char_ngrams, keywords, normalize, required_maturity, tokenize


def test_normalize_folds_width_traditional_case_and_spaces() -> None:
    assert normalize("　ＬＥＤ手電筒，紅外開關　 改進 ") == "led手电筒,红外开关 改进"
    assert normalize(None) == ""


def test_tokenize_keeps_domain_terms_whole_and_drops_need_boilerplate() -> None:
    words = tokenize("现寻求一种技术，用于尼龙66的热稳定剂，解决黄变问题。公司需求")
    assert "尼龙66" in words and "热稳定剂" in words and "黄变" in words
    for boilerplate in ("寻求", "一种", "技术", "公司", "需求", "问题"):
        assert boilerplate not in words


def test_char_ngrams_do_not_cross_punctuation() -> None:
    grams = char_ngrams("尼龙66,黄变", (2, 3))
    assert "尼龙6" in grams and "黄变" in grams
    assert not any("," in g for g in grams)
    assert "6黄" not in grams


def test_keywords_prefer_specific_repeated_terms() -> None:
    text = "尼龙66制品在高温下容易黄变，需要新的热稳定剂配方。尼龙66热稳定剂要求无卤。"
    top = keywords(text, k=3)
    assert top[0] in ("尼龙66", "热稳定剂")
    assert set(top[:2]) == {"尼龙66", "热稳定剂"}


def test_required_maturity_reads_a_stated_floor_and_nothing_else() -> None:
    assert required_maturity("拟建设万吨级装置，寻求成熟度达到中试以上的工艺包") == "中试"
    assert required_maturity("希望技术达到小试及以上水平") == "小试"
    assert required_maturity("样机以上；最好具备产业化以上条件") == "产业化"  # the highest floor stated wins
    assert required_maturity("寻求工业化以上的成熟技术") == "产业化"
    assert required_maturity("目前处于中试阶段，寻求合作") is None  # the enterprise's own stage, not a floor
    assert required_maturity("") is None and required_maturity(None) is None
