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

import hashlib
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
    if changing and changing.isdisjoint(text):  # a set operation in C: 10x the generator it replaced
        return text
    return str(converter.convert(text))


#: recent normalisations: a loaded row's text is normalised for its keywords, patents, institutions, the
#: placement model and the segment keywords; bounded (cleared when full, cheaper than LRU bookkeeping)
NORMALIZE_CACHE_SIZE = 8192
_norm_cache: dict[str, str] = {}


def normalize(text: str | None) -> str:
    """Full/half width folded, traditional → simplified, latin lower-cased, whitespace collapsed."""
    if not text:
        return ""
    raw = str(text)
    hit = _norm_cache.get(raw)
    if hit is not None:
        return hit
    text = unicodedata.normalize("NFKC", raw)
    text = to_simplified(text)
    text = text.lower()
    # NFKC leaves the ideographic punctuation alone; map the common ones to ASCII so tokens split on them.
    text = text.translate(_PUNCT)
    out = _WS.sub(" ", text).strip()
    if len(_norm_cache) >= NORMALIZE_CACHE_SIZE:
        _norm_cache.clear()
    _norm_cache[raw] = out
    return out


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
    fast = _fast()
    with _lock:
        for term in terms:
            term = normalize(term)
            if len(term) >= 2:
                freq = max(tok.suggest_freq(term, tune=False), 2000)
                tok.add_word(term, freq=freq)
                if fast is not None:
                    fast.add(term, freq)
        _token_cache.clear()


# --- a faster cut with jieba's answers -----------------------------------------------------------

#: jieba's own block and skip patterns (jieba/__init__.py, jieba/finalseg/__init__.py)
_JIEBA_BLOCK = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)")
_JIEBA_HAN = re.compile("[\u4E00-\u9FD5]")
_JIEBA_SKIP = re.compile("(\r\n|\\s)")
_FINALSEG_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")


class _FastCut:
    """jieba's accurate cut (HMM on) computed by ``rjieba`` (jieba-rs: the same dictionary, DAG and HMM, in
    Rust, about 15 times faster here), made to give jieba's tokens where the two differ by design.

    jieba cuts the text into blocks of CJK, latin letters, digits and ``+#&._%-``; inside a block, latin and
    digits that no dictionary word covers are split by finalseg's pattern (``3.2v`` -> ``3.2``, ``v``;
    ``zl201720001285.x`` -> ``zl201720001285``, ``.``, ``x``), where jieba-rs keeps the run whole. So each
    block goes to rjieba, runs of its non-CJK tokens are re-split with finalseg's pattern, and a block whose
    latin part contains a latin dictionary word (``gis``, ``pa66``, ``c++``: jieba's DAG may cut there) is cut by
    jieba itself. Measured on the 4,539 zhibei texts: 4,535 cut exactly as jieba cuts them, 4 differ in one
    HMM-guessed word (均居); 0.8 s instead of 5.3 s.
    """

    def __init__(self, rjieba: Any, jieba_tok: Any) -> None:
        self.rj = rjieba.Jieba()
        self.jieba = jieba_tok
        self.latin_words: set[str] = set()
        for word, freq in jieba_tok.FREQ.items():
            if freq and len(word) >= 2 and not _JIEBA_HAN.search(word) and _JIEBA_BLOCK.fullmatch(word):
                self.latin_words.add(word.lower())
        self._latin_re = self._compile()

    def _compile(self) -> re.Pattern[str] | None:
        words = sorted(self.latin_words, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, words))) if words else None

    def add(self, term: str, freq: int) -> None:
        self.rj.add_word(term, freq, None)
        if not _JIEBA_HAN.search(term) and _JIEBA_BLOCK.fullmatch(term):
            self.latin_words.add(term)
            self._latin_re = self._compile()

    def cut(self, text: str) -> list[str]:
        out: list[str] = []
        for blk in _JIEBA_BLOCK.split(text):
            if not blk:
                continue
            if not _JIEBA_BLOCK.match(blk):
                for x in _JIEBA_SKIP.split(blk):
                    if _JIEBA_SKIP.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
                continue
            words = self.rj.cut(blk, True)
            if self._has_latin_word(words):
                out.extend(self.jieba.lcut(blk, HMM=True))
                continue
            run = ""
            for w in words:
                if _JIEBA_HAN.search(w):
                    if run:
                        out.extend(x for x in _FINALSEG_SKIP.split(run) if x)
                        run = ""
                    out.append(w)
                else:
                    run += w
            if run:
                out.extend(x for x in _FINALSEG_SKIP.split(run) if x)
        return out

    def _has_latin_word(self, words: Sequence[str]) -> bool:
        if self._latin_re is None:
            return False
        run = ""
        for w in words:
            if _JIEBA_HAN.search(w):
                if run and self._latin_re.search(run):
                    return True
                run = ""
            else:
                run += w
        return bool(run and self._latin_re.search(run))


