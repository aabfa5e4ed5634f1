"""A small graph and one account per role, shared by the API and browser tests (not a test module)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api.auth import AccountService, Role
from graph.model import (
    Achievement,
    Broker,
    ChainPosition,
    ChainSegment,
    Confidentiality,
    Enterprise,
    IndustryChain,
    Institution,
    Maturity,
    Need,
    NodeLabel,
    Relation,
    RelType,
    Talent,
)
from graph.store import GraphStore

PASSWORD = "pass-word-123"


def rel(t: RelType, sl: NodeLabel, s: str, tl: NodeLabel, d: str) -> Relation:
    return Relation(type=t, source_label=sl, source_id=s, target_label=tl, target_id=d)


@dataclass
class World:
    keys: dict[str, str] = field(default_factory=dict)  # account name -> API key
    users: dict[str, str] = field(default_factory=dict)  # account name -> user id

    def headers(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[who]}


def build_world(store: GraphStore) -> World:
    """Nylon and high-voltage enterprises, three needs (public / brokers-only / private), a broker
    assigned to the nylon enterprise, and users: admin, bureau, broker, nylon, hv."""
    L, R = NodeLabel, RelType
    nodes: list[Any] = [
        IndustryChain(id="chain-nylon", name="尼龙新材料", priority=True),
        ChainSegment(id="seg-poly", name="尼龙66聚合", chain_id="chain-nylon", position=ChainPosition.MIDSTREAM,
                     order=2, keywords=["尼龙66", "聚合", "热稳定剂"]),
        ChainSegment(id="seg-hv", name="高压电气设备", chain_id="chain-nylon", position=ChainPosition.DOWNSTREAM,
                     order=3, keywords=["GIS", "绝缘"]),
        Institution(id="inst-zzu", name="郑州大学"),
        Talent(id="tal-wang", name="王磊", expertise=["尼龙66"]),
        Achievement(id="ach-stab", name="尼龙66耐黄变热稳定剂",
                    description="一种用于尼龙66熔体长时间保温的热稳定剂配方，抑制黄变。",
                    maturity=Maturity.PILOT, keywords=["尼龙66", "热稳定剂", "黄变"]),
        Achievement(id="ach-gis", name="GIS局部放电故障诊断系统",
                    description="高压气体绝缘开关设备局部放电在线监测与绝缘故障诊断。",
                    maturity=Maturity.INDUSTRIAL, keywords=["GIS", "局部放电", "绝缘"]),
        Achievement(id="ach-wheat", name="小麦高产栽培技术", description="冬小麦高产栽培与病虫害绿色防控。",
                    maturity=Maturity.INDUSTRIAL),
        Enterprise(id="ent-nylon", name="中国平煤神马集团尼龙科技有限公司", region="平顶山"),
        Enterprise(id="ent-hv", name="平顶山某高压开关有限公司", region="平顶山"),
        Broker(id="broker-li", name="李经纪", organisation="平顶山技术转移中心"),
        Need(id="need-pub", name="尼龙66切片黄变问题",
             description="尼龙66切片在长时间熔融保温后颜色发黄，寻求热稳定剂配方或工艺改进。",
             enterprise_id="ent-nylon", confidentiality=Confidentiality.PUBLIC, keywords=["尼龙66", "黄变"]),
        Need(id="need-brk", name="尼龙66聚合釜结焦", description="聚合釜内壁结焦，需要清洗或防结焦工艺。",
             enterprise_id="ent-nylon", confidentiality=Confidentiality.BROKERS),
        Need(id="need-priv", name="GIS产品绝缘故障频发", description="我司GIS产品绝缘子闪络，寻求故障诊断技术。",
             enterprise_id="ent-hv", confidentiality=Confidentiality.PRIVATE, keywords=["GIS", "绝缘", "故障诊断"]),
    ]
    rels = [
        rel(R.PART_OF, L.CHAIN_SEGMENT, "seg-poly", L.INDUSTRY_CHAIN, "chain-nylon"),
        rel(R.AFFILIATED_WITH, L.TALENT, "tal-wang", L.INSTITUTION, "inst-zzu"),
        rel(R.INVENTED, L.TALENT, "tal-wang", L.ACHIEVEMENT, "ach-stab"),
        rel(R.OWNS, L.INSTITUTION, "inst-zzu", L.ACHIEVEMENT, "ach-stab"),
        rel(R.IN_SEGMENT, L.ACHIEVEMENT, "ach-stab", L.CHAIN_SEGMENT, "seg-poly"),
        rel(R.IN_SEGMENT, L.ACHIEVEMENT, "ach-gis", L.CHAIN_SEGMENT, "seg-hv"),
        rel(R.IN_SEGMENT, L.NEED, "need-pub", L.CHAIN_SEGMENT, "seg-poly"),
        rel(R.IN_SEGMENT, L.NEED, "need-priv", L.CHAIN_SEGMENT, "seg-hv"),
        rel(R.IN_SEGMENT, L.ENTERPRISE, "ent-nylon", L.CHAIN_SEGMENT, "seg-poly"),
        rel(R.POSTED, L.ENTERPRISE, "ent-nylon", L.NEED, "need-pub"),
        rel(R.POSTED, L.ENTERPRISE, "ent-nylon", L.NEED, "need-brk"),
        rel(R.POSTED, L.ENTERPRISE, "ent-hv", L.NEED, "need-priv"),
        rel(R.ASSIGNED_TO, L.BROKER, "broker-li", L.ENTERPRISE, "ent-nylon"),
    ]
    store.write_batch(nodes, rels)
    accounts = AccountService(store)
    world = World()
    for name, role, kw in (
        ("admin", Role.ADMIN, {}),
        ("bureau", Role.BUREAU, {}),
        ("broker", Role.BROKER, {"broker_id": "broker-li"}),
        ("nylon", Role.ENTERPRISE, {"enterprise_id": "ent-nylon"}),
        ("hv", Role.ENTERPRISE, {"enterprise_id": "ent-hv"}),
    ):
        user = accounts.create_user(name, role, password=PASSWORD, **kw)
        world.users[name] = user.id
        world.keys[name], _ = accounts.issue_key(user.id)
    return world


@dataclass
class Api:
    client: Any
    world: World
    store: GraphStore
    app: Any


def make_api(store: GraphStore, data_dir: Any, engine: Any | None = None) -> Any:
    """The app on ``store`` with a fixed session secret (the caller enters the TestClient)."""
    from api.app import create_app
    from api.config import ApiSettings
    from matcher.confidence import LEXICAL_CHANNELS, curve_for

    # the lexical engine (no dense encoder): real ranking, built in seconds on two cores. Its own top confidence
    # tells no gaps (it shows no gap verdicts, tests/test_gap_verdicts.py); the world's operator sets the gap
    # threshold fitted with its curve, so the gap flows (escalation, the bureau's unmet needs) can be walked
    settings = ApiSettings(data_dir=data_dir, session_secret="test-session-secret", load_demo=False, embedder="none",
                        gap_confidence=curve_for(LEXICAL_CHANNELS).gap_threshold)
    return create_app(settings, store=store, engine=engine)


def web_login(app: Any, who: str, password: str = PASSWORD, next: str = "/", client_addr: str = "testclient",
              follow_redirects: bool = False) -> Any:
    """A test client after the login form was fetched and posted (the form's CSRF token and pre-login
    cookie included), and the answer to the post: ``(client, response)``."""
    from fastapi.testclient import TestClient

    client = TestClient(app, client=(client_addr, 50000))
    token = csrf_of(client.get("/login").text)
    resp = client.post(f"/login?next={next}", data={"username": who, "password": password, "csrf": token},
                       follow_redirects=follow_redirects)
    return client, resp


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    import re

    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "page has no CSRF token"
    return found.group(1)


def build_demo_world(store: GraphStore) -> World:
    """The shipped demo graph plus accounts: broker brk-01 (looks after ent-pmsm-nylon), the nylon enterprise
    (need-01, public), the switchgear enterprise (need-02, private), the bureau and an admin."""
    from graph.demo import load_demo

    load_demo(store)
    accounts = AccountService(store)
    world = World()
    for name, role, kw in (
        ("admin", Role.ADMIN, {}),
        ("bureau", Role.BUREAU, {}),
        ("broker", Role.BROKER, {"broker_id": "brk-01"}),
        ("nylon", Role.ENTERPRISE, {"enterprise_id": "ent-pmsm-nylon"}),
        ("switch", Role.ENTERPRISE, {"enterprise_id": "ent-ruineng-switch"}),
    ):
        user = accounts.create_user(name, role, password=PASSWORD, **kw)
        world.users[name] = user.id
        world.keys[name], _ = accounts.issue_key(user.id)
    return world


def serve_world(store: GraphStore, data_dir: Any, build: Any = build_world) -> Iterator[Api]:
    """A module's service on a freshly built world (``build``), torn down with an empty graph."""
    from fastapi.testclient import TestClient

    store.clear()
    world = build(store)
    app = make_api(store, data_dir)
    with TestClient(app) as client:
        yield Api(client, world, store, app)
    store.clear()
