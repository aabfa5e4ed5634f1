"""Build the shipped chain-placement model: ``python -m ingest.build_classifier [--source FILE] [--output FILE]``.

Trains :class:`ingest.classify.IndustryModel` (TF-IDF char 1-2-grams + linear SVM with a fixed seed) on the
zhibei achievements (default ``$TECHMATCH_SHARED/data/zhibei/achievements_dedup.jsonl``), and writes
``ingest/data/chain_model.npz`` (vocabulary, IDF, int8 weights with one scale per label, intercepts, labels;
no pickle) and ``chain_model.json`` (provenance: source file and its SHA-256, rows, parameters, library
versions, the arrays' digest, and how closely the int8 weights agree with the float model on the training
texts). Training is deterministic, so running it again on the same file writes the same arrays (same
``arrays_sha256``). Ingest only loads the file; it never trains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from ingest.classify import (
    MODEL_FILE,
    ChainPlacer,
    IndustryModel,
    load_model,
    save_model,
    zhibei_examples,
    zhibei_training_file,
)


def build(source: Path, output: Path) -> dict[str, object]:
    import sklearn

    started = time.perf_counter()
    texts, fine, _ = zhibei_examples(source)
    model = IndustryModel.train(texts, fine)
    trained_s = time.perf_counter() - started
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    info = {
        "source": f"zhibei/{source.name}",
        "source_sha256": digest,
        "rows": len(texts),
        "trained_with": "IndustryModel.train(texts, fine labels): TfidfVectorizer(char 1-2, min_df 2, sublinear, "
                        "60,000 features) + LinearSVC(C=0.5, random_state=0)",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "built_by": "python -m ingest.build_classifier",
        "train_seconds": round(trained_s, 1),
    }
    meta = save_model(model, output, info)
    # how much the int8 weights change: labels and chain placements of the training texts, float vs shipped
    packed = load_model(output)
    same_label = float(np.mean(np.array(model.predict(texts)) == np.array(packed.predict(texts))))
    a = ChainPlacer(model=model).decide_many(texts)
    b = ChainPlacer(model=packed).decide_many(texts)
    same_chain = float(np.mean([x.chain_id == y.chain_id for x, y in zip(a, b, strict=True)]))
    same_segs = float(np.mean([[p.segment_id for p in x.placements] == [p.segment_id for p in y.placements]
                               for x, y in zip(a, b, strict=True)]))
    max_conf = max(abs(x.confidence - y.confidence) for x, y in zip(a, b, strict=True))
    meta["int8_vs_float_on_training_texts"] = {"same_label": round(same_label, 4), "same_chain": round(same_chain, 4),
                                               "same_segments": round(same_segs, 4),
                                               "max_confidence_change": round(max_conf, 4)}
    output.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    meta["bytes"] = output.stat().st_size
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.build_classifier", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=None,
                        help="zhibei achievements JSONL "
                        "(default: $TECHMATCH_SHARED/data/zhibei/achievements_dedup.jsonl)")
    parser.add_argument("--output", type=Path, default=MODEL_FILE, help=f"model file (default {MODEL_FILE})")
    args = parser.parse_args(argv)
    source = args.source or zhibei_training_file()
    if not source.is_file():
        print(f"没有训练数据：{source}（用 --source 指定 zhibei 的 achievements_dedup.jsonl）", file=sys.stderr)
        return 2
    meta = build(source, args.output)
    print(json.dumps(meta, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
