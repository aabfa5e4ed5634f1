"""Each chain's clustering of its unmet needs into topics, kept on disk and read while its inputs are unchanged.

At 30,000 needs, clustering the unmet needs of every chain (TF-IDF over words and character n-grams, cosine
distances, average linkage: quadratic in a chain's needs) was most of a topics view's time, and it answers the
same as long as the same texts are clustered with the same settings. A clustering is kept under the digest of
everything it depends on: the texts in their order, the distance threshold, the analyser
(:func:`~matcher.index.channels.vocabulary_digest`), scikit-learn's version and :data:`VERSION` (bump it when
the clustering code changes what it returns). A need edited, met or unmet now changes its chain's texts, so that
chain is clustered again and the others are read; there is nothing to invalidate.

    data_dir/index/topics/clusters.json     {digest: groups of indices into the texts}

The file is private (0600) and replaced atomically (it says which needs go together, like the topics do).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from matcher.index.files import read_json, write_bytes

#: what the clustering code returns; bump on a change to it (every kept clustering is then recomputed)
VERSION = "1"

Clusterer = Callable[[Sequence[str]], list[list[int]]]

_LOCK = threading.Lock()


def clusters_path(data_dir: Path) -> Path:
    """Where the clusterings of the data directory ``data_dir`` are kept."""
    return Path(data_dir) / "index" / "topics" / "clusters.json"


class StoredClusters:
    """Clusterings by the digest of their inputs, kept in the file ``path`` (:func:`clusters_path` of a data
    directory): read when kept, else computed and kept. :meth:`save` writes what changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._kept: dict[str, list[list[int]]] | None = None
        self._used: dict[str, list[list[int]]] = {}
        self._changed = False

    def _entries(self) -> dict[str, list[list[int]]]:
        if self._kept is None:
            try:
                self._kept = read_json(self.path)
            except (OSError, json.JSONDecodeError):
                self._kept = {}
        return self._kept

    @staticmethod
    def digest(texts: Sequence[str], distance_threshold: float) -> str:
        from importlib import metadata

        from matcher.index.channels import vocabulary_digest

        h = hashlib.blake2b(digest_size=16)
        head = [VERSION, vocabulary_digest(), metadata.version("scikit-learn"), repr(float(distance_threshold))]
        h.update(json.dumps(head).encode("utf-8"))
        for text in texts:
            h.update(b"\x00" + text.encode("utf-8"))
        return h.hexdigest()

    def groups(self, texts: Sequence[str], distance_threshold: float, cluster: Clusterer) -> list[list[int]]:
        """The groups of ``texts`` (what ``cluster(texts)`` returns): kept, or computed now and kept."""
        key = self.digest(texts, distance_threshold)
        found = self._entries().get(key)
        if found is None:
            found = [list(map(int, g)) for g in cluster(texts)]
            self._changed = True
        self._used[key] = found
        return found

    def save(self, exactly: bool = True) -> None:
        """Write what changed. ``exactly`` (a view of every chain): keep only the clusterings used since the last
        save (the others are of texts no longer clustered together); else add them to those kept."""
        kept = self._entries()
        keep = self._used if exactly else {**kept, **self._used}
        if self._changed or set(keep) != set(kept):
            with _LOCK:
                write_bytes(self.path, json.dumps(keep, separators=(",", ":")).encode("utf-8"))
        self._kept, self._used, self._changed = keep, {}, False
