"""How long the demo dataset takes to validate and load into a throwaway embedded graph.

    python benchmarks/demo_load.py            # 3 repeats
    python benchmarks/demo_load.py --repeats 5

Prints a markdown table of medians. The baseline row writes the same, already validated nodes and relationships with
one plain ``GraphStore.write_batch`` (no file reading, no validation, no taxonomy): the price of the rest is the
difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graph.demo import load_demo, read_demo  # noqa: E402
from graph.server import EmbeddedGraphServer  # noqa: E402
from graph.store import GraphStore, connect  # noqa: E402


def _median_s(run: Callable[[], object], repeats: int, before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeats):
        if before:
            before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = read_demo()
    with tempfile.TemporaryDirectory(prefix="tm-bench-demo-") as tmp:
        server = EmbeddedGraphServer(Path(tmp), database="bench", heap_mb=768)
        info = server.start()
        try:
            store: GraphStore = connect(info.uri, info.user, info.password, info.database)
            store.setup_schema()
            load_demo(store)  # warm-up: the server's first queries are compiled and cached, which would bias row 1
            store.clear()
            rows = [
                ("baseline: write_batch of validated nodes+rels, empty graph",
                 _median_s(lambda: store.write_batch(data.nodes, data.relations), args.repeats, store.clear)),
                ("read_demo (read + validate files, no graph)", _median_s(read_demo, args.repeats)),
                ("load_demo, empty graph", _median_s(lambda: load_demo(store), args.repeats, store.clear)),
                ("load_demo, repeated (nothing changes)", _median_s(lambda: load_demo(store), args.repeats)),
            ]
            store.close()
        finally:
            server.stop()
    print(f"demo: {len(data.nodes)} nodes, {len(data.relations)} relationships; median of {args.repeats}\n")
    print("| step | median s |")
    print("|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
