"""A real ``techmatch serve`` in a subprocess on its own data directory, for the operations tests
(supervision, attaching commands, backups). One per backend for the test session (``serve_services``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def server_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / "server.json").read_text())["pid"])


def serve_env(data_dir: Path, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TECHMATCH_GRAPH_")}
    env.update({
        "TECHMATCH_DATA_DIR": str(data_dir),
        "TECHMATCH_LOCAL_GRAPH": backend,
        "TECHMATCH_EMBEDDER": "none",  # the lexical engine: built in seconds
        "TECHMATCH_EMBEDDED_HEAP_MB": "512",
        "TECHMATCH_GRAPH_RESTART_BACKOFF_S": "0.5",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@dataclass
class Service:
    proc: subprocess.Popen[str]
    base: str
    data_dir: Path
    env: dict[str, str]
    keys: dict[str, str]
    log: Path

    def get(self, path: str, who: str = "enterprise", timeout: float = 30) -> httpx.Response:
        return httpx.get(self.base + path, headers={"X-API-Key": self.keys[who]}, timeout=timeout)


def start_serve(data_dir: Path, env: dict[str, str], *extra: str) -> Service:
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    out = open(log, "w")  # noqa: SIM115 - kept open for the process's life
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), *extra], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=out, text=True)
    assert proc.stdout is not None
    keys: dict[str, str] = {}
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        found = re.match(r"\s+(\w+)\s+user \S+\s+password \S+\s+api key (\S+)", line)
        if found:
            keys[found.group(1)] = found.group(2)
        if "serving on" in line or time.monotonic() > deadline:
            break
    else:
        raise AssertionError(f"serve exited: {log.read_text()[-2000:]}")
    service = Service(proc, f"http://127.0.0.1:{port}", data_dir, env, keys, log)
    # "serving on" comes just before uvicorn binds the port
    assert wait_until(lambda: httpx.get(service.base + "/healthz", timeout=5).status_code == 200, 60), log.read_text()
    return service


def stop_serve(service: Service) -> None:
    if service.proc.poll() is None:
        service.proc.send_signal(signal.SIGTERM)
        try:
            service.proc.wait(60)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait(10)


class Services:
    """The session's services, one per backend, started on first use and stopped at the end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._services: dict[str, Service] = {}

    def get(self, backend: str) -> Service:
        if backend not in self._services:
            data_dir = self._tmp.mktemp(f"serve-{backend}") / "data"
            self._services[backend] = start_serve(data_dir, serve_env(data_dir, backend))
        return self._services[backend]

    def stop_all(self) -> None:
        for svc in self._services.values():
            stop_serve(svc)


def wait_until(check: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            return None
        time.sleep(every)
