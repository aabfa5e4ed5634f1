"""``techmatch graph ...``：运行、查看和搭建图数据库本身，并在图服务器之间迁移数据。

不设 TECHMATCH_GRAPH_URI 时使用本机启动的图服务器（默认内置 ArcadeDB，TECHMATCH_LOCAL_GRAPH=neo4j 时为
Neo4j 5）；设了则连接该地址（bolt:// 单机，neo4j:// 集群路由）。
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from graph.exceptions import ValidationError
from graph.settings import GraphSettings
from graph.store import INDEXED_PROPS, GraphStore, open_store


def _where(store: GraphStore, settings: GraphSettings) -> str:
    try:
        agent = store.driver.get_server_info().agent
    except Exception:  # noqa: BLE001 - only for the message
        agent = "图服务器"
    return f"{agent}（{settings.graph_uri or '本机 ' + settings.local_graph}）"


def _counts(args: argparse.Namespace) -> int:
    with open_store(args.settings) as store:
        counts = {"nodes": store.count_by_label(), "relationships": store.count_relations()}
    if args.json:
        print(json.dumps(counts, ensure_ascii=False, indent=2))
    else:
        for kind, title in (("nodes", "节点"), ("relationships", "关系")):
            table = counts[kind]
            print(f"{title}：{sum(table.values())}")
            for name, n in sorted(table.items()):
                print(f"  {name:<20} {n:>8}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    with open_store(args.settings, setup_schema=True) as store:
        from graph.model import NodeLabel

        n_indexes = sum(len(p) for p in INDEXED_PROPS.values())
        print(f"约束和索引已就绪：{len(NodeLabel)} 个 id 唯一约束，{n_indexes} 个属性索引"
              f"（{_where(store, args.settings)}；可重复运行）")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Keep the local server up in the foreground, e.g. to explore it with another Bolt client."""
    settings = args.settings
    if args.server:
        settings = settings.model_copy(update={"local_graph": args.server})
    if settings.graph_uri:
        print(f"已配置图服务器地址（{settings.graph_uri}），无需在本机启动")
        return 0
    from graph.server import embedded_server
    from graph.supervisor import GraphSupervisor

    server = embedded_server(settings)
    server.owner = "graph run"  # other techmatch commands on this data directory attach to it
    name = "Neo4j 5" if settings.local_graph == "neo4j" else "ArcadeDB"
    print(f"正在启动 {name}（数据目录 {settings.data_dir}）……", flush=True)
    info = server.start()
    supervisor = GraphSupervisor(server, None, settings).start()
    print(f"图服务器已就绪：{info.uri}（数据库 {info.database}，用户 {info.user}）")
    print(f"密码在 {server.secret_file}；日志在 {info.log_file}；按 Ctrl-C 停止", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        done.wait()
    finally:
        supervisor.stop()
        server.stop()
        print("图服务器已停止")
    return 0


class _Bars:
    """One progress bar per kind of record (on stderr, only in a terminal)."""

    NAMES = {"nodes": "节点", "relationships": "关系"}

    def __init__(self, verb: str, totals: dict[str, int]) -> None:
        from tqdm import tqdm

        self._bars = {
            kind: tqdm(total=totals.get(kind) or None, desc=f"{verb}{name}", unit="条", leave=False, file=sys.stderr,
                       disable=None)
            for kind, name in self.NAMES.items()
        }

    def __call__(self, kind: str, n: int) -> None:
        self._bars[kind].update(n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def _export(args: argparse.Namespace) -> int:
    from graph.dump import export_graph

    path = Path(args.file)
    if args.page_size < 1:
        raise ValidationError("--page-size 至少为 1", field="page_size")
    if not path.parent.is_dir():
        raise ValidationError(f"目录 {path.parent} 不存在，无法写出 {path.name}", where=str(path))
    with open_store(args.settings, setup_schema=False) as store:
        where = _where(store, args.settings)
        bars = _Bars("导出", {"nodes": sum(store.count_by_label().values())})
        try:
            report = export_graph(store, path, page_size=args.page_size, progress=bars)
        except KeyboardInterrupt:
            bars.close()
            print(f"已中断：没有写出 {path}（导出是整体写出的，重新运行即可）", file=sys.stderr)
            return 130
        bars.close()
    print(f"已从 {where} 导出 {report.node_total} 个节点、{report.relationship_total} 条关系到 {path}（仅本人可读）")
    return 0


def _import(args: argparse.Namespace) -> int:
    from graph.dump import import_graph, read_header

    path = Path(args.file)
    if args.batch_size < 1:
        raise ValidationError("--batch-size 至少为 1", field="batch_size")
    header = read_header(path)
    with open_store(args.settings, setup_schema=True) as store:
        where = _where(store, args.settings)
        before = sum(store.count_by_label().values())
        if before and not args.merge:
            raise ValidationError(
                f"目标图 {where} 已有 {before} 个节点：请导入到空图，"
                "或加 --merge 按 id 合并（同 id 的节点和关系以文件为准）"
            )
        counts = header.get("counts", {})
        totals = {"nodes": counts.get("node_total", 0), "relationships": counts.get("relationship_total", 0)}
        bars = _Bars("导入", totals)
        try:
            report = import_graph(store, path, batch_size=args.batch_size, progress=bars)
        except KeyboardInterrupt:
            bars.close()
            print(
                "已中断：已写入的批次保留在图中；用同一命令加 --merge 重新运行即可补全（导入按 id 合并，可重复运行）",
                file=sys.stderr,
            )
            return 130
        bars.close()
        now = {"nodes": store.count_by_label(), "relationships": store.count_relations()}
    print(f"已导入 {report.nodes} 个节点、{report.relationships} 条关系到 {where}")
    if report.missing_endpoints:
        print(f"注意：{report.missing_endpoints} 条关系的端点不在图中，未写入")
    if before:
        return 0
    exported = {"nodes": counts.get("nodes", {}), "relationships": counts.get("relationships", {})}
    same = True
    print(f"{'':<4}{'名称':<20}{'导出时':>8}{'导入后':>8}")
    for kind, title in (("nodes", "节点"), ("relationships", "关系")):
        for name in sorted(set(exported[kind]) | set(now[kind])):
            a, b = exported[kind].get(name, 0), now[kind].get(name, 0)
            same &= a == b
            print(f"{title:<4}{name:<20}{a:>8}{b:>8}{'' if a == b else '  ← 不一致'}")
    print("计数与导出时一致" if same else "计数与导出时不一致，见上表")
    return 0 if same else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("graph", help="图服务器：计数、约束与索引、前台运行、导出与导入", description=__doc__)
    gsub = parser.add_subparsers(dest="graph_command", metavar="ACTION")
    p = gsub.add_parser("counts", help="按标签统计节点和关系", description="按标签统计节点和关系。")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(func=_counts)
    p = gsub.add_parser(
        "schema", help="建立 id 唯一约束和属性索引（可重复运行）",
        description="建立每个标签的 id 唯一约束和常用属性索引；已存在的不会重复建立，Neo4j 5 与 ArcadeDB 均可。",
    )
    p.set_defaults(func=_schema)
    p = gsub.add_parser("run", help="在前台运行本机图服务器",
                        description="在前台运行本机图服务器，供其他 Bolt 客户端连接。")
    p.add_argument("--server", choices=("arcadedb", "neo4j"), default=None,
                   help="启动哪种服务器（默认取 TECHMATCH_LOCAL_GRAPH，即 arcadedb）")
    p.set_defaults(func=_run)
    p = gsub.add_parser(
        "export", help="把整个图导出为 JSON Lines 文件（保留属性类型）",
        description="把整个图（全部节点和关系，含账号）导出为 JSON Lines 文件，属性类型保留；文件仅本人可读。"
        "导出期间请停止写入。按 Ctrl-C 中断时不会留下不完整的文件。",
    )
    p.add_argument("file", metavar="FILE", help="导出文件，如 graph.jsonl")
    p.add_argument("--page-size", type=int, default=2000, help="每次读取的节点数（默认 2000）")
    p.set_defaults(func=_export)
    p = gsub.add_parser(
        "import", help="从 graph export 的文件导入（按 id 合并，可重复运行）",
        description="把 techmatch graph export 写出的文件导入当前图：先建约束和索引，再分批写入节点和关系，"
        "每批一个事务。目标图须为空，或加 --merge。导入后对照文件头核对各标签计数。",
    )
    p.add_argument("file", metavar="FILE", help="graph export 写出的文件")
    p.add_argument("--merge", action="store_true", help="目标图非空时也导入：同 id 的节点和关系以文件为准")
    p.add_argument("--batch-size", type=int, default=1000, help="每个事务写入的记录数（默认 1000）")
    p.set_defaults(func=_import)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
