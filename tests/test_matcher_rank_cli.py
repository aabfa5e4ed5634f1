"""``techmatch rank needs`` on small files: the run format, robust reading, ids kept verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from tests.matcher_world import ACHIEVEMENTS, NEED_NONE, NEED_PA66


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_rank_needs_writes_a_run_and_reports_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ach_lines = []
    for a in ACHIEVEMENTS:
        rec = {"id": a.id, "name": a.name, "description": a.description, "maturity": "已有样品",
               "cooperation": "技术转让,技术许可", "price": "面议"}
        ach_lines.append(json.dumps(rec, ensure_ascii=False))
    ach_lines[0] = json.dumps({"id": "pa66 #1", "name": ACHIEVEMENTS[0].name,  # an id with a space, kept verbatim
                               "description": ACHIEVEMENTS[0].description}, ensure_ascii=False)
    ach_lines.insert(3, "")  # blank line: skipped silently
    ach_lines.insert(4, "{not json")  # line 5: reported, skipped
    ach_lines.append(json.dumps({"id": "a-odd", "name": "奇怪成熟度", "description": "说明", "maturity": "未知阶段"},
                                ensure_ascii=False))  # an optional field that does not parse: dropped, row kept
    ach_lines.append(json.dumps({"name": "没有编号"}, ensure_ascii=False))  # no id: reported, skipped
    need_lines = [
        json.dumps({"id": NEED_PA66.id, "name": NEED_PA66.name, "description": NEED_PA66.description,
                    "cooperation": "技术许可", "valid_period": ""}, ensure_ascii=False),
        json.dumps({"id": NEED_NONE.id, "name": "", "description": NEED_NONE.description}, ensure_ascii=False),
    ]
    achievements = _write(tmp_path / "a.jsonl", ach_lines)
    needs = _write(tmp_path / "n.jsonl", need_lines)
    out = tmp_path / "run.tsv"
    code = main(["rank", "needs", "--achievements", str(achievements), "--needs", str(needs), "--top", "5",
                 "--output", str(out), "--embedder", "none"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"{achievements}:5:" in err and "not valid JSON" in err
    assert "no id" in err
    assert "a-odd" in err and "maturity ignored" in err
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(len(r) == 4 for r in rows)
    by_need: dict[str, list[list[str]]] = {}
    for r in rows:
        by_need.setdefault(r[0], []).append(r)
    assert set(by_need) == {NEED_PA66.id, NEED_NONE.id}
    assert [int(r[2]) for r in by_need[NEED_PA66.id]] == [1, 2, 3, 4, 5]
    assert by_need[NEED_PA66.id][0][1] == "pa66 #1"
    # calibrated confidence: the need with real supply is more confident than the one without
    assert float(by_need[NEED_PA66.id][0][3]) > float(by_need[NEED_NONE.id][0][3])
    assert not list(tmp_path.glob("*.part"))


def test_rank_needs_refuses_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rank", "needs", "--achievements", str(tmp_path / "missing.jsonl"), "--needs",
                 str(tmp_path / "n.jsonl"), "--embedder", "none"])
    assert code == 1
    assert "cannot read" in capsys.readouterr().err
