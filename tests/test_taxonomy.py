"""The industry-chain taxonomy loads, is well-formed, and rejects broken files with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from graph.exceptions import ValidationError
from graph.model import ChainPosition, NodeLabel, RelType
from graph.taxonomy import domain_terms, find_cycle, load_taxonomy, segment_keywords, taxonomy_from_dict

PRIORITY_CHAINS = {"尼龙新材料", "高压电气", "碳基新材料", "生物医药"}


def _minimal() -> dict:
    return {
        "chains": [
            {
                "id": "chain-x",
                "name": "测试链",
                "segments": [
                    {"id": "seg-x-a", "name": "甲", "position": "upstream", "order": 1, "keywords": ["甲醇"]},
                    {"id": "seg-x-b", "name": "乙", "position": "downstream", "order": 2, "keywords": ["乙烯"]},
                ],
            }
        ],
        "upstream_of": [["seg-x-a", "seg-x-b"]],
    }


def test_shipped_taxonomy_has_the_plan_chains_with_priorities() -> None:
    tax = load_taxonomy()
    names = {c.name: c for c in tax.chains}
    assert PRIORITY_CHAINS <= set(names)
    assert {n for n, c in names.items() if c.priority} == PRIORITY_CHAINS
    assert {"装备制造", "新能源", "现代农业"} <= set(names)


def test_every_segment_has_15_to_30_distinct_keywords_and_belongs_to_a_chain() -> None:
    tax = load_taxonomy()
    chain_ids = {c.id for c in tax.chains}
    for seg in tax.segments:
        assert 15 <= len(seg.keywords) <= 30, seg.id
        assert len(set(seg.keywords)) == len(seg.keywords), seg.id
        assert seg.chain_id in chain_ids
        assert isinstance(seg.position, ChainPosition)
    part_of = {(r.source_id, r.target_id) for r in tax.relations if r.type is RelType.PART_OF}
    assert part_of == {(s.id, s.chain_id) for s in tax.segments}


def test_nylon_chain_runs_from_coking_to_cord_fabric() -> None:
    tax = load_taxonomy()
    edges = set(tax.upstream_edges())
    line = ["seg-nylon-benzene", "seg-nylon-cyclohexanone", "seg-nylon-caprolactam", "seg-nylon-pa6-chip",
            "seg-nylon-fibre", "seg-nylon-cord"]
    assert all(pair in edges for pair in zip(line, line[1:], strict=False))
    assert ("seg-nylon-coking", "seg-carbon-pitch") in edges  # a cross-chain edge
    assert "黄变" in tax.segment("seg-nylon-pa66-polymer").keywords


def test_upstream_of_is_acyclic_and_relations_fit_the_model() -> None:
    tax = load_taxonomy()
    assert find_cycle(tax.upstream_edges()) == []
    for rel in tax.relations:
        rel.check_endpoints()
        assert rel.source_label is NodeLabel.CHAIN_SEGMENT


def test_domain_terms_and_segment_keywords_cover_names_aliases_and_keywords() -> None:
    terms = domain_terms()
    assert len(terms) == len(set(terms))
    for word in ("己内酰胺", "GIS", "针状焦", "尼龙新材料", "锦纶丝", "特高压"):
        assert word in terms
    kw = segment_keywords()
    assert "CPL" in kw["seg-nylon-caprolactam"] and "己内酰胺" in kw["seg-nylon-caprolactam"]
    assert set(kw) == {s.id for s in load_taxonomy().segments}


def test_unknown_segment_in_an_edge_is_named() -> None:
    raw = _minimal()
    raw["upstream_of"].append(["seg-x-b", "seg-x-missing"])
    with pytest.raises(ValidationError, match=r"upstream_of\[1\].*seg-x-missing"):
        taxonomy_from_dict(raw)


def test_duplicate_segment_id_is_rejected_with_both_places() -> None:
    raw = _minimal()
    raw["chains"][0]["segments"][1]["id"] = "seg-x-a"
    with pytest.raises(ValidationError, match="duplicate id 'seg-x-a'.*first defined"):
        taxonomy_from_dict(raw)


def test_cycle_in_upstream_of_is_rejected_and_shown() -> None:
    raw = _minimal()
    raw["upstream_of"].append(["seg-x-b", "seg-x-a"])
    with pytest.raises(ValidationError, match="cycle: seg-x-(a|b) -> seg-x-(a|b) -> seg-x-(a|b)"):
        taxonomy_from_dict(raw)


def test_bad_position_names_the_entry(tmp_path: Path) -> None:
    raw = _minimal()
    raw["chains"][0]["segments"][0]["position"] = "sideways"
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"bad\.yaml:chain-x\.segments\[0\]: position"):
        load_taxonomy(file)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_find_cycle_finds_a_longer_cycle() -> None:
    cycle = find_cycle([("a", "b"), ("b", "c"), ("c", "d"), ("d", "b")])
    assert cycle[0] == cycle[-1] and set(cycle) == {"b", "c", "d"}
