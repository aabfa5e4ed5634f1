"""All techmatch settings in one typed place (environment prefix ``TECHMATCH_``).

With no ``TECHMATCH_GRAPH_URI`` the embedded ArcadeDB server is started under ``data_dir``;
set the URI, user, password and database to use a real Neo4j 5.x in production.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TECHMATCH_", env_file=".env", extra="ignore")

    # --- graph ---------------------------------------------------------------------------------
    graph_uri: str | None = Field(default=None, description="bolt:// or neo4j:// URI; empty = embedded")
    graph_user: str = "neo4j"
    graph_password: SecretStr | None = None
    graph_database: str | None = Field(default=None, description="database name; None = server default")
    data_dir: Path = Field(default=Path.home() / ".techmatch", description="embedded server and caches")
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
    ingest_workers: int = Field(
        default=0, ge=0, le=32, description="processes that enrich the rows of a `techmatch ingest` file of 1,000 "
        "rows or more (keywords, institutions, chain placement); 0 = in the loading process (faster on the shared "
        "2-core machine: benchmarks/README.md)")
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

    # --- matcher -------------------------------------------------------------------------------
    embedder: str = Field(
        default="e5-small",
        description="primary dense encoder: e5-small | use-m3 (each with an optional @<passage characters>) "
                    "| st:<path-or-name> | none"
    )
    extra_embedders: str = Field(
        default="use-m3",
        description="further dense channels beside the primary one, comma-separated (none when embedder is none)",
    )
    match_top_k: int = Field(default=20, ge=1, le=200)
    gap_confidence: float | None = Field(
        default=None, ge=0, le=1, description="below this a need is a gap; None = the threshold fitted with the curve"
    )
    coi_rules: str = Field(
        default="same_organisation,co_inventor,recent_collaboration,financial_tie",
        description="回避 rules applied to challenge solvers, comma-separated",
    )
    coi_window_years: int = Field(default=3, ge=0, description="a collaboration this recent is a conflict")

    # --- service -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    session_secret: SecretStr | None = Field(
        default=None, description="signs CSRF tokens and hidden-need handles; empty = generated once and kept in "
        "data_dir/session-secret (every worker on one data directory shares it)",
    )
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30, description="a web login lasts this long")
    cookie_secure: bool = Field(default=False, description="mark cookies Secure and send HSTS: set when served "
                                "over HTTPS (behind a TLS proxy)")
    login_attempts_per_minute: int = Field(default=20, ge=1, description="login attempts a minute per client address")
    login_failures_before_lockout: int = Field(default=5, ge=1, description="wrong passwords for one account from "
                                               "one client before that pair is locked out")
    login_lockout_minutes: int = Field(default=15, ge=1)
    rate_limit_storage: str = Field(default="memory://", description="where request counters live (the `limits` "
                                    "library's storage URI; redis://host:6379 shares them between workers)")
    max_upload_mb: int = 20
    max_upload_rows: int = Field(default=100_000, ge=1, description="rows an uploaded file may hold")
    max_upload_seconds: float = Field(default=120.0, gt=0, description="time an upload may take to read and load")
    max_page_size: int = 200
    api_requests_per_minute: int = Field(
        default=600, ge=0, description="requests a minute per API key (bursts up to as many); 0 = no limit"
    )
    load_demo: bool = True

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
