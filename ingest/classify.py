"""Place achievements and needs on the techmatch industry-chain segments, with a confidence.

Three pieces of evidence, combined per chain and then per segment:

1. a supervised classifier of the *source* industry labels (zhibei's 128 fine labels such as
   新材料-复合材料), TF-IDF over character 1-2-grams + a linear SVM, trained once by
   ``python -m ingest.build_classifier`` on the zhibei achievements and shipped as data
   (``ingest/data/chain_model.npz``: vocabulary, IDF, int8 weights with a scale per label; its provenance in
   ``chain_model.json``), loaded in milliseconds by :func:`shipped_industry_model`; when a record carries its
   own industry label, that label is used as well;
2. a hand-written table from those labels to chain weights (``ingest/data/industry_chains.yaml``):
   新材料-碳材料 -> 碳基新材料 1.0, 电子信息-计算机软件 -> nothing;
3. keyword evidence: the segment keywords, aliases and names of ``graph/data/chains.yaml`` found in the
   text, plus TF-IDF similarity to each segment's description for the segment level.

chain confidence = noisy-or(classifier-mapped probability, keyword evidence); the segment is the chain's
segment with the most keyword hits (similarity breaks ties / stands in when no keyword hits). Below
``threshold`` the outcome is explicitly "none of our chains" (:attr:`ChainDecision.chain_id` None) and no
IN_SEGMENT edge is written. Without the model file the placer runs on keywords alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from graph.model import Achievement, Need
from graph.taxonomy import Taxonomy, default_taxonomy
from ingest import text as textpipe
from ingest.loader import Placement

log = logging.getLogger(__name__)

INDUSTRY_CHAINS_FILE = Path(__file__).resolve().parent / "data" / "industry_chains.yaml"
#: the shipped source-label model (built by ``python -m ingest.build_classifier``) and its provenance
MODEL_FILE = Path(__file__).resolve().parent / "data" / "chain_model.npz"
MODEL_INFO_FILE = MODEL_FILE.with_suffix(".json")
MODEL_VERSION = "chain-svm-3"
# The placer's tunable numbers (kept here, not in matcher.tuning: ingest does not import the matcher). The
# model's temperature (IndustryModel.temperature), KEYWORD_WEIGHT and DEFAULT_THRESHOLD were chosen together on a
# validation split carved out of the training part; benchmarks/chain_classification.py reports the untouched
# test split.
#: a chain is placed when its confidence reaches this. Fitted on the validation split (see above)
DEFAULT_THRESHOLD = 0.45
#: keywords alone reach at most KEYWORD_WEIGHT, so a placer without a model needs a lower bar. Judgement, not
#: fitted: below KEYWORD_WEIGHT so a strong keyword hit alone still places
KEYWORD_ONLY_THRESHOLD = 0.3
#: how much keyword evidence alone can contribute to a chain's confidence. Fitted on the validation split
KEYWORD_WEIGHT = 0.5
#: the softmax temperature of the model's decision scores. Fitted on the validation split
TEMPERATURE = 16.0
#: the linear SVM's regularisation (IndustryModel.train). Judgement, not fitted (set with the first placer, never
#: searched)
SVM_C = 0.5


def shared_dir() -> Path:
    """Where the shared read-only data lives: ``TECHMATCH_SHARED`` or ``../shared`` next to the repository."""
    env = os.environ.get("TECHMATCH_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


def zhibei_training_file() -> Path:
    return shared_dir() / "data" / "zhibei" / "achievements_dedup.jsonl"


def load_industry_chains(path: Path = INDUSTRY_CHAINS_FILE) -> dict[str, dict[str, float]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): {str(c): float(w) for c, w in (v or {}).items()} for k, v in raw.items()}


def chain_weights(label: str, table: dict[str, dict[str, float]]) -> dict[str, float]:
    """The chain weights of a source label: its own row, else its L1 prefix's row, else none."""
    if label in table:
        return table[label]
    return table.get(label.split("-")[0], {})


# ---------------------------------------------------------------------------------------------
# The supervised source-label classifier


def _analyzer_text(text: str) -> str:
    return textpipe.normalize(text)


