"""Load on the matching endpoint: ``techmatch serve`` in a subprocess (uvicorn, a throwaway embedded graph
with the demo data), driven on loopback by concurrent httpx async clients for a bounded time per level.

    python benchmarks/load_match.py                       # 1, 20, 50 clients, 10 s each, lexical engine
    python benchmarks/load_match.py --embedder default    # the full engine (the service's default encoders)
    python benchmarks/load_match.py --workers 2           # two worker processes on one graph and one index
    python benchmarks/load_match.py --clients 20 --seconds 30

Prints a markdown table: throughput, p50/p95/p99 latency and errors per level, for the matching endpoint
(GET /api/needs/{id}/matches, rotating over every demo need) and, as the baseline measured in the same run,
a plain graph read through the same stack (GET /api/needs/{id}). The load comes from ``wrk`` where it is
installed (``apt-get install wrk``): a client in Python spends about as much CPU per request as the service's
plain read, on the same two cores, and measures itself as much as the service. The engine is measured once every channel
answers (the dense rows are computed in the background after start). Floor: zero errors at 20 clients.
``run_levels`` is what ``benchmarks/scale.py`` calls for its API section.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, embedder: str, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``techmatch serve`` on a data dir; returns the process and the bureau's API key it printed."""
    # the per-key rate limit is what this benchmark would otherwise measure: off
    env = {**os.environ, "TECHMATCH_DATA_DIR": str(data_dir), "TECHMATCH_API_REQUESTS_PER_MINUTE": "0",
           **(extra_env or {})}
    if embedder != "default":
        env["TECHMATCH_EMBEDDER"] = embedder
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--demo", "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    key = None
    deadline = time.monotonic() + 300
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"bureau\s+user bureau\s+password \S+\s+api key (\S+)", line)
        if found:
            key = found.group(1)
        if "serving on" in line:
            break
        if time.monotonic() > deadline:
            break
    if key is None:
        proc.kill()
        raise RuntimeError("the server did not print a bureau API key")
    # keep reading what the server prints (its access log): a full pipe would stop the server mid-request
    threading.Thread(target=lambda: [None for _ in proc.stdout], name="server-output", daemon=True).start()
    return proc, key


async def wait_ready(base: str, headers: dict[str, str], need_id: str, timeout_s: float = 3600,
                     all_channels: bool = True, tries: int = 1) -> tuple[float, list[str]]:
    """Wait until the engine answers (with every configured channel when ``all_channels``: the dense rows are
    computed after start), ``tries`` times in a row (each worker process must be ready); returns the seconds
    waited and the channels that answered."""
    started = time.monotonic()
    ok = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=300) as client:
        while time.monotonic() - started < timeout_s:
            try:
                resp = await client.get(f"/api/needs/{need_id}/matches")
                if resp.status_code == 200:
                    channels = resp.json().get("channels", [])
                    if not all_channels or any(c.startswith("dense") for c in channels):
                        ok += 1
                        if ok >= tries:
                            return time.monotonic() - started, channels
                        continue
            except httpx.TransportError:
                pass
            ok = 0
            await asyncio.sleep(0.5)
    raise RuntimeError("the matching endpoint never answered with every channel")


async def drive(base: str, headers: dict[str, str], paths: list[str], clients: int, seconds: float
                ) -> tuple[list[float], int, float]:
    """``clients`` concurrent loops requesting ``paths`` round-robin for ``seconds``; latencies, errors, wall."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    async def one(worker: int) -> None:
        nonlocal errors
        i = worker
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                i += clients
                t0 = time.perf_counter()
                try:
                    resp = await client.get(path)
                    ok = resp.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1

    started = time.monotonic()
    await asyncio.gather(*(one(w) for w in range(clients)))
    return latencies, errors, time.monotonic() - started


#: wrk's script: rotate over the paths; at the end, one JSON line with the figures the table needs
WRK_SCRIPT = """
paths = {%s}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f, ' ..
    '"errors": %%d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3,
    e.connect + e.read + e.write + e.timeout + e.status))
