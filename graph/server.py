"""The embedded default graph: a local ArcadeDB server (from the ``arcadedb-embedded`` wheel) speaking Bolt.

One server per data directory. The directory holds the database, a generated password
(``secret``, mode 0600), the server log and a lock: a second techmatch process on the same
directory gets :class:`DataDirLockedError` instead of a corrupted store. A server left behind
by a crashed process (a stale PID file with no lock holder) is recognised and stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from graph.exceptions import DataDirLockedError, ServerStartError
from graph.files import PRIVATE_UMASK, private_dir, secure_tree, write_private
from graph.settings import GraphSettings

log = logging.getLogger(__name__)


def arcadedb_home() -> Path:
    """Where the wheel keeps its jars and Java runtime."""
    try:
        import arcadedb_embedded
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise ServerStartError("the arcadedb-embedded package is not installed") from exc
    return Path(arcadedb_embedded.__file__).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class ServerInfo:
    uri: str
    user: str
    password: str
    database: str
    http_port: int
    pid: int
    log_file: Path
    #: which server this is: "arcadedb" or "neo4j"
    backend: str = "arcadedb"


class EmbeddedGraphServer:
    """Starts, health-checks and stops an ArcadeDB server bound to loopback."""

    USER = "root"
    BACKEND = "arcadedb"

    def __init__(
        self,
        data_dir: Path,
        database: str = "techmatch",
        heap_mb: int = 1024,
        bolt_port: int | None = None,
        http_port: int | None = None,
        start_timeout_s: float = 90.0,
        java: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self.heap_mb = heap_mb
        self._bolt_port = bolt_port
        self._http_port = http_port
        self.start_timeout_s = start_timeout_s
        self._java = java
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._info: ServerInfo | None = None
        self._stop_lock = threading.Lock()
        self._stopping = False
        self._last_ports = (0, 0)
        #: who runs the server, written to ``server.json`` for other techmatch processes: a long-lived owner
        #: ("serve", "graph run") lets them attach; a command's own server ("command") does not
        self.owner = "command"

    # -- paths -----------------------------------------------------------------------------------
    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "server.pid"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "server.lock"

    @property
    def info_file(self) -> Path:
        """Where a running server is described for other techmatch processes (no password: that is ``secret``)."""
        return self.data_dir / "server.json"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "secret"

    @property
    def info(self) -> ServerInfo:
        if self._info is None:
            raise ServerStartError("the embedded server is not running")
        return self._info

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> ServerInfo:
        if self.running:
            return self.info
        self._prepare_dir()
        self._acquire_lock()
        try:
            self._clean_stale_server()
            self._launch(self._bolt_port or free_port(), (self._http_port or free_port()) if self.USES_HTTP else 0)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        _install_signal_handlers(self)
        return self.info

    def restart(self) -> ServerInfo:
        """Start the server again after its process exited by itself (the supervisor's call).

        This process still holds the data directory's lock, so nothing else can have taken the directory.
        The same ports are used again when they are free (clients and attached commands keep their address),
        new free ones otherwise (unless the ports were configured).
        """
        if self._lock_fd is None:
            raise ServerStartError("the server was stopped; start it instead of restarting it")
        with self._stop_lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                if proc.poll() is None:  # a restart of a live server: stop it first
                    _terminate(proc.pid, proc)
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
            self._info = None
            self.info_file.unlink(missing_ok=True)
        bolt_port, http_port = self._last_ports
        if not self._bolt_port and port_in_use(bolt_port):
            bolt_port = free_port()
        if self.USES_HTTP and not self._http_port and port_in_use(http_port):
            http_port = free_port()
        try:
            self._launch(bolt_port, http_port)
            if self._lock_fd is None:  # stopped on purpose while it started: do not leave it running
                raise ServerStartError("the server was stopped while it restarted")
        except BaseException:
            # leave the lock with us: the supervisor tries again later, and no other process takes the directory
            with self._stop_lock:
                proc, self._proc = self._proc, None
                if proc is not None and proc.poll() is None:
                    _terminate(proc.pid, proc)
                self._info = None
            raise
        return self.info

    def exit_code(self) -> int | None:
        """The exit code of the server's process once it has exited by itself; None while it runs (or never ran)."""
        proc = self._proc
        return None if proc is None else proc.poll()

    def watch(self, on_exit: Callable[[int], None], interval_s: float = 0.05) -> threading.Thread:
        """Call ``on_exit(exit code)`` from a daemon thread as soon as the current process exits by itself.

        The process is polled (``Popen.poll``) every ``interval_s``: an exit is noticed within that time,
        not after a Bolt timeout. A stop asked for by :meth:`stop` is not reported.
        """
        proc = self._proc
        if proc is None:
            raise ServerStartError("the embedded server is not running")

        def run() -> None:
            while self._proc is proc:
                code = proc.poll()
                if code is not None:
                    if self._proc is proc and not self._stopping:
                        on_exit(code)
                    return
                time.sleep(interval_s)

        thread = threading.Thread(target=run, name=f"graph-watch-{proc.pid}", daemon=True)
        thread.start()
        return thread

    def _launch(self, bolt_port: int, http_port: int) -> None:
        """Run the server's process on these ports and wait until it answers (the lock is held)."""
        self._last_ports = (bolt_port, http_port)
        java = self._java_runtime()
        if not java.exists() or not os.access(java, os.X_OK):
            raise ServerStartError(f"Java runtime missing or not executable: {java}", str(self.log_file))
        for port in (bolt_port, http_port):
            if port and port_in_use(port):
                raise ServerStartError(f"port {port} on 127.0.0.1 is already in use", str(self.log_file))
        password = self._password()
        cmd = self._command(java, bolt_port, http_port, password)
        stdin_payload = self._stdin_payload(password)
        self._before_launch()
        private_dir(self.log_file.parent)
        log_handle = open(os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            # A new session so Ctrl-C in a terminal reaches us first and we stop the JVM cleanly.
            self._proc = subprocess.Popen(
                cmd,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin_payload is not None else subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
                umask=PRIVATE_UMASK,  # the database files it writes are the owner's alone
            )
        except OSError as exc:
            raise ServerStartError(f"could not run Java ({exc})", str(self.log_file)) from exc
        finally:
            log_handle.close()
        if stdin_payload is not None and self._proc.stdin is not None:
            # Secrets travel on stdin, never on the command line; the pipe stays open for the
            # server's life (a server that watches it stops when we are gone).
            try:
                self._proc.stdin.write(stdin_payload)
                self._proc.stdin.flush()
            except BrokenPipeError:
                pass  # the server exited at once; _wait_ready reports it with the log
        write_private(self.pid_file, str(self._proc.pid))
        self._info = ServerInfo(
            uri=f"bolt://127.0.0.1:{bolt_port}",
            user=self.USER,
            password=password,
            database=self.database,
            http_port=http_port,
            pid=self._proc.pid,
            log_file=self.log_file,
            backend=self.BACKEND,
        )
        self._wait_ready()
        self._write_info_file()

    # -- what differs between servers (overridden by graph.neo4j_server.Neo4jGraphServer) -------
    #: the server needs an HTTP port besides Bolt
    USES_HTTP = True

    def _java_runtime(self) -> Path:
        return self._java or arcadedb_home() / "jre" / "bin" / "java"

    def _command(self, java: Path, bolt_port: int, http_port: int, password: str) -> list[str]:
        return [
            str(java),
            f"-Xmx{self.heap_mb}m",
            f"-Darcadedb.server.rootPath={self.data_dir / 'arcadedb'}",
            f"-Darcadedb.server.databaseDirectory={self.data_dir / 'arcadedb' / 'databases'}",
            # the password stays in the 0600 file: a -D value would show in every local user's `ps`
            f"-Darcadedb.server.rootPasswordPath={self.secret_file}",
            f"-Darcadedb.server.defaultDatabases={self.database}[{self.USER}]",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.port={bolt_port}",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={http_port}",
            "-Darcadedb.server.mode=production",
            "-cp",
            f"{arcadedb_home() / 'jars'}/*",
            "com.arcadedb.server.ArcadeDBServer",
        ]

    def _stdin_payload(self, password: str) -> bytes | None:
        """Bytes written to the server's standard input at start (None: no pipe)."""
        return None

    def _before_launch(self) -> None:
        """Last preparations before the process starts."""

    def _worth_querying(self, bolt_port: int) -> bool:
        """Whether a readiness query may be tried now (each failed login counts on some servers)."""
        return port_in_use(bolt_port)

    def stop(self) -> None:
        """Stop the server (idempotent): SIGTERM to its process group, then SIGKILL after a grace."""
        with self._stop_lock:
            self._stopping = True
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                _terminate(proc.pid, proc)
            if proc is not None and proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            self._info = None
            if self._lock_fd is not None:
                self.pid_file.unlink(missing_ok=True)
                self.info_file.unlink(missing_ok=True)
            self._release_lock()
            self._stopping = False

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------------
    def _prepare_dir(self) -> None:
        try:
            private_dir(self.data_dir)
            secure_tree(self.data_dir)  # a directory from an older version may still be world-readable
            probe = self.data_dir / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ServerStartError(
                f"data directory {self.data_dir} is not writable ({exc.strerror})", str(self.log_file)
            ) from exc

    def _acquire_lock(self) -> None:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            holder = self.lock_file.read_text().strip() or "unknown"
            raise DataDirLockedError(
                f"另一个 techmatch 进程（pid {holder}）正在使用数据目录 {self.data_dir}："
                "请等它结束或先停止它，或用 TECHMATCH_DATA_DIR 换一个目录"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _clean_stale_server(self) -> None:
        """We hold the lock, so any server recorded in the PID file was orphaned by a crash."""
        if not self.pid_file.exists():
            return
        try:
            pid = int(self.pid_file.read_text().strip())
        except ValueError:
            pid = 0
        if pid > 0 and _is_our_server(pid, self.data_dir):
            log.warning("stopping server pid %s left behind by a crashed techmatch process", pid)
            _terminate(pid, None)
        self.pid_file.unlink(missing_ok=True)

    def _write_info_file(self) -> None:
        info = self.info
        write_private(self.info_file, json.dumps({
            "pid": info.pid, "uri": info.uri, "user": info.user, "database": info.database,
            "http_port": info.http_port, "backend": info.backend, "owner": self.owner, "owner_pid": os.getpid(),
        }))

    def _password(self) -> str:
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        password = secrets.token_urlsafe(24)
        write_private(self.secret_file, password)
        return password

    def _wait_ready(self) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        assert self._proc is not None and self._info is not None
        deadline = time.monotonic() + self.start_timeout_s
        last_error = "no answer"
        bolt_port = int(self._info.uri.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"the graph server exited with code {self._proc.returncode} during start-up: "
                    f"{_tail(self.log_file)}",
                    str(self.log_file),
                )
            if self._worth_querying(bolt_port):
                try:
                    with GraphDatabase.driver(self._info.uri, auth=(self.USER, self._info.password)) as drv:
                        drv.execute_query("RETURN 1 AS ok", database_=self.database)
                    return
                except (ServiceUnavailable, Neo4jError, OSError) as exc:
                    last_error = str(exc)
            time.sleep(0.25)
        raise ServerStartError(
            f"the graph server did not become ready within {self.start_timeout_s:.0f}s ({last_error})",
            str(self.log_file),
        )


def embedded_server(settings: GraphSettings) -> EmbeddedGraphServer:
    """The local server the settings describe (kind, data directory, heap, ports, start-up timeout)."""
    if settings.local_graph == "neo4j":
        from graph.neo4j_server import Neo4jGraphServer

        return Neo4jGraphServer(
            settings.data_dir,
            database=settings.embedded_database,
            heap_mb=settings.embedded_heap_mb,
            bolt_port=settings.embedded_bolt_port,
            start_timeout_s=settings.embedded_start_timeout_s,
        )
    return EmbeddedGraphServer(
        settings.data_dir,
        database=settings.embedded_database,
        heap_mb=settings.embedded_heap_mb,
        bolt_port=settings.embedded_bolt_port,
        http_port=settings.embedded_http_port,
        start_timeout_s=settings.embedded_start_timeout_s,
    )


#: owners whose server another techmatch process may use: they run until stopped by hand (a command's own
#: server stops when the command ends, under whoever attached to it)
ATTACHABLE_OWNERS = ("serve", "graph run")


@dataclass(frozen=True)
class RunningServer:
    """A graph server another techmatch process runs on a data directory, as its ``server.json`` describes it."""

    info: ServerInfo
    owner: str
    owner_pid: int

    @property
    def attachable(self) -> bool:
        return self.owner in ATTACHABLE_OWNERS


def find_running_server(data_dir: Path) -> RunningServer | None:
    """The server running on ``data_dir`` for another live techmatch process, checked, or None.

    Checked: ``server.json`` names a process that is alive and is one of our servers started for this very
    directory (its command line names the directory), its owner is alive and is the process holding the
    directory's lock. Nothing is locked or changed here: a stale file (a crashed owner) simply does not count.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    try:
        raw = json.loads((data_dir / "server.json").read_text(encoding="utf-8"))
        password = (data_dir / "secret").read_text(encoding="utf-8").strip()
        holder = (data_dir / "server.lock").read_text().strip()
        pid, owner_pid = int(raw["pid"]), int(raw["owner_pid"])
        info = ServerInfo(uri=str(raw["uri"]), user=str(raw["user"]), password=password,
                          database=str(raw["database"]), http_port=int(raw.get("http_port") or 0), pid=pid,
                          log_file=data_dir / "logs" / "server.log", backend=str(raw.get("backend", "arcadedb")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if holder != str(owner_pid) or owner_pid == os.getpid():
        return None
    if not (_is_our_server(pid, data_dir) and not _is_zombie(pid) and Path(f"/proc/{owner_pid}").exists()
            and not _is_zombie(owner_pid)):
        return None
    return RunningServer(info=info, owner=str(raw.get("owner", "command")), owner_pid=owner_pid)


#: the main classes of the servers techmatch starts (ArcadeDB, and the Neo4j launcher of graph.neo4j_server)
SERVER_MAIN_CLASSES = ("com.arcadedb.server.ArcadeDBServer", "techmatch.Neo4jLauncher")


def _is_our_server(pid: int, data_dir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(main in cmdline for main in SERVER_MAIN_CLASSES) and str(data_dir) in cmdline


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None, grace_s: float = 20.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc is not None:
        proc.wait(timeout=10)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def log_tail(path: Path, lines: int = 3, width: int = 200) -> str:
    """The last ``lines`` non-empty lines of a log, each cut to ``width`` characters, joined by " | "."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [ln.strip()[:width] for ln in text.splitlines() if ln.strip()]
    return " | ".join(kept[-lines:]) or "(日志为空)"


def _tail(path: Path, lines: int = 5) -> str:
    return log_tail(path, lines, width=500)


_servers: list[EmbeddedGraphServer] = []


def _install_signal_handlers(server: EmbeddedGraphServer) -> None:
    """SIGTERM stops every embedded server and exits; SIGINT stays KeyboardInterrupt (atexit stops)."""
    _servers.append(server)
    if threading.current_thread() is not threading.main_thread() or len(_servers) > 1:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def _on_term(signum: int, frame: FrameType | None) -> None:
        for s in list(_servers):
            s.stop()
        if callable(previous) and previous not in (signal.SIG_DFL, signal.SIG_IGN):
            previous(signum, frame)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _on_term)
