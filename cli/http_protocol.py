"""The HTTP protocol the service's uvicorn runs: uvicorn's httptools protocol (h11 where httptools is not
installed), with Nagle's algorithm off on every accepted connection.

httptools parses in C; with the single graph round trip of a need's page it took plain reads from about 310 to
420-440 requests a second at 20 clients (``benchmarks/README.md``, *The service under load*; the two were not
measured apart).

asyncio turns Nagle off (``TCP_NODELAY``) only on sockets whose protocol number says TCP. With ``--workers N``
uvicorn binds the listening socket itself without that number, so the connections the workers accept kept
Nagle on: on a kept-alive connection each answer's first segment then waited for the client's delayed
acknowledgement, about 40 ms a request (``benchmarks/README.md``, *The service under load*).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def set_nodelay(transport: asyncio.BaseTransport) -> bool:
    """Turn Nagle off on the TCP connection behind ``transport``; False for other sockets (a Unix socket)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # a connection already reset: nothing to tune
        return False
    return True


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as H11Protocol
        set_nodelay(transport)
        super().connection_made(transport)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing: the pure-Python parser
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # a module-level fallback flag

SERVICE_PROTOCOL: type[asyncio.Protocol] = NoDelayH11Protocol
if HttpToolsProtocol is not None:
    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as its base
            set_nodelay(transport)
            super().connection_made(transport)

    SERVICE_PROTOCOL = NoDelayHttpToolsProtocol
