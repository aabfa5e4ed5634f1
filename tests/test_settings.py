"""Settings: each layer owns its part, only the entry points read the environment (once, checked), the variable
names and defaults are those deployments already use, and a wrong or missing value stops the start with one
Chinese line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.config import ApiSettings, SettingsError, load_settings
from graph.settings import DEFAULT_DATA_DIR, GraphSettings
from matcher.settings import MatcherSettings

#: every setting's default before the settings were split by layer: deployments rely on them (one changed since,
#: on purpose: the primary encoder, e5-small → e5-market, docs/matcher.md, *The market adapter*)
DEFAULTS = {
    "graph_uri": None, "graph_user": "neo4j", "graph_password": None, "graph_database": None,
    "data_dir": Path.home() / ".techmatch", "local_graph": "arcadedb", "embedded_database": "techmatch",
    "embedded_heap_mb": 1024, "embedded_bolt_port": None, "embedded_http_port": None,
    "embedded_start_timeout_s": 90.0, "write_batch_size": 2000, "graph_connect_timeout_s": 3.0,
    "graph_acquire_timeout_s": 5.0, "graph_retry_time_s": 5.0, "graph_retry_delay_s": 0.2,
    "graph_restart_attempts": 6, "graph_restart_backoff_s": 1.0, "graph_restart_backoff_max_s": 30.0,
    "write_gate_timeout_s": 30.0, "ingest_workers": None,
    "embedder": "e5-market", "extra_embedders": "use-m3", "match_top_k": 20, "gap_confidence": None,
    "coi_rules": "same_organisation,co_inventor,recent_collaboration,financial_tie", "coi_window_years": 3,
    "embed_workers": None,
    "host": "127.0.0.1", "port": 8000, "session_secret": None, "session_hours": 12.0, "cookie_secure": False,
    "login_attempts_per_minute": 20, "login_failures_before_lockout": 5, "login_lockout_minutes": 15,
    "rate_limit_storage": "memory://", "max_upload_mb": 20, "max_upload_rows": 100_000,
    "max_upload_seconds": 120.0, "max_page_size": 200, "api_requests_per_minute": 600, "load_demo": True,
}


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    """No TECHMATCH_* variable from the machine running the tests, and no .env file in the working directory."""
    import os

    for name in [k for k in os.environ if k.startswith("TECHMATCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_the_defaults_and_the_variable_names_are_the_ones_deployments_use(clean_env):
    settings = load_settings()
    assert {name: getattr(settings, name) for name in DEFAULTS} == DEFAULTS
    assert settings.environment == "development"
    assert set(ApiSettings.model_fields) == set(DEFAULTS) | {"environment"}
    clean_env.setenv("TECHMATCH_GRAPH_RETRY_TIME_S", "7.5")
    clean_env.setenv("TECHMATCH_EMBEDDER", "none")
    clean_env.setenv("TECHMATCH_MAX_UPLOAD_MB", "3")
    clean_env.setenv("TECHMATCH_DATA_DIR", "/srv/techmatch")
    clean_env.setenv("TECHMATCH_EMBED_WORKERS", "2")
    settings = load_settings()
    assert (settings.graph_retry_time_s, settings.embedder, settings.max_upload_mb) == (7.5, "none", 3)
    assert settings.embed_workers == 2
    assert settings.cache_dir == Path("/srv/techmatch/cache")


def test_each_layer_holds_its_own_settings_and_never_reads_the_environment(clean_env):
    clean_env.setenv("TECHMATCH_DATA_DIR", "/srv/techmatch")
    clean_env.setenv("TECHMATCH_EMBEDDER", "none")
    assert GraphSettings().data_dir == DEFAULT_DATA_DIR
    assert MatcherSettings().embedder == "e5-market"
    assert "embedder" not in GraphSettings.model_fields and "graph_uri" not in MatcherSettings.model_fields
    assert "session_secret" not in GraphSettings.model_fields | MatcherSettings.model_fields
    # the application's settings are both layers' (what open_store and the engine take)
    settings = load_settings()
    assert isinstance(settings, GraphSettings) and isinstance(settings, MatcherSettings)
    with pytest.raises(ValueError, match="embedder"):  # a layer's settings are checked too
        GraphSettings(embedder="none")


def test_a_wrong_value_names_the_variable_and_why_in_one_line(clean_env):
    clean_env.setenv("TECHMATCH_PORT", "八千")
    clean_env.setenv("TECHMATCH_GAP_CONFIDENCE", "1.5")
    clean_env.setenv("TECHMATCH_COI_RULES", "same_organisation,relatives")
    clean_env.setenv("TECHMATCH_EMBEDDER", "e5-large")
    clean_env.setenv("TECHMATCH_LOCAL_GRAPH", "mysql")
    clean_env.setenv("TECHMATCH_EMBED_WORKERS", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message and message.startswith("配置错误：")
    assert "TECHMATCH_PORT 的值 '八千' 无效：应为整数" in message
    assert "TECHMATCH_GAP_CONFIDENCE 的值 '1.5' 无效：应不大于 1" in message
    assert "TECHMATCH_COI_RULES" in message and "未知的回避规则 relatives" in message
    assert "TECHMATCH_EMBEDDER" in message and "未知的向量编码器 'e5-large'" in message
    assert "TECHMATCH_LOCAL_GRAPH 的值 'mysql' 无效：只能是 'arcadedb'、'neo4j'" in message
    assert "TECHMATCH_EMBED_WORKERS 的值 '0' 无效：应不小于 1" in message


def test_a_wrong_secret_value_is_not_printed(clean_env):
    clean_env.setenv("TECHMATCH_GRAPH_PASSWORD", "x")
    clean_env.setenv("TECHMATCH_SESSION_HOURS", "0")
    with pytest.raises(SettingsError, match="TECHMATCH_SESSION_HOURS 的值 '0' 无效：应大于 0"):
        load_settings()


def test_production_without_a_session_secret_does_not_start(clean_env):
    clean_env.setenv("TECHMATCH_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="TECHMATCH_SESSION_SECRET 未设置") as caught:
        load_settings()
    assert "TECHMATCH_ENVIRONMENT=production" in str(caught.value)
    clean_env.setenv("TECHMATCH_SESSION_SECRET", "   ")  # blank is missing too
    with pytest.raises(SettingsError, match="TECHMATCH_SESSION_SECRET"):
        load_settings()
    clean_env.setenv("TECHMATCH_SESSION_SECRET", "a-long-deployment-secret")
    assert load_settings().session_secret.get_secret_value() == "a-long-deployment-secret"
    clean_env.setenv("TECHMATCH_ENVIRONMENT", "staging")
    with pytest.raises(SettingsError,
                       match="TECHMATCH_ENVIRONMENT 的值 'staging' 无效：只能是 'development'、'production'"):
        load_settings()


def test_development_without_a_secret_generates_one_kept_in_the_data_directory(clean_env, tmp_path):
    from api.app import service_secret

    clean_env.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "d"))
    settings = load_settings()
    assert settings.environment == "development" and settings.session_secret is None
    first = service_secret(settings)
    assert service_secret(load_settings()) == first == (tmp_path / "d" / "session-secret").read_text().strip()


def test_the_app_factory_reads_and_checks_the_settings_at_start(clean_env, tmp_path):
    from api.app import create_app

    clean_env.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "d"))
    clean_env.setenv("TECHMATCH_ENVIRONMENT", "production")
    with pytest.raises(SettingsError, match="TECHMATCH_SESSION_SECRET"):
        create_app()  # what `uvicorn --factory api.app:create_app` and every worker call
    clean_env.setenv("TECHMATCH_SESSION_SECRET", "s")
    clean_env.setenv("TECHMATCH_MAX_PAGE_SIZE", "50")
    app = create_app()
    assert app.state.settings.max_page_size == 50 and app.state.settings.environment == "production"
    assert not (tmp_path / "d" / "session-secret").exists()  # the given secret is used, none generated


@pytest.mark.parametrize("command", [["graph", "counts"], ["serve", "--no-demo"], ["ingest", "x.csv"]])
def test_every_command_stops_before_starting_anything_on_a_wrong_setting(clean_env, tmp_path, capsys, command):
    from cli.main import main

    clean_env.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "d"))
    clean_env.setenv("TECHMATCH_WRITE_BATCH_SIZE", "0")
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        "techmatch：配置错误：TECHMATCH_WRITE_BATCH_SIZE 的值 '0' 无效：应不小于 1。"
        "请改正环境变量（或 .env 文件）后重新启动"]
    assert not (tmp_path / "d").exists()  # no graph server started, nothing written


def test_serve_in_production_without_a_secret_names_the_variable(clean_env, tmp_path, capsys):
    from cli.main import main

    clean_env.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "d"))
    clean_env.setenv("TECHMATCH_ENVIRONMENT", "production")
    assert main(["serve", "--no-demo"]) == 2
    err = capsys.readouterr().err
    assert "TECHMATCH_SESSION_SECRET 未设置" in err and "Traceback" not in err


def test_a_dot_env_file_in_the_working_directory_is_read(clean_env, tmp_path):
    (tmp_path / ".env").write_text("TECHMATCH_PORT=9001\nTECHMATCH_EMBEDDER=none\n", encoding="utf-8")
    settings = load_settings()
    assert (settings.port, settings.embedder) == (9001, "none")
