"""The Neo4j 5 test server and cluster-ready access: secrets, file modes, routing, read and write transactions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from neo4j.exceptions import ClientError

from graph.model import NodeLabel, Talent
from graph.server import ServerInfo
from graph.store import INDEXED_PROPS, GraphStore, connect


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _data_dir(info: ServerInfo) -> Path:
    return info.log_file.parent.parent  # <data_dir>/logs/server.log


@pytest.mark.only_backends("neo4j")
def test_neo4j_password_is_not_on_the_command_line_and_its_files_are_owner_only(graph_server: ServerInfo):
    cmdline = Path(f"/proc/{graph_server.pid}/cmdline").read_bytes().decode()
    assert "techmatch.Neo4jLauncher" in cmdline
    assert graph_server.password not in cmdline
    data = _data_dir(graph_server)
    assert stat.S_IMODE((data / "secret").stat().st_mode) == 0o600
    loose = [
        str(p) for p in [data / "neo4j", *(data / "neo4j").rglob("*"), graph_server.log_file]
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert loose == []
    # what the JVM sees: no password in its environment either
    environ = Path(f"/proc/{graph_server.pid}/environ").read_bytes().decode(errors="replace")
    assert graph_server.password not in environ


@pytest.mark.only_backends("neo4j")
def test_neo4j_listens_on_loopback_and_routing_gives_the_same_server(graph_server: ServerInfo, store: GraphStore):
    assert graph_server.uri.startswith("neo4j://127.0.0.1:")
    port = graph_server.uri.rsplit(":", 1)[1]
    routing = store.read("CALL dbms.routing.getRoutingTable({}, $db) YIELD servers RETURN servers",
                         db=graph_server.database)
    addresses = {a for s in routing[0]["servers"] for a in s["addresses"]}
    assert addresses == {f"127.0.0.1:{port}"}  # the routing driver reaches this one server and no other
    assert store.driver.get_server_info().agent.startswith("Neo4j/5.")


@pytest.mark.only_backends("neo4j")
def test_reads_run_in_read_transactions_that_refuse_writes(store: GraphStore):
    # A cluster routes read transactions to followers; a write slipped into one must fail loudly.
    with pytest.raises(ClientError, match="read access mode"):
        store.read("CREATE (n:Talent {id: 'sneaky', name: 'x'}) RETURN n.id AS id")
    assert store.get_props(NodeLabel.TALENT, "sneaky") is None
    store.write("CREATE (n:Talent {id: 'ok', name: 'y'})")
    assert store.get_props(NodeLabel.TALENT, "ok")["name"] == "y"


@pytest.mark.all_backends
def test_conflicting_write_transactions_are_retried_until_both_land(store: GraphStore):
    # Neo4j takes locks and breaks the deadlock (DeadlockDetected); ArcadeDB is optimistic and fails the
    # second commit (a conflict). Both are transient errors, and execute_write runs the work again.
    store.upsert_nodes([Talent(id="t-a", name="甲"), Talent(id="t-b", name="乙")])
    both_hold_one_lock = threading.Barrier(2, timeout=20)
    attempts = {"ab": 0, "ba": 0}
    errors: list[BaseException] = []

    def writer(first: str, second: str, key: str) -> None:
        def work(tx) -> None:
            attempts[key] += 1
            tx.run("MATCH (n:Talent {id: $id}) SET n.touched = coalesce(n.touched, 0) + 1", id=first).consume()
            if attempts[key] == 1:
                both_hold_one_lock.wait()  # each holds one node's lock and now asks for the other's
            tx.run("MATCH (n:Talent {id: $id}) SET n.touched = coalesce(n.touched, 0) + 1", id=second).consume()

        try:
            store.transaction(work)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=("t-a", "t-b", "ab")),
               threading.Thread(target=writer, args=("t-b", "t-a", "ba"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(attempts.values()) == 3  # the server aborted one; the driver ran the loser's work again
    touched = {r["id"]: r["n"] for r in store.read("MATCH (n:Talent) RETURN n.id AS id, n.touched AS n")}
    assert touched == {"t-a": 2, "t-b": 2}  # both transactions landed whole, the aborted try left nothing


@pytest.mark.only_backends("neo4j")
def test_neo4j_stops_when_its_parent_dies_and_keeps_its_data_across_restarts(graph_server: ServerInfo, tmp_path):
    from graph.neo4j_server import Neo4jGraphServer, ensure_launcher

    launcher = ensure_launcher()
    data = tmp_path / "g"
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from graph.model import Talent
        from graph.neo4j_server import Neo4jGraphServer
        from graph.store import connect
        info = Neo4jGraphServer(Path({str(data)!r}), heap_mb=512, launcher=Path({str(launcher)!r})).start()
        store = connect(info.uri, info.user, info.password, info.database)
        store.setup_schema()
        store.create_node(Talent(id="tal-persist", name="李娜"))
        store.close()
        print(info.pid, flush=True)
        os._exit(9)  # crash: no clean stop
        """
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 9, out.stderr[-2000:]
    orphan = int(out.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 60
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _alive(orphan)  # its stdin closed with the parent: the JVM shut itself down

    server = Neo4jGraphServer(data, heap_mb=512, launcher=launcher)
    info = server.start()  # same directory, same password: the launcher accepts it again
    try:
        store = connect(info.uri, info.user, info.password, info.database)
        assert store.get_props(NodeLabel.TALENT, "tal-persist")["name"] == "李娜"
        store.close()
    finally:
        server.stop()
    assert not _alive(info.pid)
    assert not server.pid_file.exists()


@pytest.mark.only_backends("neo4j")
def test_api_workers_starting_together_create_the_schema_without_error(store: GraphStore):
    # N API workers each run setup_schema at start; on a fresh Neo4j they race to create the same rules.
    for label in NodeLabel:  # techmatch's own rule names, from the closed enums
        store.write(f"DROP CONSTRAINT {label.value.lower()}_id IF EXISTS")
    for label, props in INDEXED_PROPS.items():
        for prop in props:
            store.write(f"DROP INDEX {label.value.lower()}_{prop} IF EXISTS")
    assert store.read("SHOW CONSTRAINTS YIELD name RETURN count(*) AS c")[0]["c"] == 0
    errors: list[BaseException] = []
    start = threading.Barrier(4, timeout=60)

    def worker() -> None:
        try:
            start.wait()
            store.setup_schema()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [f"{getattr(e, 'code', '')}: {e}" for e in errors] == []
    unique = {r["labelsOrTypes"][0] for r in store.read("SHOW CONSTRAINTS YIELD labelsOrTypes, type")
              if r["type"] == "UNIQUENESS"}
    assert unique >= {label.value for label in NodeLabel}


def test_a_failed_result_caused_by_rule_already_exists_counts_as_the_rule_being_there() -> None:
    from graph.store import _schema_rule_exists

    class ServerAnswer(Exception):
        code = "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists"

    try:
        try:
            raise ServerAnswer("already exists")
        except ServerAnswer as cause:
            raise RuntimeError("The result has failed.") from cause
    except RuntimeError as failed:
        assert _schema_rule_exists(failed)
    assert not _schema_rule_exists(RuntimeError("syntax error"))
