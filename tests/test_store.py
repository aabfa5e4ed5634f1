"""The graph layer against the real embedded Bolt server."""

from __future__ import annotations

import pytest

from graph.exceptions import DuplicateIdError, NotFoundError
from graph.model import Achievement, Institution, Maturity, NodeLabel, Relation, RelType, Talent

pytestmark = pytest.mark.all_backends


def _sample() -> tuple[list, list]:
    inst = Institution(id="inst-zzu", name="郑州大学")
    talent = Talent(id="tal-1", name="王磊", expertise=["尼龙66"])
    ach = Achievement(
        id="ach-1", name="尼龙66耐黄变热稳定剂", maturity=Maturity.PILOT, patent_numbers=["ZL201720001285.X"]
    )
    rels = [
        Relation(type=RelType.AFFILIATED_WITH, source_label=NodeLabel.TALENT, source_id="tal-1",
                 target_label=NodeLabel.INSTITUTION, target_id="inst-zzu"),
        Relation(type=RelType.INVENTED, source_label=NodeLabel.TALENT, source_id="tal-1",
                 target_label=NodeLabel.ACHIEVEMENT, target_id="ach-1"),
        Relation(type=RelType.OWNS, source_label=NodeLabel.INSTITUTION, source_id="inst-zzu",
                 target_label=NodeLabel.ACHIEVEMENT, target_id="ach-1"),
    ]
    return [inst, talent, ach], rels


def test_loading_twice_leaves_the_same_counts(store):
    nodes, rels = _sample()
    first = store.write_batch(nodes, rels)
    counts = store.count_by_label(), store.count_relations()
    second = store.write_batch(nodes, rels)
    assert first.created == 6 and first.unchanged == 0
    assert second.created == 0 and second.updated == 0 and second.unchanged == 6
    assert (store.count_by_label(), store.count_relations()) == counts


def test_changed_node_counts_as_updated(store):
    nodes, _ = _sample()
    store.upsert_nodes(nodes)
    edited = nodes[2].model_copy(update={"description": "新的描述"})
    report = store.upsert_nodes([edited])
    assert report.updated == 1
    assert store.get_node(NodeLabel.ACHIEVEMENT, "ach-1").description == "新的描述"


def test_duplicate_id_is_refused(store):
    store.create_node(Talent(id="tal-1", name="王磊"))
    with pytest.raises(DuplicateIdError):
        store.create_node(Talent(id="tal-1", name="另一个人"))
    assert store.count_by_label()["Talent"] == 1


def test_relation_to_missing_node_is_reported_not_written(store):
    nodes, rels = _sample()
    store.upsert_nodes(nodes)
    bad = Relation(type=RelType.INVENTED, source_label=NodeLabel.TALENT, source_id="tal-missing",
                   target_label=NodeLabel.ACHIEVEMENT, target_id="ach-1")
    report = store.upsert_relations([*rels, bad])
    assert report.created == 3
    assert report.missing_endpoints == [bad]


def test_node_round_trips_through_the_graph(store):
    nodes, _ = _sample()
    store.upsert_nodes(nodes)
    back = store.get_node(NodeLabel.ACHIEVEMENT, "ach-1")
    assert back == nodes[2]


def test_neighbourhood_and_paths_return_the_expected_entities(store):
    nodes, rels = _sample()
    store.write_batch(nodes, rels)
    one = store.neighbourhood(NodeLabel.ACHIEVEMENT, "ach-1", depth=1)
    assert one.node_ids() == {"ach-1", "tal-1", "inst-zzu"}
    paths = store.paths(NodeLabel.TALENT, "tal-1", NodeLabel.INSTITUTION, "inst-zzu", max_length=2)
    assert [p.rel_types for p in paths][0] == ["AFFILIATED_WITH"]
    assert any([n.id for n in p.nodes] == ["tal-1", "ach-1", "inst-zzu"] for p in paths)


def test_unknown_node_raises_not_found(store):
    with pytest.raises(NotFoundError):
        store.neighbourhood(NodeLabel.ACHIEVEMENT, "nope")
    with pytest.raises(NotFoundError):
        store.delete_node(NodeLabel.ACHIEVEMENT, "nope")