@dataclass
class IndustryModel:
    """TF-IDF (character 1-2-grams) + a linear SVM over the source industry labels.

    A linear SVM trains in seconds where logistic regression over 128 labels took minutes on these
    machines, and it was more accurate on the held-out split (benchmarks/chain_classification.py).
    Probabilities are a softmax of the decision scores (``temperature`` sharpens them).
    """

    vectorizer: Any
    classifier: Any
    labels: list[str]
    temperature: float = TEMPERATURE
    version: str = MODEL_VERSION

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], c: float = SVM_C) -> IndustryModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                              max_features=60_000, preprocessor=_analyzer_text)
        x = vec.fit_transform(texts)
        # liblinear visits the examples in a random order: a fixed seed makes the model, and so every
        # confidence written into the graph, the same wherever and whenever it is trained
        clf = LinearSVC(C=c, random_state=0)
        clf.fit(x, list(labels))
        return cls(vectorizer=vec, classifier=clf, labels=[str(x) for x in clf.classes_])

    def proba_from_x(self, x: Any) -> np.ndarray:
        scores = np.asarray(self.classifier.decision_function(x), dtype=float)
        if scores.ndim == 1:  # two labels: one score column
            scores = np.stack([-scores, scores], axis=1)
        scores = scores * self.temperature
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_x(self.vectorizer.transform(texts))

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(x) for x in self.classifier.predict(self.vectorizer.transform(texts))]


#: sklearn's ``_char_ngrams``: runs of two or more white-space characters count as one space
_WHITE_SPACES = re.compile(r"\s\s+")


class CharBigramTfidf:
    """The transform of sklearn's ``TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)`` with
    a fixed vocabulary and IDF (the shipped model's), without importing sklearn (1 s of start-up) and with the
    n-grams of a whole batch looked up and counted in numpy instead of one dictionary lookup per n-gram in Python.
    The same matrix, bit for bit: the counts are the same integers, the logarithm, IDF product and division are the
    same element-wise IEEE operations, and each row's squared norm is summed in column order as sklearn's Cython
    loop sums it (``tests/test_ingest_classify.py`` compares the two)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, preprocessor: Callable[[str], str]) -> None:
        self.vocabulary_ = vocabulary
        self.idf_ = idf
        self.preprocessor = preprocessor
        keys = np.array([_gram_key(g) for g in vocabulary], dtype=np.int64)
        cols = np.fromiter(vocabulary.values(), dtype=np.int64, count=len(vocabulary))
        order = np.argsort(keys)
        self._keys, self._cols = keys[order], cols[order]

    def transform(self, texts: Iterable[str]) -> Any:
        from scipy.sparse import csr_matrix

        docs = [_WHITE_SPACES.sub(" ", self.preprocessor(t)) for t in texts]
        n, width = len(docs), len(self.vocabulary_)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=n)
        cps = np.frombuffer("".join(docs).encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        same = row_of[1:] == row_of[:-1]  # a character pair inside one text
        keys = np.concatenate([cps, ((cps[:-1][same] + 1) << 21) | cps[1:][same]])
        rows = np.concatenate([row_of, row_of[:-1][same]])
        if self._keys.size and keys.size:
            pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
            hit = self._keys[pos] == keys
        else:
            pos, hit = np.zeros(0, dtype=np.int64), np.zeros(keys.size, dtype=bool)
        pairs, counts = np.unique(rows[hit] * width + self._cols[pos[hit]], return_counts=True)
        data = counts.astype(np.float64)
        cols = (pairs % width).astype(np.int32)
        indptr = np.searchsorted(pairs // width, np.arange(n + 1), side="left").astype(np.int32)
        np.log(data, data)
        data += 1.0
        data *= self.idf_[cols]
        for start, end in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True):
            if end > start:
                # summed one square after the other (np.cumsum), as sklearn's row normalisation does
                total = float(np.cumsum(data[start:end] * data[start:end])[-1])
                if total != 0.0:
                    data[start:end] /= math.sqrt(total)
        return csr_matrix((data, cols, indptr), shape=(n, width))


def _gram_key(gram: str) -> int:
    """One integer per character 1- or 2-gram: the code point, or (first + 1) * 2**21 + second."""
    if len(gram) == 1:
        return ord(gram)
    if len(gram) == 2:
        return ((ord(gram[0]) + 1) << 21) | ord(gram[1])
    return -1  # not an n-gram this vectoriser makes: never matched


class _LinearScores:
    """The decision function of a linear classifier from its weights: ``x @ coef.T + intercept``."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, labels: Sequence[str]) -> None:
        self.coef_ = coef
        self.intercept_ = intercept
        self.classes_ = np.asarray(list(labels), dtype=object)

    def decision_function(self, x: Any) -> np.ndarray:
        scores = np.asarray(x @ self.coef_.T, dtype=float) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, x: Any) -> np.ndarray:
        scores = np.asarray(x @ self.coef_.T, dtype=float) + self.intercept_
        return self.classes_[scores.argmax(axis=1)]


