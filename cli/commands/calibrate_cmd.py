"""``techmatch calibrate``: refit the confidence on the brokers' verdicts and deals in the graph.

The service does this in the background at start and after each signed contract; this command does it now and
says what it found. The new curve is kept (``data_dir/calibration``) only when it scores the verdicts better
than the curve in use (see :mod:`matcher.recalibration`).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("calibrate", help="refit the match confidence on brokers' verdicts and deals",
                            description="Refit the confidence curve of the configured channels on the verdicts "
                                        "and signed contracts in the graph.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from graph.store import open_store
    from matcher.engine import MatchEngine

    settings = args.settings
    with open_store(settings) as store:
        engine = MatchEngine(store, settings=settings)  # not opened: only its channels and calibrator are read
        try:
            found = engine.recalibrate()
        finally:
            engine.close()
    print(found.line())
    if found.adopted:
        print(f"新曲线已保存：{found.path}；之后启动的服务和命令都会使用它。")
    return 0