_fast_cut: Any = None


def _fast() -> _FastCut | None:
    """The rjieba-backed cut, when rjieba is installed and not switched off (``TECHMATCH_SEGMENTER=jieba``)."""
    global _fast_cut
    if _fast_cut is not None:
        return _fast_cut or None
    tok = _jieba()
    with _lock:
        if _fast_cut is None:
            import os

            fast: Any = False
            if os.environ.get("TECHMATCH_SEGMENTER", "").lower() != "jieba":
                try:
                    import rjieba
                except ImportError:  # jieba alone: same tokens, slower
                    pass
                else:
                    fast = _FastCut(rjieba, tok)
                    for term in (*_BUILTIN_TERMS, *domain_terms()):
                        fast.add(term, max(tok.suggest_freq(term, tune=False), 2000))
            _fast_cut = fast
    return _fast_cut or None


def segmenter_id() -> str:
    """Which cut produces the tokens (part of the persisted indexes' signature): ``jieba 0.42.1`` or
    ``rjieba 0.2.2 as jieba 0.42.1``."""
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    base = f"jieba {version('jieba')}"
    return f"rjieba {version('rjieba')} as {base}" if _fast() is not None else base


def cut(text: str) -> list[str]:
    """jieba's accurate cut (HMM on) of already normalised text: by :class:`_FastCut` when rjieba is there."""
    fast = _fast()
    return fast.cut(text) if fast is not None else _jieba().lcut(text, HMM=True)


#: tokens of recent texts by the digest of their normalised text: the loader's keywords and the matcher's
#: word index of the same text cut it once (bounded; a process holds at most this many texts' tokens)
TOKEN_CACHE_SIZE = 50_000
_token_cache: dict[tuple[bytes, bool], tuple[str, ...]] = {}


def clear_token_cache() -> None:
    """Forget the tokens of every text cut so far: the next :func:`tokenize` of a text cuts it again, as a
    fresh process would (a benchmark timing a first view)."""
    _token_cache.clear()


# --- tokens ------------------------------------------------------------------------------------


def tokenize(text: str | None, keep_stopwords: bool = False, normalized: bool = False) -> list[str]:
    """Words of ``text`` in order: jieba cut of the normalised text, stop words and punctuation dropped.

    Single CJK characters and bare numbers are dropped too: on their own they carry little meaning, and
    character n-grams (:func:`char_ngrams`) already cover that ground.
    """
    if not text:
        return []
    norm = text if normalized else normalize(text)
    key = (hashlib.blake2b(norm.encode("utf-8"), digest_size=16).digest(), keep_stopwords)
    hit = _token_cache.get(key)
    if hit is not None:
        return list(hit)
    stops = stopwords()
    out = []
    for word in cut(norm):
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
    if len(_token_cache) >= TOKEN_CACHE_SIZE:
        _token_cache.clear()  # cheaper than LRU bookkeeping on every call; a batch refills it
    _token_cache[key] = tuple(out)
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
    import importlib.util

    # the file's place from the package spec: importing jieba.analyse would load jieba's POS tables too
    spec = importlib.util.find_spec("jieba")
    assert spec is not None and spec.submodule_search_locations  # jieba is a dependency
    path = Path(next(iter(spec.submodule_search_locations))) / "analyse" / "idf.txt"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    idf: dict[str, float] = {}
    parts = text.split()
    if text.count(" ") == len(lines) == len(parts) // 2 and "\t" not in text:
        # every line is "word value": read the pairs in one go (the table has about 350,000)
        try:
            idf = dict(zip(parts[0::2], map(float, parts[1::2]), strict=True))
        except ValueError:
            idf = {}
    if not idf:
        for line in lines:
            pair = line.split(" ")
            if len(pair) == 2:
                try:
                    idf[pair[0]] = float(pair[1])
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
    return keywords_of_words(tokenize(text), k, idf)


def keywords_of_words(words: Sequence[str], k: int = 10, idf: Mapping[str, float] | None = None) -> list[str]:
    """:func:`keywords` of a text already tokenised (``tokenize(text)``): the same list."""
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
