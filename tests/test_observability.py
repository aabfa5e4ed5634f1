"""What an operator relies on: liveness and readiness probes that tell the truth, Prometheus metrics by route
template (never by concrete id), and a request id on every answer and log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from api_world import Api, build_world, make_api
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    _session_store.clear()
    world = build_world(_session_store)
    app = make_api(_session_store, tmp_path_factory.mktemp("obs"))
    with TestClient(app) as client:
        yield Api(client, world, _session_store, app)
    _session_store.clear()


def test_readiness_waits_for_the_matcher_and_liveness_does_not(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    if api.app.state.engine_if_built() is None:
        waiting = api.client.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["checks"]["matcher"]["ok"] is False
        assert waiting.json()["checks"]["graph"]["ok"] is True
    api.app.state.engine_provider()
    ready = api.client.get("/readyz", headers=api.world.headers("admin"))
    assert ready.status_code == 200 and ready.json()["checks"]["matcher"]["documents"]["achievements"] == 3


@pytest.mark.parametrize("who", [None, "nylon", "broker", "a forged key"])
def test_readiness_tells_an_outsider_or_a_user_only_whether_it_is_ready(api, who):
    api.app.state.engine_provider()
    headers = {} if who is None else {"X-API-Key": "tm_forged"} if who == "a forged key" else api.world.headers(who)
    resp = api.client.get("/readyz", headers=headers)
    assert resp.status_code == 200
    assert resp.json() == {"ready": True, "checks": {"graph": {"ok": True}, "matcher": {"ok": True}}}
    proxied = api.client.get("/readyz", headers={**headers, "X-Forwarded-For": "203.0.113.9"})
    assert "documents" not in proxied.text


def test_readiness_says_so_when_the_graph_does_not_answer(api, monkeypatch):
    monkeypatch.setattr(api.app.state.store, "ping", lambda: False)
    resp = api.client.get("/readyz", headers=api.world.headers("bureau"))
    assert resp.status_code == 503 and resp.json()["checks"]["graph"] == {"ok": False, "detail": "图数据库无响应"}
    assert "techmatch_graph_up 0.0" in api.client.get("/metrics").text


def test_metrics_count_requests_by_route_template_and_time_the_matcher(api):
    h = api.world.headers("nylon")
    api.client.get("/api/needs/need-pub", headers=h)
    api.client.get("/api/needs/need-pub/matches", headers=h)
    text = api.client.get("/metrics").text
    assert 'techmatch_http_requests_total{method="GET",route="/api/needs/{need_id}",status="200"}' in text
    assert "need-pub" not in text, "concrete ids never become labels"
    assert 'techmatch_match_seconds_count{question="need_achievement"}' in text
    assert 'techmatch_index_documents{index="achievements"} 3.0' in text


def test_every_answer_carries_a_request_id_and_the_log_line_carries_it_too(api, caplog):
    with caplog.at_level(logging.INFO, logger="techmatch.access"):
        given = api.client.get("/api/achievements", headers={**api.world.headers("bureau"), "X-Request-ID": "op-42"})
        made_up = api.client.get("/api/achievements", headers=api.world.headers("bureau"))
        hostile = api.client.get("/healthz", headers={"X-Request-ID": "<script>" * 20})
    assert given.headers["x-request-id"] == "op-42"
    assert len(made_up.headers["x-request-id"]) == 16
    assert hostile.headers["x-request-id"] != "<script>" * 20
    lines = [r.__dict__ for r in caplog.records if r.__dict__.get("route") == "/api/achievements"]
    assert {"op-42", made_up.headers["x-request-id"]} <= {r["request_id"] for r in lines}
    assert all(r["status"] == 200 and r["method"] == "GET" for r in lines)


def test_json_log_lines_name_the_request(capsys):
    from api.observability import REQUEST_ID, configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(logging.INFO)
        token = REQUEST_ID.set("req-7")
        logging.getLogger("techmatch.test").info("something happened", extra={"need_count": 3})
        REQUEST_ID.reset(token)
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["request_id"] == "req-7" and line["message"] == "something happened"
        assert line["need_count"] == 3 and line["level"] == "INFO"
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_an_engine_missing_a_third_party_module_is_reported_by_readiness_and_by_the_matching_routes(
        api, tmp_path, monkeypatch, caplog):
    import api.app as app_module

    def needs_torch(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(app_module.MatchEngine, "from_store", needs_torch)
    app = make_api(api.store, tmp_path)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="api.app"):
        matches = client.get("/api/needs/need-pub/matches", headers=api.world.headers("nylon"))
        ready = client.get("/readyz", headers=api.world.headers("admin"))
        outsider = client.get("/readyz")
    assert matches.status_code == 503 and "torch" in matches.json()["detail"]
    assert ready.status_code == 503 and ready.json()["checks"]["matcher"]["ok"] is False
    assert "缺少第三方模块 torch" in ready.json()["checks"]["matcher"]["detail"]
    assert outsider.status_code == 503 and "torch" not in outsider.text
    assert any("torch" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_an_engine_missing_a_module_of_our_own_is_an_error_not_a_feature_left_out(api, tmp_path, monkeypatch):
    import api.app as app_module

    def broken_install(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matcher.features.chain'", name="matcher.features.chain")

    monkeypatch.setattr(app_module.MatchEngine, "from_store", broken_install)
    app = make_api(api.store, tmp_path)
    with TestClient(app) as client, pytest.raises(ModuleNotFoundError, match="matcher.features.chain"):
        client.get("/api/needs/need-pub/matches", headers=api.world.headers("nylon"))
