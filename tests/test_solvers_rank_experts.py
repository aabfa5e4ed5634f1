"""``techmatch rank experts`` on a tiny input, and the aggregation choices it ranks with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli.main import main
from matcher.index.builder import CorpusBuilder
from matcher.index.channels import lexical_specs
from matcher.solvers.expertise import (
    ExpertiseIndex,
    MaxAggregation,
    SoftmaxAggregation,
    SumAggregation,
    TopKAggregation,
    Work,
    make_aggregation,
)

WORKS = [
    {"expert_id": "e1", "expert_name": "张三", "institution": "郑州大学", "title": "尼龙66耐黄变热稳定剂的研究",
     "year": 2019, "kind": "论文"},
    {"expert_id": "e1", "expert_name": "张三", "institution": "郑州大学", "title": "尼龙工程塑料增韧改性",
     "kind": "项目"},
    {"expert_id": "e2", "expert_name": "李四", "institution": "河南理工大学", "title": "煤矿井下瓦斯抽采钻孔密封技术"},
    {"expert_id": "e 3", "expert_name": "王五", "title": "高温合金叶片铸造工艺", "year": "abc"},
]


def _write(path, rows, extra=()):
    path.write_text("\n".join([*(json.dumps(r, ensure_ascii=False) for r in rows), *extra]) + "\n", encoding="utf-8")


@pytest.mark.parametrize("scorer", ["lexical", "combined"])
def test_rank_experts_command_writes_a_run_and_reports_bad_lines(tmp_path, capsys, monkeypatch, scorer):
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))  # the vector cache goes there
    works, queries, out = tmp_path / "w.jsonl", tmp_path / "q.jsonl", tmp_path / "run.tsv"
    _write(works, WORKS, extra=["{not json", json.dumps({"expert_id": "", "title": "无主"})])
    _write(queries, [{"id": "q1", "text": "尼龙66热稳定剂"}, {"id": "q2", "text": "瓦斯抽采钻孔"}],
           extra=[json.dumps({"id": "q3"})])
    code = main(["rank", "experts", "--works", str(works), "--queries", str(queries), "--top", "2",
                 "--output", str(out), "--scorer", scorer])
    assert code == 0
    lines = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(q, e, r) for q, e, r, _ in lines if r == "1"] == [("q1", "e1", "1"), ("q2", "e2", "1")]
    assert len(lines) == 4 and all(float(s) >= 0 for *_, s in lines)
    err = capsys.readouterr().err
    assert "w.jsonl: line 5: not valid JSON" in err and "line 6: missing expert_id" in err
    assert "line 4: year 'abc'" in err and "q.jsonl: line 3: a query needs an id and a text" in err


def test_missing_works_file_is_a_clear_error(tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    _write(queries, [{"id": "q1", "text": "x"}])
    code = main(["rank", "experts", "--works", str(tmp_path / "nope.jsonl"), "--queries", str(queries)])
    assert code == 1
    assert "works file" in capsys.readouterr().err


def _index(aggregation) -> ExpertiseIndex:
    # "deep" has two strong works on the topic; "broad" one strong and many weak ones
    works = [Work("d1", "尼龙66耐黄变热稳定", ("deep",)), Work("d2", "尼龙66热稳定改性", ("deep",)),
             Work("b1", "尼龙66耐黄变热稳定剂", ("broad",))]
    works += [Work(f"b{i}", f"尼龙66包装薄膜{i}号", ("broad",)) for i in range(2, 12)]
    works += [Work(f"x{i}{j}", f"{t}{j}", ("other",))
              for i, t in enumerate(["煤矿瓦斯", "高温合金", "锂电池正极", "小麦育种"]) for j in range(8)]
    char = next(s for s in lexical_specs() if s.name == "char_ngram")
    index = ExpertiseIndex(CorpusBuilder([char]), {"char_ngram": 1.0}, aggregation)
    index.fit(works)
    return index


def test_topk_rewards_depth_where_sum_rewards_volume():
    query = ["尼龙66耐黄变热稳定"]
    for agg, winner in [(TopKAggregation(3, 0.5), "deep"), (SumAggregation(), "broad")]:
        index = _index(agg)
        scores = dict(zip(index.solver_ids, index.solver_scores(query)[0], strict=True))
        assert max(scores, key=scores.get) == winner, agg.name
    for agg in (MaxAggregation(), SoftmaxAggregation(0.5), SumAggregation()):
        index = _index(agg)
        scores = index.solver_scores(query)[0]
        # many below-average works add up to nothing
        assert np.isclose(scores[index.solver_ids.index("other")], 0.0), agg.name


def test_aggregation_specs_parse_and_bad_ones_are_named():
    assert make_aggregation("topk:2:0.7").name == "top2"
    assert make_aggregation("softmax:0.3").name == "softmax(T=0.3)"
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        make_aggregation("median")
