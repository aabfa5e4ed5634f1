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


def test_connections_the_workers_accept_have_nagle_turned_off():
    """uvicorn binds the workers' listening socket without TCP's protocol number, and asyncio then leaves Nagle on
    for every accepted connection (a kept-alive request waited ~40 ms for the client's delayed ACK); the
    service's protocol turns it off."""
    import asyncio

    from cli.http_protocol import set_nodelay

    async def accept_one() -> list[tuple[int, bool, int]]:
        listener = socket.socket(socket.AF_INET)  # as uvicorn's Config.bind_socket makes it: protocol number 0
        listener.bind(("127.0.0.1", 0))
        seen: list[tuple[int, bool, int]] = []
        done = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                before = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                turned_off = set_nodelay(transport)
                seen.append((before, turned_off, sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
                transport.close()
                done.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        await asyncio.wait_for(done.wait(), 10)
        writer.close()
        server.close()
        return seen

    [(before, turned_off, after)] = asyncio.run(accept_one())
    assert before == 0, "asyncio left Nagle on for this socket: the cause"
    assert turned_off and after != 0


def test_the_service_serves_with_the_c_parser_and_the_protocol_that_turns_nagle_off():
    import inspect

    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from cli.commands import serve
    from cli.http_protocol import SERVICE_PROTOCOL, NoDelayH11Protocol

    assert "http=SERVICE_PROTOCOL" in inspect.getsource(serve._run_workers)
    assert "http=SERVICE_PROTOCOL" in inspect.getsource(serve.run)
    assert issubclass(SERVICE_PROTOCOL, HttpToolsProtocol), "httptools is a dependency: its C parser serves"
    for protocol in (SERVICE_PROTOCOL, NoDelayH11Protocol):
        assert protocol.connection_made is not protocol.__mro__[1].connection_made
