"""A small hand-built graph for the 揭榜挂帅 solver tests: an owner enterprise, experts with works and ties."""

from __future__ import annotations

from graph.model import (
    Achievement,
    Challenge,
    ChallengeRequirement,
    Department,
    Enterprise,
    Institution,
    Node,
    NodeLabel,
    Platform,
    PlatformLevel,
    Relation,
    RelType,
    Talent,
)
from graph.store import GraphStore

L = NodeLabel


def rel(t: RelType, sl: NodeLabel, s: str, tl: NodeLabel, d: str, **props) -> Relation:
    return Relation(type=t, source_label=sl, source_id=s, target_label=tl, target_id=d, props=props)


def invented(talent: str, ach: str) -> Relation:
    return rel(RelType.INVENTED, L.TALENT, talent, L.ACHIEVEMENT, ach)


def build_world(store: GraphStore) -> Challenge:
    nodes: list[Node] = [
        Enterprise(id="ent-owner", name="平顶山尼龙新材料有限公司", region="平顶山"),
        Enterprise(id="ent-local", name="平顶山注塑装备有限公司", region="平顶山"),
        Enterprise(id="ent-buyer", name="河南某化工企业"),
        Department(id="dept-kj", name="平顶山市科学技术局"),
        Institution(id="inst-zzu", name="郑州大学"),
        Institution(id="inst-hpu", name="河南理工大学"),
        Platform(id="plat-1", name="河南省尼龙材料工程技术研究中心", level=PlatformLevel.PROVINCIAL),
        Talent(id="t-best", name="王磊"),
        Talent(id="t-second", name="李娜"),
        Talent(id="t-third", name="赵强"),
        Talent(id="t-employee", name="周敏"),
        Talent(id="t-coinventor", name="孙涛"),
        Talent(id="t-collab-new", name="钱进"),
        Talent(id="t-collab-old", name="吴刚"),
        Talent(id="t-mat", name="陈材料"),
        Talent(id="t-proc", name="刘工艺"),
        Talent(id="t-equip", name="黄装备"),
        Achievement(id="a-best-1", name="尼龙66树脂耐黄变热稳定关键技术",
                    description="解决尼龙66树脂加工中的耐黄变与热稳定问题"),
        Achievement(id="a-best-2", name="耐黄变尼龙66树脂的热氧稳定技术", description="尼龙66 耐黄变 热氧老化"),
        Achievement(id="a-second", name="尼龙66树脂耐黄变热稳定改性技术",
                    description="尼龙66树脂加工 耐黄变 热稳定"),
        Achievement(id="a-third", name="尼龙6薄膜", description="尼龙薄膜 包装"),
        Achievement(id="a-owned", name="尼龙66耐黄变色母粒", description="尼龙66 耐黄变 色母粒"),
        Achievement(id="a-collab", name="尼龙66耐黄变检测方法", description="尼龙66 耐黄变 检测"),
        Achievement(id="a-collab-old", name="尼龙66耐黄变涂层", description="尼龙66 耐黄变 涂层"),
        Achievement(id="a-emp", name="尼龙66耐黄变工艺控制", description="尼龙66 耐黄变"),
        Achievement(id="a-mat", name="玻纤增强复合材料配方设计", description="复合材料配方 玻纤增强"),
        Achievement(id="a-mat-proc", name="复合材料注塑成型工艺联合开发", description="复合材料 注塑成型工艺"),
        Achievement(id="a-proc", name="精密注塑成型工艺参数优化", description="注塑成型工艺 参数优化"),
        Achievement(id="a-equip", name="双螺杆挤出装备设计与制造", description="挤出装备设计 双螺杆"),
        Achievement(id="a-coal", name="煤矿瓦斯抽采钻孔密封", description="瓦斯抽采 煤矿"),
    ]
    rels = [
        rel(RelType.AFFILIATED_WITH, L.TALENT, "t-best", L.INSTITUTION, "inst-zzu"),
        rel(RelType.AFFILIATED_WITH, L.TALENT, "t-second", L.INSTITUTION, "inst-hpu"),
        rel(RelType.AFFILIATED_WITH, L.TALENT, "t-employee", L.ENTERPRISE, "ent-owner"),
        rel(RelType.AFFILIATED_WITH, L.TALENT, "t-equip", L.ENTERPRISE, "ent-local"),
        invented("t-best", "a-best-1"), invented("t-best", "a-best-2"),
        invented("t-second", "a-second"), invented("t-third", "a-third"), invented("t-third", "a-coal"),
        invented("t-employee", "a-emp"),
        invented("t-coinventor", "a-owned"),
        rel(RelType.OWNS, L.ENTERPRISE, "ent-owner", L.ACHIEVEMENT, "a-owned"),
        invented("t-collab-new", "a-collab"), invented("t-collab-old", "a-collab-old"),
        rel(RelType.COLLABORATED_WITH, L.TALENT, "t-collab-new", L.ENTERPRISE, "ent-owner", year=2025),
        rel(RelType.COLLABORATED_WITH, L.TALENT, "t-collab-old", L.ENTERPRISE, "ent-owner", year=2015),
        # the best expert holds shares in the challenge owner: a financial tie
        rel(RelType.SHAREHOLDER_OF, L.TALENT, "t-best", L.ENTERPRISE, "ent-owner"),
        # second has carried an achievement into industry
        rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a-second", L.ENTERPRISE, "ent-buyer", amount_wan=120.0),
        rel(RelType.MEMBER_OF, L.TALENT, "t-second", L.PLATFORM, "plat-1"),
        # team material: 材料 + 工艺 co-invented, 工艺 + 装备 share a platform
        invented("t-mat", "a-mat"), invented("t-mat", "a-mat-proc"), invented("t-proc", "a-mat-proc"),
        invented("t-proc", "a-proc"), invented("t-equip", "a-equip"),
        rel(RelType.MEMBER_OF, L.TALENT, "t-proc", L.PLATFORM, "plat-1"),
        rel(RelType.MEMBER_OF, L.TALENT, "t-equip", L.PLATFORM, "plat-1"),
        rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a-proc", L.ENTERPRISE, "ent-buyer", amount_wan=30.0),
    ]
    report = store.write_batch(nodes, rels)
    assert not report.missing_endpoints, report.missing_endpoints
    return Challenge(
        id="ch-1",
        name="尼龙66耐黄变关键技术",
        statement="解决尼龙66树脂加工中的耐黄变、热稳定问题",
        owner_id="ent-owner",
        requirements=[ChallengeRequirement(kind="lead_industrialised")],
    )


def team_challenge() -> Challenge:
    """A challenge that needs three competences and a local enterprise partner."""
    return Challenge(
        id="ch-team",
        name="复合材料制品产业化",
        statement="复合材料制品从配方、成型到装备的成套技术",
        owner_id="dept-kj",
        competences=["复合材料配方", "注塑成型工艺", "挤出装备设计"],
        requirements=[ChallengeRequirement(kind="lead_industrialised"),
                      ChallengeRequirement(kind="local_partner", value="平顶山")],
    )
