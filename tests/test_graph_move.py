"""Moving a graph between servers (graph export / import) and setting up its schema, on ArcadeDB and Neo4j 5."""

from __future__ import annotations

import datetime as dt
import json
import math
import stat
from pathlib import Path

import neo4j.time as ntime
import pytest
from neo4j.spatial import CartesianPoint, WGS84Point

from cli.main import main
from evaluation.demo_labels import GAP_NEEDS, INTENDED_MATCHES
from graph.demo import load_demo
from graph.dump import decode_value, encode_value, export_graph, import_graph
from graph.exceptions import ValidationError
from graph.model import Achievement, Institution, NodeLabel, Relation, RelType, Talent
from graph.store import GraphStore, connect
from matcher.engine import MatchEngine
from matcher.settings import MatcherSettings


def _use_graph(monkeypatch: pytest.MonkeyPatch, info, data_dir: Path) -> None:
    """Point the CLI's settings at a test server (it reads TECHMATCH_GRAPH_*)."""
    monkeypatch.setenv("TECHMATCH_GRAPH_URI", info.uri)
    monkeypatch.setenv("TECHMATCH_GRAPH_USER", info.user)
    monkeypatch.setenv("TECHMATCH_GRAPH_PASSWORD", info.password)
    monkeypatch.setenv("TECHMATCH_GRAPH_DATABASE", info.database)
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(data_dir))


def _snapshot(store: GraphStore) -> tuple[dict, list]:
    nodes = {
        label.value: store.all_props(label) for label in NodeLabel if store.all_props(label)
    }
    rels = store.read(
        "MATCH (a)-[e]->(b) RETURN a.id AS a, type(e) AS t, b.id AS b, properties(e) AS p ORDER BY a, t, b"
    )
    return nodes, rels


def _small_world(store: GraphStore) -> None:
    inst = Institution(id="inst-zzu", name="郑州大学")
    talent = Talent(id="tal-1", name="王磊", expertise=["尼龙66", "热稳定剂"])
    ach = Achievement(id="ach-1", name="尼龙66耐黄变热稳定剂", price_wan=50.0)
    store.write_batch([inst, talent, ach], [
        Relation(type=RelType.AFFILIATED_WITH, source_label=NodeLabel.TALENT, source_id="tal-1",
                 target_label=NodeLabel.INSTITUTION, target_id="inst-zzu", props={"since": 2019, "share": 1.0}),
        Relation(type=RelType.INVENTED, source_label=NodeLabel.TALENT, source_id="tal-1",
                 target_label=NodeLabel.ACHIEVEMENT, target_id="ach-1"),
    ])


