"""The Chinese text pipeline every part of techmatch shares: normalise, tokenise, n-grams, keywords.

- :func:`normalize` folds full-width forms to half-width (NFKC), traditional to simplified characters
  (opencc ``t2s``), latin to lower case, and collapses whitespace.
- :func:`tokenize` cuts with jieba, extended by the industry-chain vocabulary (``graph.taxonomy.domain_terms``
  when that module exists) so terms like 尼龙66 or 热稳定剂 stay whole, and drops stop words
  (``ingest/data/stopwords.txt``: function words plus the boilerplate of needs: 需求, 寻求, 技术, 公司 ...).
- :func:`char_ngrams` gives character n-grams within runs of letters/digits/CJK (never across punctuation):
  on short Chinese technical text they catch terms a word segmenter splits differently.
- :func:`keywords` ranks a text's words by TF-IDF, with jieba's general-Chinese IDF table (or one the caller
  fitted on its own corpus).

jieba is initialised lazily, once per process, and quietly.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_DATA = Path(__file__).resolve().parent / "data"
_STOPWORDS_FILE = _DATA / "stopwords.txt"

_WS = re.compile(r"\s+")
#: a run of characters that can form a term: CJK ideographs, latin letters, digits
_RUN = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_TOKEN_OK = re.compile(r"^[0-9a-z\u3400-\u4dbf\u4e00-\u9fff][0-9a-z\u3400-\u4dbf\u4e00-\u9fff.\-+#]*$")
_NUMBER = re.compile(r"^[0-9.\-]+$")

_lock = threading.Lock()


# --- normalisation -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _t2s() -> tuple[Any, frozenset[str]]:
    """The opencc converter and the set of characters it would change.

    Converting every text costs about 1 ms per 600 characters, far too slow for 300k documents; most
    texts here are already simplified, so a set lookup decides whether the converter runs at all.
    """
    from opencc import OpenCC

    converter = OpenCC("t2s")
    import opencc

    table = Path(opencc.__file__).resolve().parent / "dictionary" / "TSCharacters.txt"
    changing: set[str] = set()
    try:
        for line in table.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[0] and parts[1].split(" ")[0] != parts[0]:
                changing.add(parts[0])
    except OSError:  # pragma: no cover - the table ships with the package
        log.warning("opencc character table not found; converting every text")
        return converter, frozenset()
    return converter, frozenset(changing)


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese; text without traditional characters is returned as is."""
    converter, changing = _t2s()
    if changing and not any(ch in changing for ch in text):
        return text
    return str(converter.convert(text))


def normalize(text: str | None) -> str:
    """Full/half width folded, traditional → simplified, latin lower-cased, whitespace collapsed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text))
    text = to_simplified(text)
    text = text.lower()
    # NFKC leaves the ideographic punctuation alone; map the common ones to ASCII so tokens split on them.
    text = text.translate(_PUNCT)
    return _WS.sub(" ", text).strip()


_PUNCT = str.maketrans({"，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "“": '"', "”": '"', "‘": "'",
                        "’": "'", "（": "(", "）": ")", "【": "[", "】": "]", "《": "<", "》": ">", "～": "~",
                        "—": "-", "…": "..."})


# --- stop words and domain vocabulary ------------------------------------------------------------


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The stop-word list (normalised), read once."""
    words = set()
    for line in _STOPWORDS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(normalize(line))
    return frozenset(words)


def domain_terms() -> list[str]:
    """Industry-chain terms from the taxonomy, if the taxonomy module is there; else none."""
    try:
        from graph import taxonomy
    except ImportError:
        return []
    try:
        terms = taxonomy.domain_terms()
    except Exception as exc:  # a broken taxonomy file must not stop text processing
        log.warning("taxonomy domain terms unavailable: %s", exc)
        return []
    return [normalize(t) for t in terms if t and len(str(t).strip()) >= 2]


#: technical compounds jieba's general dictionary cuts apart; the taxonomy adds its own on top
_BUILTIN_TERMS = (
    "尼龙66", "尼龙6", "聚酰胺", "热稳定剂", "阻燃剂", "增韧剂", "碳纤维", "石墨烯", "锂电池", "锂离子电池",
    "超高功率", "石墨电极", "特种钢", "不锈钢", "耐磨钢", "煤化工", "焦化", "氢能", "燃料电池", "光伏",
    "储能", "新能源汽车", "物联网", "大数据", "人工智能", "机器视觉", "深度学习", "区块链", "无人机",
    "传感器", "变频器", "电机", "减速器", "数控", "机器人", "3d打印", "纳米材料", "复合材料", "高分子",
    "生物医药", "原料药", "中药材", "医疗器械", "污水处理", "固废", "脱硫", "脱硝", "余热回收", "节能",
)


_tokenizer: Any = None


