"""``techmatch index ...``: the matcher's persisted indexes under ``data_dir/index``.

    techmatch index build     # load or build the indexes, sync them with the graph, compute every dense row
    techmatch index status    # what is persisted: generations, documents, dense rows, the writer

``build`` is what the service does at start, in the foreground with progress lines: run it before the first
``techmatch serve`` of a large graph so the service starts on finished indexes. Ctrl-C stops it at the next
chunk; the rows computed so far are kept and the next run continues from there.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import TypedDict


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="the matcher's persisted indexes (build, status)",
                            description="Build or inspect the matcher's persisted indexes under data_dir/index.")
    isub = parser.add_subparsers(dest="index_command", metavar="ACTION")
    b = isub.add_parser("build", help="load or build the indexes, sync with the graph, compute dense rows")
    b.set_defaults(func=_build)
    s = isub.add_parser("status", help="what is persisted")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_status)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _build(args: argparse.Namespace) -> int:
    from graph.store import open_store
    from matcher.engine import MatchEngine

    settings = args.settings
    started = time.perf_counter()
    with open_store(settings) as store:
        engine = MatchEngine(store, settings=settings, persist=True)
        engine.on_progress(lambda p: print(p.line(), file=sys.stderr, flush=True))
        previous = signal.getsignal(signal.SIGINT)

        def stop(signum: int, frame: object) -> None:
            print("正在停止：当前批次完成后退出，已完成的向量会保留。", file=sys.stderr, flush=True)
            engine.keeper.request_stop()

        signal.signal(signal.SIGINT, stop)
        try:
            writer = engine.keeper.writer
            assert writer is not None  # persist=True: the indexes live in the data directory
            if not writer.try_acquire():
                print("另一个进程正在写入索引（例如运行中的服务）；它会自行完成索引。", file=sys.stderr)
                return 1
            print("正在加载或建立索引……", file=sys.stderr, flush=True)
            engine.open(wait=True)
            status = engine.status()
        finally:
            signal.signal(signal.SIGINT, previous)
            engine.close()
    missing = [c for c in status["channels"] if c not in status["answering"]]
    docs = status["documents"]
    print(f"索引就绪：成果 {docs['achievements']:,} 项，需求 {docs['needs']:,} 项，企业 {docs['enterprises']:,} 家；"
          f"通道 {', '.join(status['answering'])}（用时 {time.perf_counter() - started:.0f} 秒）")
    if missing:
        print(f"尚未完成的通道：{', '.join(missing)}（再次运行本命令即可从中断处继续）")
        return 1
    return 0


#: one corpus in ``index status`` (the JSON keys are the output's)
_CorpusInfo = TypedDict("_CorpusInfo", {"generation": str, "documents": int, "dense rows": list[str]})


def _status(args: argparse.Namespace) -> int:
    from matcher.index.files import read_json
    from matcher.index.generation import read_manifest

    root = args.settings.data_dir / "index"
    out: dict[str, object] = {"directory": str(root)}
    infos: dict[str, _CorpusInfo | None] = {}
    for corpus in ("achievements", "needs", "enterprises"):
        manifest = read_manifest(root, corpus)
        if manifest is None:
            out[corpus] = infos[corpus] = None
            continue
        meta = read_json(root / corpus / manifest["generation"] / "meta.json")
        info: _CorpusInfo = {"generation": manifest["generation"], "documents": meta["documents"],
                             "dense rows": sorted(meta.get("dense", {}))}
        out[corpus] = infos[corpus] = info
    lock = root / "writer.lock"
    out["last writer pid"] = lock.read_text().strip() if lock.exists() else None
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"索引目录：{root}")
    for corpus in ("achievements", "needs", "enterprises"):
        shown = infos[corpus]
        if shown is None:
            print(f"  {corpus}: 尚未建立")
        else:
            print(f"  {corpus}: {shown['documents']:,} 篇，版本 {shown['generation']}，"
                  f"向量 {', '.join(shown['dense rows']) or '无'}")
    return 0
