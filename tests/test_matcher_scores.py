"""The typed features of a pair (matcher.scores) and the tunable constants (matcher.tuning)."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.scores import ChannelScore, ConfidenceInputs, Curve, MatchFeatures
from matcher.tuning import CURVES


def test_features_read_back_from_their_stored_flat_form_are_the_same_features() -> None:
    features = MatchFeatures(
        fused=2.5, supply=7.0,
        channels={"bm25_words": ChannelScore(raw=11.0, z=4.0), "dense": ChannelScore(raw=0.91, z=3.5)},
        graph={"chain_same_segment": 1.0, "budget_fit": 0.5},
    )
    flat = features.as_dict()
    assert flat == {"fused": 2.5, "supply": 7.0, "z_bm25_words": 4.0, "z_dense": 3.5, "raw_bm25_words": 11.0,
                    "raw_dense": 0.91, "chain_same_segment": 1.0, "budget_fit": 0.5}
    assert MatchFeatures.from_dict(flat) == features
    assert MatchFeatures.from_dict(flat).channel_names == {"bm25_words", "dense"}


def test_a_channel_share_is_not_part_of_the_stored_form() -> None:
    features = MatchFeatures(1.0, 2.0, {"dense": ChannelScore(raw=0.9, z=3.0, share=0.7)})
    flat = features.as_dict()
    assert 0.7 not in flat.values() and MatchFeatures.from_dict(flat).channels["dense"].share == 0.0


@pytest.mark.parametrize("channels", list(CURVES))
def test_every_shipped_curve_weighs_only_the_channels_it_was_fitted_for(channels: frozenset[str]) -> None:
    # a weight under any other name (say z_dense) would silently drop that channel from the supply strength
    assert set(CURVES[channels].supply_weights) == channels


def test_a_calibration_file_with_z_prefixed_supply_weights_still_loads() -> None:
    curve = Curve.from_json({"supply_weights": {"z_dense": 2.0, "z_bm25_words": 1.0},
                             "coefficients": {"fused": 1.0, "supply": 0.5, "bonus": 1.0},
                             "intercept": -1.0, "gap_threshold": 0.2, "tells_gaps": False})
    assert curve.supply_weights == {"dense": 2.0, "bm25_words": 1.0} and not curve.tells_gaps
    assert curve.supply_strength({"dense": np.array([1.0, 3.0]), "bm25_words": np.array([2.0, 0.0])}) == 6.0
    assert Curve.from_json(curve.to_json()) == curve


def test_a_curve_reads_the_named_confidence_inputs() -> None:
    curve = Curve({}, {"fused": 2.0, "supply": 0.5, "bonus": 3.0}, intercept=-1.0, gap_threshold=0.0)
    inputs = ConfidenceInputs(fused=1.0, supply=4.0, bonus=0.5, channels=frozenset({"dense"}))
    assert curve.logit(inputs) == -1.0 + 2.0 + 2.0 + 1.5


def test_a_calibration_file_with_a_non_number_is_refused() -> None:
    with pytest.raises(TypeError):
        Curve.from_json({"supply_weights": {}, "coefficients": {}, "intercept": None, "gap_threshold": 0.2})
