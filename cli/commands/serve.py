"""``techmatch serve``: open the graph, fill it with demo data when empty, create the demo accounts on the
first start (printing their passwords and API keys once) and serve the API and the web workspace.

``--workers N`` (N > 1) serves from N processes: this process starts the embedded graph (or uses the
configured Neo4j) and passes its address to the workers, which share the persisted indexes (memory-mapped)
and one session secret (see docs/service.md, *Several worker processes*)."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from graph.exceptions import TechmatchError

if TYPE_CHECKING:
    from api.config import ApiSettings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the HTTP API and web workspace",
                            description="Serve the techmatch API (/api, docs at /docs) and the web workspace (/).")
    parser.add_argument("--host", default=None, help="interface to listen on (default: settings.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: settings.port, 8000)")
    parser.add_argument("--demo", dest="demo", action="store_true", default=None,
                        help="load demo data into an empty graph and create demo accounts (default)")
    parser.add_argument("--no-demo", dest="demo", action="store_false", help="start with the graph as it is")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes serving requests (default 1); they share the graph and the indexes")
    parser.set_defaults(func=run)


def _bootstrap(store: Any, demo: bool) -> None:
    from api.bootstrap import bootstrap_accounts, load_demo_if_empty

    if demo:
        print(load_demo_if_empty(store))
        created = bootstrap_accounts(store)
        if created:
            print("demo accounts (shown once; keep them):")
            for acc in created:
                print(f"  {acc.role.value:<10} user {acc.name:<10} password {acc.password}  api key {acc.api_key}")


def run(args: argparse.Namespace) -> int:
    settings = args.settings
    host = args.host or settings.host
    port = args.port or settings.port
    demo = settings.load_demo if args.demo is None else args.demo
    # before the graph server starts and anything says "serving": a taken port is one clear line
    check_port(host, port)
    if args.workers > 1:
        return _run_workers(settings, args.workers, host, port, demo)
    import logging

    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging
    from cli.http_protocol import SERVICE_PROTOCOL
    from graph.supervisor import supervised_store

    with supervised_store(settings) as (store, supervisor):
        _bootstrap(store, demo)
        app = create_app(settings, store=store)
        app.state.supervisor = supervisor  # restarts the local graph server when it dies; /readyz reports it
        # load (or build) the matcher's indexes in the background so the first match request does not wait
        threading.Thread(target=app.state.engine_provider, name="engine-warmup", daemon=True).start()
        print(f"techmatch serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)", flush=True)
        configure_logging(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
        # our own access log (JSON, with the request id and the route template) replaces uvicorn's
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None,
                    http=SERVICE_PROTOCOL)
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


def _run_workers(settings: ApiSettings, workers: int, host: str, port: int, demo: bool) -> int:
    """The graph here, N uvicorn workers (``worker_app``) connecting to it through the environment."""
    import uvicorn

    from cli.http_protocol import SERVICE_PROTOCOL
    from graph.store import connect, open_store

    env: dict[str, str] = {}
    server = None
    supervisor = None
    if not settings.graph_uri:
        from graph.server import embedded_server
        from graph.supervisor import GraphSupervisor

        server = embedded_server(settings)
        server.owner = "serve"
        info = server.start()
        # restarted on the same port when it dies: the workers' drivers reconnect to the same address
        supervisor = GraphSupervisor(server, None, settings).start()
        env |= {"TECHMATCH_GRAPH_URI": info.uri, "TECHMATCH_GRAPH_USER": info.user,
                "TECHMATCH_GRAPH_PASSWORD": info.password, "TECHMATCH_GRAPH_DATABASE": info.database}
    if settings.session_secret is None:
        from api.app import service_secret

        service_secret(settings)  # created here, once: workers starting together would each write their own
    try:
        os.environ.update(env)
        if server is not None:
            store = connect(info.uri, info.user, info.password, info.database, settings.write_batch_size, settings)
            try:
                store.setup_schema()
                _bootstrap(store, demo)
            finally:
                store.close()
        else:
            with open_store(settings) as store:  # the configured server: the environment is unchanged
                _bootstrap(store, demo)
        print(f"techmatch serving on http://{host}:{port}/ with {workers} workers "
              f"(API docs: http://{host}:{port}/docs)", flush=True)
        # each worker's own JSON access log (with the request id and the route template) replaces uvicorn's
        # the workers accept on a socket uvicorn binds without TCP's protocol number: Nagle is turned off here
        uvicorn.run("cli.commands.serve:worker_app", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", access_log=False, log_config=None, http=SERVICE_PROTOCOL)
    finally:
        if supervisor is not None:
            supervisor.stop()
        if server is not None:
            server.stop()
    return 0


def worker_app() -> Any:
    """One worker's app (uvicorn's factory): settings read (and checked) from the environment the parent set; the
    engine is loaded at start, from the indexes the first worker builds (or finds)."""
    import logging

    from api.app import create_app
    from api.observability import configure_logging

    configure_logging(logging.INFO)
    app = create_app()
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[None]:
        async with inner(a):
            threading.Thread(target=a.state.engine_provider, name="engine-warmup", daemon=True).start()
            yield

    app.router.lifespan_context = lifespan
    return app