def test_typed_values_come_back_as_the_same_type_and_value() -> None:
    values = [
        7, 1.0, "尼龙66", True, [1, 2], ["a", "b"], [1.5, 2.0],
        ntime.Date(2024, 5, 1),
        ntime.DateTime(2024, 5, 1, 8, 30, 0, 123456789, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        ntime.DateTime(2024, 5, 1, 8, 30, 0),
        ntime.Time(8, 30, 1),
        ntime.Duration(days=3, seconds=7),
        b"\x00\x01binary",
        CartesianPoint((1.0, 2.0)),
        WGS84Point((113.19, 33.77)),
    ]
    for value in values:
        back = decode_value(json.loads(json.dumps(encode_value(value))))
        assert type(back) is type(value) and back == value, value
    assert isinstance(decode_value(encode_value(1.0)), float)
    assert math.isnan(decode_value(json.loads(json.dumps(encode_value(float("nan"))))))


@pytest.mark.all_backends
def test_export_then_import_gives_back_every_node_relationship_and_property(store: GraphStore, tmp_path: Path):
    _small_world(store)
    # types a Cypher user might store beside techmatch's own strings: a float that looks whole, a list
    store.write("MATCH (t:Talent {id: 'tal-1'}) SET t.score = 1.0, t.rank = 3, t.flags = [true, false]")
    before = _snapshot(store)
    dump = tmp_path / "graph.jsonl"

    report = export_graph(store, dump, page_size=2)  # pages smaller than a label: paging is exercised
    assert (report.node_total, report.relationship_total) == (3, 2)
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600  # the dump holds account hashes too
    store.clear()
    imported = import_graph(store, dump, batch_size=1)

    assert (imported.nodes, imported.relationships, imported.missing_endpoints) == (3, 2, 0)
    after = _snapshot(store)
    assert after == before
    talent = after[0]["Talent"][0]
    assert isinstance(talent["score"], float) and isinstance(talent["rank"], int)


@pytest.mark.only_backends("neo4j")
def test_neo4j_temporal_properties_survive_the_dump(store: GraphStore, tmp_path: Path):
    store.write(
        "CREATE (:Talent {id: 't', name: 'x', born: date('1980-05-01'), seen: datetime('2024-01-02T03:04:05.5+08:00'), "
        "at: localdatetime('2024-01-02T03:04:05'), took: duration('P3DT4H')})"
    )
    before = store.get_props(NodeLabel.TALENT, "t")
    dump = tmp_path / "graph.jsonl"
    export_graph(store, dump)
    store.clear()
    import_graph(store, dump)
    after = store.get_props(NodeLabel.TALENT, "t")
    assert after == before
    assert isinstance(after["born"], ntime.Date) and isinstance(after["took"], ntime.Duration)


@pytest.mark.all_backends
def test_a_bad_line_in_a_dump_is_named_by_file_and_line(store: GraphStore, tmp_path: Path):
    _small_world(store)
    dump = tmp_path / "graph.jsonl"
    export_graph(store, dump)
    lines = dump.read_text(encoding="utf-8").splitlines()
    lines[2] = json.dumps({"node": "Spaceship", "props": {"id": "x"}})
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store.clear()
    with pytest.raises(ValidationError, match=r"graph\.jsonl:3.*Spaceship"):
        import_graph(store, dump)
    (tmp_path / "other.jsonl").write_text('{"hello": 1}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match="不是 techmatch 图导出文件"):
        import_graph(store, tmp_path / "other.jsonl")


@pytest.mark.all_backends
def test_schema_command_can_run_again_without_error(store, graph_server, monkeypatch, tmp_path, capsys):
    _use_graph(monkeypatch, graph_server, tmp_path / "data")
    assert main(["graph", "schema"]) == 0
    assert main(["graph", "schema"]) == 0
    assert "约束和索引已就绪" in capsys.readouterr().out


@pytest.mark.only_backends("neo4j")
def test_schema_on_neo4j_holds_a_unique_id_constraint_per_label_and_the_lookup_indexes(store: GraphStore):
    store.setup_schema()
    store.setup_schema()  # idempotent: IF NOT EXISTS, same names
    constraints = store.read("SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties")
    unique = {(c["labelsOrTypes"][0], tuple(c["properties"])) for c in constraints if c["type"] == "UNIQUENESS"}
    assert {(label.value, ("id",)) for label in NodeLabel} <= unique
    indexes = {r["name"] for r in store.read("SHOW INDEXES YIELD name")}
    assert {"achievement_name", "enterprise_credit_code", "need_enterprise_id"} <= indexes


@pytest.mark.only_backends("neo4j")
def test_demo_moved_from_arcadedb_to_neo4j_has_the_same_counts_and_matches(
    store: GraphStore, graph_server, graph_servers, monkeypatch, tmp_path: Path, capsys
):
    arcade = graph_servers.get("arcadedb")
    source = connect(arcade.uri, arcade.user, arcade.password, arcade.database)
    try:
        source.clear()
        load_demo(source)
        dump = tmp_path / "demo.jsonl"
        _use_graph(monkeypatch, arcade, tmp_path / "data")
        assert main(["graph", "export", str(dump)]) == 0
        _use_graph(monkeypatch, graph_server, tmp_path / "data")
        assert main(["graph", "import", str(dump)]) == 0
        out = capsys.readouterr().out
        assert "计数与导出时一致" in out

        assert store.count_by_label() == source.count_by_label()
        assert store.count_relations() == source.count_relations()
        settings = MatcherSettings(data_dir=tmp_path / "engine", embedder="none")
        before = MatchEngine.from_store(source, settings=settings, embedder=None)
        after = MatchEngine.from_store(store, settings=settings, embedder=None)
        def top10(engine: MatchEngine, need: str) -> list[tuple[str, float]]:
            result = engine.match_need(need, k=10, include_weak=True, explain=False)
            return [(m.candidate_id, round(m.score, 6)) for m in result.matches]

        for need in [*INTENDED_MATCHES, *GAP_NEEDS]:
            assert top10(after, need) == top10(before, need), need

        # a second import into the now full graph is refused unless asked to merge
        assert main(["graph", "import", str(dump)]) == 1
        assert "--merge" in capsys.readouterr().err
        assert main(["graph", "import", "--merge", str(dump)]) == 0
        assert store.count_by_label() == source.count_by_label()
    finally:
        source.clear()
        source.close()


@pytest.mark.all_backends
def test_ctrl_c_leaves_no_half_export_and_an_interrupted_import_finishes_when_run_again(
    store: GraphStore, graph_server, monkeypatch, tmp_path: Path, capsys
):
    from cli.commands import graph_cmd

    _small_world(store)
    before = store.count_by_label(), store.count_relations()
    _use_graph(monkeypatch, graph_server, tmp_path / "data")
    show = graph_cmd._Bars.__call__
    calls = {"n": 0}

    def ctrl_c_on_second_batch(self, kind: str, n: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread, between two batches
        show(self, kind, n)

    monkeypatch.setattr(graph_cmd._Bars, "__call__", ctrl_c_on_second_batch)
    dump = tmp_path / "graph.jsonl"
    assert main(["graph", "export", "--page-size", "1", str(dump)]) == 130
    assert "没有写出" in capsys.readouterr().err
    assert list(tmp_path.glob("graph.jsonl*")) == []  # neither the file nor its partial parts

    monkeypatch.setattr(graph_cmd._Bars, "__call__", show)
    assert main(["graph", "export", str(dump)]) == 0
    store.clear()
    calls["n"] = 0
    monkeypatch.setattr(graph_cmd._Bars, "__call__", ctrl_c_on_second_batch)
    assert main(["graph", "import", "--batch-size", "1", str(dump)]) == 130
    assert "--merge" in capsys.readouterr().err
    assert 0 < sum(store.count_by_label().values()) < 3  # whole batches landed, the rest did not

    monkeypatch.setattr(graph_cmd._Bars, "__call__", show)
    assert main(["graph", "import", "--merge", str(dump)]) == 0
    assert (store.count_by_label(), store.count_relations()) == before
