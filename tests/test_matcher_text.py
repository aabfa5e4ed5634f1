"""The shared Chinese text pipeline: normalisation, words, character n-grams, keywords."""

from __future__ import annotations

from ingest.text import char_ngrams, keywords, normalize, tokenize


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
