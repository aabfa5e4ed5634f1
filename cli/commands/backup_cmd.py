"""``techmatch backup FILE`` / ``techmatch restore FILE``：备份和恢复数据目录（图、匹配索引、会话密钥）。

备份可以在服务运行时进行：读取图期间，本数据目录上的 techmatch 写入会排队等候，读取不受影响，
所以备份是某一时刻的完整图（见 graph/backup.py 和 docs/operations.md）。
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("字节", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "字节" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _backup(args: argparse.Namespace) -> int:
    from cli.commands.graph_cmd import _Bars
    from graph.backup import backup

    path = Path(args.file)
    bars = _Bars("备份", {})
    try:
        report = backup(args.settings, path, progress=bars, say=_say, artifacts=not args.graph_only)
    except KeyboardInterrupt:
        bars.close()
        print(f"已中断：没有写出 {path}（备份是整体写出的，重新运行即可）", file=sys.stderr)
        return 130
    bars.close()
    nodes, rels = sum(report.nodes.values()), sum(report.relationships.values())
    extra = "" if args.graph_only else f"，另含 {report.files - 2} 个索引和密钥文件"
    print(f"已备份 {nodes} 个节点、{rels} 条关系{extra}到 {path}（{_size(report.size)}，仅本人可读，"
          f"用时 {report.seconds:.1f} 秒）")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from cli.commands.graph_cmd import _Bars
    from graph.backup import read_manifest, restore

    path = Path(args.file)
    manifest = read_manifest(path)  # a wrong file is refused before any graph server starts
    settings = args.settings
    counts = manifest.get("counts", {})
    bars = _Bars("恢复", {"nodes": sum(counts.get("nodes", {}).values()),
                         "relationships": sum(counts.get("relationships", {}).values())})
    target = Path(args.data_dir) if args.data_dir else None
    try:
        report = restore(settings, path, target=target, force=args.force, progress=bars, say=_say)
    except KeyboardInterrupt:
        bars.close()
        print("已中断：目标数据目录没有改动（恢复在旁边的临时目录里进行，已删除）", file=sys.stderr)
        return 130
    bars.close()
    print(f"{'':<4}{'名称':<20}{'备份时':>8}{'恢复后':>8}")
    for kind, title, now in (("nodes", "节点", report.nodes), ("relationships", "关系", report.relationships)):
        before = counts.get(kind, {})
        for name in sorted(set(before) | set(now)):
            a, b = before.get(name, 0), now.get(name, 0)
            print(f"{title:<4}{name:<20}{a:>8}{b:>8}{'' if a == b else '  ← 不一致'}")
    if report.kept_old:
        print(f"原数据目录已改名保留为 {report.kept_old}")
    print(f"已恢复到 {report.data_dir}（备份于 {manifest.get('created_at')}，{report.artifacts} 个索引和密钥文件；"
          f"计数与备份一致；用时 {report.seconds:.1f} 秒）")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup", help="备份数据目录：图、匹配索引和会话密钥（服务运行时也可以）",
        description="把数据目录的图（全部节点和关系，含账号）、匹配引擎的持久化索引和会话密钥写进一个 .tar.gz 文件"
        "（仅本人可读）。服务运行时也可以备份：读取图期间写入排队等候，备份是某一时刻的完整图。"
        "按 Ctrl-C 中断时不会留下不完整的文件。",
    )
    p.add_argument("file", metavar="FILE", help="备份文件，如 techmatch-2026-11-30.tar.gz")
    p.add_argument("--graph-only", action="store_true", help="只备份图（索引在恢复后的首次启动时重建）")
    p.set_defaults(func=_backup)
    p = sub.add_parser(
        "restore", help="从 backup 写出的文件恢复到一个数据目录",
        description="把 techmatch backup 写出的文件恢复到一个数据目录（默认 TECHMATCH_DATA_DIR，或 --data-dir）："
        "在旁边的临时目录里启动新的图服务器、导入并核对计数，完成后才改名就位；中断时目标目录不变。"
        "目标目录的图里已有节点时拒绝，除非加 --force（原目录改名保留）。",
    )
    p.add_argument("file", metavar="FILE", help="techmatch backup 写出的文件")
    p.add_argument("--data-dir", default=None, help="恢复到这个数据目录（默认 TECHMATCH_DATA_DIR）")
    p.add_argument("--force", action="store_true", help="目标目录的图非空时也恢复：原目录改名为 …before-restore-时间")
    p.set_defaults(func=_restore)
