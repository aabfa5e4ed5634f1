"""Matching through the API on the demo graph with the real (lexical) engine: ranked, explained matches,
verdicts that reach the engine and the graph, access rules on every question, desensitised enterprises."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import Api, build_demo_world, serve_world

from api.auth import Principal, Role
from api.gate import HIDDEN_ENTERPRISE, NeedGate
from api.policy import Vocabulary
from graph.model import NodeLabel
from matcher.results import Explanation, Match, PathStep

pytestmark = pytest.mark.all_backends


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    yield from serve_world(_session_store, tmp_path_factory.mktemp("svc"), build_demo_world)


def test_need_matches_are_ranked_explained_and_calibrated(api):
    body = api.client.get("/api/needs/need-01/matches", headers=api.world.headers("broker")).json()
    assert body["query_id"] == "need-01" and body["matches"]
    top = body["matches"][0]
    assert top["candidate_id"] == "ach-01"
    assert 0 < top["confidence"] <= 1 and top["explanation"]["sentence"]
    assert [m["rank"] for m in body["matches"]] == sorted(m["rank"] for m in body["matches"])


def test_a_gap_lists_nothing_unless_weak_candidates_are_asked_for(api):
    h = api.world.headers("bureau")
    plain = api.client.get("/api/needs/need-04/matches", headers=h).json()
    assert plain["is_gap"] and plain["matches"] == []
    weak = api.client.get("/api/needs/need-04/matches", headers=h, params={"include_weak": "true"}).json()
    assert weak["is_gap"] and weak["matches"]
    assert all(m["confidence"] < weak["threshold"] for m in weak["matches"])


def test_private_need_matches_are_for_its_enterprise_and_the_bureau_only(api):
    for who in ("switch", "bureau"):
        assert api.client.get("/api/needs/need-02/matches", headers=api.world.headers(who)).status_code == 200
    for who in ("nylon", "broker"):  # they may not read need-02: to them it does not exist
        resp = api.client.get("/api/needs/need-02/matches", headers=api.world.headers(who))
        assert resp.status_code == 404, who
    events = api.client.get("/api/audit", headers=api.world.headers("bureau"),
                            params={"target_id": "need-02", "action": "view_matches"}).json()["items"]
    assert {e["user_id"] for e in events} == {api.world.users["switch"], api.world.users["bureau"]}


def test_free_text_search_finds_the_stabiliser(api):
    body = api.client.post("/api/search", headers=api.world.headers("nylon"),
                           json={"text": "尼龙66切片熔体保持后发黄，需要热稳定剂配方"}).json()
    assert "ach-01" in [m["candidate_id"] for m in body["matches"]]
    short = api.client.post("/api/search", headers=api.world.headers("nylon"), json={"text": "x"})
    assert short.status_code == 422 and short.json()["field"] == "text"


def test_rejection_needs_a_reason_and_reaches_the_graph(api):
    h = api.world.headers("broker")
    no_reason = api.client.post("/api/feedback", headers=h, json={"query_id": "need-01", "candidate_id": "ach-02",
                                                                  "verdict": "reject"})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    other = api.client.post("/api/feedback", headers=h, json={"query_id": "need-01", "candidate_id": "ach-02",
                                                              "verdict": "reject", "reason": "other"})
    assert other.status_code == 422 and other.json()["field"] == "comment"
    unknown = api.client.post("/api/feedback", headers=h, json={"query_id": "need-01", "candidate_id": "ach-nope",
                                                                "verdict": "accept"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "candidate_id"
    ok = api.client.post("/api/feedback", headers=h, json={"query_id": "need-01", "candidate_id": "ach-02",
                                                           "verdict": "reject", "reason": "immature",
                                                           "comment": "还在实验室阶段"})
    assert ok.status_code == 201, ok.text
    fb_id = ok.json()["id"]
    stored = api.store.get_props(NodeLabel.FEEDBACK, fb_id)
    assert stored["verdict"] == "reject" and stored["reason"] == "immature" and stored["user"] == "brk-01"
    gave = api.store.read("MATCH (b:Broker {id: 'brk-01'})-[:GAVE]->(f:Feedback {id: $id}) RETURN count(*) AS c",
                          id=fb_id)
    assert gave[0]["c"] == 1
    listed = api.client.get("/api/feedback", headers=h, params={"query_id": "need-01"}).json()
    assert fb_id in [f["id"] for f in listed]


def test_only_those_working_on_a_need_may_judge_its_matches(api):
    body = {"query_id": "need-02", "candidate_id": "ach-25", "verdict": "accept"}
    assert api.client.post("/api/feedback", headers=api.world.headers("nylon"), json=body).status_code == 404
    assert api.client.post("/api/feedback", headers=api.world.headers("broker"), json=body).status_code == 404
    assert api.client.post("/api/feedback", headers=api.world.headers("switch"), json=body).status_code == 201
    # a public need of an enterprise the broker does not look after: readable, but not the broker's to judge
    public_other = {"query_id": "need-03", "candidate_id": "ach-25", "verdict": "accept"}
    owner = api.store.get_props(NodeLabel.NEED, "need-03")["enterprise_id"]
    if owner not in api.store.read("MATCH (:Broker {id: 'brk-01'})-[:ASSIGNED_TO]->(e) RETURN e.id AS id"):
        assert api.client.post("/api/feedback", headers=api.world.headers("broker"),
                               json=public_other).status_code in (403, 404)


def test_achievement_to_enterprises_is_for_brokers_and_the_bureau(api):
    ok = api.client.get("/api/achievements/ach-01/enterprises", headers=api.world.headers("broker"))
    assert ok.status_code == 200 and ok.json()["question"] == "achievement_enterprise"
    assert api.client.get("/api/achievements/ach-01/enterprises",
                          headers=api.world.headers("nylon")).status_code == 403


def test_enterprises_found_through_a_private_need_are_desensitised(api):
    body = api.client.get("/api/achievements/ach-25/enterprises", headers=api.world.headers("broker"),
                          params={"k": 20}).json()
    names = [m["name"] for m in body["matches"]]
    assert "ent-ruineng-switch" not in [m["candidate_id"] for m in body["matches"]]
    bureau = api.client.get("/api/achievements/ach-25/enterprises", headers=api.world.headers("bureau"),
                            params={"k": 20, "include_weak": True}).json()
    via = {m["candidate_id"]: m["via"] for m in bureau["matches"]}
    assert "need-02" in via.get("ent-ruineng-switch", []), "the demo should surface the switch maker via need-02"
    broker = api.client.get("/api/achievements/ach-25/enterprises", headers=api.world.headers("broker"),
                            params={"k": 20, "include_weak": True}).json()
    hidden = [m for m in broker["matches"] if m["name"] == HIDDEN_ENTERPRISE]
    assert hidden and all(m["via"] == [] and m["candidate_id"].startswith("hidden-") for m in hidden)
    assert "need-02" not in str(broker) and "ent-ruineng-switch" not in str(broker)
    again = api.client.get("/api/achievements/ach-25/enterprises", headers=api.world.headers("broker"),
                           params={"k": 20, "include_weak": True}).json()
    refs = {m["candidate_id"] for m in again["matches"] if m["name"] == HIDDEN_ENTERPRISE}
    assert refs.isdisjoint(m["candidate_id"] for m in hidden), "a hidden handle must not link two answers"
    assert names == [m["name"] for m in body["matches"]]


def test_hidden_candidate_keeps_segments_and_public_terms_but_no_identity():
    match = Match(candidate_id="ent-secret", label="Enterprise", name="某某开关有限公司", score=1.0, confidence=0.5,
                  via=["need-02"], features={"bm25": 1.0},
                  explanation=Explanation(shared_terms=["GIS", "绝缘", "XK-9000型"], sentence="某某开关有限公司的需求",
                                          chain_path=[PathStep(id="seg-gis", label="ChainSegment", name="GIS")]))
    viewer = Principal(user_id="u", name="u", role=Role.BROKER, broker_id="b")
    gate = NeedGate(None, None, viewer, b"secret", Vocabulary(["GIS", "绝缘", "高压开关"]))  # type: ignore[arg-type]
    out = gate.hidden_candidate(match)
    dumped = out.model_dump_json()
    assert out.name == HIDDEN_ENTERPRISE and "ent-secret" not in dumped and "某某开关" not in dumped
    assert "XK-9000" not in dumped, "a product model from the private text is not public vocabulary"
    assert out.explanation.shared_terms == ["GIS", "绝缘"] and "GIS" in out.explanation.sentence
    assert out.via == [] and out.features == {}


def test_enterprise_recommendations_only_for_itself(api):
    assert api.client.get("/api/enterprises/ent-pmsm-nylon/achievements",
                          headers=api.world.headers("nylon")).status_code == 200
    assert api.client.get("/api/enterprises/ent-ruineng-switch/achievements",
                          headers=api.world.headers("nylon")).status_code == 403
    assert api.client.get("/api/enterprises/ent-pmsm-nylon/achievements",
                          headers=api.world.headers("broker")).status_code == 200


def test_challenge_solvers_for_the_bureau(api):
    challenge = api.client.get("/api/challenges", headers=api.world.headers("bureau")).json()["items"][0]
    resp = api.client.get(f"/api/challenges/{challenge['id']}/solvers", headers=api.world.headers("bureau"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["solvers"] and resp.json()["solvers"][0]["explanation"]
    assert api.client.get(f"/api/challenges/{challenge['id']}/solvers",
                          headers=api.world.headers("broker")).status_code == 403
