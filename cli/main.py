"""The ``techmatch`` command line. Each subcommand lives in its own module under ``cli/commands``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

#: command modules, each exposing ``register(subparsers)``; a new command is a new module here
COMMAND_MODULES = (
    "cli.commands.graph_cmd",
    "cli.commands.demo",
    "cli.commands.ingest_cmd",
    "cli.commands.ingest_policy",
    "cli.commands.rank",
    "cli.commands.serve",
    "cli.commands.bureau_cmd",
    "cli.commands.outbox_cmd",
    "cli.commands.index_cmd",
    "cli.commands.calibrate_cmd",
    "cli.commands.backup_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="techmatch",
        description="techmatch: knowledge-graph matchmaking for technology transfer (科技成果 ↔ 企业需求 ↔ 人才).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        # the driver logs every dropped connection; what it means for the command is its one line of failure
        logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from api.config import SettingsError, load_settings

    try:
        # read and checked once, here; every command gets them as args.settings
        args.settings = load_settings()
    except SettingsError as exc:
        print(f"techmatch：{exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("techmatch：已中断（已提交的批次保留，再次运行会接着完成）", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; the traceback goes to the log (and -v shows it)
        if args.verbose:
            raise
        line, log_file = explain_failure(exc), _log_traceback(exc, args.settings.data_dir)
        print(f"techmatch：错误：{line}" + (f"（详情见 {log_file}）" if log_file else ""), file=sys.stderr)
        return 1


def explain_failure(exc: BaseException) -> str:
    """One line naming the cause of a failure and what to do about it."""
    import errno

    from graph.exceptions import TechmatchError

    if isinstance(exc, TechmatchError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f"（{exc.filename}）" if exc.filename else ""
        return f"磁盘空间不足{where}：请清理磁盘或换一个数据目录（TECHMATCH_DATA_DIR）后重试；已写入的部分不会重复"
    if isinstance(exc, MemoryError):
        return "内存不足：请关闭其他程序，或分批处理（例如把大文件拆开加载）后重试"
    if isinstance(exc, PermissionError):
        return f"没有权限访问 {exc.filename or '所需文件'}：请检查文件和目录的权限"
    text = str(exc)
    if "No space left on device" in text or "disk is full" in text.lower():
        return "磁盘空间不足（图数据库写入失败）：请清理磁盘后重试；已写入的批次不会重复"
    try:
        from neo4j.exceptions import DriverError, Neo4jError, ServiceUnavailable
    except ImportError:  # pragma: no cover - the driver is a dependency
        pass
    else:
        if isinstance(exc, ServiceUnavailable):
            return "无法连接图数据库：它没有运行或已退出；请查看图数据库日志后重试"
        if isinstance(exc, (Neo4jError, DriverError)):
            return f"图数据库报错：{type(exc).__name__}"
    return f"内部错误（{type(exc).__name__}）"


def _log_traceback(exc: BaseException, data_dir: Path) -> str | None:
    """Append the traceback to the data directory's log (owner-only); its path, or None if it cannot be written."""
    import traceback
    from datetime import UTC, datetime

    try:
        from graph.files import private_dir

        log_dir = private_dir(data_dir / "logs")
        path = log_dir / "techmatch.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(UTC).isoformat()} techmatch {' '.join(sys.argv[1:])}\n")
            fh.write("".join(traceback.format_exception(exc)))
        return str(path)
    except Exception:  # a full disk may refuse the log too: the one-line message still stands
        return None


if __name__ == "__main__":
    sys.exit(main())
