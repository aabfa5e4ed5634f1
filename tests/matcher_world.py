"""A small real corpus for the matcher tests: achievements of several industries, needs, and a graph around
them (a chain with segments, an institution whose inventor worked with an enterprise before)."""

from __future__ import annotations

import json
from pathlib import Path

from graph.model import (
    Achievement,
    ChainPosition,
    ChainSegment,
    CooperationMode,
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

#: background achievements from the shared zhibei listings: z-scores need a realistic corpus around the
#: handful of hand-made documents (with 12 documents no candidate can stand more than √11σ above the rest)
BACKGROUND_SIZE = 120


def background_achievements(shared_dir: Path, n: int = BACKGROUND_SIZE) -> list[Achievement]:
    from ingest.zhibei import achievement_from_record

    out = []
    with (shared_dir / "data" / "zhibei" / "achievements_dedup.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec.get("name") and rec.get("description"):
                out.append(achievement_from_record(rec))
            if len(out) >= n:
                break
    return out

L, R = NodeLabel, RelType

ACHIEVEMENTS = [
    Achievement(id="a-pa66", name="尼龙66用高效复合热稳定剂",
                description="一种用于聚酰胺尼龙66的铜盐复合热稳定剂，显著改善高温加工时的黄变，长期热氧老化后拉伸强度保持率高。",
                maturity=Maturity.PILOT, cooperation_modes=[CooperationMode.LICENSE], price_wan=50),
    Achievement(id="a-drug", name="头孢类原料药合成新工艺",
                description="一种头孢菌素类原料药的酶法合成工艺，收率高，杂质少，适合制药企业规模化生产。",
                maturity=Maturity.INDUSTRIAL),
    Achievement(id="a-led", name="LED恒流驱动电源芯片",
                description="高效率LED照明恒流驱动芯片，支持宽电压输入，具备过温保护和调光功能。"),
    Achievement(id="a-coal", name="焦炉煤气制氢提纯技术",
                description="利用变压吸附从焦炉煤气中提取高纯氢气，用于燃料电池汽车加氢站。"),
    Achievement(id="a-steel", name="高强耐磨钢板热处理工艺",
                description="通过控轧控冷与回火工艺提高耐磨钢板的硬度和韧性，用于矿山机械。"),
    Achievement(id="a-salt", name="井矿盐卤水净化工艺",
                description="井矿盐卤水中钙镁离子去除的膜法净化工艺，用于制盐和氯碱。"),
    Achievement(id="a-fiber", name="尼龙66工业丝纺丝技术",
                description="高强尼龙66工业丝的熔融纺丝与牵伸工艺，用于轮胎帘子布和安全气囊。"),
    Achievement(id="a-agri", name="小麦抗旱高产新品种",
                description="选育的抗旱小麦新品种，亩产提高百分之十，适宜豫西旱地种植。"),
    Achievement(id="a-sensor", name="煤矿瓦斯浓度光纤传感器",
                description="基于激光吸收光谱的光纤甲烷传感器，用于煤矿井下瓦斯监测。"),
    Achievement(id="a-battery", name="锂离子电池硅碳负极材料",
                description="硅碳复合负极材料的制备方法，提高锂电池能量密度和循环寿命。"),
    Achievement(id="a-water", name="焦化废水深度处理技术",
                description="焦化废水的生化加高级氧化深度处理，出水达到回用标准。"),
    Achievement(id="a-soft", name="企业财务管理软件",
                description="面向中小企业的财务记账、报表和税务申报管理软件。"),
]

NEED_PA66 = Need(id="n-pa66", name="尼龙66黄变问题",
                 description="我公司生产尼龙66切片，注塑件高温下容易黄变，现寻求一种热稳定剂技术，提高耐热老化性能。",
                 enterprise_id="e-shenma", budget_wan=80, cooperation_modes=[CooperationMode.LICENSE])
NEED_NONE = Need(id="n-none", name="大熊猫幼崽人工育幼",
                 description="动物园大熊猫幼崽的人工哺育奶粉配方与育幼箱温湿度管理经验。")


def build_graph(store: GraphStore, background: list[Achievement] | None = None) -> None:
    """The corpus plus a chain: PA66 polymerisation (midstream) feeds engineering plastics (downstream)."""
    nodes = [
        IndustryChain(id="c-nylon", name="尼龙新材料", priority=True),
        ChainSegment(id="s-pa66", name="尼龙66聚合", chain_id="c-nylon", position=ChainPosition.MIDSTREAM, order=2),
        ChainSegment(id="s-plastic", name="工程塑料改性", chain_id="c-nylon", position=ChainPosition.DOWNSTREAM,
                     order=3),
        Institution(id="i-zzu", name="郑州大学"),
        Talent(id="t-li", name="李教授"),
        Enterprise(id="e-shenma", name="神马实业", region="r-pds", description="尼龙66切片和工业丝生产企业"),
        Enterprise(id="e-pharma", name="某制药公司", description="原料药和制剂生产"),
        *ACHIEVEMENTS,
        NEED_PA66,
        NEED_NONE,
    ]
    rels = [
        Relation(type=R.PART_OF, source_label=L.CHAIN_SEGMENT, source_id="s-pa66",
                 target_label=L.INDUSTRY_CHAIN, target_id="c-nylon"),
        Relation(type=R.UPSTREAM_OF, source_label=L.CHAIN_SEGMENT, source_id="s-pa66",
                 target_label=L.CHAIN_SEGMENT, target_id="s-plastic"),
        Relation(type=R.IN_SEGMENT, source_label=L.ACHIEVEMENT, source_id="a-pa66",
                 target_label=L.CHAIN_SEGMENT, target_id="s-pa66"),
        Relation(type=R.IN_SEGMENT, source_label=L.NEED, source_id="n-pa66",
                 target_label=L.CHAIN_SEGMENT, target_id="s-pa66"),
        Relation(type=R.IN_SEGMENT, source_label=L.ENTERPRISE, source_id="e-shenma",
                 target_label=L.CHAIN_SEGMENT, target_id="s-pa66"),
        Relation(type=R.INVENTED, source_label=L.TALENT, source_id="t-li",
                 target_label=L.ACHIEVEMENT, target_id="a-pa66"),
        Relation(type=R.AFFILIATED_WITH, source_label=L.TALENT, source_id="t-li",
                 target_label=L.INSTITUTION, target_id="i-zzu"),
        Relation(type=R.OWNS, source_label=L.INSTITUTION, source_id="i-zzu",
                 target_label=L.ACHIEVEMENT, target_id="a-fiber"),
        Relation(type=R.COLLABORATED_WITH, source_label=L.INSTITUTION, source_id="i-zzu",
                 target_label=L.ENTERPRISE, target_id="e-shenma"),
        Relation(type=R.POSTED, source_label=L.ENTERPRISE, source_id="e-shenma",
                 target_label=L.NEED, target_id="n-pa66"),
    ]
    if background:
        store.upsert_nodes(background)
    report = store.write_batch(nodes, rels)
    assert not report.missing_endpoints
