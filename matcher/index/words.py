"""Words and key terms of texts (needs' texts: the bureau's candidate topics), computed once and kept on disk.

A view that clusters unmet needs and names the clusters needs each need's jieba words and key terms; cutting
every text again on every view was most of a topics view's time. They are kept here by the digest of the text
itself, so a need whose text changed is simply not found and is analysed again (nothing to invalidate), and
in one file per analyser (:func:`~matcher.index.channels.vocabulary_digest`: another jieba, vocabulary or stop
word list starts a new file, the old one is removed).

    data_dir/index/words/<analyser digest>.json     {text digest: [words, key terms]}

``techmatch bureau refresh`` analyses every need and keeps exactly those (texts no longer in the graph are
dropped); a view adds what it misses. The file is private (0600) and replaced atomically: it holds words of
confidential needs, like the needs index does.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matcher.index.files import read_json, write_bytes

#: key terms kept per text, best first (a view asks for fewer: the first ones are the same)
KEYWORDS = 16

_MEMO: dict[str, tuple[int, dict[str, list[list[str]]]]] = {}
_LOCK = threading.Lock()


def clear_memo() -> None:
    """Forget the word files read so far: the next :class:`StoredWords` lookup reads its file from disk, as a
    fresh process would (a benchmark timing a first view)."""
    with _LOCK:
        _MEMO.clear()


@dataclass(frozen=True)
class Analysed:
    words: tuple[str, ...]  #: ``ingest.text.tokenize(text)``
    keywords: tuple[str, ...]  #: ``ingest.text.keywords(text, KEYWORDS)`` (general-Chinese IDF)


def analyse(text: str) -> Analysed:
    from ingest.text import keywords_of_words, tokenize

    words = tokenize(text)
    return Analysed(tuple(words), tuple(keywords_of_words(words, KEYWORDS)))


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def words_root(data_dir: Path) -> Path:
    return Path(data_dir) / "index" / "words"


class StoredWords:
    """The words and key terms of texts, from the file when known, else analysed now and added to it."""

    def __init__(self, root: Path) -> None:
        """``root``: the folder of the kept words (:func:`words_root` of the data directory)."""
        from matcher.index.channels import vocabulary_digest

        self.root = Path(root)
        self.path = self.root / f"{vocabulary_digest()}.json"

    def _entries(self) -> dict[str, list[list[str]]]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        memo = _MEMO.get(str(self.path))
        if memo is not None and memo[0] == mtime:
            return memo[1]
        try:
            entries = read_json(self.path)
        except (OSError, json.JSONDecodeError):
            return {}
        _MEMO[str(self.path)] = (mtime, entries)
        return entries

    def of(self, texts: Sequence[str], exactly: bool = False) -> list[Analysed]:
        """Each text's words and key terms, in order. ``exactly``: the file keeps these texts only (a refresh
        over every need); else the missing ones are added to what it holds."""
        with _LOCK:
            entries = dict(self._entries())
            digests = [text_digest(t) for t in texts]
            out: list[Analysed] = []
            added = False
            for text, d in zip(texts, digests, strict=True):
                found = entries.get(d)
                if found is None:
                    a = analyse(text)
                    entries[d] = [list(a.words), list(a.keywords)]
                    added = True
                else:
                    a = Analysed(tuple(found[0]), tuple(found[1]))
                out.append(a)
            if exactly:
                wanted = set(digests)
                kept = {d: e for d, e in entries.items() if d in wanted}
                added = added or len(kept) != len(entries)
                entries = kept
            if added:
                self._write(entries)
        return out

    def _write(self, entries: dict[str, list[list[str]]]) -> None:
        write_bytes(self.path, json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        for other in self.root.glob("*.json"):  # files of another analyser are never read again
            if other != self.path:
                other.unlink(missing_ok=True)
        _MEMO[str(self.path)] = (self.path.stat().st_mtime_ns, entries)


__all__ = ["KEYWORDS", "Analysed", "StoredWords", "analyse", "clear_memo", "text_digest", "words_root"]
