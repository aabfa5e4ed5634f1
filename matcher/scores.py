"""Named, typed scores of a (query, candidate) pair, as the questions compute them and the confidence reads them.

Inside the matcher a pair's evidence is a :class:`MatchFeatures`: its fused score, its query's supply strength,
one :class:`ChannelScore` per text channel and the graph features by name. Two edges need a flat
``{name: value}`` mapping, and each has one named function:

- the service's JSON (``Match.features``) and the ``Feedback`` node's stored features, which also train the
  learned re-ranker: :meth:`MatchFeatures.as_dict` writes it and :meth:`MatchFeatures.from_dict` (a stored
  verdict) reads it back;
- a fitted :class:`Curve` weighs named inputs: :meth:`ConfidenceInputs.as_dict`.

Nothing else builds or parses the flat names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: prefixes of the flat form's per-channel entries (see :meth:`MatchFeatures.as_dict`)
_Z, _RAW = "z_", "raw_"


@dataclass(frozen=True, slots=True)
class ChannelScore:
    """One text channel's verdict on one candidate for one query."""

    raw: float  #: the channel's own score (BM25, cosine ...)
    #: its background z-score: σ above the other documents for this query (:func:`matcher.fusion.background_z`)
    z: float
    share: float = 0.0  #: the channel's weighted share of the fused score (what it contributed)


@dataclass(frozen=True, slots=True)
class MatchFeatures:
    """What the engine knows about one (query, candidate) pair."""

    fused: float  #: the fused ranking score, before graph features and feedback
    supply: float  #: the query's supply strength (:meth:`Curve.supply_strength`)
    channels: Mapping[str, ChannelScore]  #: by channel name, in the fusion's order
    graph: Mapping[str, float] = field(default_factory=dict)  #: graph features by name, in [0, 1]

    @property
    def channel_names(self) -> frozenset[str]:
        """The channels that scored this pair (the confidence curve is chosen by this set)."""
        return frozenset(self.channels)

    def with_graph(self, graph: Mapping[str, float]) -> MatchFeatures:
        return MatchFeatures(self.fused, self.supply, self.channels, dict(graph))

    def as_dict(self) -> dict[str, float]:
        """The flat form (``fused``, ``supply``, ``z_<channel>``, ``raw_<channel>``, the graph features' names):
        the service's JSON, the ``Feedback`` node's stored features and the learned re-ranker's inputs."""
        out = {"fused": self.fused, "supply": self.supply}
        out.update({_Z + name: c.z for name, c in self.channels.items()})
        out.update({_RAW + name: c.raw for name, c in self.channels.items()})
        out.update(self.graph)
        return out

    @classmethod
    def from_dict(cls, flat: Mapping[str, float]) -> MatchFeatures:
        """The inverse of :meth:`as_dict`, for features stored with a verdict (a channel without its raw score
        reads 0)."""
        z: dict[str, float] = {}
        raw: dict[str, float] = {}
        graph: dict[str, float] = {}
        for key, value in flat.items():
            if key in ("fused", "supply"):
                continue
            if key.startswith(_Z):
                z[key[len(_Z):]] = float(value)
            elif key.startswith(_RAW):
                raw[key[len(_RAW):]] = float(value)
            else:
                graph[key] = float(value)
        channels = {name: ChannelScore(raw=raw.get(name, 0.0), z=v) for name, v in z.items()}
        return cls(float(flat.get("fused", 0.0)), float(flat.get("supply", 0.0)), channels, graph)


@dataclass(frozen=True, slots=True)
class ConfidenceInputs:
    """What the calibrated confidence reads of a candidate (see :mod:`matcher.confidence`)."""

    fused: float  #: the fused ranking score
    supply: float  #: the query's supply strength
    bonus: float  #: what graph features and the learned re-ranker added to the fused score
    channels: frozenset[str]  #: the channels that scored it (they choose the curve)

    def as_dict(self) -> dict[str, float]:
        """By the names a :class:`Curve`'s ``coefficients`` use."""
        return {"fused": self.fused, "supply": self.supply, "bonus": self.bonus}


@dataclass(frozen=True)
class Curve:
    """One fitted confidence curve and the gap threshold fitted with it.

    ``supply_weights`` weigh a document's channel z-scores (by channel name) into how well it answers the
    query on an absolute scale; a query's *supply strength* is the best of that over the whole corpus.
    ``coefficients`` read a candidate's ``fused`` ranking score, its query's ``supply`` strength and the
    ``bonus`` graph features and feedback added to the fused score (weighted like it, so the confidence is
    monotone in the final ranking score: the list's order and its confidences agree).
    """

    supply_weights: Mapping[str, float]
    coefficients: Mapping[str, float]
    intercept: float
    gap_threshold: float
    #: leave-one-need-out gap_auc measured when it was fitted (documentation, not used)
    loo_gap_auc: float = field(default=math.nan, compare=False)
    #: whether the top confidence tells needs with supply from needs without better than chance (one-sided
    #: bootstrap test at 5 % on the leave-one-need-out confidences of the tuning needs); when not, the engine
    #: shows no gap verdicts and says why
    tells_gaps: bool = True

    def logit(self, inputs: ConfidenceInputs) -> float:
        named = inputs.as_dict()
        return self.intercept + sum(c * float(named.get(f, 0.0)) for f, c in self.coefficients.items())

    def supply_strength(self, z: Mapping[str, np.ndarray]) -> float:
        """max over the documents of Σ weight × z-score (0 for an empty corpus)."""
        total: np.ndarray | None = None
        for name, w in self.supply_weights.items():
            values = z.get(name)
            if values is None or not len(values):
                continue
            total = w * values if total is None else total + w * values
        return float(total.max()) if total is not None else 0.0

    def to_json(self) -> dict[str, object]:
        """The JSON form a refitted curve is kept in (``data_dir/calibration``)."""
        return {"supply_weights": dict(self.supply_weights), "coefficients": dict(self.coefficients),
                "intercept": self.intercept, "gap_threshold": self.gap_threshold, "tells_gaps": self.tells_gaps}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Curve:
        """The inverse of :meth:`to_json`; also reads the files written before supply weights were keyed by
        channel name (``z_<channel>``)."""
        weights = data["supply_weights"]
        coefficients = data["coefficients"]
        if not isinstance(weights, Mapping) or not isinstance(coefficients, Mapping):
            raise TypeError("supply_weights and coefficients must be objects")
        return cls(
            {str(k).removeprefix(_Z): _number(v) for k, v in weights.items()},
            {str(k): _number(v) for k, v in coefficients.items()},
            _number(data["intercept"]),
            _number(data["gap_threshold"]),
            tells_gaps=bool(data.get("tells_gaps", True)),
        )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number: {value!r}")
    return float(value)
