"""Accuracy and macro-F1 of the ingest classifiers on held-out splits.

1. zhibei achievements (2,810; stratified 80/20 split, seed 0): the source-label model
   (``ingest.classify.IndustryModel``: TF-IDF char 1-2-grams + linear SVM) on the 128 fine labels and on
   the 11 coarse labels (directly, and as the prefix of the predicted fine label).
2. chain level: the gold chain of a held-out text is derived from its true source label through the
   mapping table (``ingest/data/industry_chains.yaml``; weight >= 0.5, else "none"); the placer sees the
   text only (as it does for needs). Compared with keyword-only placement and with always "none".
3. csldcp (5,888 paper abstracts, 67 disciplines; stratified 80/20 split): the same model type, to show
   it is not tuned to one data set.
Baselines are the majority class, measured in the same process.

Run: ``python benchmarks/chain_classification.py`` (about a minute on 2 cores; prints markdown tables).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from ingest.classify import (  # noqa: E402
    ChainPlacer,
    IndustryModel,
    chain_weights,
    load_industry_chains,
    shared_dir,
    zhibei_examples,
)

NONE = "none"


def scores(gold: list[str], pred: list[str]) -> tuple[float, float]:
    return accuracy_score(gold, pred), f1_score(gold, pred, average="macro", zero_division=0)


def row(task: str, method: str, gold: list[str], pred: list[str], extra: str = "") -> str:
    acc, mf1 = scores(gold, pred)
    return f"| {task} | {method} | {len(gold)} | {acc:.3f} | {mf1:.3f} | {extra} |"


def majority(train: list[str], n: int) -> list[str]:
    return [Counter(train).most_common(1)[0][0]] * n


def gold_chain(label: str, table: dict[str, dict[str, float]]) -> str:
    weights = chain_weights(label, table)
    if not weights:
        return NONE
    chain, weight = max(weights.items(), key=lambda kv: kv[1])
    return chain if weight >= 0.5 else NONE


def main() -> None:
    lines = ["| task | method | test rows | accuracy | macro-F1 | notes |", "|---|---|---|---|---|---|"]
    texts, fine, coarse = zhibei_examples()
    idx = list(range(len(texts)))
    train, test = train_test_split(idx, test_size=0.2, random_state=0, stratify=coarse)
    tr_texts, te_texts = [texts[i] for i in train], [texts[i] for i in test]

    started = time.perf_counter()
    fine_model = IndustryModel.train(tr_texts, [fine[i] for i in train])
    fine_s = time.perf_counter() - started
    pred_fine = fine_model.predict(te_texts)
    gold_fine = [fine[i] for i in test]
    lines.append(row("zhibei fine label (128)", "IndustryModel", gold_fine, pred_fine, f"trained in {fine_s:.1f} s"))
    lines.append(row("zhibei fine label (128)", "majority baseline", gold_fine,
                     majority([fine[i] for i in train], len(test))))

    gold_l1 = [coarse[i] for i in test]
    lines.append(row("zhibei coarse label (11)", "prefix of predicted fine label", gold_l1,
                     [p.split("-")[0] for p in pred_fine]))
    l1_model = IndustryModel.train(tr_texts, [coarse[i] for i in train])
    lines.append(row("zhibei coarse label (11)", "IndustryModel on coarse labels", gold_l1, l1_model.predict(te_texts)))
    lines.append(row("zhibei coarse label (11)", "majority baseline", gold_l1,
                     majority([coarse[i] for i in train], len(test))))

    table = load_industry_chains()
    gold_c = [gold_chain(fine[i], table) for i in test]
    started = time.perf_counter()
    placer = ChainPlacer(model=fine_model)
    decisions = placer.decide_many(te_texts)
    per_text_ms = (time.perf_counter() - started) / len(test) * 1000
    pred_c = [d.chain_id or NONE for d in decisions]
    lines.append(row("chain (7 + none), text only", "ChainPlacer (model + keywords)", gold_c, pred_c,
                     f"{per_text_ms:.1f} ms/text"))
    kw_only = ChainPlacer(model=None).decide_many(te_texts)
    lines.append(row("chain (7 + none), text only", "keywords only", gold_c, [d.chain_id or NONE for d in kw_only]))
    lines.append(row("chain (7 + none), text only", "always none", gold_c, [NONE] * len(test)))
    placed = [(g, p) for g, p in zip(gold_c, pred_c, strict=True) if p != NONE]
    precision = sum(g == p for g, p in placed) / len(placed) if placed else 0.0
    chain_gold = sum(g != NONE for g in gold_c)
    recall = sum(g == p for g, p in placed) / chain_gold if chain_gold else 0.0

    csldcp = shared_dir() / "data" / "csldcp" / "csldcp_merged_unique.jsonl"
    if csldcp.is_file():
        recs = [json.loads(x) for x in csldcp.read_text(encoding="utf-8").splitlines() if x.strip()]
        label_key = "label" if "label" in recs[0] else next(k for k in recs[0] if k not in ("id", "abstract"))
        c_texts = [r["abstract"] for r in recs]
        c_labels = [str(r[label_key]) for r in recs]
        c_train, c_test = train_test_split(range(len(recs)), test_size=0.2, random_state=0, stratify=c_labels)
        started = time.perf_counter()
        c_model = IndustryModel.train([c_texts[i] for i in c_train], [c_labels[i] for i in c_train])
        c_s = time.perf_counter() - started
        c_gold = [c_labels[i] for i in c_test]
        lines.append(row("csldcp discipline (67)", "IndustryModel", c_gold,
                         c_model.predict([c_texts[i] for i in c_test]), f"trained in {c_s:.1f} s"))
        lines.append(row("csldcp discipline (67)", "majority baseline", c_gold,
                         majority([c_labels[i] for i in c_train], len(c_test))))

    print("## Chain classification (held-out 20 %, seed 0)\n")
    print("\n".join(lines))
    print(f"\nChain placement, rows it placed: precision {precision:.3f} against the label-derived chain, "
          f"recall {recall:.3f} of the {chain_gold} test rows whose label maps to a chain; "
          f"{len(placed)} of {len(test)} placed.")


if __name__ == "__main__":
    main()
