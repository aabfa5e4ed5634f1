"""``techmatch serve``: open the graph, fill it with demo data when empty, create the demo accounts on the
first start (printing their passwords and API keys once) and serve the API and the web workspace."""

from __future__ import annotations

import argparse
import errno
import socket
import threading

from graph.exceptions import TechmatchError
from graph.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the HTTP API and web workspace",
                            description="Serve the techmatch API (/api, docs at /docs) and the web workspace (/).")
    parser.add_argument("--host", default=None, help="interface to listen on (default: settings.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings.port, 8000)")
    parser.add_argument("--demo", dest="demo", action="store_true", default=None,
                        help="load demo data into an empty graph and create demo accounts (default)")
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="start with the graph as it is")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from api.app import create_app
    from api.bootstrap import bootstrap_accounts, load_demo_if_empty
    from api.observability import configure_logging
    from graph.store import open_store

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    demo = settings.load_demo if args.demo is None else args.demo
    # before the graph server starts and anything says "serving": a taken port is one clear line
    check_port(host, port)
    with open_store(settings) as store:
        if demo:
            print(load_demo_if_empty(store))
            created = bootstrap_accounts(store)
            if created:
                print("demo accounts (shown once; keep them):")
                for acc in created:
                    print(f"  {acc.role.value:<10} user {acc.name:<10} password {acc.password}  api key {acc.api_key}")
        app = create_app(settings, store=store)
        # build the matcher's indexes in the background so the first match request does not wait for them
        threading.Thread(target=app.state.engine_provider, name="engine-warmup", daemon=True).start()
        print(f"techmatch serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)", flush=True)
        configure_logging(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
        # our own access log (JSON, with the request id and the route template) replaces uvicorn's
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)
    return 0


class PortUnavailableError(TechmatchError):
    """The address to serve on cannot be bound (taken by another program, or not this machine's)."""


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` the way the server will (address reuse on, so a port left in TIME_WAIT by the last
    run is free) and let it go again; raises :class:`PortUnavailableError` naming the port when it is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailableError(f"无法监听 {host}:{port}：找不到这个地址（{exc.strerror}）；请检查 --host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailableError(
                    f"端口 {port} 已被占用（{host}:{port}），techmatch 没有启动：请用 --port 换一个端口，"
                    "或先停止占用它的程序") from None
            raise PortUnavailableError(f"无法监听 {host}:{port}（{exc.strerror}）：请用 --host/--port 换一个地址"
                                       ) from None