def pack_model(model: IndustryModel) -> dict[str, np.ndarray]:
    """The arrays that make ``model`` a data file: vocabulary (in column order), IDF, the weights quantised to
    int8 with one scale per label (the float weights are 60 MB; these compress to a few), intercepts, labels."""
    vec = model.vectorizer
    vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
    coef = np.asarray(model.classifier.coef_, dtype=np.float64)
    scale = np.abs(coef).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.rint(coef / scale[:, None]).astype(np.int8)
    return {
        "vocabulary": np.asarray(vocab, dtype=str),
        "idf": np.asarray(vec.idf_, dtype=np.float64),
        "coef_q": q,
        "coef_scale": scale,
        "intercept": np.asarray(model.classifier.intercept_, dtype=np.float64),
        "labels": np.asarray(model.labels, dtype=str),
        "temperature": np.asarray([model.temperature], dtype=np.float64),
    }


def unpack_model(arrays: Mapping[str, np.ndarray], version: str = MODEL_VERSION) -> IndustryModel:
    """An :class:`IndustryModel` from :func:`pack_model`'s arrays: the same vectoriser (fixed vocabulary and IDF)
    and a linear decision function over the de-quantised weights. Pure arithmetic on the file's numbers, so
    every process on every machine gives the same scores."""
    vocab = [str(v) for v in arrays["vocabulary"]]
    vec = CharBigramTfidf({t: i for i, t in enumerate(vocab)}, np.asarray(arrays["idf"], dtype=np.float64),
                          _analyzer_text)
    coef = np.asarray(arrays["coef_q"], dtype=np.float64) * np.asarray(arrays["coef_scale"], dtype=np.float64)[:, None]
    labels = [str(x) for x in arrays["labels"]]
    clf = _LinearScores(coef, np.asarray(arrays["intercept"], dtype=np.float64), labels)
    return IndustryModel(vectorizer=vec, classifier=clf, labels=labels,
                         temperature=float(np.asarray(arrays["temperature"])[0]), version=version)


