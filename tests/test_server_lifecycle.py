"""The embedded graph server: persistence, locking, crash recovery and clear start-up errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from graph.exceptions import DataDirLockedError, ServerStartError
from graph.model import Talent
from graph.server import EmbeddedGraphServer
from graph.store import connect


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_data_survives_a_restart_and_no_process_is_left(tmp_path):
    server = EmbeddedGraphServer(tmp_path / "g", heap_mb=512)
    info = server.start()
    store = connect(info.uri, info.user, info.password, info.database)
    store.setup_schema()
    store.create_node(Talent(id="tal-persist", name="李娜"))
    store.close()
    pid = info.pid
    server.stop()
    assert not _alive(pid)
    assert not server.pid_file.exists()

    info = server.start()
    try:
        store = connect(info.uri, info.user, info.password, info.database)
        assert store.get_props(Talent.label, "tal-persist")["name"] == "李娜"
        store.close()
    finally:
        server.stop()
    assert not _alive(info.pid)


def test_second_process_on_the_same_data_dir_gets_a_clear_error(tmp_path):
    data = tmp_path / "g"
    server = EmbeddedGraphServer(data, heap_mb=512)
    server.start()
    try:
        code = textwrap.dedent(
            f"""
            from pathlib import Path
            from graph.server import EmbeddedGraphServer
            from graph.exceptions import DataDirLockedError
            try:
                EmbeddedGraphServer(Path({str(data)!r})).start()
            except DataDirLockedError as exc:
                print("LOCKED:", exc)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "LOCKED:" in out.stdout, out.stderr
        assert str(os.getpid()) in out.stdout  # names the process holding the directory
    finally:
        server.stop()


def test_same_process_cannot_start_two_servers_on_one_directory(tmp_path):
    first = EmbeddedGraphServer(tmp_path / "g", heap_mb=512)
    first.start()
    try:
        with pytest.raises(DataDirLockedError):
            EmbeddedGraphServer(tmp_path / "g").start()
    finally:
        first.stop()


def test_server_orphaned_by_a_crash_is_recognised_and_cleaned(tmp_path):
    data = tmp_path / "g"
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from graph.server import EmbeddedGraphServer
        info = EmbeddedGraphServer(Path({str(data)!r}), heap_mb=512).start()
        print(info.pid, flush=True)
        os._exit(9)  # crash: no clean stop, the JVM is left running
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    orphan = int(out.stdout.strip().splitlines()[-1])
    assert _alive(orphan)
    server = EmbeddedGraphServer(data, heap_mb=512)
    try:
        info = server.start()
        assert not _alive(orphan)
        assert info.pid != orphan
    finally:
        server.stop()
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_stale_pid_file_of_a_dead_process_is_ignored(tmp_path):
    data = tmp_path / "g"
    data.mkdir()
    (data / "server.pid").write_text("999999")
    server = EmbeddedGraphServer(data, heap_mb=512)
    try:
        info = server.start()
        assert (data / "server.pid").read_text() == str(info.pid)
    finally:
        server.stop()


def test_port_already_taken_names_the_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"port {port}"):
            EmbeddedGraphServer(tmp_path / "g", bolt_port=port).start()


def test_missing_java_names_the_cause_and_the_log(tmp_path):
    with pytest.raises(ServerStartError, match="Java runtime missing") as err:
        EmbeddedGraphServer(tmp_path / "g", java=tmp_path / "no-java").start()
    assert err.value.log_file and err.value.log_file.endswith("server.log")


def test_unwritable_data_dir_names_the_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ServerStartError, match="not writable"):
        EmbeddedGraphServer(blocker / "g").start()


def test_sigterm_stops_the_server(tmp_path):
    data = tmp_path / "g"
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from graph.server import EmbeddedGraphServer
        info = EmbeddedGraphServer(Path({str(data)!r}), heap_mb=512).start()
        print(info.pid, flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    jvm = int(proc.stdout.readline().strip())
    assert _alive(jvm)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _alive(jvm) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(jvm)
