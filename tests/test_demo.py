"""The demo dataset loads into a real graph, is complete and consistent, and a second load changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from graph.demo import DEMO_DIR, ID_PREFIXES, DemoData, demo_files, label_for_id, load_demo, load_taxonomy, read_demo
from graph.exceptions import ValidationError
from graph.model import Confidentiality, NodeLabel, RelType
from graph.store import GraphStore
from graph.taxonomy import find_cycle

pytestmark = pytest.mark.all_backends


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return read_demo()


def _copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, target)
    return target


def test_demo_has_at_least_250_entities_all_marked_demo(demo: DemoData) -> None:
    assert len(demo.nodes) >= 250
    assert all(n.demo for n in demo.nodes)
    counts = demo.counts()
    assert counts["Talent"] >= 40 and counts["Enterprise"] >= 50 and counts["Achievement"] >= 60
    assert counts["Need"] >= 35 and counts["Challenge"] >= 6 and counts["Platform"] >= 20


def test_every_id_prefix_matches_its_label(demo: DemoData) -> None:
    for node in demo.nodes:
        assert label_for_id(node.id) is node.label
    for rel in demo.relations:
        assert label_for_id(rel.source_id) is rel.source_label
        assert label_for_id(rel.target_id) is rel.target_label


def test_needs_reference_existing_enterprises_and_some_are_private(demo: DemoData) -> None:
    enterprises = {n.id for n in demo.nodes if n.label is NodeLabel.ENTERPRISE}
    needs = [n for n in demo.nodes if n.label is NodeLabel.NEED]
    assert all(n.enterprise_id in enterprises for n in needs)
    posted = {(r.source_id, r.target_id) for r in demo.relations if r.type is RelType.POSTED}
    assert all((n.enterprise_id, n.id) in posted for n in needs)
    assert any(n.confidentiality is Confidentiality.PRIVATE for n in needs)
    assert any(n.confidentiality is Confidentiality.BROKERS for n in needs)


def test_the_yellowing_need_has_a_matching_achievement_through_a_collaboration(demo: DemoData) -> None:
    rels = {(r.type, r.source_id, r.target_id) for r in demo.relations}
    assert (RelType.POSTED, "ent-pmsm-nylon", "need-01") in rels
    assert (RelType.INVENTED, "tal-01", "ach-01") in rels
    assert (RelType.AFFILIATED_WITH, "tal-01", "inst-zzu") in rels
    assert (RelType.COLLABORATED_WITH, "inst-zzu", "ent-pmsm-nylon") in rels
    by_id = {n.id: n for n in demo.nodes}
    assert "黄变" in by_id["need-01"].text and "黄变" in by_id["ach-01"].text
    assert by_id["need-02"].confidentiality is Confidentiality.PRIVATE and "GIS" in by_id["need-02"].name


def test_some_need_segments_have_no_supply_so_the_gap_map_has_gaps(demo: DemoData) -> None:
    seg_of = [(r.source_id, r.target_id) for r in demo.relations if r.type is RelType.IN_SEGMENT]
    supplied = {s for a, s in seg_of if a.startswith("ach-")}
    demanded = {s for a, s in seg_of if a.startswith("need-")}
    assert len(demanded - supplied) >= 4


def test_deals_carry_date_amount_and_contract(demo: DemoData) -> None:
    deals = [r for r in demo.relations if r.type is RelType.TRANSFERRED_TO]
    assert len(deals) >= 10
    years = {r.props["date"][:4] for r in deals}
    assert {"2021", "2022", "2023", "2024", "2025"} <= years
    assert all(r.props["amount_wan"] > 0 and r.props["contract_no"] for r in deals)


def test_load_into_graph_every_relation_lands_and_reload_changes_nothing(store: GraphStore) -> None:
    first = load_demo(store)
    assert first.entities >= 250
    assert not first.relations.missing_endpoints
    demo = read_demo()
    assert first.relations.created == len(demo.relations)
    counts = store.count_by_label()
    assert counts["Enterprise"] == first.counts["Enterprise"]
    assert counts["ChainSegment"] >= 40
    rel_counts = store.count_relations()
    assert rel_counts["UPSTREAM_OF"] > 0 and rel_counts["PART_OF"] == counts["ChainSegment"]

    second = load_demo(store)
    assert second.changed == 0
    assert store.count_by_label() == counts
    assert store.count_relations() == rel_counts


def test_loaded_graph_keeps_segments_keyworded_and_upstream_acyclic(store: GraphStore) -> None:
    load_taxonomy(store)
    topo = store.chain_topology()
    segments = [s for chain in topo for s in chain["segments"]]
    assert segments and all(len(s["keywords"]) >= 10 for s in segments)
    edges = store.read("MATCH (a:ChainSegment)-[:UPSTREAM_OF]->(b:ChainSegment) RETURN a.id AS a, b.id AS b")
    assert edges and find_cycle([(e["a"], e["b"]) for e in edges]) == []


def test_loaded_nodes_round_trip_through_the_model(store: GraphStore) -> None:
    load_demo(store)
    need = store.get_node(NodeLabel.NEED, "need-02")
    assert need is not None and need.demo and need.confidentiality is Confidentiality.PRIVATE
    chal = store.get_node(NodeLabel.CHALLENGE, "chal-01")
    assert chal is not None and chal.milestones and chal.requirements
    # the story the explanations tell: the inventor's university worked with the enterprise that posts the need
    paths = store.paths(NodeLabel.ACHIEVEMENT, "ach-01", NodeLabel.NEED, "need-01", max_length=3, limit=10)
    assert any(p.rel_types == ["OWNS", "COLLABORATED_WITH", "POSTED"] for p in paths)


def test_bad_row_fails_with_file_and_row_and_writes_nothing(store: GraphStore, tmp_path: Path) -> None:
    directory = _copy_demo(tmp_path)
    path = directory / "achievements.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["items"][2]["maturity"] = "差不多了"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"achievements\.yaml:3 \(ach-03\): maturity"):
        load_demo(store, directory=directory)
    assert store.count_by_label() == {}


def test_relation_with_unknown_endpoint_is_reported(tmp_path: Path) -> None:
    directory = _copy_demo(tmp_path)
    path = directory / "relations.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["OWNS"].append(["inst-zzu", "ach-999"])
    raw["HOSTS"].append(["inst-zzu", "need-01"])  # wrong endpoint labels for HOSTS
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_demo(directory)
    message = str(info.value)
    assert "relations.yaml:OWNS[" in message and "ach-999" in message
    assert "HOSTS cannot link Institution -> Need" in message


def test_duplicate_id_and_unknown_reference_are_both_listed(tmp_path: Path) -> None:
    directory = _copy_demo(tmp_path)
    path = directory / "needs.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["items"][1]["id"] = raw["items"][0]["id"]
    raw["items"][2]["enterprise_id"] = "ent-nobody"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_demo(directory)
    assert "needs.yaml:2: duplicate id 'need-01'" in str(info.value)
    assert "enterprise_id 'ent-nobody' is not a known Enterprise" in str(info.value)


def test_unknown_id_prefix_is_rejected() -> None:
    with pytest.raises(ValidationError, match="no known prefix"):
        label_for_id("foo-1", "x.yaml:1")
    assert set(ID_PREFIXES.values()) >= {NodeLabel.ACHIEVEMENT, NodeLabel.NEED, NodeLabel.DEPARTMENT}


def test_demo_files_exist_and_end_with_relations() -> None:
    files = demo_files()
    assert all(f.exists() for f in files)
    assert files[-1].name == "relations.yaml"


def test_cli_demo_check_validates_the_files(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main

    assert main(["demo", "check"]) == 0
    out = capsys.readouterr().out
    assert "demo files are valid" in out and "Achievement" in out


def test_a_need_whose_poster_edge_is_missing_is_reported(tmp_path: Path) -> None:
    directory = _copy_demo(tmp_path)
    path = directory / "relations.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["POSTED"] = [row for row in raw["POSTED"] if row[1] != "need-05"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"needs\.yaml:5 \(need-05\): relations\.yaml lacks POSTED ent-mukang"):
        read_demo(directory)


def test_intended_matches_and_gap_needs_name_real_demo_nodes(demo: DemoData) -> None:
    from evaluation.demo_labels import GAP_NEEDS, INTENDED_MATCHES

    ids = {n.id for n in demo.nodes}
    assert set(INTENDED_MATCHES) <= ids and set(GAP_NEEDS) <= ids
    assert all(set(achs) <= ids for achs in INTENDED_MATCHES.values())
    assert not set(INTENDED_MATCHES) & set(GAP_NEEDS)
    # a gap need has no achievement in any of its segments at 中试 or beyond
    seg_members: dict[str, set[str]] = {}
    for r in demo.relations:
        if r.type is RelType.IN_SEGMENT:
            seg_members.setdefault(r.target_id, set()).add(r.source_id)
    mature = {n.id for n in demo.nodes if n.label is NodeLabel.ACHIEVEMENT and n.maturity in ("中试", "样品", "产业化")}
    for need in GAP_NEEDS:
        segs = {r.target_id for r in demo.relations if r.type is RelType.IN_SEGMENT and r.source_id == need}
        assert segs and not any(seg_members[s] & mature for s in segs), need


def test_the_demo_plan_is_what_ingest_policy_reads_from_the_published_text(demo: DemoData, shared_dir: Path) -> None:
    from ingest.policy import build_policy_graph, parse_policy, read_policy_text

    parsed = parse_policy(read_policy_text(shared_dir / "docs" / "policy-pingdingshan-2021-19.txt"))
    nodes, rels, _ = build_policy_graph(parsed, None)
    fields = ("name", "metric", "value", "unit", "comparator", "deadline_year", "baseline_year", "number", "section")

    def facts(items) -> dict[str, tuple]:
        return {n.id: tuple(getattr(n, f, None) for f in fields) for n in items
                if n.label in (NodeLabel.POLICY, NodeLabel.TARGET, NodeLabel.TASK, NodeLabel.DEPARTMENT)}

    parsed_facts = facts(nodes)
    demo_facts = {k: v for k, v in facts(demo.nodes).items() if k in parsed_facts}
    assert demo_facts == parsed_facts  # regenerate with scripts/demo_plan.py when the parser changes
    assert sum(1 for n in demo.nodes if n.label is NodeLabel.TARGET) == 12
    plan_links = {(r.type, r.source_id, r.target_id) for r in rels if r.type is not RelType.NAMES}
    demo_links = {(r.type, r.source_id, r.target_id) for r in demo.relations}
    assert plan_links <= demo_links


def test_demo_verdicts_are_dated_and_about_real_matches(demo: DemoData) -> None:
    verdicts = [n for n in demo.nodes if n.label is NodeLabel.FEEDBACK]
    ids = {n.id for n in demo.nodes}
    assert len(verdicts) >= 30 and all(v.at is not None for v in verdicts)
    assert {v.at.year for v in verdicts} >= {2021, 2022, 2023, 2024, 2025, 2026}
    assert all(v.query_id in ids and v.candidate_id in ids for v in verdicts)
    from evaluation.demo_labels import INTENDED_MATCHES

    rejected = {(v.query_id, v.candidate_id) for v in verdicts if v.verdict == "reject"}
    # a broker may turn down one of two good answers as immature, never every answer the need was written for
    assert not [n for n, achs in INTENDED_MATCHES.items() if all((n, a) in rejected for a in achs)]
