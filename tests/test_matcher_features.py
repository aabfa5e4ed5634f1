"""Graph feature families and the explanations built from them, on a hand-built graph context."""

from __future__ import annotations

from graph.model import CooperationMode
from matcher.explain import collaboration_paths, describe
from matcher.features.base import Demand, GraphContext, Segment, SupplyInfo
from matcher.features.chain import ChainFeatures, chain_relation
from matcher.features.collaboration import CollaborationFeatures
from matcher.features.fit import FitFeatures


def _ctx() -> GraphContext:
    ctx = GraphContext()
    for sid, name, order in (("s-raw", "己二腈", 1), ("s-poly", "尼龙66聚合", 2), ("s-mold", "注塑制品", 3)):
        ctx.segments[sid] = Segment(sid, name, "c-nylon", order=order)
        ctx.names[sid] = name
    ctx.chain_names["c-nylon"] = "尼龙新材料"
    ctx.downstream["s-raw"].add("s-poly")
    ctx.upstream["s-poly"].add("s-raw")
    ctx.supply["a-1"] = SupplyInfo("a-1", "己二腈新工艺", maturity=2, price_wan=120.0,
                                   cooperation=frozenset({CooperationMode.TRANSFER.value}),
                                   owners={"i-1": "某大学"}, segments={"s-raw"})
    ctx.supply["a-old"] = SupplyInfo("a-old", "旧成果", owners={"i-1": "某大学"})
    ctx.deals_into["e-1"].add("a-old")
    for node_id, name, label in (("a-1", "己二腈新工艺", "Achievement"), ("i-1", "某大学", "Institution"),
                                 ("a-old", "旧成果", "Achievement"), ("e-1", "某企业", "Enterprise")):
        ctx.names[node_id], ctx.labels[node_id] = name, label
    return ctx


def test_chain_relation_tells_upstream_downstream_and_same_chain() -> None:
    ctx = _ctx()
    assert chain_relation(ctx, {"s-raw"}, {"s-poly"}) == ("upstream", ["s-raw", "s-poly"])
    assert chain_relation(ctx, {"s-poly"}, {"s-raw"}) == ("downstream", ["s-raw", "s-poly"])
    assert chain_relation(ctx, {"s-raw"}, {"s-mold"})[0] == "same_chain"
    assert chain_relation(ctx, {"s-poly"}, {"s-poly"}) == ("same_segment", ["s-poly"])
    assert chain_relation(ctx, set(), {"s-poly"}) == ("", [])
    feats = ChainFeatures().compute(ctx, Demand(segments={"s-poly"}), ["a-1"])
    assert feats["chain_adjacent"][0] == 1.0 and feats["chain_same_segment"][0] == 0.0


def test_earlier_deal_counts_as_a_relationship_and_is_explained() -> None:
    ctx = _ctx()
    demand = Demand(enterprise_ids=["e-1"], segments={"s-poly"})
    assert CollaborationFeatures().compute(ctx, demand, ["a-1"])["prior_collaboration"][0] == 1.0
    assert CollaborationFeatures().compute(ctx, Demand(enterprise_ids=["e-2"]), ["a-1"])["prior_collaboration"][0] == 0
    paths = collaboration_paths(ctx, "a-1", ["e-1"])
    assert [n.id for n in paths[0].nodes] == ["a-1", "i-1", "a-old", "e-1"]
    assert paths[0].rel_types[-1] == "TRANSFERRED_TO"
    exp = describe(ctx, ["己二腈"], "upstream", [], paths)
    assert "某大学曾向该企业转让成果" in exp.sentence and "共有关键词 己二腈" in exp.sentence


def test_fit_features_compare_price_budget_and_cooperation() -> None:
    ctx = _ctx()
    fit = FitFeatures()
    rich = fit.compute(ctx, Demand(budget_wan=200, cooperation=frozenset({"转让"})), ["a-1"])
    poor = fit.compute(ctx, Demand(budget_wan=60, cooperation=frozenset({"许可"})), ["a-1"])
    unknown = fit.compute(ctx, Demand(), ["a-1"])
    assert rich["budget_fit"][0] == 1.0 and poor["budget_fit"][0] == 0.5 and unknown["budget_fit"][0] == 0.5
    assert rich["cooperation_fit"][0] == 1.0 and poor["cooperation_fit"][0] == 0.0
    assert rich["maturity"][0] == 0.5  # 中试 is the middle of five stages
