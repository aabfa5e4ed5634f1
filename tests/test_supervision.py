"""The graph server under a running service and under a CLI command, with real processes and kill -9.

- Under ``techmatch serve``: a kill -9 of the graph server gives 503 ``graph_unavailable`` with a Chinese
  sentence in well under a second, ``/readyz`` says why, the supervisor restarts the server and the service
  recovers by itself with nothing lost (a need acknowledged before the kill is read back).
- Beside it: CLI commands on the same data directory attach to that server and leave it running; a command
  that needs no graph starts none.
- The canary: a need acknowledged with 201 survives a kill -9 of both processes.
- Under a CLI command: the command's own server dying is one line naming the exit code, the log's last lines
  and the log, at once.
- The supervisor gives up after its attempts, with a log line and a 503 that says so.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from serve_world import ROOT, alive, run_cli, serve_env, server_pid, start_serve, stop_serve, wait_until

from graph.exceptions import GraphServerExitedError
from graph.server import free_port
from graph.settings import GraphSettings

RESTARTING = "图数据库服务暂时不可用，正在自动重启……"


def test_a_killed_graph_server_gives_a_fast_503_then_the_service_recovers_with_nothing_lost(service):
    posted = httpx.post(service.base + "/api/needs", headers={"X-API-Key": service.keys["enterprise"]},
                        json={"name": "尼龙66切片耐热改性", "description": "需要把热变形温度提高二十度"}, timeout=60)
    assert posted.status_code == 201, posted.text
    need_id = posted.json()["id"]
    assert service.get(f"/api/needs/{need_id}").status_code == 200
    pid = server_pid(service.data_dir)

    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(0.2)  # the watch polls every 50 ms
    started = time.monotonic()
    down = service.get(f"/api/needs/{need_id}")
    took = time.monotonic() - started
    assert down.status_code == 503, down.text
    assert down.json() == {"error": "graph_unavailable", "detail": RESTARTING, "field": None}
    assert took < 1.0, f"503 after {took:.2f}s"
    ready = httpx.get(service.base + "/readyz", timeout=5)
    if ready.status_code == 503:  # unless the restart already finished
        graph = ready.json()["checks"]["graph"]
        assert graph["ok"] is False and graph["server"] == "restarting" and "正在自动重启" in graph["detail"]

    back = wait_until(lambda: service.get(f"/api/needs/{need_id}", timeout=10).status_code == 200, timeout=120)
    assert back, f"no recovery within 120 s: {service.log.read_text()[-3000:]}"
    recovered = time.monotonic() - killed
    assert service.get(f"/api/needs/{need_id}").json()["name"] == "尼龙66切片耐热改性"
    assert server_pid(service.data_dir) != pid and alive(server_pid(service.data_dir))
    assert httpx.get(service.base + "/readyz", timeout=10).json()["checks"]["graph"]["restarts"] == 1
    metrics = httpx.get(service.base + "/metrics", timeout=10).text
    assert "techmatch_graph_server_exits_total 1.0" in metrics
    assert 'techmatch_graph_server_restarts_total{outcome="ok"} 1.0' in metrics
    log = service.log.read_text(encoding="utf-8")
    assert "graph server exited unexpectedly (exit code -9)" in log and "graph server restarted" in log
    print(f"recovered {recovered:.1f}s after the kill")


def test_cli_commands_attach_to_the_running_service_and_leave_it_running(service):
    pid = server_pid(service.data_dir)
    started = time.monotonic()
    counts = run_cli(service.env, "graph", "counts", "--json")
    assert counts.returncode == 0, counts.stderr
    assert json.loads(counts.stdout)["nodes"]["Need"] >= 1
    demo = run_cli(service.env, "demo", "counts", "--json")
    assert demo.returncode == 0, demo.stderr
    assert server_pid(service.data_dir) == pid and alive(pid), "the service's graph server is still the same"
    assert service.get("/api/achievements?page_size=1", who="bureau").status_code == 200
    print(f"two attached commands in {time.monotonic() - started:.1f}s")


def test_commands_that_need_no_graph_start_no_server(tmp_path, backend):
    env = serve_env(tmp_path / "fresh", backend)
    assert run_cli(env, "--help").returncode == 0
    assert run_cli(env, "graph", "import", "--batch-size").returncode == 2  # an argument error
    missing = run_cli(env, "ingest", str(tmp_path / "无此文件.csv"))
    assert missing.returncode == 1 and "无此文件.csv" in missing.stdout + missing.stderr
    gone = run_cli(env, "graph", "import", str(tmp_path / "无此导出.jsonl"))
    assert gone.returncode == 1 and "无法读取" in gone.stderr
    fresh = tmp_path / "fresh"
    assert not (fresh / "server.pid").exists() and not (fresh / "arcadedb").exists() and not (fresh / "neo4j").exists()


def test_an_acknowledged_need_survives_a_kill_of_both_processes(backend, tmp_path):
    data_dir = tmp_path / "data"
    env = serve_env(data_dir, backend)
    svc = start_serve(data_dir, env)
    try:
        posted = httpx.post(svc.base + "/api/needs", headers={"X-API-Key": svc.keys["enterprise"]},
                            json={"name": "高压开关柜局放在线监测", "description": "金属封闭开关设备的局部放电监测"},
                            timeout=60)
        assert posted.status_code == 201, posted.text
        graph_pid = server_pid(data_dir)
        os.kill(svc.proc.pid, signal.SIGKILL)  # the service first, 0 ms after its 201 ...
        os.kill(graph_pid, signal.SIGKILL)  # ... then the graph server: neither may stop cleanly
        svc.proc.wait(10)
    finally:
        stop_serve(svc)
    again = start_serve(data_dir, env, "--no-demo")
    try:
        again.keys = svc.keys
        read = again.get(f"/api/needs/{posted.json()['id']}")
        assert read.status_code == 200 and read.json()["name"] == "高压开关柜局放在线监测"
    finally:
        stop_serve(again)


def test_a_commands_own_server_dying_fails_it_at_once_with_one_line(backend, tmp_path):
    data_dir = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "cli", "demo", "load"], cwd=ROOT,
                            env=serve_env(data_dir, backend), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info = wait_until(lambda: (data_dir / "server.json").exists(), timeout=180, every=0.02)
    assert info, "the command's server never came up"
    os.kill(server_pid(data_dir), signal.SIGKILL)
    killed = time.monotonic()
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - killed
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "图数据库进程意外退出（退出码 -9" in lines[0] and str(data_dir / "logs" / "server.log") in lines[0]
    assert "Traceback" not in err
    assert took < 5, f"the command took {took:.1f}s to notice"


def test_the_supervisor_gives_up_after_its_attempts_and_says_so(tmp_path, backend, caplog):
    from graph.server import embedded_server
    from graph.supervisor import GAVE_UP, supervised_store

    settings = GraphSettings(data_dir=tmp_path / "data", local_graph=backend, embedded_heap_mb=512,
                        graph_restart_attempts=2, graph_restart_backoff_s=0.1)
    with caplog.at_level(logging.INFO, logger="graph.supervisor"), \
            supervised_store(settings, setup_schema=False) as (store, supervisor):
        assert store.ping()
        server = supervisor.server
        server._java = tmp_path / "no-java"  # every restart now fails: Java is gone
        os.kill(server.info.pid, signal.SIGKILL)
        assert wait_until(lambda: supervisor.status().state == "failed", timeout=30, every=0.05)
        with pytest.raises(Exception) as err:
            store.read("RETURN 1 AS ok")
        assert getattr(err.value, "public_detail", "") == GAVE_UP
        assert "2 次自动重启都没有成功" in supervisor.status().detail
    text = caplog.text
    assert text.count("graph server restart") == 2 and "gave up restarting the graph server after 2 attempts" in text
    assert not embedded_server(settings).pid_file.exists()


def test_a_store_marked_down_fails_at_once_even_inside_retries(tmp_path):
    """The store's own retry loop stops the moment the server is known to be down."""
    import threading

    from graph.store import connect

    port = free_port()  # nothing listens there: every try is refused and retried
    store = connect(f"bolt://127.0.0.1:{port}", "u", "p", None,
                    settings=GraphSettings(data_dir=tmp_path, graph_retry_time_s=30, graph_retry_delay_s=0.5))
    error = GraphServerExitedError(-9, "/x/server.log", "last words")
    threading.Timer(0.5, store.mark_down, args=(error,)).start()
    started = time.monotonic()
    with pytest.raises(GraphServerExitedError):
        store.read("RETURN 1 AS ok")
    assert time.monotonic() - started < 1.5
    assert "图数据库进程意外退出（退出码 -9，信号 9）" in str(error) and "/x/server.log" in str(error)
