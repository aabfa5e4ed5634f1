"""Recalibrating the confidence from a deployment's own verdicts and deals.

The shipped curves (:data:`matcher.confidence.CURVES`) were fitted on the project's judged needs. A deployment's
brokers judge matches every day (accept / reject, and a signed contract counts as a strong accept); once they have
given enough verdicts of both kinds, :func:`recalibrate` refits the curve of the engine's channel set on them and
keeps it in ``data_dir/calibration/``, where every engine started on that data directory reads it
(:func:`load_fitted`).

Each verdict carries the pair's features as the engine saw them (its fused score, the query's supply strength,
the graph features), so the refit reads the same inputs the confidence reads. Only the latest verdict on a pair
counts; withdrawn ones are dropped. The new curve is kept only when it scores the verdicts better than the curve
in use (Brier score, each verdict scored by a curve fitted without its query's verdicts, grouped 10-fold):
a handful of one-sided verdicts must not replace a curve fitted on thousands of judged pairs.

Brokers judge what the engine showed them (its first page), so the verdicts over-represent confident candidates;
the refit corrects the curve's level where brokers look, which is where its figures are read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graph.files import write_private
from graph.model import Feedback, NodeLabel, Verdict
from graph.store import GraphStore
from matcher.confidence import Calibrator, Curve
from matcher.questions.common import graph_delta
from matcher.scores import ConfidenceInputs, MatchFeatures
from matcher.tuning import FOLDS, GRAPH_WEIGHTS, MIN_EACH, MIN_VERDICTS

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Recalibration:
    """What a recalibration run found and did."""

    channels: list[str]
    verdicts: int
    accepted: int
    brier_before: float
    brier_after: float
    adopted: bool
    reason: str
    path: str | None = None

    def line(self) -> str:
        if self.adopted:
            return (f"已根据 {self.verdicts} 条经纪人判断（{self.accepted} 条接受）重新校准置信度："
                    f"Brier 分数 {self.brier_before:.4f} → {self.brier_after:.4f}")
        return f"未更新置信度曲线：{self.reason}"


def calibration_dir(data_dir: Path) -> Path:
    return data_dir / "calibration"


def _key(channels: Collection[str]) -> str:
    return "+".join(sorted(channels))


def _row(features: MatchFeatures) -> ConfidenceInputs:
    """The confidence's inputs for one judged pair: fused, supply and the graph features' bonus."""
    bonus = sum(graph_delta(name, features.graph[name]) for name in GRAPH_WEIGHTS if name in features.graph)
    return ConfidenceInputs(fused=features.fused, supply=features.supply, bonus=bonus,
                            channels=features.channel_names)


def verdict_rows(store: GraphStore, channels: Collection[str]) -> tuple[list[ConfidenceInputs], list[bool],
                                                                        list[str]]:
    """(inputs, accepted, query id) of the latest verdict on each pair scored by exactly ``channels``."""
    latest: dict[tuple[str, str, str], Feedback] = {}
    for props in store.all_props(NodeLabel.FEEDBACK):
        try:
            fb = Feedback.from_props(props)
        except Exception as exc:  # one unreadable record must not stop the job
            log.warning("recalibration: skipping feedback %s: %s", props.get("id"), exc)
            continue
        key = (fb.question, fb.query_id, fb.candidate_id)
        held = latest.get(key)
        if held is None or (fb.at and held.at and fb.at >= held.at):
            latest[key] = fb
    wanted = frozenset(channels)
    rows: list[ConfidenceInputs] = []
    labels: list[bool] = []
    queries: list[str] = []
    for fb in latest.values():
        if fb.verdict == Verdict.WITHDRAWN or not fb.features:
            continue
        features = MatchFeatures.from_dict(fb.features)
        if features.channel_names != wanted:
            continue
        for _ in range(max(1, round(fb.strength))):  # a signed contract counts as several accepts
            rows.append(_row(features))
            labels.append(fb.verdict == Verdict.ACCEPT)
            queries.append(fb.query_id)
    return rows, labels, queries


def _brier(calibrator: Calibrator, rows: Sequence[ConfidenceInputs], labels: Sequence[bool]) -> float:
    conf = calibrator.confidences(rows)
    return float(np.mean((conf - np.asarray(labels, dtype=float)) ** 2))


def _held_out_brier(base: Curve, rows: list[ConfidenceInputs], labels: list[bool], queries: list[str]) -> float:
    """Each verdict scored by a curve refitted without its query's verdicts (the honest figure): grouped
    k-fold by query (at most :data:`FOLDS` refits, however many queries the deployment has judged)."""
    from sklearn.model_selection import GroupKFold

    y = np.asarray(labels, dtype=float)
    errors = np.empty(len(rows))
    folds = GroupKFold(n_splits=min(FOLDS, len(set(queries))))
    for train, test in folds.split(rows, y, groups=queries):
        fitted = Calibrator(curve=base).fit([rows[i] for i in train], [labels[i] for i in train])
        errors[test] = (fitted.confidences([rows[i] for i in test]) - y[test]) ** 2
    return float(errors.mean())


def recalibrate(store: GraphStore, data_dir: Path, channels: Collection[str],
                calibrator: Calibrator | None = None) -> Recalibration:
    """Refit the curve of ``channels`` on the deployment's verdicts; keep it when it beats the one in use."""
    current = calibrator or Calibrator()
    base = current.curve_for_channels(channels)
    rows, labels, queries = verdict_rows(store, channels)
    accepted = sum(labels)
    names = sorted(channels)
    if len(rows) < MIN_VERDICTS or min(accepted, len(rows) - accepted) < MIN_EACH:
        return Recalibration(names, len(rows), accepted, float("nan"), float("nan"), False,
                             f"判断太少（{len(rows)} 条，其中接受 {accepted} 条；至少需要 {MIN_VERDICTS} 条，"
                             f"接受和拒绝各至少 {MIN_EACH} 条）")
    before = _brier(current, rows, labels)
    after = _held_out_brier(base, rows, labels, queries)
    if not after < before:
        return Recalibration(names, len(rows), accepted, before, after, False,
                             f"新曲线对这些判断的 Brier 分数（{after:.4f}）不优于现用曲线（{before:.4f}）")
    fitted = Calibrator(curve=base).fit(rows, labels).custom
    assert fitted is not None
    curve = Curve(fitted.supply_weights, fitted.coefficients, fitted.intercept, fitted.gap_threshold,
                  tells_gaps=base.tells_gaps)
    path = calibration_dir(data_dir) / f"{_key(channels)}.json"
    write_private(path, json.dumps({
        "channels": names, "curve": curve.to_json(),
        "verdicts": len(rows), "accepted": accepted, "brier_before": before, "brier_held_out": after,
        "fitted_at": datetime.now(UTC).isoformat(),
    }, ensure_ascii=False, indent=1))
    return Recalibration(names, len(rows), accepted, before, after, True, "", str(path))


def load_fitted(data_dir: Path) -> dict[frozenset[str], Curve]:
    """The curves a deployment refitted on its own verdicts, by channel set (none: the shipped ones)."""
    out: dict[frozenset[str], Curve] = {}
    folder = calibration_dir(data_dir)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            out[frozenset(data["channels"])] = Curve.from_json(data["curve"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("recalibration: ignoring %s (%s)", path, exc)
    return out