def _jieba() -> Any:
    """A private jieba tokenizer with the domain vocabulary, built on first use."""
    global _tokenizer
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            for term in (*_BUILTIN_TERMS, *domain_terms()):
                tok.add_word(term, freq=max(tok.suggest_freq(term, tune=False), 2000))
            _tokenizer = tok
    return _tokenizer


def add_terms(terms: Iterable[str]) -> None:
    """Teach the tokenizer more whole terms (e.g. a deployment's own glossary)."""
    tok = _jieba()
    with _lock:
        for term in terms:
            term = normalize(term)
            if len(term) >= 2:
                tok.add_word(term, freq=max(tok.suggest_freq(term, tune=False), 2000))


# --- tokens ------------------------------------------------------------------------------------


def tokenize(text: str | None, keep_stopwords: bool = False, normalized: bool = False) -> list[str]:
    """Words of ``text`` in order: jieba cut of the normalised text, stop words and punctuation dropped.

    Single CJK characters and bare numbers are dropped too: on their own they carry little meaning, and
    character n-grams (:func:`char_ngrams`) already cover that ground.
    """
    if not text:
        return []
    norm = text if normalized else normalize(text)
    stops = stopwords()
    out = []
    for word in _jieba().lcut(norm, HMM=True):
        word = word.strip()
        if not word or not _TOKEN_OK.match(word):
            continue
        if _NUMBER.match(word):
            continue
        if len(word) == 1 and _CJK.match(word):
            continue
        if not keep_stopwords and word in stops:
            continue
        out.append(word)
    return out


def char_ngrams(text: str | None, n: tuple[int, ...] | int = (2, 3), normalized: bool = False) -> list[str]:
    """Character n-grams of each run of letters/digits/CJK in the normalised text, for every n in ``n``."""
    if not text:
        return []
    sizes = (n,) if isinstance(n, int) else tuple(n)
    norm = text if normalized else normalize(text)
    grams: list[str] = []
    for run in _RUN.findall(norm):
        for size in sizes:
            if len(run) < size:
                continue
            grams.extend(run[i : i + size] for i in range(len(run) - size + 1))
    return grams


# --- keywords ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def general_idf() -> tuple[dict[str, float], float]:
    """jieba's general-Chinese IDF table and its median (used for unseen words)."""
    from jieba import analyse

    path = Path(analyse.__file__).resolve().parent / "idf.txt"
    idf: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ")
        if len(parts) == 2:
            try:
                idf[parts[0]] = float(parts[1])
            except ValueError:
                continue
    values = sorted(idf.values())
    return idf, values[len(values) // 2] if values else 10.0


def corpus_idf(tokenised_docs: Iterable[Sequence[str]]) -> dict[str, float]:
    """Smoothed IDF of each word over a corpus of tokenised documents."""
    df: Counter[str] = Counter()
    n = 0
    for doc in tokenised_docs:
        n += 1
        df.update(set(doc))
    return {w: math.log((n + 1) / (c + 0.5)) for w, c in df.items()}


def keywords(text: str | None, k: int = 10, idf: Mapping[str, float] | None = None) -> list[str]:
    """The ``k`` most characteristic words of ``text`` by TF-IDF, best first (ties: first seen).

    ``idf`` defaults to jieba's general-Chinese table; pass :func:`corpus_idf` of your corpus to
    weigh words by how rare they are among, say, all achievements.
    """
    words = tokenize(text)
    if not words:
        return []
    if idf is None:
        table, default = general_idf()
    else:
        table = dict(idf)
        default = max(table.values()) if table else 1.0
    tf = Counter(words)
    first: dict[str, int] = {}
    for i, w in enumerate(words):
        first.setdefault(w, i)
    # longer words are more specific in technical text; a mild length factor breaks near-ties toward them
    scored = sorted(
        tf,
        key=lambda w: (-(tf[w] * table.get(w, default) * (1.0 + 0.1 * min(len(w), 6))), first[w]),
    )
    return scored[:k]


_STAGES = "研发|小试|中试|样品|样机|产业化|工业化|量产"
#: "成熟度达到中试以上", "中试及以上", "具备产业化以上条件" ...: a stated floor on the supply's maturity
_MIN_STAGE = re.compile(rf"({_STAGES})(?:阶段|水平|规模)?(?:及|或)?以上")
_STAGE_ALIASES = {"样机": "样品", "工业化": "产业化", "量产": "产业化"}


def required_maturity(text: str | None) -> str | None:
    """The least maturity a need's text asks for (one of the ``Maturity`` values: 研发 小试 中试 样品 产业化),
    from phrases like "成熟度达到中试以上" or "中试及以上"; None when the text states none. The highest stated
    floor wins when there are several."""
    order = ["研发", "小试", "中试", "样品", "产业化"]
    found = [_STAGE_ALIASES.get(m, m) for m in _MIN_STAGE.findall(normalize(text))]
    return max(found, key=order.index) if found else None
