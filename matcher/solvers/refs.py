"""How solvers are addressed: a node label plus its id (ids are unique only within a label)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from graph.model import NodeLabel

#: the labels that can solve a challenge
SOLVER_LABELS = (NodeLabel.TALENT, NodeLabel.INSTITUTION, NodeLabel.ENTERPRISE)


class SolverRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: NodeLabel
    id: str

    @property
    def key(self) -> str:
        return solver_key(self.label, self.id)

    @classmethod
    def from_key(cls, key: str) -> SolverRef:
        label, _, node_id = key.partition(":")
        return cls(label=NodeLabel(label), id=node_id)


def solver_key(label: NodeLabel | str, node_id: str) -> str:
    return f"{NodeLabel(label).value}:{node_id}"
