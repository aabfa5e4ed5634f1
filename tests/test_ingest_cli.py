"""``techmatch ingest`` end to end: its own embedded graph, a directory of files, the printed report."""

from __future__ import annotations

import csv
import json

from cli.main import main


def test_ingest_command_loads_a_directory_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with (inbox / "enterprises.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["企业名称", "统一社会信用代码", "所在区县"])
        w.writerow(["中国平煤神马集团尼龙科技有限公司", "", "卫东区"])
    with (inbox / "needs.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["需求名称", "需求描述", "需求单位", "成熟度"])
        w.writerow(["尼龙66切片黄变", "熔融保持后切片发黄", "平煤神马尼龙科技", ""])
        w.writerow(["", "缺名称", "某公司", ""])
    code = main(["ingest", str(inbox), "--no-classify", "-q", "--rejects", str(tmp_path / "rejects"),
                 "--json", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "enterprises.csv（企业）：读取 1 行，新建 1" in out
    assert "needs.csv（技术需求）：读取 2 行，新建 1" in out and "拒绝 1" in out
    assert "第 3 行，列 需求名称：名称必填，但这里是空的" in out
    reports = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [r["entity"] for r in reports] == ["enterprise", "need"]
    assert reports[1]["merged"] == 1  # 平煤神马尼龙科技 folded into the enterprise row
    assert (tmp_path / "rejects" / "needs.rejects.csv").is_file()
