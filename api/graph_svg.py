"""Draw a match's graph neighbourhood as inline SVG, laid out on the server (networkx multipartite layout).

Columns follow the story a broker reads left to right: inventors → their institution → the achievement →
the chain segments → the need → the enterprise. Labels are escaped; the SVG has no script.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
from markupsafe import Markup, escape

from graph.model import LABEL_ZH, SERVICE_LABELS, NodeLabel
from graph.store import GraphEdge, GraphNode

LAYER: dict[str, int] = {
    NodeLabel.TALENT.value: 0,
    NodeLabel.INSTITUTION.value: 1,
    NodeLabel.PLATFORM.value: 1,
    NodeLabel.ACHIEVEMENT.value: 2,
    NodeLabel.CHAIN_SEGMENT.value: 3,
    NodeLabel.INDUSTRY_CHAIN.value: 3,
    NodeLabel.NEED.value: 4,
    NodeLabel.CHALLENGE.value: 4,
    NodeLabel.ENTERPRISE.value: 5,
}
COLOUR: dict[str, str] = {
    NodeLabel.TALENT.value: "#8e6bbf",
    NodeLabel.INSTITUTION.value: "#3f7fbf",
    NodeLabel.PLATFORM.value: "#3f9fbf",
    NodeLabel.ACHIEVEMENT.value: "#2f9e6b",
    NodeLabel.CHAIN_SEGMENT.value: "#c98a1b",
    NodeLabel.INDUSTRY_CHAIN.value: "#b5651d",
    NodeLabel.NEED.value: "#c0504d",
    NodeLabel.ENTERPRISE.value: "#555f6d",
}
#: bookkeeping nodes that are not part of the story a drawing tells (and may be confidential)
NOT_DRAWN = {NodeLabel.FEEDBACK.value, NodeLabel.MERGE_RECORD.value, *(label.value for label in SERVICE_LABELS)}
BOX_W, BOX_H, COL_GAP, ROW_GAP, MARGIN = 138, 46, 40, 16, 20
#: characters a box line holds (12 px CJK glyphs in a 138 px box)
LINE = 10


def _lines(text: str, n: int = LINE) -> list[str]:
    """A name in at most two lines; only names longer than two lines end in …"""
    if len(text) <= n:
        return [text]
    if len(text) <= 2 * n:
        return [text[:n], text[n:]]
    return [text[:n], text[n : 2 * n - 1] + "…"]


def _text(name: str, cx: float, top: float) -> str:
    lines = _lines(name)
    first = top + BOX_H / 2 + 5 - 8 * (len(lines) - 1)
    return "".join(f'<text x="{cx:.0f}" y="{first + 16 * i:.0f}" text-anchor="middle">{escape(line)}</text>'
                   for i, line in enumerate(lines))


def render_subgraph(nodes: Iterable[GraphNode], edges: Iterable[GraphEdge], highlight: Iterable[str] = (),
                    max_per_layer: int = 8) -> Markup:
    """An ``<svg>`` of the nodes and edges; ``highlight`` ids get a thick border."""
    marked = set(highlight)
    graph: nx.Graph[str] = nx.Graph()
    per_layer: dict[int, int] = {}
    for node in sorted(nodes, key=lambda n: (n.id not in marked, n.label, n.id)):
        if node.label in NOT_DRAWN:
            continue
        layer = LAYER.get(node.label, 3)
        if per_layer.get(layer, 0) >= max_per_layer and node.id not in marked:
            continue  # keep the drawing readable; the highlighted path always stays
        per_layer[layer] = per_layer.get(layer, 0) + 1
        graph.add_node(node.id, layer=layer, node=node)
    edge_list = [e for e in edges if e.source in graph and e.target in graph and e.source != e.target]
    for edge in edge_list:
        graph.add_edge(edge.source, edge.target, type=edge.type)
    if graph.number_of_nodes() == 0:
        return Markup('<svg class="graph" viewBox="0 0 300 40" role="img">'
                      '<text x="10" y="25">（无图数据）</text></svg>')
    # multipartite_layout puts each layer in a column; we only use its within-column order and rescale
    pos = nx.multipartite_layout(graph, subset_key="layer", align="vertical")
    layers = sorted({d["layer"] for _, d in graph.nodes(data=True)})
    col_of = {layer: i for i, layer in enumerate(layers)}
    coords: dict[str, tuple[int, int]] = {}
    for layer in layers:
        members = sorted((n for n, d in graph.nodes(data=True) if d["layer"] == layer), key=lambda n: pos[n][1])
        for row, node_id in enumerate(members):
            x = MARGIN + col_of[layer] * (BOX_W + COL_GAP)
            y = MARGIN + 16 + row * (BOX_H + ROW_GAP)
            coords[node_id] = (x, y)
    width = MARGIN * 2 + len(layers) * BOX_W + (len(layers) - 1) * COL_GAP
    height = MARGIN * 2 + 16 + max(per_layer.values()) * (BOX_H + ROW_GAP)
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="关系图">'
    ]
    for layer in layers:
        some = next(d["node"] for _, d in graph.nodes(data=True) if d["layer"] == layer)
        x = MARGIN + col_of[layer] * (BOX_W + COL_GAP)
        parts.append(f'<text class="col" x="{x}" y="{MARGIN}">{escape(LABEL_ZH.get(some.label, some.label))}</text>')
    for a, b, data in graph.edges(data=True):
        (xa, ya), (xb, yb) = coords[a], coords[b]
        if xa > xb:
            (xa, ya), (xb, yb) = (xb, yb), (xa, ya)
        x1, y1 = xa + BOX_W, ya + BOX_H / 2
        x2, y2 = xb, yb + BOX_H / 2
        if x1 > x2:  # same column: connect the left sides
            x1, x2 = xa, xb
        strong = a in marked and b in marked
        parts.append(
            f'<line class="edge{" strong" if strong else ""}" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" '
            f'y2="{y2:.0f}"><title>{escape(data["type"])}</title></line>'
        )
    for node_id, (x, y) in coords.items():
        node = graph.nodes[node_id]["node"]
        colour = COLOUR.get(node.label, "#777")
        cls = "node strong" if node_id in marked else "node"
        parts.append(
            f'<g class="{cls}"><title>{escape(LABEL_ZH.get(node.label, node.label))}: {escape(node.name)}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{colour}"/>'
            + _text(node.name, x + BOX_W / 2, y) + "</g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
