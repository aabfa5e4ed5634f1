"""Backend parity: the demo and the zhibei data on ArcadeDB and on Neo4j 5 give the same graph and the same matches.

    python benchmarks/backend_parity.py                 # lexical engine (TECHMATCH_EMBEDDER=none), both servers local
    python benchmarks/backend_parity.py --embedder e5-small   # the dense encoders too (slow on a shared 2-core box)

Starts a throwaway ArcadeDB and a throwaway Neo4j 5 (the Maven-built launcher of ``graph.neo4j_server``), loads
into each, the same way and in the same order, the demo graph (``techmatch demo load``) and the zhibei export
(``techmatch ingest ../shared/data/zhibei``: the loader with chain placement), then moves the ArcadeDB graph into
a third, empty Neo4j database via ``graph export`` / ``graph import``. Prints three markdown tables: node and
relationship counts by label on each; for each of the 20 judged dev needs
(``../shared/eval/need_achievement_dev_qrels.tsv``) whether the top-10 achievements (ids, order and scores to 1e-6)
are the same; and the time each step took per server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared"))
QRELS = SHARED / "eval" / "need_achievement_dev_qrels.tsv"
ZHIBEI = SHARED / "data" / "zhibei"

from api.config import ApiSettings, load_settings  # noqa: E402
from graph.demo import load_demo  # noqa: E402
from graph.dump import export_graph, import_graph  # noqa: E402
from graph.neo4j_server import Neo4jGraphServer, ensure_launcher  # noqa: E402
from graph.server import EmbeddedGraphServer  # noqa: E402
from graph.store import GraphStore, connect  # noqa: E402


@contextmanager
def running(server: EmbeddedGraphServer) -> Iterator[GraphStore]:
    info = server.start()
    store = connect(info.uri, info.user, info.password, info.database)
    try:
        store.setup_schema()
        yield store
    finally:
        store.close()
        server.stop()


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = work()
    return out, time.perf_counter() - start


def load_everything(store: GraphStore, settings: ApiSettings) -> dict[str, float]:
    from ingest.classify import default_placer
    from ingest.loader import Loader, ensure_taxonomy, plan_paths

    times = {}
    _, times["demo load"] = timed(lambda: load_demo(store))

    def ingest() -> None:
        ensure_taxonomy(store)
        loader = Loader(store, placer=default_placer(), rejects_dir=settings.data_dir / "rejects",
                        progress=False)
        for path, entity in plan_paths([ZHIBEI]):
            loader.load(path, entity=entity)

    _, times["zhibei ingest"] = timed(ingest)
    return times


def dev_need_ids() -> list[str]:
    ids: list[str] = []
    for line in QRELS.read_text(encoding="utf-8").splitlines():
        qid = line.split("\t")[0].strip()
        if qid and qid not in ids:
            ids.append(qid)
    return ids


def top10(store: GraphStore, settings: ApiSettings, needs: list[str]
          ) -> tuple[dict[str, list[tuple[str, float]]], dict]:
    from matcher.engine import MatchEngine

    times = {}
    engine, times["engine build"] = timed(lambda: MatchEngine.from_store(store, settings=settings))

    def ask() -> dict[str, list[tuple[str, float]]]:
        return {
            need: [(m.candidate_id, round(m.score, 6))
                   for m in engine.match_need(need, k=10, include_weak=True, explain=True).matches]
            for need in needs
        }

    result, times["20 dev needs"] = timed(ask)
    return result, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedder", default="none", help="primary dense encoder (default none: the lexical engine)")
    args = ap.parse_args()
    for path in (QRELS, ZHIBEI):
        if not path.exists():
            print(f"backend_parity: {path} not found (set TECHMATCH_SHARED)", file=sys.stderr)
            return 1
    needs = dev_need_ids()
    launcher = ensure_launcher(lambda m: print(m, file=sys.stderr))
    counts: dict[str, dict[str, int]] = {}
    rels: dict[str, dict[str, int]] = {}
    matches: dict[str, dict[str, list[tuple[str, float]]]] = {}
    times: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tm-parity-") as tmp_dir:
        tmp = Path(tmp_dir)
        dump = tmp / "arcadedb.jsonl"
        extra = "none" if args.embedder == "none" else "use-m3"
        servers = {
            "ArcadeDB": EmbeddedGraphServer(tmp / "arcadedb", database="parity", heap_mb=1024),
            "Neo4j 5": Neo4jGraphServer(tmp / "neo4j", database="parity", heap_mb=1024, launcher=launcher),
            "Neo4j 5 (moved)": Neo4jGraphServer(tmp / "moved", database="parity", heap_mb=1024, launcher=launcher),
        }
        for name, server in servers.items():
            # one cache directory for all: each text is encoded once, whatever the server
            settings = load_settings(data_dir=tmp / "work", embedder=args.embedder, extra_embedders=extra)
            print(f"== {name}", file=sys.stderr, flush=True)
            _, start_s = timed(lambda s=server: s.start())
            with running(server) as store:
                if name.endswith("(moved)"):
                    _, t = timed(lambda s=store: import_graph(s, dump))
                    times[name] = {"server start": start_s, "graph import": t}
                else:
                    times[name] = {"server start": start_s, **load_everything(store, settings)}
                counts[name], rels[name] = store.count_by_label(), store.count_relations()
                matches[name], t = top10(store, settings, needs)
                times[name].update(t)
                if name == "ArcadeDB":
                    _, times[name]["graph export"] = timed(lambda s=store: export_graph(s, dump))
    print_tables(counts, rels, matches, times, needs, args.embedder)
    same = all(counts[n] == counts["ArcadeDB"] and rels[n] == rels["ArcadeDB"] and matches[n] == matches["ArcadeDB"]
               for n in counts)
    return 0 if same else 1


def print_tables(counts, rels, matches, times, needs, embedder) -> None:  # noqa: ANN001
    names = list(counts)
    base = names[0]
    print(f"Engine: {'lexical channels + graph features (TECHMATCH_EMBEDDER=none)' if embedder == 'none' else embedder}"
          f"; {len(needs)} dev needs; top 10 with weak matches included\n")
    print("| nodes / relationships | " + " | ".join(names) + " | same |")
    print("|---|" + "---:|" * len(names) + "---|")
    for table in (counts, rels):
        for key in sorted(set().union(*(table[n] for n in names))):
            vals = [table[n].get(key, 0) for n in names]
            print(f"| {key} | " + " | ".join(str(v) for v in vals) + f" | {'yes' if len(set(vals)) == 1 else 'NO'} |")
    for label, table in (("all nodes", counts), ("all relationships", rels)):
        vals = [sum(table[n].values()) for n in names]
        same = "yes" if len(set(vals)) == 1 else "NO"
        print(f"| **{label}** | " + " | ".join(f"**{v}**" for v in vals) + f" | {same} |")
    print()
    print("| dev need | top-1 on ArcadeDB | " + " | ".join(f"top-10 on {n} = ArcadeDB" for n in names[1:]) + " |")
    print("|---|---|" + "---|" * (len(names) - 1))
    for need in needs:
        first = matches[base][need][0][0] if matches[base][need] else "—"
        cells = []
        for n in names[1:]:
            a, b = matches[base][need], matches[n][need]
            if a == b:
                cells.append("yes (ids, order, scores)")
            elif [x for x, _ in a] == [x for x, _ in b]:
                cells.append("ids and order; scores differ")
            else:
                cells.append(f"NO ({len({x for x, _ in a} & {x for x, _ in b})}/10 shared)")
        print(f"| {need} | {first} | " + " | ".join(cells) + " |")
    identical = {n: sum(matches[base][q] == matches[n][q] for q in needs) for n in names[1:]}
    print("| **identical** | | " + " | ".join(f"**{identical[n]}/{len(needs)}**" for n in names[1:]) + " |")
    print()
    steps = sorted(set().union(*(times[n] for n in names)), key=lambda s: list(STEP_ORDER).index(s)
                   if s in STEP_ORDER else 99)
    print("| seconds | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for step in steps:
        print(f"| {step} | " + " | ".join(f"{times[n][step]:.1f}" if step in times[n] else "—" for n in names) + " |")


STEP_ORDER = ("server start", "demo load", "zhibei ingest", "graph export", "graph import", "engine build",
              "20 dev needs")


if __name__ == "__main__":
    sys.exit(main())
