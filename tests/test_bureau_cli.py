"""The command line end to end on the test graph: ingest-policy, then bureau targets / gaps / export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cli.main import main

pytestmark = pytest.mark.all_backends


@pytest.fixture()
def cli_env(store, graph_server, monkeypatch, tmp_path: Path):
    """Point the CLI's settings at the test server (it reads TECHMATCH_GRAPH_*)."""
    monkeypatch.setenv("TECHMATCH_GRAPH_URI", graph_server.uri)
    monkeypatch.setenv("TECHMATCH_GRAPH_USER", graph_server.user)
    monkeypatch.setenv("TECHMATCH_GRAPH_PASSWORD", graph_server.password)
    monkeypatch.setenv("TECHMATCH_GRAPH_DATABASE", graph_server.database)
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TECHMATCH_EMBEDDER", "none")  # the matcher's lexical channels only: fast, offline
    yield store


def test_ingest_policy_then_targets_and_export(cli_env, shared_dir: Path, tmp_path: Path, capsys) -> None:
    plan = shared_dir / "docs" / "policy-pingdingshan-2021-19.txt"
    assert main(["ingest-policy", str(plan)]) == 0
    assert "12 targets, 14 tasks" in capsys.readouterr().out

    assert main(["bureau", "targets", "--as-of", "2023", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["tech_contract_turnover"]["target_value"] == 200000  # 20亿元 in 万元
    assert by_metric["rd_growth"]["status"] == "no_data"

    out = tmp_path / "report.xlsx"
    assert main(["bureau", "export", "--format", "xlsx", "--output", str(out), "--as-of", "2023"]) == 0
    sheets = load_workbook(out).sheetnames
    assert sheets[:3] == ["目标进度", "目标分年度", "目标分县区"] and "产业链缺口" in sheets


def test_gaps_ask_the_matcher_by_default(cli_env, capsys) -> None:
    from graph.model import ChainPosition, ChainSegment, IndustryChain, Need, NodeLabel, Relation, RelType

    cli_env.write_batch(
        [IndustryChain(id="c1", name="尼龙"), ChainSegment(id="s1", name="聚合", chain_id="c1",
                                                         position=ChainPosition.MIDSTREAM),
         Need(id="n1", name="尼龙66切片黄变，寻求热稳定剂")],
        [Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.NEED, source_id="n1",
                  target_label=NodeLabel.CHAIN_SEGMENT, target_id="s1")],
    )
    assert main(["bureau", "gaps", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["segments"][0]["unmet_needs"] == 1 and out["ranked"] == ["s1"]  # no achievement at all: a gap


def test_targets_without_a_plan_says_what_to_do(cli_env, capsys) -> None:
    assert main(["bureau", "targets"]) == 1
    assert "ingest-policy" in capsys.readouterr().out


def test_ingest_policy_of_a_missing_file_is_one_clear_error(cli_env, tmp_path: Path, capsys) -> None:
    assert main(["ingest-policy", str(tmp_path / "nope.txt")]) == 1
    assert "policy file not found" in capsys.readouterr().err
