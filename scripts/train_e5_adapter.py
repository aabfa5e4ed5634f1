"""Trains the market adapter for e5-small (``matcher/embedders/data/e5-market.npz``) from the judged set's tune part.

    python scripts/train_e5_adapter.py                    # the shipped adapter (all tune needs)
    python scripts/train_e5_adapter.py --cross-fit 3      # also: each tune need scored by an adapter that never saw it
    python scripts/train_e5_adapter.py --cross-fit 3 --folds-only --qrels trained.tsv   # only that, for the
                                                          # adapter at --out as it is (trained.tsv: its judgements)

Training pairs: every tune need (as the engine reads it: name and description, the first 160 characters) with
each achievement judged relevant to it (grade ≥ 1) as the positive, the achievements judged not relevant to it as
hard negatives, the batch's other achievements as further negatives (``matcher.embedders.e5_adapter.train``).
Only the **tune** part is read: the report part and the shared dev needs never enter training or any choice made
here (``docs/matcher.md``, *The market adapter*, has the choices and their figures).

``--market-pairs N`` and ``--csl-pairs N`` add pairs that need no judgement (an achievement's name → the rest of
its text; a CSL paper's keywords → its abstract) at a lower loss weight: domain adaptation on the market's own
texts. Measured as candidates (``docs/matcher.md``, *The market adapter*); the shipped adapter's metadata says
whether it was trained with them.

``--cross-fit K`` splits the tune needs into K folds and trains K more adapters, each without one fold; every tune
need's e5 scores over the corpus then come from an adapter that did not see it (written to
``$TECHMATCH_DATA_DIR/cache/e5-market-oof-<adapter digest>.npz``). ``benchmarks/judged_quality.py`` reads them for
the tune part, so the confidence curve fitted on tune sees e5 scores as they are on needs the adapter never saw.
Takes a few minutes per adapter on two cores.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matcher.embedders.e5_adapter import TrainingConfig, TrainingPair

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.judged import JUDGED_DIR, SHARED, cross_fitted_path, read_qrels, split  # noqa: E402

ACH = SHARED / "data" / "zhibei" / "achievements_dedup.jsonl"
REQ = SHARED / "data" / "zhibei" / "requirements_dedup.jsonl"
CSL = SHARED / "data" / "csl" / "csl_joined_dev_test.jsonl"
#: CSL's categories whose papers are about what the market trades in (not history, law, economics …)
CSL_CATEGORIES = frozenset({"工学", "理学", "农学", "医学"})
#: the tune needs' fold order for --cross-fit (fixed: the folds are part of what the OOF file means)
FOLD_SEED = 1


def _fit(pairs: list[TrainingPair], config: TrainingConfig, soup_of: int):
    """One adapter, or the soup of ``soup_of`` trained from consecutive seeds (``e5_adapter.soup``)."""
    from dataclasses import replace

    from matcher.embedders.e5_adapter import soup, train

    if soup_of <= 1:
        return train(pairs, config)
    models = [train(pairs, replace(config, seed=config.seed + i)) for i in range(soup_of)]
    return soup(models)


def _train_and_save(out: Path, pairs: list[TrainingPair], config: TrainingConfig, needs: int, t0: float,
                    extra: dict | None = None, soup_of: int = 1) -> None:
    from matcher.embedders.e5_adapter import save_adapter

    model = _fit(pairs, config, soup_of)
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    save_adapter(out, model, {
        "trained_on": "eval/judging tune part", "needs": needs, "pairs": len(pairs),
        "epochs": config.epochs, "learning_rate": config.learning_rate, "temperature": config.temperature,
        "batch_size": config.batch_size, "negatives_per_pair": config.negatives_per_pair, "seed": config.seed,
        "mask_known_positives": config.mask_known_positives, "soup_of": soup_of,
        "query_chars": config.query_chars, "passage_chars": config.passage_chars, "commit": commit,
        **(extra or {}),
    })
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB) in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)


def main() -> None:
    from matcher.embedders.e5_adapter import TrainingConfig, TrainingPair, load_adapter
    from matcher.embedders.e5_small import MAX_CHARS, MAX_QUERY_CHARS, SHIPPED_ADAPTER

    defaults = TrainingConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=SHIPPED_ADAPTER)
    ap.add_argument("--cross-fit", type=int, default=0, metavar="K")
    ap.add_argument("--epochs", type=int, default=defaults.epochs)
    ap.add_argument("--rank", type=int, default=defaults.rank)
    ap.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    ap.add_argument("--temperature", type=float, default=defaults.temperature)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--hard-negatives", type=int, default=defaults.negatives_per_pair, metavar="N",
                    help="judged-not-relevant achievements drawn per pair into the batch as negatives")
    ap.add_argument("--qrels", type=Path, default=JUDGED_DIR / "qrels.tsv",
                    help="the judgements to train on (their tune needs); with --folds-only, those the adapter at "
                         "--out was trained on")
    ap.add_argument("--market-pairs", type=int, default=0, metavar="N",
                    help="also train on N pairs from the market's own achievements, no judgement needed: an "
                         "achievement's name as the query, the rest of its text as the passage (a sample, fixed by "
                         "--seed; the same for every fold: no tune need is in them)")
    ap.add_argument("--market-weight", type=float, default=0.5,
                    help="the loss weight of each unjudged pair (--market-pairs, --csl-pairs; a judged pair weighs 1)")
    ap.add_argument("--csl-pairs", type=int, default=0, metavar="N",
                    help="also train on N pairs from CSL (the shared Chinese scientific abstracts, Apache-2.0) of "
                         "engineering, science, agriculture and medicine: a paper's keywords as the query (a short "
                         "need naming a field reads like them), its abstract as the passage; weight --market-weight")
    ap.add_argument("--mask-known-positives", action="store_true",
                    help="never count an achievement judged relevant to a need as that need's negative in a batch "
                         "(another pair of the batch can bring it in: a second positive of the same need, or a "
                         "near miss of another need)")
    ap.add_argument("--soup", type=int, default=1, metavar="K",
                    help="train K adapters from consecutive seeds and ship the mean of their weight changes")
    ap.add_argument("--folds-only", action="store_true",
                    help="with --cross-fit: train only the fold adapters, for the adapter already at --out (after "
                         "the judged set grew: its tune needs scored again without retraining it)")
    args = ap.parse_args()
    if args.folds_only and not (args.cross_fit and args.out.exists()):
        sys.exit("--folds-only needs --cross-fit K and an adapter at --out")

    from ingest.zhibei import achievement_from_record, clean_record, need_from_record
    from matcher.documents import achievement_text

    tune = read_qrels(args.qrels, {n for n, part in split().items() if part == "tune"})
    achs = [achievement_from_record(clean_record(json.loads(line))) for line in ACH.open(encoding="utf-8")
            if line.strip()]
    text = {a.id: achievement_text(a) for a in achs}
    records = (json.loads(line) for line in REQ.open(encoding="utf-8") if line.strip())
    needs = {n.id: n for n in (need_from_record(clean_record(r)) for r in records if r.get("id") in tune)}
    missing = sorted(set(tune) - set(needs))
    if missing:
        sys.exit(f"tune needs missing from {REQ}: {', '.join(missing[:5])}")
    config = TrainingConfig(epochs=args.epochs, rank=args.rank, learning_rate=args.learning_rate,
                            temperature=args.temperature, seed=args.seed, negatives_per_pair=args.hard_negatives,
                            mask_known_positives=args.mask_known_positives, query_chars=MAX_QUERY_CHARS,
                            passage_chars=MAX_CHARS, log=lambda line: print(line, file=sys.stderr, flush=True))

    def pairs_of(need_ids: list[str]) -> list[TrainingPair]:
        out = []
        for nid in sorted(need_ids):
            grades = tune[nid]
            negatives = tuple(text[a] for a, g in sorted(grades.items()) if g == 0 and a in text)
            relevant = frozenset(text[a] for a, g in grades.items() if g >= 1 and a in text)
            out.extend(TrainingPair(needs[nid].text, text[a], negatives, relevant=relevant)
                       for a, g in sorted(grades.items()) if g >= 1 and a in text)
        return out

    unjudged: list[TrainingPair] = []
    if args.market_pairs:
        # the name is the query; the passage is what else the achievement says (with the name in it, the pair
        # would be a string match and teach nothing about the register needs are written in)
        usable = [a for a in achs if len(a.description) >= 40]
        sample = random.Random(args.seed).sample(usable, min(args.market_pairs, len(usable)))
        unjudged = [TrainingPair(a.name, "\n".join(x for x in (a.description, a.application_scope) if x),
                       weight=args.market_weight) for a in sample]

    if args.csl_pairs:
        papers = [json.loads(line) for line in CSL.open(encoding="utf-8") if line.strip()]
        abstracts = [(list(p["keywords"]), p["abstract"]) for p in papers
                     if p.get("category") in CSL_CATEGORIES and p.get("keywords") and len(p.get("abstract", "")) >= 40]
        chosen = random.Random(args.seed).sample(abstracts, min(args.csl_pairs, len(abstracts)))
        unjudged += [TrainingPair(" ".join(k), a, weight=args.market_weight) for k, a in chosen if k]

    t0 = time.perf_counter()
    pairs = pairs_of(list(tune))
    print(f"training on {len(pairs)} judged pairs of {len(tune)} tune needs", file=sys.stderr)
    if args.folds_only:
        # the fold adapters stand in for the shipped one on needs it never saw: same judgements, or they mean nothing
        meta = load_adapter(args.out).meta
        if int(meta.get("pairs", -1)) != len(pairs):
            sys.exit(f"the adapter at {args.out} was trained on {meta.get('pairs')} judged pairs (commit "
                     f"{meta.get('commit', '?')}), {args.qrels} gives {len(pairs)}: pass --qrels with the judgements "
                     "it was trained on (git show <commit>:eval/judging/qrels.tsv > trained.tsv)")
        if (int(meta.get("market_pairs", 0)), int(meta.get("csl_pairs", 0))) != (args.market_pairs, args.csl_pairs) \
                or (unjudged and float(meta.get("market_weight", 0.5)) != args.market_weight):
            sys.exit(f"the adapter at {args.out} was trained with {meta.get('market_pairs', 0)} market and "
                     f"{meta.get('csl_pairs', 0)} CSL pairs at weight {meta.get('market_weight', '-')}: pass "
                     "--market-pairs, --csl-pairs and --market-weight as then")
        if int(meta.get("negatives_per_pair", 1)) != args.hard_negatives:
            sys.exit(f"the adapter at {args.out} was trained with {meta.get('negatives_per_pair')} hard negatives "
                     "per pair: pass --hard-negatives as then")
        if int(meta.get("soup_of", 1)) != args.soup:
            sys.exit(f"the adapter at {args.out} is a soup of {meta.get('soup_of', 1)}: pass --soup as then")
        if bool(meta.get("mask_known_positives", False)) != args.mask_known_positives:
            sys.exit(f"the adapter at {args.out} was trained "
                     f"{'with' if meta.get('mask_known_positives') else 'without'} --mask-known-positives: pass it "
                     "as then")
    if unjudged:
        print(f"and on {len(unjudged)} unjudged pairs ({args.market_pairs} market name → text, {args.csl_pairs} CSL "
              f"keywords → abstract; weight {args.market_weight})", file=sys.stderr)
    if not args.folds_only:
        provenance = {"pairs": len(pairs), "market_pairs": args.market_pairs, "csl_pairs": args.csl_pairs,
                      "market_weight": args.market_weight}
        _train_and_save(args.out, pairs + unjudged, config, len(tune), t0, provenance if unjudged else {},
                        soup_of=args.soup)
    if not args.cross_fit:
        return

    from api.config import load_settings
    from matcher.embedders.e5_adapter import encode_texts

    digest = load_adapter(args.out).digest
    ids = [a.id for a in achs]
    order = sorted(tune)
    random.Random(FOLD_SEED).shuffle(order)
    folds = [order[k::args.cross_fit] for k in range(args.cross_fit)]
    scores: dict[str, np.ndarray] = {}
    for k, held in enumerate(folds, start=1):
        fold_model = _fit(pairs_of([n for n in order if n not in set(held)]) + unjudged, config, args.soup)
        passages = encode_texts(fold_model, [text[i] for i in ids], "passage: ", config.passage_chars)
        queries = encode_texts(fold_model, [needs[n].text for n in held], "query: ", config.query_chars)
        for j, nid in enumerate(held):
            scores[nid] = (passages @ queries[j]).astype(np.float32)
        print(f"fold {k}/{args.cross_fit}: {len(held)} needs scored ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)
    dest = cross_fitted_path(load_settings().data_dir, digest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part.npz")
    np.savez(part, ids=np.array(ids), **scores)
    part.replace(dest)
    print(f"wrote {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
