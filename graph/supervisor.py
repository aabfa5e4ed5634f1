"""The graph server under ``techmatch serve`` is watched and restarted: a supervisor.

When the server's process exits by itself (killed, crashed, out of memory), the watch thread notices it within
50 ms (it polls the process, it does not wait for a Bolt timeout) and the supervisor

1. marks the store down: every graph call raises at once, so the API answers 503
   ``{"error": "graph_unavailable", "detail": "图数据库服务暂时不可用，正在自动重启……"}`` within a second and
   ``/readyz`` says why; calls waiting in the driver's retries are released (the driver is closed under them);
2. restarts the server after 1 s, 2 s, 4 s ... (at most ``graph_restart_backoff_max_s``), up to
   ``graph_restart_attempts`` times in a row, on the same ports when they are free;
3. gives the store a new driver to the restarted server: the service recovers without a restart of its own.

Each step is a log line (``graph.supervisor``) and the counters ``techmatch_graph_server_exits_total`` and
``techmatch_graph_server_restarts_total{outcome}`` count them. After the last failed attempt it gives up with an
error line; the service keeps answering 503 (and ``/readyz`` says so) until an operator restarts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from graph.exceptions import GraphDownError, GraphServerExitedError
from graph.settings import GraphSettings
from graph.store import GraphStore, connect, new_driver, open_store, write_gate_for

log = logging.getLogger("graph.supervisor")

EXITS = Counter("techmatch_graph_server_exits_total", "unexpected exits of the graph server techmatch started")
RESTARTS = Counter("techmatch_graph_server_restarts_total", "restarts of the graph server by the supervisor",
                   ["outcome"])

RESTARTING = "图数据库服务暂时不可用，正在自动重启……"
GAVE_UP = "图数据库服务已停止，自动重启没有成功；请联系管理员查看图数据库日志"


@dataclass(frozen=True)
class SupervisorState:
    state: str  # running | restarting | failed | stopped
    detail: str
    restarts: int
    attempt: int
    last_exit_code: int | None


class GraphSupervisor:
    """Watches ``server`` (a started :class:`~graph.server.EmbeddedGraphServer`) and restarts it with backoff."""

    def __init__(self, server: Any, store: GraphStore | None, settings: GraphSettings) -> None:
        self.server, self.store, self.settings = server, store, settings
        self._state = "running"
        self._attempt = 0
        self._restarts = 0
        self._last_exit: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> GraphSupervisor:
        self.server.watch(self._on_exit)
        return self

    def stop(self, wait_s: float = 10.0) -> None:
        """Stop supervising (before the server is stopped on purpose); a restart under way is waited for."""
        self._stop.set()
        self._state = "stopped"
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait_s)

    def status(self) -> SupervisorState:
        detail = {
            "running": "图数据库运行中",
            "restarting": f"图数据库进程已退出（退出码 {self._last_exit}），"
                          f"正在自动重启（第 {max(self._attempt, 1)} 次尝试）",
            "failed": f"图数据库进程已退出，{self.settings.graph_restart_attempts} 次自动重启都没有成功；"
                      f"请查看日志 {self.server.log_file}",
            "stopped": "图数据库已停止",
        }[self._state]
        return SupervisorState(self._state, detail, self._restarts, self._attempt, self._last_exit)

    # -- the watch thread's side ---------------------------------------------------------------
    def _on_exit(self, code: int) -> None:
        if self._stop.is_set():
            return
        from graph.server import log_tail

        EXITS.inc()
        self._state, self._last_exit, self._attempt = "restarting", code, 0
        error = GraphServerExitedError(code, str(self.server.log_file), log_tail(self.server.log_file),
                                       public_detail=RESTARTING)
        if self.store is not None:
            self.store.mark_down(error)
        log.error("graph server exited unexpectedly (exit code %s); restarting it. %s", code, error)
        self._thread = threading.Thread(target=self._restart_loop, name="graph-restart", daemon=True)
        self._thread.start()

    def _restart_loop(self) -> None:
        s = self.settings
        delay = s.graph_restart_backoff_s
        for attempt in range(1, s.graph_restart_attempts + 1):
            self._attempt = attempt
            if self._stop.wait(delay):
                return
            started = time.monotonic()
            log.warning("restarting the graph server (attempt %d of %d)", attempt, s.graph_restart_attempts)
            try:
                info = self.server.restart()
            except Exception as exc:  # noqa: BLE001 - every failure is logged and retried
                RESTARTS.labels("failed").inc()
                log.error("graph server restart %d of %d failed: %s", attempt, s.graph_restart_attempts, exc)
                delay = min(delay * 2, s.graph_restart_backoff_max_s)
                continue
            if self._stop.is_set():
                return
            if self.store is not None:
                self.store.mark_up(new_driver(info.uri, info.user, info.password, s))
            RESTARTS.labels("ok").inc()
            self._restarts += 1
            self._state = "running"
            log.warning("graph server restarted in %.1f s (pid %s, %s); the service is back",
                        time.monotonic() - started, info.pid, info.uri)
            self.server.watch(self._on_exit)
            return
        self._state = "failed"
        message = (f"gave up restarting the graph server after {s.graph_restart_attempts} attempts; "
                   f"the service answers 503 until it is restarted (log: {self.server.log_file})")
        log.critical(message)
        if self.store is not None:
            self.store.down = GraphDownError(message, public_detail=GAVE_UP)


@contextmanager
def supervised_store(settings: GraphSettings, setup_schema: bool = True, owner: str = "serve"
                     ) -> Iterator[tuple[GraphStore, GraphSupervisor | None]]:
    """The store for a long-lived process (``techmatch serve``): with no URI, the local server is started with
    ``owner`` recorded (so CLI commands beside it attach) and supervised; with a URI, a plain store (the
    external server has its own supervision)."""
    if settings.graph_uri:
        with open_store(settings, setup_schema=setup_schema) as store:
            yield store, None
        return
    from graph.server import embedded_server
    server = embedded_server(settings)
    server.owner = owner
    info = server.start()
    store = connect(info.uri, info.user, info.password, info.database, settings.write_batch_size, settings,
                    write_gate_for(settings))
    supervisor = GraphSupervisor(server, store, settings).start()
    try:
        if setup_schema:
            store.setup_schema()
        yield store, supervisor
    finally:
        supervisor.stop()
        store.close()
        server.stop()