def save_model(model: IndustryModel, path: Path, info: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``model`` as ``path`` (.npz) and its provenance as ``path`` with .json; returns the provenance.
    The digest covers the arrays, not the zip container, so a rebuild from the same input shows the same."""
    arrays = pack_model(model)
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    meta = {"version": model.version, "arrays_sha256": digest.hexdigest(), "features": len(arrays["vocabulary"]),
            "labels": len(arrays["labels"]), **info}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    # numpy's stub reads a **dict of arrays as if it could fill ``allow_pickle``: name the arrays explicitly
    savez: Callable[..., None] = np.savez_compressed
    savez(tmp, **arrays)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return meta


def load_model(path: Path) -> IndustryModel:
    """The model in ``path`` (written by :func:`save_model`); no pickle, only arrays of numbers and strings."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return unpack_model(arrays)


@lru_cache(maxsize=4)
def shipped_industry_model(path: Path = MODEL_FILE) -> IndustryModel | None:
    """The source-label model shipped with the package (once per process); None when the file is absent."""
    if not path.is_file():
        log.warning("no chain model at %s (python -m ingest.build_classifier); chain placement uses keywords only",
                    path)
        return None
    return load_model(path)


def zhibei_examples(path: Path | None = None) -> tuple[list[str], list[str], list[str]]:
    """(texts, fine labels, L1 labels) of the zhibei achievements."""
    path = path or zhibei_training_file()
    texts, fine, coarse = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if not rec.get("industry"):
            continue
        texts.append("\n".join(str(rec.get(k) or "") for k in ("name", "description", "application_scope")))
        fine.append(rec["industry"])
        coarse.append(rec.get("industry_l1") or rec["industry"].split("-")[0])
    return texts, fine, coarse


def cached_industry_model(cache_dir: Path, path: Path | None = None) -> IndustryModel | None:
    """A source-label model trained on a zhibei-shaped file and cached under ``cache_dir`` (the data directory's
    cache); None without data. The ingest command does not use it (it loads the shipped model); it is for a
    deployment that trains its own model from its own file."""
    path = path or zhibei_training_file()
    if not path.is_file():
        log.warning("no training data at %s; chain placement uses keywords only", path)
        return None
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    cache = Path(cache_dir) / "ingest" / f"{MODEL_VERSION}-{digest}.pkl"
    if cache.is_file():
        try:
            with cache.open("rb") as f:
                model = pickle.load(f)  # our own cache file, written below
            if isinstance(model, IndustryModel) and model.version == MODEL_VERSION:
                return model
        except Exception as exc:  # a stale or truncated cache is rebuilt, not fatal
            log.warning("ignoring unreadable model cache %s: %s", cache, exc)
    texts, fine, _ = zhibei_examples(path)
    model = IndustryModel.train(texts, fine)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(model, f)
    tmp.replace(cache)  # atomic: a concurrent reader never sees half a file
    return model


# ---------------------------------------------------------------------------------------------
# Keyword and similarity evidence against the taxonomy


@dataclass
class SegmentIndex:
    """The taxonomy's segments with their normalised keywords, for fast matching."""

    taxonomy: Taxonomy
    keywords: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    chain_of: dict[str, str] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    _prefix: dict[str, list[tuple[int, int, str]]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, taxonomy: Taxonomy) -> SegmentIndex:
        index = cls(taxonomy)
        for seg in taxonomy.segments:
            index.chain_of[seg.id] = seg.chain_id
            words = []
            for term in dict.fromkeys([*seg.keywords, *seg.aliases, seg.name]):
                norm = textpipe.normalize(term)
                # a short latin code (AA, CPL) or a single character matches too much by accident
                if len(norm) < 2 or (norm.isascii() and len(norm) < 3):
                    continue
                words.append((norm, min(len(norm), 4) / 4.0))
            index.keywords[seg.id] = words
            index.docs[seg.id] = " ".join([seg.name, seg.description, *seg.keywords, *seg.aliases])
        return index

    def _by_prefix(self) -> dict[str, list[tuple[int, int, str]]]:
        """Every keyword under its first two characters, as (segment's place, keyword's place, keyword); built
        on first use (the keywords are fixed once built)."""
        if self._prefix is None:
            index: dict[str, list[tuple[int, int, str]]] = {}
            for s, words in enumerate(self.keywords.values()):
                for k, (word, _) in enumerate(words):
                    index.setdefault(word[:2], []).append((s, k, word))
            self._prefix = index
        return self._prefix

    def keyword_scores(self, text: str) -> tuple[dict[str, float], dict[str, list[str]]]:
        """Per segment: the sum of the weights of its keywords found in the text, and those keywords.

        One pass over the text's character pairs finds the keywords that can occur (every keyword has at
        least two characters); only those are looked for, instead of every keyword of every segment."""
        norm = textpipe.normalize(text)
        index = self._by_prefix()
        pairs = {norm[i : i + 2] for i in range(len(norm) - 1)}
        found = sorted((s, k) for pair in pairs.intersection(index) for s, k, word in index[pair]
                       if word in norm)
        scores: dict[str, float] = {}
        hits: dict[str, list[str]] = {}
        segments = list(self.keywords)
        for s, k in found:
            seg_id = segments[s]
            word, weight = self.keywords[seg_id][k]
            scores[seg_id] = scores.get(seg_id, 0.0) + weight
            hits.setdefault(seg_id, []).append(word)
        return scores, hits


@dataclass(frozen=True)
class ChainDecision:
    """The placement of one text: the chosen chain and segments, or None for 'none of our chains'."""

    chain_id: str | None
    confidence: float
    placements: tuple[Placement, ...]
    chain_scores: dict[str, float]
    keyword_hits: dict[str, list[str]]


class ChainPlacer:
    """Implements :class:`ingest.loader.SegmentPlacer` from the evidence above."""

    def __init__(self, taxonomy: Taxonomy | None = None, model: IndustryModel | None = None,
                 industry_chains: dict[str, dict[str, float]] | None = None,
                 threshold: float | None = None) -> None:
        self.taxonomy = taxonomy or default_taxonomy()
        self.index = SegmentIndex.build(self.taxonomy)
        self.model = model
        self.table = industry_chains if industry_chains is not None else load_industry_chains()
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if model is not None else KEYWORD_ONLY_THRESHOLD
        self.threshold = threshold
        self._label_chains: np.ndarray | None = None
        self._chains = [c.id for c in self.taxonomy.chains]
        self._seg_vectors: Any = None
        self._seg_ids = [s.id for s in self.taxonomy.segments]
        if model is not None:
            self._label_chains = np.array(
                [[chain_weights(lbl, self.table).get(c, 0.0) for c in self._chains] for lbl in model.labels]
            )
            self._seg_vectors = model.vectorizer.transform([self.index.docs[s] for s in self._seg_ids])

    # -- evidence --------------------------------------------------------------------------------
    def _model_chain_probs(self, texts: Sequence[str]) -> tuple[np.ndarray, Any]:
        assert self.model is not None and self._label_chains is not None
        x = self.model.vectorizer.transform(texts)
        proba = self.model.proba_from_x(x)
        return proba @ self._label_chains, x

    def decide_many(self, texts: Sequence[str], labels: Sequence[str | None] | None = None) -> list[ChainDecision]:
        """Decisions for many texts at once (one model call); ``labels`` are their source labels if known."""
        if not texts:  # a batch with no achievements or needs in it
            return []
        labels = list(labels) if labels is not None else [None] * len(texts)
        n_chains = len(self._chains)
        if self.model is not None:
            probs, x = self._model_chain_probs(texts)
            sims = (x @ self._seg_vectors.T).toarray()
        else:
            probs, sims = np.zeros((len(texts), n_chains)), np.zeros((len(texts), len(self._seg_ids)))
        out = []
        for i, text in enumerate(texts):
            prior = probs[i].copy()
            method = "classifier" if self.model is not None else ""
            if label := labels[i]:
                given = np.array([chain_weights(label, self.table).get(c, 0.0) for c in self._chains])
                # the record's own label is strong evidence; the text model refines it
                prior = 0.7 * given + 0.3 * prior if self.model is not None else given
                method = "label+classifier" if self.model is not None else "label"
            out.append(self._decide(text, prior, sims[i], method))
        return out

    def _decide(self, text: str, prior: np.ndarray, sims: np.ndarray, method: str) -> ChainDecision:
        kw, hits = self.index.keyword_scores(text)
        chain_scores: dict[str, float] = {}
        for j, chain_id in enumerate(self._chains):
            kwc = max((s for seg, s in kw.items() if self.index.chain_of[seg] == chain_id), default=0.0)
            evidence = 1.0 - math.exp(-kwc)
            chain_scores[chain_id] = 1.0 - (1.0 - float(prior[j])) * (1.0 - KEYWORD_WEIGHT * evidence)
        best_chain = max(chain_scores, key=lambda c: chain_scores[c])
        confidence = chain_scores[best_chain]
        if confidence < self.threshold:
            return ChainDecision(None, confidence, (), chain_scores, hits)
        seg_sim = dict(zip(self._seg_ids, sims, strict=True))
        segs = [s.id for s in self.taxonomy.segments_of(best_chain)]
        ranked = sorted(segs, key=lambda s: (kw.get(s, 0.0), seg_sim.get(s, 0.0)), reverse=True)
        placements = []
        for rank, seg in enumerate(ranked[:2]):
            has_kw = seg in kw
            if rank == 1 and not (has_kw and kw[seg] >= 0.8 * kw.get(ranked[0], 0.0)):
                break  # a second segment only with comparable keyword evidence
            seg_conf = confidence * (1.0 if has_kw else 0.75)
            how = "+".join(p for p in (method, "keywords" if has_kw else "similarity") if p)
            placements.append(Placement(seg, round(seg_conf, 4), how))
        return ChainDecision(best_chain, confidence, tuple(placements), chain_scores, hits)

    def decide(self, text: str, label: str | None = None) -> ChainDecision:
        return self.decide_many([text], [label])[0]

    def place(self, node: Achievement | Need) -> list[Placement]:
        label = node.industry if isinstance(node, Achievement) and node.industry else None
        return list(self.decide(node.text, label).placements)

    def place_many(self, nodes: Iterable[Achievement | Need]) -> list[list[Placement]]:
        nodes = list(nodes)
        labels = [n.industry if isinstance(n, Achievement) and n.industry else None for n in nodes]
        return [list(d.placements) for d in self.decide_many([n.text for n in nodes], labels)]


def default_placer() -> ChainPlacer:
    """The placer the ingest command uses: the shipped source-label model (``ingest/data/chain_model.npz``), the
    same in every data directory and on every machine; keywords alone when the file is missing."""
    return ChainPlacer(model=shipped_industry_model())
