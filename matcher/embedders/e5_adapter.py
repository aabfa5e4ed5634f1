"""A low-rank adapter for multilingual-e5-small: what the market's own texts and the judged tune needs teach it.

e5-small was trained on general web text; needs and achievements are written in their own register (boilerplate
about the company, the listing's maturity and terms, technical nouns that segment oddly). A full fine-tune would
have to ship the whole encoder (over 80 MB); a low-rank adapter (LoRA: ΔW = (α / r) · B · A beside each adapted
matrix) is a few hundred kilobytes, lives in the repository beside the code that made it, and is merged into the
dequantized weights once at load, so encoding costs exactly what the plain model does.

:class:`TrainableE5` is the same network as :class:`matcher.embedders.e5_torch.TorchE5` (same weights, tokenizer,
pooling), differentiable, with the adapter's matrices as its only parameters; :func:`train` fits them with an
in-batch contrastive loss (InfoNCE, judged non-relevant achievements as extra negatives);
:func:`save_adapter` / :func:`load_adapter` write and read the file that :class:`TorchE5` merges
(``tools/train_e5_adapter.py`` makes the shipped one; ``docs/matcher.md`` has how it was chosen).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matcher.embedders.e5_torch import PackedE5, packed_model_path

#: the packed file's matrices an adapter may adapt (per layer): attention q / k / v / output, FFN in / out
TARGETS = ("q", "k", "v", "ao", "fi", "fo")
FORMAT = "techmatch-e5-lora-1"


@dataclass(frozen=True)
class TrainingPair:
    """One training example: a query (a need, as the engine reads it), an achievement that answers it, and
    achievements that do not (judged 0; may be empty: the batch's other passages are negatives anyway)."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    weight: float = 1.0
    #: every passage judged relevant to this query (the positive among them): never its negative when another
    #: pair of the batch brings one in (two positives of one need, or a need's answer judged 0 for another)
    relevant: frozenset[str] = frozenset()


@dataclass
class TrainingConfig:
    """The shipped adapter's settings: chosen by 3-fold cross-validation over the tune needs (docs/matcher.md,
    *The market adapter*: rank 16 on every matrix ranked alike, 2 or 6 epochs worse)."""

    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ("q", "v", "fi", "fo")
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 3e-4
    #: InfoNCE temperature: e5's cosines are compressed (0.8-0.9), so a low temperature, as e5's own training
    temperature: float = 0.02
    negatives_per_pair: int = 1
    #: leave a passage out of a query's negatives when it is judged relevant to that query (``TrainingPair.relevant``)
    mask_known_positives: bool = False
    seed: int = 0
    threads: int = 2
    query_chars: int = 160
    passage_chars: int = 64
    log: Callable[[str], None] = field(default=print)


def model_digest(path: Path | None = None) -> str:
    """The base model file's identity (an adapter only fits the weights it was trained on)."""
    path = path or packed_model_path()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
    h.update(str(path.stat().st_size).encode())
    return h.hexdigest()[:16]


class TrainableE5:
    """e5-small as a differentiable function of its adapter's matrices (the base weights stay frozen)."""

    def __init__(self, rank: int, alpha: float, targets: Sequence[str], seed: int = 0,
                 packed: PackedE5 | None = None) -> None:
        import torch

        self.torch = torch
        m = self.packed = packed or PackedE5(packed_model_path())
        self.rank, self.alpha, self.targets = rank, alpha, tuple(targets)
        self.scale = alpha / rank
        gen = torch.Generator().manual_seed(seed)
        embeddings, layers = m.weights()

        def tensors(pair: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
            return torch.from_numpy(pair[0]), torch.from_numpy(pair[1])

        self.positions = torch.from_numpy(embeddings["positions"])
        self.token_type = torch.from_numpy(embeddings["token_type"])
        self.embedding_norm = tensors(embeddings["norm"])
        self.weights = [{name: tensors(pair) for name, pair in layer.items()} for layer in layers]
        self.lora: dict[str, tuple[Any, Any]] = {}
        for i, layer in enumerate(layers):
            for t in self.targets:
                n_out, n_in = layer[t][0].shape
                # LoRA's initialisation: A small random, B zero (the adapted model starts as the base one)
                a = (torch.randn(rank, n_in, generator=gen) / np.sqrt(n_in)).requires_grad_()
                b = torch.zeros(n_out, rank).requires_grad_()
                self.lora[f"l{i}.{t}"] = (a, b)

    def parameters(self) -> list[Any]:
        return [x for pair in self.lora.values() for x in pair]

    def tokens(self, texts: Sequence[str], prefix: str, chars: int) -> list[list[int]]:
        return [self.packed.sequence((t or " ")[:chars], prefix) for t in texts]

    def _linear(self, x: Any, i: int, t: str) -> Any:
        functional = self.torch.nn.functional
        w, b = self.weights[i][t]
        out = functional.linear(x, w, b)
        ab = self.lora.get(f"l{i}.{t}")
        if ab is not None:
            out = out + functional.linear(functional.linear(x, ab[0]), ab[1]) * self.scale
        return out

    def encode(self, seqs: Sequence[Sequence[int]]) -> Any:
        """Unit vectors, one per token sequence; differentiable in the adapter (under bfloat16 autocast)."""
        torch = self.torch
        functional = torch.nn.functional
        m = self.packed
        b, t, h, heads = len(seqs), max(map(len, seqs)), m.hidden, m.heads
        word_rows, mask = m.word_batch(seqs)
        words = torch.from_numpy(word_rows)
        x = functional.layer_norm(words + self.positions[:t] + self.token_type, (h,), *self.embedding_norm,
                                  eps=m.eps)
        keep = torch.from_numpy(mask)
        keys = keep[:, None, None, :]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            for i, layer in enumerate(self.weights):
                q, k, v = (self._linear(x, i, name).reshape(b, t, heads, h // heads).transpose(1, 2)
                           for name in ("q", "k", "v"))
                ctx = functional.scaled_dot_product_attention(q, k, v, attn_mask=keys)
                ctx = ctx.transpose(1, 2).reshape(b, t, h)
                x = functional.layer_norm(x + self._linear(ctx, i, "ao").float(), (h,), *layer["aln"], eps=m.eps)
                mid = functional.gelu(self._linear(x, i, "fi"))
                x = functional.layer_norm(x + self._linear(mid, i, "fo").float(), (h,), *layer["oln"], eps=m.eps)
        weights = keep[..., None].float()
        pooled = (x.float() * weights).sum(1) / weights.sum(1)
        return functional.normalize(pooled, dim=-1)

    def adapter(self) -> dict[str, np.ndarray]:
        return {f"{name}.{part}": x.detach().numpy().astype(np.float32)
                for name, (a, b) in self.lora.items() for part, x in (("A", a), ("B", b))}


def batch_loss(model: TrainableE5, batch: Sequence[TrainingPair], config: TrainingConfig,
               rng: random.Random) -> Any:
    """The batch's weighted InfoNCE: each query against its positive, every other passage of the batch (the other
    pairs' positives and the near misses drawn for them) as its negatives."""
    import torch

    queries = model.tokens([p.query for p in batch], "query: ", config.query_chars)
    passages = [p.positive for p in batch]
    for p in batch:
        if p.negatives:
            passages.extend(rng.sample(list(p.negatives), min(config.negatives_per_pair, len(p.negatives))))
    # one passage text appearing twice in the batch (a popular achievement, the positive of two needs) would
    # be its own negative: each text once, and both needs' labels point at it
    unique = list(dict.fromkeys(passages))
    where = {text: i for i, text in enumerate(unique)}
    labels = torch.tensor([where[p.positive] for p in batch])
    q = model.encode(queries)
    d = model.encode(model.tokens(unique, "passage: ", config.passage_chars))
    logits = q @ d.T / config.temperature
    if config.mask_known_positives:
        known = torch.tensor([[text in p.relevant and where[p.positive] != j for j, text in enumerate(unique)]
                              for p in batch])
        logits = logits.masked_fill(known, float("-inf"))
    weights = torch.tensor([p.weight for p in batch])
    return (torch.nn.functional.cross_entropy(logits, labels, reduction="none") * weights).sum() / weights.sum()


def optimise(params: Sequence[Any], items: Sequence[Any], batch_size: int, epochs: int,
             loss_of: Callable[[list[Any]], Any], rng: random.Random, learning_rate: float,
             log: Callable[[str], None], log_every: int = 10) -> None:
    """The training loop every e5-based model here shares: ``epochs`` passes over ``items`` in batches shuffled by
    ``rng`` (a last partial batch dropped), AdamW, a linear warm-up over a tenth of the steps then linear decay, the
    gradient clipped at norm 1. ``loss_of(batch)`` gives the batch's loss."""
    import torch

    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    steps_per_epoch = max(1, len(items) // batch_size)
    total = steps_per_epoch * epochs
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    step = 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = list(range(len(items)))
        rng.shuffle(order)
        for start in range(0, steps_per_epoch * batch_size, batch_size):
            loss = loss_of([items[i] for i in order[start:start + batch_size]])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % log_every == 0 or step == total:
                log(f"  epoch {epoch + 1} step {step}/{total} loss {loss.item():.3f} "
                    f"({time.perf_counter() - t0:.0f} s)")


def train(pairs: Sequence[TrainingPair], config: TrainingConfig,
          model: TrainableE5 | None = None) -> TrainableE5:
    """Fits an adapter to ``pairs``: each query against its positive, the batch's other positives and the
    negatives given (InfoNCE at ``config.temperature``), by :func:`optimise`."""
    import torch

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    trained = model or TrainableE5(config.rank, config.alpha, config.targets, seed=config.seed)
    rng = random.Random(config.seed)
    optimise(trained.parameters(), pairs, config.batch_size, config.epochs,
             lambda batch: batch_loss(trained, batch, config, rng), rng, config.learning_rate, config.log)
    return trained


def soup(models: Sequence[TrainableE5]) -> TrainableE5:
    """One adapter whose weight change is the mean of ``models``' (trained alike from different seeds): a mean
    of small-data fine-tunes varies less than any one of them. The mean of k rank-r products is one product of
    rank k·r (the A matrices stacked, the B matrices side by side, scale α / (k·r)), so the file format and the
    merged encoder's cost stay as they are."""
    import copy

    import torch

    first = models[0]
    if any((m.rank, m.alpha, m.targets) != (first.rank, first.alpha, first.targets) for m in models):
        raise ValueError("an adapter soup needs adapters of one rank, alpha and set of matrices")
    out = copy.copy(first)
    out.rank = first.rank * len(models)
    out.scale = first.alpha / out.rank
    out.lora = {name: (torch.cat([m.lora[name][0].detach() for m in models], dim=0),
                       torch.cat([m.lora[name][1].detach() for m in models], dim=1))
                for name in first.lora}
    return out


def save_adapter(path: Path, model: TrainableE5, provenance: dict[str, Any]) -> None:
    meta = {"format": FORMAT, "rank": model.rank, "alpha": model.alpha, "targets": list(model.targets),
            "base": model_digest(), **provenance}
    payload: dict[str, Any] = {k: v.astype(np.float16) for k, v in model.adapter().items()}
    payload["meta"] = np.array(json.dumps(meta, ensure_ascii=False))
    tmp = path.with_name(path.name + ".part.npz")
    np.savez_compressed(tmp, **payload)
    tmp.replace(path)


@dataclass(frozen=True)
class Adapter:
    meta: dict[str, Any]
    #: the file's content hash (names the cross-fitted scores made with it)
    digest: str
    #: per adapted matrix (``l3.q``): its weight change ΔW = (α / r) · B · A, float32
    deltas: dict[str, np.ndarray]


def adapter_digest(path: Path) -> str:
    """The adapter file's content hash (:attr:`Adapter.digest`), without reading its weights."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def load_adapter(path: Path) -> Adapter:
    digest = adapter_digest(path)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not an e5 adapter of this version")
        scale = float(meta["alpha"]) / int(meta["rank"])
        names = sorted({k.rsplit(".", 1)[0] for k in data.files if k != "meta"})
        deltas = {n: (data[n + ".B"].astype(np.float32) @ data[n + ".A"].astype(np.float32)) * scale
                  for n in names}
    return Adapter(meta, digest, deltas)


def encode_texts(model: TrainableE5, texts: Sequence[str], prefix: str, chars: int,
                 batch_size: int = 64) -> np.ndarray:
    """Unit rows for ``texts`` by a model being trained (no gradients; sorted by length to pad little)."""
    import torch

    out = np.zeros((len(texts), model.packed.hidden), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = model.encode(model.tokens([texts[i] for i in chunk], prefix, chars)).numpy()
    return out
