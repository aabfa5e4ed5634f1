"""Dense rows of one passage length are never read as another's: the encoders' row keys follow the length."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.exceptions import ValidationError
from matcher.embedders.cached import CachedEmbedder, text_key
from matcher.embedders.e5_small import FULL_CHARS as E5_FULL
from matcher.embedders.e5_small import E5SmallEmbedder
from matcher.embedders.registry import make_embedder
from matcher.embedders.use_m3 import FULL_CHARS as USE_FULL
from matcher.embedders.use_m3 import UseMultilingualEmbedder
from matcher.index.dense import FullVectors


def test_full_length_passages_keep_the_bare_encoder_name_as_row_key() -> None:
    assert FullVectors(E5SmallEmbedder(max_chars=E5_FULL)).key == "e5-small"
    assert FullVectors(UseMultilingualEmbedder(max_chars=USE_FULL)).key == "use-m3"


def test_shorter_passages_get_their_own_row_key() -> None:
    assert FullVectors(E5SmallEmbedder(max_chars=128)).key == "e5-small@128"
    assert FullVectors(UseMultilingualEmbedder(max_chars=256)).key == "use-m3@256"


def test_cache_keys_vectors_by_passage_length_too(tmp_path: Path) -> None:
    short = CachedEmbedder(E5SmallEmbedder(max_chars=128), tmp_path)
    full = CachedEmbedder(E5SmallEmbedder(max_chars=E5_FULL), tmp_path)
    assert FullVectors(short).key == "e5-small@128"
    assert text_key(short.vector_key, "passage", "x") != text_key(full.vector_key, "passage", "x")


def test_default_encoders_do_not_reuse_rows_stored_from_full_length_passages() -> None:
    e5, use = make_embedder("e5-small"), make_embedder("use-m3")
    assert e5 is not None and use is not None
    assert FullVectors(e5).key != "e5-small" and FullVectors(use).key != "use-m3"


def test_passage_length_is_chosen_in_the_encoder_spec() -> None:
    e5, use = make_embedder("e5-small@512"), make_embedder("use-m3@128")
    assert e5 is not None and use is not None
    assert (FullVectors(e5).key, FullVectors(use).key) == ("e5-small", "use-m3@128")
    assert use.name == "use-m3"  # the channel keeps its name (and its confidence curve)


@pytest.mark.parametrize("spec", ["e5-small@", "e5-small@abc", "use-m3@8", "e5-small@100000"])
def test_bad_passage_length_is_refused_with_a_clear_error(spec: str) -> None:
    with pytest.raises(ValidationError, match="段落长度"):
        make_embedder(spec)