end
"""


def load_client() -> str:
    """The client that drives the load: wrk (C, a few microseconds a request) where installed; else httpx in this
    process, whose own CPU (about a millisecond a request) then competes with the service for the same cores and
    caps what the table can show."""
    return "wrk" if shutil.which("wrk") else "httpx"


def drive_wrk(base: str, headers: dict[str, str], paths: list[str], clients: int, seconds: float
              ) -> tuple[int, float, float, float, float, int]:
    """``clients`` kept-alive connections on wrk's two threads for ``seconds``, rotating over ``paths``; requests,
    wall seconds, p50 / p95 / p99 ms, errors (failed connections and non-2xx answers)."""
    import json

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    try:
        cmd = ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "120s",
               "-s", script.name]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        out = subprocess.run([*cmd, base], capture_output=True, text=True, timeout=seconds + 180)
    finally:
        os.unlink(script.name)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRK ")), None)
    if out.returncode or line is None:
        raise RuntimeError(f"wrk failed: {out.stderr[-500:] or out.stdout[-500:]}")
    r = json.loads(line[4:])
    return r["requests"], r["seconds"], r["p50"], r["p95"], r["p99"], r["errors"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


async def run_levels(data_dir: Path, embedder: str, workers: int, clients: list[int], seconds: float,
                     extra_env: dict[str, str] | None = None, paths_limit: int = 200) -> dict:
    """Start the service on ``data_dir``, wait for the engine, drive every client level (matching, then the
    plain read as baseline) with :func:`load_client`; the rows, the time to readiness, the channels that answered
    and the client."""
    driver = load_client()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    proc, key = start_server(data_dir, port, embedder, workers, extra_env)
    headers = {"X-API-Key": key}
    try:
        needs = None
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            for _ in range(600):  # worker processes take a while to bind
                try:
                    needs = (await client.get("/api/needs", params={"page_size": paths_limit})).json()["items"]
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.5)
        if needs is None:
            raise RuntimeError("the service never accepted a connection")
        need_ids = [n["id"] for n in needs]
        ready_s, channels = await wait_ready(base, headers, need_ids[0], all_channels=embedder != "none",
                                             tries=2 * workers)
        ready_s = time.monotonic() - started
        rows = []
        for n_clients in clients:
            for name, paths in (("match need → achievements", [f"/api/needs/{n}/matches" for n in need_ids]),
                                ("baseline: read need", [f"/api/needs/{n}" for n in need_ids])):
                if driver == "wrk":
                    n, wall, p50, p95, p99, errors = drive_wrk(base, headers, paths, n_clients, seconds)
                    rows.append((name, n_clients, n, n / wall, p50, p95, p99, errors))
                    continue
                lat, errors, wall = await drive(base, headers, paths, n_clients, seconds)
                rows.append((name, n_clients, len(lat), len(lat) / wall, statistics.median(lat) * 1000,
                             pct(lat, 0.95), pct(lat, 0.99), errors))
        return {"rows": rows, "ready_s": ready_s, "channels": channels, "needs": len(need_ids), "client": driver}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def main_async(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="tm-load-"))
    try:
        out = await run_levels(data_dir, args.embedder, args.workers, args.clients, args.seconds)
        print(f"\nengine `{args.embedder}` ({', '.join(out['channels'])}), {args.workers} worker(s), "
              f"{out['needs']} demo needs, {args.seconds:.0f} s per row, every channel answering "
              f"{out['ready_s']:.1f} s after start, load driven by {out['client']}, {os.cpu_count()} CPUs, "
              f"load average "
              f"{os.getloadavg()[0]:.1f}\n")
        print("| endpoint | clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, n_clients, n, rps, p50, p95, p99, errors in out["rows"]:
            print(f"| {name} | {n_clients} | {n} | {rps:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {errors} |")
        worst = max((r[7] for r in out["rows"] if r[1] >= 20), default=0)
        if worst:
            print(f"\nFLOOR MISSED: {worst} errors at 20+ clients")
            return 1
        return 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--embedder", default="none",
                        help="none (lexical engine) | default (the service's encoders) | e5-small | st:<path>")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the service")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
