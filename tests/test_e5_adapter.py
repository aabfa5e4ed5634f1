"""The market adapter for e5-small: trained, saved, merged into the serving engines (torch and NumPy), named in the
settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from matcher.embedders.e5_adapter import (  # noqa: E402
    TrainableE5,
    TrainingConfig,
    TrainingPair,
    batch_loss,
    encode_texts,
    load_adapter,
    model_digest,
    save_adapter,
    soup,
    train,
)
from matcher.embedders.e5_small import SHIPPED_ADAPTER, E5MarketEmbedder, E5SmallEmbedder  # noqa: E402
from matcher.embedders.e5_torch import TorchE5  # noqa: E402

NEEDS = ["寻求尼龙66复合材料增韧改性技术，解决低温冲击强度不足的问题", "需要高压开关柜局部放电在线监测方案"]
PASSAGES = ["一种低温增韧尼龙66复合材料及其制备方法", "高压开关柜局部放电超声波在线监测装置",
            "一种中药提取物的制备方法", "碳纤维增强环氧树脂预浸料"]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def base_engine() -> TorchE5:
    return TorchE5()


def test_the_trainable_network_encodes_as_the_serving_engine_before_training(base_engine: TorchE5) -> None:
    model = TrainableE5(rank=4, alpha=8, targets=("q", "v"))
    mine = encode_texts(model, PASSAGES, "passage: ", 64)
    assert _cos(mine, base_engine.passage(PASSAGES)).min() > 0.999


def test_training_pulls_each_need_towards_the_achievement_judged_to_answer_it(tmp_path: Path) -> None:
    pairs = [TrainingPair(NEEDS[0], PASSAGES[3], (PASSAGES[0],)), TrainingPair(NEEDS[1], PASSAGES[2], ())]
    config = TrainingConfig(rank=4, alpha=8, targets=("q", "v", "fi", "fo"), epochs=6, batch_size=2,
                            learning_rate=3e-3, log=lambda _: None)
    model = TrainableE5(config.rank, config.alpha, config.targets)
    before = encode_texts(model, NEEDS, "query: ", 160) @ encode_texts(model, PASSAGES, "passage: ", 64).T
    train(pairs, config, model)
    after = encode_texts(model, NEEDS, "query: ", 160) @ encode_texts(model, PASSAGES, "passage: ", 64).T
    # the (deliberately odd) judged answers gain on the achievement that competed with them
    assert after[0, 3] - after[0, 0] > before[0, 3] - before[0, 0] + 0.01
    assert after[1, 2] - after[1, 1] > before[1, 2] - before[1, 1] + 0.01

    path = tmp_path / "adapter.npz"
    save_adapter(path, model, {"trained_on": "a test"})
    adapter = load_adapter(path)
    assert adapter.meta["base"] == model_digest() and adapter.meta["rank"] == 4
    served = TorchE5(deltas=adapter.deltas)
    # the served engine (adapter merged into its weights, float16 on disk) ranks as the trained network did
    again = served.query(NEEDS) @ served.passage(PASSAGES).T
    assert np.abs(again - after).max() < 0.02
    assert (again.argmax(axis=1) == after.argmax(axis=1)).all()


def test_an_achievement_judged_relevant_to_a_need_is_never_its_negative_when_masking() -> None:
    import random

    # two answers judged relevant to one need, in one batch: unmasked, each is the other pair's negative
    both = frozenset(PASSAGES[:2])
    batch = [TrainingPair(NEEDS[0], PASSAGES[0], relevant=both), TrainingPair(NEEDS[0], PASSAGES[1], relevant=both)]
    model = TrainableE5(rank=4, alpha=8, targets=("q",))
    config = TrainingConfig(rank=4, alpha=8, targets=("q",), log=lambda _: None)
    unmasked = batch_loss(model, batch, config, random.Random(0)).item()
    masked = batch_loss(model, batch, TrainingConfig(rank=4, alpha=8, targets=("q",), mask_known_positives=True,
                                                     log=lambda _: None), random.Random(0)).item()
    assert unmasked > 0.1
    assert masked == pytest.approx(0.0, abs=1e-6)  # nothing left to tell each query's answer from
    # a near miss of the need still counts against it
    batch = [TrainingPair(NEEDS[0], PASSAGES[0], (PASSAGES[2],), relevant=both)]
    config = TrainingConfig(rank=4, alpha=8, targets=("q",), mask_known_positives=True, log=lambda _: None)
    assert batch_loss(model, batch, config, random.Random(0)).item() > 0.0


def test_an_adapter_soup_changes_the_weights_by_the_mean_of_its_members_changes(tmp_path: Path) -> None:
    members = []
    for seed in (1, 2, 3):
        model = TrainableE5(rank=2, alpha=4, targets=("q", "fo"), seed=seed)
        gen = torch.Generator().manual_seed(100 + seed)
        model.lora = {name: (a, torch.randn(b.shape, generator=gen) * 0.01) for name, (a, b) in model.lora.items()}
        path = tmp_path / f"member{seed}.npz"
        save_adapter(path, model, {"trained_on": "a test"})
        members.append((model, load_adapter(path).deltas))
    mixed = soup([m for m, _ in members])
    path = tmp_path / "soup.npz"
    save_adapter(path, mixed, {"trained_on": "a test"})
    deltas = load_adapter(path).deltas
    assert set(deltas) == set(members[0][1]) and load_adapter(path).meta["rank"] == 6
    for name, delta in deltas.items():
        mean = sum(d[name] for _, d in members) / 3
        assert np.abs(delta - mean).max() < 5e-3 * np.abs(mean).max() + 1e-6  # float16 on disk
    with pytest.raises(ValueError):
        soup([members[0][0], TrainableE5(rank=4, alpha=4, targets=("q", "fo"))])


def test_the_shipped_adapter_was_trained_on_the_tune_part_only() -> None:
    from evaluation.judged import judged

    meta = load_adapter(SHIPPED_ADAPTER).meta
    assert meta["trained_on"] == "eval/judging tune part"
    assert meta["needs"] == len(judged("tune"))
    assert meta["base"] == model_digest()


def test_without_torch_numpy_runs_the_adapted_model_as_torch_does() -> None:
    torch_side = E5MarketEmbedder(engine="torch")
    numpy_side = E5MarketEmbedder(engine="numpy")
    texts = NEEDS + PASSAGES
    a, b = torch_side.embed_passages(texts), numpy_side.embed_passages(texts)
    assert _cos(a, b).min() > 0.999
    assert _cos(torch_side.embed_queries(NEEDS), numpy_side.embed_queries(NEEDS)).min() > 0.999
    assert numpy_side.engine == "numpy" and torch_side.engine == "torch"
    # and it is the adapted model, not the plain one, that runs
    plain = E5SmallEmbedder(engine="torch").embed_passages(texts)
    assert _cos(b, plain).mean() < 0.99


def test_the_settings_name_the_market_encoder_and_its_rows_are_never_mixed_with_plain_e5s() -> None:
    from matcher.embedders.registry import check_spec, make_embedder

    check_spec("e5-market")
    market = make_embedder("e5-market")
    plain = make_embedder("e5-small")
    assert isinstance(market, E5MarketEmbedder) and isinstance(plain, E5SmallEmbedder)
    assert market.spec == "e5-market@64"
    assert market.vector_key != plain.vector_key and market.query_key != plain.query_key
    shorter = make_embedder("e5-market@48")
    assert isinstance(shorter, E5MarketEmbedder) and shorter.vector_key.startswith("e5-market@48.")


def test_rows_and_query_vectors_made_with_one_adapter_are_never_read_as_another_adapters(tmp_path: Path) -> None:
    from matcher.embedders.e5_adapter import adapter_digest

    retrained = tmp_path / "retrained.npz"
    data = dict(np.load(SHIPPED_ADAPTER, allow_pickle=False))
    first = next(k for k in data if k != "meta")
    data[first] = data[first] * 1.01  # a retrained adapter: other weights, same format
    np.savez(retrained, **data)
    shipped, other = E5MarketEmbedder(), E5MarketEmbedder(adapter=retrained)
    assert shipped.vector_key.endswith(adapter_digest(SHIPPED_ADAPTER)[:12])
    assert shipped.vector_key != other.vector_key and shipped.query_key != other.query_key
    assert E5MarketEmbedder(adapter=retrained).vector_key == other.vector_key  # the same file, the same rows
