"""The judged need → achievement sets: the shared dev qrels and the project's own judged set with its split.

``tune`` needs may inform any decision (weights, thresholds, curves, model choices); ``report`` needs are read
only to report. ``eval/judging/README.md`` says how they were pooled, judged and split.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared"))
JUDGED_DIR = ROOT / "eval" / "judging"

Qrels = dict[str, dict[str, int]]  # need id -> achievement id -> grade (0 / 1 / 2)


def read_qrels(path: str | Path, only: set[str] | None = None) -> Qrels:
    """``need_id<TAB>achievement_id<TAB>grade`` lines (the shared format)."""
    out: Qrels = defaultdict(dict)
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            need, ach, grade = line.rstrip("\n").split("\t")[:3]
            if only is None or need in only:
                out[need][ach] = int(grade)
    return dict(out)


def split() -> dict[str, str]:
    """need id -> ``tune`` | ``report`` | ``reserve`` (fixed once, before any judging)."""
    with open(JUDGED_DIR / "split.tsv", encoding="utf-8") as fh:
        return {row["need_id"]: row["part"] for row in csv.DictReader(fh, delimiter="\t")}


def judged(part: str | None = None) -> Qrels:
    """The project's judged set, or one part of it (``tune`` / ``report``)."""
    parts = split()
    only = {n for n, p in parts.items() if p == part} if part else None
    return read_qrels(JUDGED_DIR / "qrels.tsv", only)


def dev() -> Qrels:
    """The shared dev set (20 needs): a third view, never tuned on by this project's later work either."""
    return read_qrels(SHARED / "eval" / "need_achievement_dev_qrels.tsv")


def has_supply(qrels: Qrels) -> dict[str, bool]:
    """Whether each need has at least one relevant (grade ≥ 1) achievement."""
    return {need: max(grades.values(), default=0) >= 1 for need, grades in qrels.items()}


def cross_fitted_path(data_dir: Path, adapter_digest: str) -> Path:
    """Where ``scripts/train_e5_adapter.py --cross-fit`` keeps each tune need's e5 scores from a fold adapter that
    did not train on it (for the adapter with this digest)."""
    return data_dir / "cache" / f"e5-market-oof-{adapter_digest}.npz"
