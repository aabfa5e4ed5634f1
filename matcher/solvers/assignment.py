"""Assignment under limits: solvers (or review experts) to challenges, maximising total affinity.

Constraints: each person takes at most ``load`` challenges, each challenge gets at most ``team_size``
people, a person is never assigned twice to one challenge, and conflicted pairs (回避) are never
assigned. Solved exactly as a min-cost flow with networkx (source → person [cap load] → challenge
[cap 1, cost −affinity] → sink [cap team size]) plus a zero-cost bypass source → sink, so the flow
fills a slot only when that raises the total affinity. :func:`assign_greedy` is the baseline a
person would do by hand (best pair first); the benchmark and tests compare the two.
:func:`assign_challenges` builds the problem from the graph (solver index affinities, 回避 pairs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field

from graph.exceptions import ValidationError
from graph.model import Challenge, NodeLabel
from graph.store import GraphStore
from matcher.solvers.coi import ConflictPolicy, check_conflicts
from matcher.solvers.ranking import SolverIndex, challenge_text
from matcher.solvers.refs import SolverRef

#: affinities become integer costs at this resolution (network simplex needs integers)
_SCALE = 1_000_000


class AssignedPair(BaseModel):
    person: str
    challenge: str
    affinity: float


class Assignment(BaseModel):
    method: str
    pairs: list[AssignedPair] = []
    objective: float = 0.0
    unfilled: dict[str, int] = Field(default_factory=dict)  # challenge -> slots left empty
    skipped_conflicts: list[tuple[str, str]] = []

    def people_of(self, challenge: str) -> list[str]:
        return [p.person for p in self.pairs if p.challenge == challenge]

    def load_of(self, person: str) -> int:
        return sum(1 for p in self.pairs if p.person == person)


def _check(
    affinity: Mapping[tuple[str, str], float], loads: Mapping[str, int], team_sizes: Mapping[str, int]
) -> None:
    for person, load in loads.items():
        if load < 0:
            raise ValidationError(f"load limit of {person!r} is negative ({load})", field="loads", where=person)
    for challenge, size in team_sizes.items():
        if size < 0:
            raise ValidationError(f"team size of {challenge!r} is negative ({size})", field="team_sizes",
                                  where=challenge)
    for (person, challenge), value in affinity.items():
        if value != value:  # NaN
            raise ValidationError(f"affinity of ({person!r}, {challenge!r}) is not a number", field="affinity")


def _eligible(
    affinity: Mapping[tuple[str, str], float],
    loads: Mapping[str, int],
    team_sizes: Mapping[str, int],
    conflicts: set[tuple[str, str]],
    min_affinity: float,
) -> tuple[list[tuple[str, str, float]], list[tuple[str, str]]]:
    pairs, skipped = [], []
    for (person, challenge), value in affinity.items():
        if (person, challenge) in conflicts:
            skipped.append((person, challenge))
            continue
        # A person without an explicit limit takes one challenge; an unknown challenge has no slots.
        if value > min_affinity and loads.get(person, 1) > 0 and team_sizes.get(challenge, 0) > 0:
            pairs.append((person, challenge, float(value)))
    return pairs, sorted(skipped)


def _finish(method: str, chosen: list[tuple[str, str, float]], team_sizes: Mapping[str, int],
            skipped: list[tuple[str, str]]) -> Assignment:
    chosen.sort(key=lambda p: (p[1], -p[2], p[0]))
    filled: dict[str, int] = {}
    for _, c, _ in chosen:
        filled[c] = filled.get(c, 0) + 1
    unfilled = {c: n - filled.get(c, 0) for c, n in team_sizes.items() if n - filled.get(c, 0) > 0}
    return Assignment(
        method=method,
        pairs=[AssignedPair(person=p, challenge=c, affinity=a) for p, c, a in chosen],
        objective=sum(a for _, _, a in chosen),
        unfilled=unfilled,
        skipped_conflicts=skipped,
    )


def assign(
    affinity: Mapping[tuple[str, str], float],
    loads: Mapping[str, int],
    team_sizes: Mapping[str, int],
    conflicts: Iterable[tuple[str, str]] = (),
    min_affinity: float = 0.0,
) -> Assignment:
    """The assignment of maximum total affinity under load limits, team sizes and conflicts.

    ``affinity[(person, challenge)]``: how well the person fits (pairs absent or ``<= min_affinity``
    are not considered); ``loads[person]``: most challenges per person (default 1);
    ``team_sizes[challenge]``: most people per challenge; ``conflicts``: (person, challenge) pairs
    that must not be assigned.
    """
    _check(affinity, loads, team_sizes)
    pairs, skipped = _eligible(affinity, loads, team_sizes, set(conflicts), min_affinity)
    if not pairs:
        return _finish("min_cost_flow", [], team_sizes, skipped)
    graph: nx.DiGraph[tuple[str, ...]] = nx.DiGraph()
    source, sink = ("source",), ("sink",)
    people = {p for p, _, _ in pairs}
    challenges = {c for _, c, _ in pairs}
    supply = sum(team_sizes[c] for c in challenges)
    graph.add_node(source, demand=-supply)
    graph.add_node(sink, demand=supply)
    graph.add_edge(source, sink, capacity=supply, weight=0)  # empty slots cost nothing
    for p in people:
        graph.add_edge(source, ("person", p), capacity=loads.get(p, 1), weight=0)
    for c in challenges:
        graph.add_edge(("challenge", c), sink, capacity=team_sizes[c], weight=0)
    for p, c, a in pairs:
        graph.add_edge(("person", p), ("challenge", c), capacity=1, weight=-round(a * _SCALE))
    flow = nx.min_cost_flow(graph)
    value = {(p, c): a for p, c, a in pairs}
    chosen = [
        (node[1], target[1], value[(node[1], target[1])])
        for node, targets in flow.items()
        if isinstance(node, tuple) and node[0] == "person"
        for target, units in targets.items()
        if units > 0
    ]
    return _finish("min_cost_flow", chosen, team_sizes, skipped)


def assign_greedy(
    affinity: Mapping[tuple[str, str], float],
    loads: Mapping[str, int],
    team_sizes: Mapping[str, int],
    conflicts: Iterable[tuple[str, str]] = (),
    min_affinity: float = 0.0,
) -> Assignment:
    """Baseline: take pairs best first while the person has load and the challenge has room."""
    _check(affinity, loads, team_sizes)
    pairs, skipped = _eligible(affinity, loads, team_sizes, set(conflicts), min_affinity)
    left_load = {p: loads.get(p, 1) for p, _, _ in pairs}
    left_room = dict(team_sizes)
    chosen = []
    for p, c, a in sorted(pairs, key=lambda x: (-x[2], x[0], x[1])):
        if left_load[p] > 0 and left_room.get(c, 0) > 0:
            chosen.append((p, c, a))
            left_load[p] -= 1
            left_room[c] -= 1
    return _finish("greedy", chosen, team_sizes, skipped)


class ChallengePlan(BaseModel):
    """The optimal assignment of solvers to several challenges, the greedy baseline and what 回避 removed."""

    optimal: Assignment
    greedy: Assignment
    conflicts: dict[str, list[str]] = Field(default_factory=dict)  # challenge id -> removed "Label:id (rule)"

    @property
    def gain_over_greedy(self) -> float:
        return self.optimal.objective - self.greedy.objective


def assign_challenges(
    store: GraphStore,
    challenges: Sequence[Challenge],
    index: SolverIndex | None = None,
    loads: Mapping[str, int] | None = None,
    default_load: int = 1,
    candidates_per_challenge: int = 20,
    labels: Sequence[NodeLabel] = (NodeLabel.TALENT,),
    policy: ConflictPolicy | None = None,
) -> ChallengePlan:
    """Assign solvers (keys ``Label:id``) to challenges: affinity from the solver index, team size from each
    challenge's ``min_team_size`` requirement (default 1), loads per solver key (default ``default_load``),
    conflicted pairs excluded. Returns the optimal plan and the greedy baseline on the same input."""
    index = index or SolverIndex.build(store, labels=labels)
    wanted = {NodeLabel(label).value for label in labels}
    affinity: dict[tuple[str, str], float] = {}
    conflict_pairs: list[tuple[str, str]] = []
    removed: dict[str, list[str]] = {}
    team_sizes: dict[str, int] = {}
    for challenge in challenges:
        team_sizes[challenge.id] = challenge.min_team_size()
        scores = index.scores([challenge_text(challenge)])[0]
        order = [i for i in np.argsort(-scores, kind="stable")
                 if index.expertise.solver_ids[i].split(":", 1)[0] in wanted][:candidates_per_challenge]
        keys = [index.expertise.solver_ids[i] for i in order]
        found = check_conflicts(store, challenge, [SolverRef.from_key(k) for k in keys], policy)
        for i, key in zip(order, keys, strict=True):
            affinity[(key, challenge.id)] = float(scores[i])
            if key in found:
                conflict_pairs.append((key, challenge.id))
                removed.setdefault(challenge.id, []).extend(f"{key} ({c.rule}: {c.reason})" for c in found[key])
    people = {p for p, _ in affinity}
    limits = {p: (loads or {}).get(p, default_load) for p in people}
    return ChallengePlan(
        optimal=assign(affinity, limits, team_sizes, conflict_pairs),
        greedy=assign_greedy(affinity, limits, team_sizes, conflict_pairs),
        conflicts=removed,
    )
