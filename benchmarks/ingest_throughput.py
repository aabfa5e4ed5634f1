"""Ingest throughput, old code against new, in one run on the same machine.

1. **zhibei end to end**: ``python -m cli ingest DIR -q`` on a copy of the zhibei export (2,810 achievements +
   1,729 needs) into a fresh data directory: wall time of the whole command (interpreter start, graph server
   start, model, every row written), old and new alternating, median of ``--repeats``. The old code is
   ``git archive``'d from ``--old`` (default: the commit before this work) into a temporary directory; its
   placement model is trained once beforehand and copied into each of its data directories, so the old
   figure is its *warm* case (its first run in a data directory also trains for 8-10 s).
2. **recombined rows** (``--scale 30000 300000``): achievements built by recombining zhibei names,
   descriptions and scopes (no two alike), loaded by the ``Loader`` with the default placer in a worker process
   for each code version, time-boxed (``--box`` seconds each): rows written per second over the whole batches
   committed before the box ran out (the graph grows as it would).

3. **CPU per row** (``--cpu-rows 1500``): process CPU time of the enrichment (keywords, patent numbers,
   institutions) and of the placement (``place_many`` by 500) on the first zhibei achievements, and of the warm-up
   (model and tables), for each code version in its own process; CPU time rather than wall, so it holds on a
   machine other jobs are loading.

4. **variants** (``--variant serial:TECHMATCH_INGEST_WORKERS=0``, repeatable): this tree again with those
   environment settings, alternating with the others in the zhibei part and given its own row in each table
   (e.g. the enrichment in the loading process against the worker processes).

Run: ``python benchmarks/ingest_throughput.py [--repeats 2] [--scale 30000 300000] [--box 120]``
(prints markdown tables and the load average before and after each part; about 3 minutes plus 2 x box per
scale).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "7a723dd"  # the ingest before this work: jieba, model trained from ../shared, 500-row batches


def _shared() -> Path:
    env = os.environ.get("TECHMATCH_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def _export_old(commit: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _env(code: Path, data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env["TECHMATCH_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(code), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    return env


def _cli_ingest(code: Path, zhibei: Path, data_dir: Path, extra: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    cli = "cli" if (code / "cli" / "__main__.py").exists() else "api.cli"  # the command line's home moved
    subprocess.run([sys.executable, "-m", cli, "ingest", str(zhibei), "-q"], cwd=code,
                   env=_env(code, data_dir, extra), check=True, capture_output=True)
    return time.perf_counter() - started


def _warm_old_cache(code: Path, data_dir: Path) -> None:
    script = "from ingest.classify import cached_industry_model; assert cached_industry_model() is not None"
    subprocess.run([sys.executable, "-c", script], cwd=code, env=_env(code, data_dir), check=True)


def recombined(n: int, seed: int = 0) -> list[dict[str, object]]:
    """``n`` achievement records recombined from zhibei's names, descriptions, scopes and labels."""
    rows = [json.loads(x) for x in (_shared() / "data" / "zhibei" / "achievements_dedup.jsonl")
            .read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b, c = rng.choice(rows), rng.choice(rows), rng.choice(rows)
        out.append({"id": f"r{i}", "name": f"{a.get('name') or ''}{i}", "description": b.get("description") or "",
                    "application_scope": c.get("application_scope") or "", "industry": a.get("industry") or "",
                    "owners": a.get("owners") or []})
    return out


_WORKER = r"""
import inspect, json, sys, time
from pathlib import Path
from graph.server import EmbeddedGraphServer
from graph.store import connect
from ingest.classify import default_placer
from ingest.loader import Loader, ensure_taxonomy

path, box, batch, tmp = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
server = EmbeddedGraphServer(tmp / "graph", database="bench", heap_mb=2048)
info = server.start()
store = connect(info.uri, info.user, info.password, info.database)
class Stop(Exception):
    pass
done = {"rows": 0, "t": 0.0}
try:
    store.setup_schema()
    ensure_taxonomy(store)
    placer = default_placer()  # not timed: the old code trains here on its first run
    started = time.perf_counter()
    def hook(n, nodes):
        done["t"] = time.perf_counter() - started
        if done["t"] > box:
            raise Stop()
        done["rows"] += len(nodes)
    try:
        kw = {"batch_size": batch} if batch else {}
        params = inspect.signature(Loader).parameters
        if "workers" in params:
            kw["workers"] = None  # as the command does: TECHMATCH_INGEST_WORKERS (default: none)
        if "configured_workers" in params:  # the setting reaches the loader from the command, not the environment
            from api.config import load_settings
            kw["configured_workers"] = load_settings().ingest_workers
        Loader(store, placer=placer, progress=False, rejects_dir=tmp, before_batch=hook, **kw).load(path)
        done["t"] = time.perf_counter() - started
        done["complete"] = True
    except Stop:
        pass
finally:
    store.close()
    server.stop()
print(json.dumps(done))
"""


_CPU_WORKER = r"""
import json, sys, time
from graph.model import Achievement
from ingest.classify import default_placer
from ingest import text as tp
from ingest.extraction import find_institutions, find_patent_numbers
path, n = sys.argv[1], int(sys.argv[2])
t0 = time.process_time()
placer = default_placer()
tp.general_idf()
tp.tokenize("尼龙66切片")
warm = time.process_time() - t0
rows = [json.loads(x) for x in open(path, encoding="utf-8")][:n]
nodes = [Achievement(id=f"a{i}", name=r["name"], description=r.get("description") or "",
                     application_scope=r.get("application_scope") or "") for i, r in enumerate(rows) if r.get("name")]
t0 = time.process_time()
for node in nodes:
    tp.keywords(node.text, k=10)
    find_patent_numbers(node.text)
    find_institutions(node.text)
t1 = time.process_time()
for s in range(0, len(nodes), 500):
    placer.place_many(nodes[s : s + 500])
t2 = time.process_time()
print(json.dumps({"warm": warm, "enrich": (t1 - t0) / len(nodes), "place": (t2 - t1) / len(nodes)}))
"""


def _cpu_run(code: Path, path: Path, n: int, tmp: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CPU_WORKER, str(path), str(n)], cwd=code,
                         env=_env(code, tmp / "cpu-data"), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scale_run(code: Path, path: Path, box: float, tmp: Path, batch: int = 0,
               extra: dict[str, str] | None = None) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(dir=tmp))
    out = subprocess.run([sys.executable, "-c", _WORKER, str(path), str(box), str(batch), str(work)], cwd=code,
                         env=_env(code, work / "data", extra), check=True, capture_output=True, text=True)
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def _pairs(env: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scale", type=int, nargs="*", default=[])
    parser.add_argument("--box", type=float, default=120.0)
    parser.add_argument("--old", default=OLD_COMMIT)
    parser.add_argument("--cpu-rows", type=int, default=0, help="also measure CPU per row on this many rows")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:K=V[,K=V]",
                        help="also run this tree with these environment settings (repeatable)")
    parser.add_argument("--skip-zhibei", action="store_true", help="only the recombined rows (--scale)")
    parser.add_argument("--runs", default="", metavar="old,new,LABEL",
                        help="only these code versions (old, new, the labels of --variant); default: all")
    args = parser.parse_args()
    variants: dict[str, dict[str, str]] = {}
    chosen = {x.strip() for x in args.runs.split(",") if x.strip()}
    for spec in args.variant:
        label, _, pairs = spec.partition(":")
        if not chosen or label in chosen:
            variants[f"new, {label}"] = dict(p.split("=", 1) for p in pairs.split(",") if p)
    zhibei_src = _shared() / "data" / "zhibei"
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        old = _export_old(args.old, tmp / "old")
        zhibei = tmp / "zhibei"
        zhibei.mkdir()
        for name in ("achievements_dedup.jsonl", "requirements_dedup.jsonl"):
            shutil.copy(zhibei_src / name, zhibei / name)  # the loader writes rejects beside its input
        rows = sum(len((zhibei / n).read_text(encoding="utf-8").splitlines()) for n in
                   ("achievements_dedup.jsonl", "requirements_dedup.jsonl"))
        runs: list[tuple[str, Path, dict[str, str]]] = [("old", old, {}), ("new", ROOT, {}),
                                                        *((label, ROOT, env) for label, env in variants.items())]
        runs = [r for r in runs if not chosen or r[0] in chosen or r[0] in variants]
        if any(label == "old" for label, _, _ in runs):
            _warm_old_cache(old, tmp / "old-cache")
        times: dict[str, list[float]] = {label: [] for label, _, _ in runs}
        load_before = os.getloadavg()
        for i in range(0 if args.skip_zhibei else args.repeats):
            for j, (label, code, extra) in enumerate(runs):
                data = tmp / f"data-{j}-{i}"
                if label == "old":
                    shutil.copytree(tmp / "old-cache" / "cache", data / "cache")
                times[label].append(_cli_ingest(code, zhibei, data, extra))
                shutil.rmtree(data, ignore_errors=True)
        if not args.skip_zhibei:
            print(f"## Ingest: zhibei end to end ({rows} rows, `techmatch ingest` wall time, median of "
                  f"{args.repeats})\n")
            print(f"load average (1/5/15 min) before {_load(load_before)}, after {_load(os.getloadavg())}\n")
            print("| code | seconds | rows/s | runs (s) |")
            print("|---|---:|---:|---|")
        for label, _, extra in runs if not args.skip_zhibei else []:
            med = statistics.median(times[label])
            shown = ", ".join(f"{t:.1f}" for t in times[label])
            name = {"old": f"old ({args.old})", "new": "new (this tree)"}.get(label, f"{label} ({_pairs(extra)})")
            print(f"| {name} | {med:.1f} | {rows / med:.0f} | {shown} |", flush=True)
        if args.cpu_rows:
            cpu: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for _ in range(args.repeats):
                for label, code in (("old", old), ("new", ROOT)):
                    cpu[label].append(_cpu_run(code, zhibei / "achievements_dedup.jsonl", args.cpu_rows, tmp))
            print(f"\n## Ingest: CPU per row ({args.cpu_rows} zhibei achievements, process CPU time, median of "
                  f"{args.repeats})\n")
            print("| code | warm-up (s) | enrichment (ms/row) | placement (ms/row) |")
            print("|---|---:|---:|---:|")
            for label in ("old", "new"):
                warm, enrich, place = (statistics.median(r[k] for r in cpu[label]) for k in ("warm", "enrich", "place"))
                print(f"| {label} | {warm:.2f} | {1000 * enrich:.2f} | {1000 * place:.2f} |")
        for n in args.scale:
            path = tmp / f"recombined-{n}.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for rec in recombined(n):
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            print(f"\n## Ingest: {n:,} recombined achievements, Loader with the default placer, "
                  f"time box {args.box:.0f} s\n")
            print("| code | rows written | seconds | rows/s | finished | load average before → after |")
            print("|---|---:|---:|---:|---|---|")
            for label, code, extra in runs:
                before = os.getloadavg()
                r = _scale_run(code, path, args.box, tmp, extra=extra)
                rate = r["rows"] / r["t"] if r["t"] else 0.0
                finished = "yes" if r.get("complete") else "no"
                print(f"| {label} | {r['rows']:,} | {r['t']:.0f} | {rate:.0f} | {finished} | "
                      f"{_load(before)} → {_load(os.getloadavg())} |", flush=True)


if __name__ == "__main__":
    main()
