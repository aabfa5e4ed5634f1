"""The graph layer's settings: which graph to use, the server techmatch starts itself, the driver's limits.

A plain validated model: this module never reads the environment. The application's entry points build the
settings from ``TECHMATCH_*`` variables once (:func:`api.config.load_settings`, whose class composes this one)
and pass them in. With no ``graph_uri`` the embedded ArcadeDB server is started under ``data_dir``; set the URI,
user, password and database to use a real Neo4j 5.x in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: where the embedded server, the indexes and the caches live unless ``TECHMATCH_DATA_DIR`` says otherwise
DEFAULT_DATA_DIR = Path.home() / ".techmatch"


class GraphSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph_uri: str | None = Field(default=None, description="bolt:// or neo4j:// URI; empty = embedded")
    graph_user: str = "neo4j"
    graph_password: SecretStr | None = None
    graph_database: str | None = Field(default=None, description="database name; None = server default")
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="embedded server and caches")
    local_graph: Literal["arcadedb", "neo4j"] = Field(
        default="arcadedb",
        description="the server techmatch starts itself when no URI is set: arcadedb (bundled) or neo4j "
        "(Neo4j 5 Community built with Maven from tools/neo4j-server; needs Java 17+ and Maven)",
    )
    embedded_database: str = "techmatch"
    embedded_heap_mb: int = 1024
    embedded_bolt_port: int | None = Field(default=None, description="None = pick a free port")
    embedded_http_port: int | None = None
    embedded_start_timeout_s: float = 90.0
    write_batch_size: int = Field(default=2000, ge=1, le=50000)
    ingest_workers: int | None = Field(
        default=None, ge=0, le=32, description="processes that enrich the rows of a `techmatch ingest` file "
        "(keywords, institutions, chain placement); unset = automatic: up to 4 (the cores there are, at least 2) "
        "for a file of 10,000 rows or more, none below; 0 = always in the loading process "
        "(benchmarks/README.md, Ingest)")
    # The driver's time limits, chosen so that a graph server that is gone is reported in seconds, not after the
    # driver's defaults (30 s connect, 60 s pool wait, 30 s of retries: 30-67 s per request were measured). All
    # traffic is loopback or a LAN; a healthy server accepts a connection in milliseconds. docs/operations.md.
    graph_connect_timeout_s: float = Field(default=3.0, gt=0, description="TCP connect and Bolt handshake")
    graph_acquire_timeout_s: float = Field(
        default=5.0, gt=0, description="wait for a pooled connection (includes opening one: above the connect time)")
    graph_retry_time_s: float = Field(
        default=5.0, ge=0, description="retries of a transaction after a transient error (deadlock, leader switch, "
        "lost connection) before it fails")
    graph_retry_delay_s: float = Field(default=0.2, gt=0, description="first pause between retries, doubled each time")
    # The supervisor of the server techmatch starts itself under `techmatch serve`.
    graph_restart_attempts: int = Field(default=6, ge=0, description="restarts tried in a row before giving up")
    graph_restart_backoff_s: float = Field(default=1.0, gt=0, description="pause before the first restart, "
                                           "doubled after each failed one")
    graph_restart_backoff_max_s: float = Field(default=30.0, gt=0, description="longest pause between restarts")
    write_gate_timeout_s: float = Field(
        default=30.0, gt=0, description="how long a write waits while `techmatch backup` holds writes back")
