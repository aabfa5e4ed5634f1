"""A corpus index on disk: immutable *generations* and a manifest naming the current one.

    data_dir/index/<corpus>/
        manifest.json            {"format", "generation", ...}: replaced atomically to switch generations
        g-<time>/                one generation, never changed once written (dense rows are added when ready)
            meta.json            what it was built from: channel signatures, dense row keys, document count
            docs/                ids, graph content hashes, text digests, titles and texts (UTF-8 blobs)
            lexical/<channel>/   the channel's arrays (see matcher.index.lexical)
            dense/<key>.npy      rows of a dense encoding, by position
            dense/<key>.coarse-{basis,mean,rows}.npy   their projection for the two-stage product (large corpora)

Everything is read back memory-mapped: a restart maps the files instead of rebuilding, and several worker
processes map the same pages. A generation is valid for a configuration when its format and every lexical
channel's signature match (analyser, stop words, weighting); dense rows are matched by encoding key, so a
changed encoder leaves the lexical part valid and only re-embeds.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.index.corpus import CorpusIndex
from matcher.index.dense import COARSE_FROM, ROWS_ON_DISK, CoarseRows, DenseIndex, RowBlock
from matcher.index.docs import DocTable, TextColumn
from matcher.index.files import load_array, private_dir, read_json, save_array, write_bytes, write_json
from matcher.index.lexical import Analyzer, LexicalBase, LexicalIndex, LexicalScheme
from matcher.index.vectors import DIGEST_DTYPE, safe_name

#: bump when the layout of a generation changes: older generations are then rebuilt, never misread
FORMAT = 1


@dataclass(frozen=True)
class LexicalSpec:
    """A lexical channel as configured: its analyser and weighting, and a signature of both."""

    name: str
    analyzer: Analyzer
    scheme: LexicalScheme
    signature: str

    def build(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> LexicalIndex:
        return LexicalIndex.build(self.name, self.analyzer, self.scheme, texts, progress)

    def load(self, base: LexicalBase) -> LexicalIndex:
        return LexicalIndex.from_base(self.name, self.analyzer, self.scheme, base)


def corpus_dir(root: Path, corpus: str) -> Path:
    return Path(root) / corpus


def read_manifest(root: Path, corpus: str) -> dict | None:
    path = corpus_dir(root, corpus) / "manifest.json"
    try:
        manifest = read_json(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return manifest if manifest.get("format") == FORMAT else None


def write_manifest(root: Path, corpus: str, manifest: dict) -> None:
    write_json(corpus_dir(root, corpus) / "manifest.json", {**manifest, "format": FORMAT})


def new_generation_name() -> str:
    return f"g-{time.time_ns():020d}"


def write_generation(root: Path, corpus: str, index: CorpusIndex, specs: Sequence[LexicalSpec]) -> str:
    """Write a compacted corpus index as a new generation directory (not yet current) and return its name."""
    if index.docs.n_rows != len(index.docs) or any(len(ch.delta) for ch in index.lexical):
        raise ValueError("only a compacted index (no dead rows, no delta) is written as a generation")
    name = new_generation_name()
    gen = private_dir(corpus_dir(root, corpus) / f".{name}.tmp")
    docs = index.docs
    private_dir(gen / "docs")
    write_json(gen / "docs" / "ids.json", list(docs.ids))
    write_json(gen / "docs" / "sources.json", list(docs.sources))
    save_array(gen / "docs" / "digests.npy", np.asarray(docs.digests, dtype=DIGEST_DTYPE))
    for col_name, col in (("texts", docs.texts), ("titles", docs.titles)):
        save_array(gen / "docs" / f"{col_name}.blob.npy", np.asarray(col.blob, np.uint8))
        save_array(gen / "docs" / f"{col_name}.offsets.npy", np.asarray(col.offsets, np.int64))
    sigs = {s.name: s.signature for s in specs}
    for lex in index.lexical:
        d = private_dir(gen / "lexical" / lex.name)
        for key, arr in lex.base.arrays().items():
            save_array(d / f"{key}.npy", arr)
    dense: dict[str, str] = {}
    for den in index.dense:
        if den.rows is not None and den.encoding.key not in dense:
            dense[den.encoding.key] = _write_rows(gen, den)
    write_json(gen / "meta.json", {"format": FORMAT, "corpus": corpus, "documents": len(docs),
                                   "lexical": {ch.name: sigs[ch.name] for ch in index.lexical}, "dense": dense})
    final = corpus_dir(root, corpus) / name
    gen.rename(final)
    return name


def _write_rows(gen: Path, ch: DenseIndex) -> str:
    assert ch.rows is not None and not len(ch.rows.tail)
    return _save_rows(gen, ch.encoding.key, ch.rows.base, ch.rows.coarse)


def _save_rows(gen: Path, key: str, rows: np.ndarray, coarse: CoarseRows | None) -> str:
    """The rows, and for a large block their projection (fitted here when not given), as files of ``gen``."""
    file = f"{safe_name(key)}.npy"
    d = private_dir(gen / "dense")
    if coarse is None and len(rows) >= COARSE_FROM:
        coarse = CoarseRows.fit(rows)
    if coarse is not None:  # before the rows: a generation whose rows are listed has its projection too
        for part, arr in coarse.arrays().items():
            save_array(d / f"{safe_name(key)}.coarse-{part}.npy", arr)
    # a large block's rows are read only for the few rows its projection picks: half-precision on disk halves what
    # the mapped file holds in memory, and the picked rows are multiplied in float32 (``RowBlock.dot``)
    save_array(d / file, np.asarray(rows, ROWS_ON_DISK if coarse is not None else np.float32))
    return file


def _load_rows(gen: Path, file: str) -> RowBlock:
    base = load_array(gen / "dense" / file)
    stem = file[: -len(".npy")]
    parts = {part: gen / "dense" / f"{stem}.coarse-{part}.npy" for part in ("basis", "mean", "rows")}
    if len(base) >= COARSE_FROM and all(p.exists() for p in parts.values()):
        return RowBlock.of(base, CoarseRows(**{part: load_array(p) for part, p in parts.items()}))
    return RowBlock.of(base)  # fits the projection here when the block is large (a generation written before)


def add_dense_rows(root: Path, corpus: str, generation: str, key: str, rows: np.ndarray,
                   coarse: CoarseRows | None = None) -> None:
    """Add a dense encoding's rows (one per document, in position order) to an existing generation, with their
    projection (``coarse``, fitted here for a large block when not given)."""
    gen = corpus_dir(root, corpus) / generation
    meta = read_json(gen / "meta.json")
    if len(rows) != meta["documents"]:
        raise ValueError(f"{len(rows)} rows for a generation of {meta['documents']} documents")
    file = _save_rows(gen, key, rows, coarse)
    meta["dense"][key] = file
    write_json(gen / "meta.json", meta)


def load_generation(root: Path, corpus: str, generation: str, specs: Sequence[LexicalSpec],
                    dense: Sequence[DenseIndex]) -> CorpusIndex | None:
    """The generation as a corpus index (arrays memory-mapped), or None when it does not fit the configured
    channels (another format, another analyser or weighting) or cannot be read."""
    gen = corpus_dir(root, corpus) / generation
    try:
        meta = read_json(gen / "meta.json")
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if meta.get("format") != FORMAT or meta.get("lexical") != {s.name: s.signature for s in specs}:
        return None
    try:
        d = gen / "docs"
        ids = tuple(read_json(d / "ids.json"))
        docs = DocTable(
            ids=ids, alive=np.ones(len(ids), bool),
            texts=TextColumn(load_array(d / "texts.blob.npy"), load_array(d / "texts.offsets.npy")),
            titles=TextColumn(load_array(d / "titles.blob.npy"), load_array(d / "titles.offsets.npy")),
            sources=tuple(read_json(d / "sources.json")),
            digests=tuple(x.decode() for x in load_array(d / "digests.npy", mmap=False)), n_base=len(ids),
        )
        lexical = []
        for spec in specs:
            ld = gen / "lexical" / spec.name
            base = LexicalBase(**{k: load_array(ld / f"{k}.npy") for k in
                                  ("terms", "indptr", "rows", "tf", "doclen", "norm", "df")})
            lexical.append(spec.load(base))
        blocks: dict[str, RowBlock] = {}
        channels = []
        for ch in dense:
            file = meta.get("dense", {}).get(ch.encoding.key)
            if file is None:
                channels.append(ch)
                continue
            if ch.encoding.key not in blocks:
                blocks[ch.encoding.key] = _load_rows(gen, file)
            rows = blocks[ch.encoding.key]
            channels.append(ch.with_rows(rows) if len(rows) == len(ids) else ch)
    except (OSError, ValueError, KeyError):
        return None
    return CorpusIndex(docs=docs, lexical=tuple(lexical), dense=tuple(channels), generation=generation)


def prune_generations(root: Path, corpus: str, keep: Sequence[str]) -> None:
    """Delete generations other than ``keep`` (and leftovers of interrupted writes)."""
    cdir = corpus_dir(root, corpus)
    if not cdir.exists():
        return
    for p in cdir.iterdir():
        if p.is_dir() and p.name.startswith(("g-", ".g-")) and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


__all__ = ["FORMAT", "LexicalSpec", "add_dense_rows", "load_generation", "prune_generations", "read_manifest",
           "write_bytes", "write_generation", "write_manifest"]
