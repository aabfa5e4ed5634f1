"""The ingest loader against the real embedded graph: bad files, reloads, crashes, merges, extraction."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from graph.exceptions import ValidationError
from graph.model import NodeLabel
from ingest.loader import Loader, ingest_file
from ingest.mapping import ERROR_COLUMN, load_mapping_file

pytestmark = pytest.mark.all_backends

ACH_HEADERS = ["成果名称", "成果简介", "成熟度", "合作方式", "价格（万元）", "持有单位"]
ACH_ROWS = [
    ["尼龙66耐黄变热稳定剂", "根据泉州师范学院专利技术（ZL201720001285.X），改善尼龙66切片熔融保持后的黄变。", "中试",
     "转让,许可", "50", "中国平煤神马集团尼龙科技有限公司"],
    ["高压开关柜局放在线监测", "适用于GIS与开关柜的绝缘缺陷诊断。", "样品", "合作开发", "面议", "平煤神马尼龙科技"],
    ["碳纤维复合材料制备", "一种碳纤维增强尼龙复合材料。", "产业化", "", "100万元-200万元", "平高电气"],
]


def _write_csv(path: Path, headers: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def _load(store, path: Path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("rejects_dir", path.parent / "rejects")
    return ingest_file(store, path, **kw)


def test_csv_loads_rows_with_provenance_orgs_and_extraction(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS)
    report = _load(store, path)
    assert (report.rows_read, report.created, report.rejected) == (3, 3, 0)
    rows = store.list_props(NodeLabel.ACHIEVEMENT, text="尼龙66耐黄变")
    # the file by its name: where it sat on the loading machine is nobody's business
    assert rows[0]["prov_source"] == "achievements.csv" and rows[0]["prov_row"] == 2
    assert rows[0]["patent_numbers"] == ["ZL201720001285.X"]
    assert rows[0]["maturity"] == "中试" and rows[0]["price_wan"] == 50.0 and rows[0]["keywords"]
    inst = store.list_props(NodeLabel.INSTITUTION, text="泉州师范学院")
    assert len(inst) == 1
    owners = store.read(
        "MATCH (o)-[:OWNS]->(a:Achievement {id: $id}) RETURN o.name AS name ORDER BY name", id=rows[0]["id"]
    )
    assert {r["name"] for r in owners} == {"泉州师范学院", "中国平煤神马集团尼龙科技有限公司"}


def test_need_maturity_floor_column_is_loaded_and_a_bad_one_is_rejected_by_row(store, tmp_path):
    path = _write_csv(tmp_path / "needs.csv", ["需求名称", "需求描述", "最低成熟度"], [
        ["己二腈工艺包", "拟建万吨级装置，寻求成熟工艺", "中试"],
        ["尼龙66耐黄变", "注塑件高温黄变", ""],
        ["热稳定剂", "需要热稳定剂", "很成熟"],
    ])
    report = _load(store, path, entity="need")
    assert (report.created, report.rejected) == (2, 1)
    assert report.errors[0].row == 4 and report.errors[0].column == "最低成熟度"  # the file's own header
    by_name = {r["name"]: r for r in store.list_props(NodeLabel.NEED)}
    assert by_name["己二腈工艺包"]["min_maturity"] == "中试"
    assert by_name["尼龙66耐黄变"].get("min_maturity") is None


def test_name_variants_merge_into_one_enterprise_with_a_record(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS)
    report = _load(store, path)
    enterprises = store.all_props(NodeLabel.ENTERPRISE)
    names = sorted(e["name"] for e in enterprises)
    assert names == ["中国平煤神马集团尼龙科技有限公司", "平高电气"]
    nylon = next(e for e in enterprises if e["name"].startswith("中国平煤"))
    assert nylon["aliases"] == ["平煤神马尼龙科技"] and nylon["canonical_name"] == "平煤神马尼龙科技"
    assert report.merged == 1
    rec = store.read("MATCH (m:MergeRecord)-[:MERGED_INTO]->(e:Enterprise) RETURN m.merged_name AS n, e.id AS id")
    assert rec == [{"n": "平煤神马尼龙科技", "id": nylon["id"]}]
    merges = list(csv.reader(Path(report.merges_file).open(encoding="utf-8-sig")))
    assert merges[1][0] == "已合并" and merges[1][4] == "平煤神马尼龙科技"


def test_generic_short_name_is_not_merged(store, tmp_path):
    rows = [
        ["平煤神马尼龙科技有限公司", ""], ["尼龙科技公司", ""],
        ["河南华兴科技有限公司", ""], ["福建华兴科技有限公司", ""],
    ]
    path = _write_csv(tmp_path / "enterprises.csv", ["企业名称", "统一社会信用代码"], rows)
    report = _load(store, path)
    assert report.created == 4 and report.merged == 0
    assert len(store.all_props(NodeLabel.ENTERPRISE)) == 4


def test_credit_code_merges_differently_written_names(store, tmp_path):
    rows = [["河南平高电气股份有限公司", "91410400172205398P"], ["平高电气公司（平顶山）", "91410400172205398P"]]
    path = _write_csv(tmp_path / "enterprises.csv", ["企业名称", "统一社会信用代码"], rows)
    report = _load(store, path)
    assert (report.created, report.merged) == (1, 1)
    [ent] = store.all_props(NodeLabel.ENTERPRISE)
    assert ent["id"] == "ent-91410400172205398P" and ent["aliases"] == ["平高电气公司（平顶山）"]


def test_loading_the_same_file_twice_changes_nothing(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS)
    _load(store, path)
    before = store.count_by_label(), store.count_relations()
    again = _load(store, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert again.relations.created == 0 and again.relations.updated == 0
    assert (store.count_by_label(), store.count_relations()) == before


def test_crash_in_second_batch_leaves_whole_batches_and_rerun_completes(store, tmp_path):
    rows = [[f"成果{i}", f"描述{i}", "中试", "转让", "", ""] for i in range(10)]
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, rows)

    def crash(batch_no, nodes):
        if batch_no == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        _load(store, path, batch_size=4, before_batch=crash)
    assert store.count_by_label().get("Achievement") == 4
    report = _load(store, path, batch_size=4)
    assert (report.created, report.unchanged) == (6, 4)
    assert store.count_by_label()["Achievement"] == 10


def test_failure_inside_the_transaction_writes_nothing_of_that_batch(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS[:1])
    loader = Loader(store, progress=False, rejects_dir=tmp_path)
    original = loader.store.transaction

    def failing(work):
        def broken(tx):
            work(tx)  # everything is written inside the transaction, then it fails before commit
            raise RuntimeError("disk full")

        return original(broken)

    loader.store = type("S", (), {"transaction": staticmethod(failing), "all_props": store.all_props,
                                  "get_node": store.get_node})()
    with pytest.raises(RuntimeError):
        loader.load(path)
    assert store.count_by_label() == {}


def test_bad_rows_are_rejected_with_row_column_reason_and_reloadable_reject_file(store, tmp_path):
    rows = [
        ["好成果", "正常", "中试", "转让", "10", ""],
        ["坏成熟度", "x", "大概中试", "转让", "10", ""],
        ["", "", "", "", "", ""],
        ["", "没有名称", "中试", "", "", ""],
        ["坏价格", "x", "中试", "", "很贵", ""],
    ]
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, rows)
    report = _load(store, path)
    assert (report.rows_read, report.created, report.rejected, report.empty_rows) == (4, 1, 3, 1)
    messages = [str(e) for e in report.errors]
    assert messages[0] == "第 3 行，列 成熟度：'大概中试' 不是 研发/小试/中试/样品/产业化 之一"
    assert messages[1].startswith("第 5 行，列 成果名称：")
    assert messages[2].startswith("第 6 行，列 价格（万元）：'很贵'")
    rejects = Path(report.rejects_file)
    assert rejects.suffix == ".csv"
    lines = list(csv.reader(rejects.open(encoding="utf-8-sig")))
    assert lines[0][-2] == ERROR_COLUMN and [r[0] for r in lines[1:]] == ["坏成熟度", "", "坏价格"]
    # the user fixes the file and loads it again: the fixed rows load, the error column is ignored
    lines[1][2], lines[2][0], lines[3][4] = "中试", "补上名称", "20"
    with rejects.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(lines)
    fixed = _load(store, rejects, entity="achievement")
    assert (fixed.created, fixed.rejected) == (3, 0)


def test_file_in_an_unknown_encoding_is_refused_with_a_clear_error(store, tmp_path):
    path = tmp_path / "achievements.csv"
    path.write_bytes("成果名称\n尼龙\n".encode() + b"\xff\xfe\xfa\n")
    with pytest.raises(ValidationError, match="无法按 UTF-8 或 GB18030 编码读取文件（第 3 行"):
        _load(store, path)
    assert store.count_by_label() == {}


def test_gb18030_csv_is_read(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS[:1], encoding="gb18030")
    assert _load(store, path).created == 1


def test_missing_required_column_refuses_the_file(store, tmp_path):
    path = _write_csv(tmp_path / "achievements.csv", ["成果简介", "成熟度"], [["x", "中试"]])
    with pytest.raises(ValidationError, match="缺少必填列.*成果名称") as info:
        _load(store, path)
    assert info.value.field == "name"
    assert store.count_by_label() == {}


def test_wrong_types_in_an_enterprise_sheet(store, tmp_path):
    path = tmp_path / "enterprises.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["企业名称", "统一社会信用代码", "高新技术企业", "成立日期", "高企认定年份"])
    ws.append(["平顶山市某新材料有限公司", "91410400MA9XXXXX1A", "是", "2015-06-01", 2019])
    ws.append(["坏代码公司", "12345", "是", "2015-06-01", 2019])
    ws.append(["坏布尔公司", "", "也许", "2015-06-01", 2019])
    ws.append(["坏年份公司", "", "否", "2015-06-01", "去年"])
    ws.append([None, None, None, None, None])
    wb.save(path)
    report = _load(store, path)
    assert (report.created, report.rejected, report.empty_rows) == (1, 3, 1)
    expected = [(3, "统一社会信用代码"), (4, "高新技术企业"), (5, "高企认定年份")]
    assert [(e.row, e.column) for e in report.errors] == expected
    rejected = load_workbook(report.rejects_file).active
    assert [c.value for c in rejected[1]][-2:] == [ERROR_COLUMN, "原行号"]
    assert rejected.max_row == 4


def test_jsonl_with_broken_lines_and_duplicates(store, tmp_path):
    good = {"id": "ach-1", "name": "尼龙", "maturity": "已有样品", "price": "面议"}
    lines = [json.dumps(good, ensure_ascii=False), "{not json", "", json.dumps(good, ensure_ascii=False),
             json.dumps({**good, "description": "不同"}, ensure_ascii=False), "[1, 2]"]
    path = tmp_path / "achievements.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = _load(store, path)
    assert (report.rows_read, report.created, report.merged, report.rejected, report.empty_rows) == (3, 1, 1, 3, 1)
    assert [e.row for e in report.errors] == [2, 5, 6]
    assert "已被第 1 行使用" in report.errors[1].reason
    rejects = [json.loads(x) for x in Path(report.rejects_file).read_text(encoding="utf-8").splitlines()]
    assert [r["_row"] for r in rejects] == [2, 5, 6] and rejects[1]["description"] == "不同"


def test_mapping_file_adds_headers(store, tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("need:\n  name: [难题]\n  enterprise: [出题企业]\n", encoding="utf-8")
    rows = [["尼龙切片黄变", "平煤神马尼龙科技", "30"]]
    path = _write_csv(tmp_path / "needs.csv", ["难题", "出题企业", "预算"], rows)
    report = _load(store, path, mappings=load_mapping_file(mapping))
    assert report.created == 1
    need = store.all_props(NodeLabel.NEED)[0]
    assert need["budget_wan"] == 30.0
    posted = store.read("MATCH (e:Enterprise)-[:POSTED]->(n:Need) RETURN e.id AS e, n.enterprise_id AS n")
    assert posted[0]["e"] == posted[0]["n"]


def test_unknown_field_in_mapping_file_is_named(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("need:\n  colour: [颜色]\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="need 没有字段 'colour'"):
        load_mapping_file(mapping)


def test_talents_and_platforms_link_to_their_organisations(store, tmp_path):
    talents = _write_csv(tmp_path / "talents.csv", ["姓名", "职称", "工作单位", "研究方向", "院士"],
                         [["王磊", "教授", "郑州大学", "尼龙66、热稳定剂", "否"],
                          ["李娜", "高级工程师", "中国平煤神马集团尼龙科技有限公司", "聚合工艺", ""]])
    platforms = _write_csv(tmp_path / "platforms.csv", ["平台名称", "级别", "依托单位", "认定年份"],
                           [["河南省尼龙新材料工程技术研究中心", "省级", "平煤神马尼龙科技", "2016"]])
    loader = Loader(store, progress=False, rejects_dir=tmp_path / "rejects")
    first = loader.load(talents)
    second = loader.load(platforms)
    assert (first.entity, first.created, second.entity, second.created) == ("talent", 2, "platform", 1)
    links = store.read(
        "MATCH (t:Talent)-[:AFFILIATED_WITH]->(o) RETURN t.name AS t, labels(o)[0] AS label ORDER BY t"
    )
    assert links == [{"t": "李娜", "label": "Enterprise"}, {"t": "王磊", "label": "Institution"}]
    [platform] = store.all_props(NodeLabel.PLATFORM)
    assert (platform["kind"], platform["level"], platform["established_year"]) == ("工程技术研究中心", "省级", 2016)
    host = store.read("MATCH (e:Enterprise)-[:HOSTS]->(:Platform) RETURN e.name AS n, e.aliases AS a")
    assert host == [{"n": "中国平煤神马集团尼龙科技有限公司", "a": ["平煤神马尼龙科技"]}]


def test_a_load_given_a_store_still_starting_reads_first_and_writes_once_it_is_there(store, tmp_path):
    import threading
    from concurrent.futures import Future

    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, [*ACH_ROWS, ["", "", "", "", "", ""],
                                                                  ["", "没有名称的成果", "", "", "", ""]])
    starting: Future = Future()
    loader = Loader(starting, batch_size=1, progress=False, rejects_dir=tmp_path / "rejects")
    done: dict[str, object] = {}
    worker = threading.Thread(target=lambda: done.setdefault("report", loader.load(path)))
    worker.start()
    worker.join(1.0)
    assert worker.is_alive(), "the load waits for the graph it writes to"
    starting.set_result(store)
    worker.join(60)
    report = done["report"]
    assert (report.created, report.rejected) == (3, 1)
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 3


def test_a_graph_that_fails_to_start_fails_the_load_with_its_own_error(tmp_path):
    from concurrent.futures import Future

    from graph.exceptions import GraphUnavailableError

    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, ACH_ROWS)
    starting: Future = Future()
    starting.set_exception(GraphUnavailableError("图数据库没有启动"))
    with pytest.raises(GraphUnavailableError):
        Loader(starting, progress=False, rejects_dir=tmp_path / "rejects").load(path)


def test_a_crash_while_later_batches_are_prepared_writes_nothing_after_the_failed_batch(store, tmp_path):
    rows = [[f"成果{i}", f"一种改进的尼龙材料{i}", "中试", "转让", "", f"河南第{i}材料有限公司"] for i in range(12)]
    path = _write_csv(tmp_path / "achievements.csv", ACH_HEADERS, rows)
    seen: list[int] = []

    def crash(batch_no, nodes):
        seen.append(batch_no)
        if batch_no == 2:
            raise RuntimeError("power cut")

    loader = Loader(store, batch_size=3, progress=False, rejects_dir=tmp_path / "rejects", before_batch=crash)
    with pytest.raises(RuntimeError):
        loader.load(path)
    assert seen == [1, 2], "no batch is committed after the one that failed"
    assert len(store.all_props(NodeLabel.ACHIEVEMENT)) == 3
    assert len(store.all_props(NodeLabel.ENTERPRISE)) == 3, "only the organisations of the written batch"
    # the same loader goes on: organisations of the lost batches are not taken as written
    loader.before_batch = None
    report = loader.load(path)
    assert (report.created, report.unchanged) == (9, 3)
    assert len(store.all_props(NodeLabel.ENTERPRISE)) == 12
