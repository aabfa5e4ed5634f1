"""``techmatch serve``: a port another program holds is one clear line, before anything says it serves."""

from __future__ import annotations

import socket

import pytest

from cli.commands.serve import PortUnavailableError, check_port
from cli.main import main


def test_serve_on_a_taken_port_fails_with_one_line_naming_the_port(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port), "--no-demo"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "serving" not in out and out == ""
    [line] = err.strip().splitlines()
    assert f"端口 {port} 已被占用" in line and "--port" in line
    # nothing was started on the way: no graph server in the data directory
    assert not (tmp_path / "data" / "server.pid").exists() and not (tmp_path / "data" / "arcadedb").exists()


def test_a_free_port_passes_the_check_and_stays_free(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # the check let it go again
    with pytest.raises(PortUnavailableError, match="找不到这个地址"):
        check_port("no-such-host.invalid", port)
