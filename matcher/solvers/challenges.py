"""揭榜挂帅 challenges as first-class objects: lifecycle rules and persistence in the graph.

The lifecycle is a transition table (:data:`TRANSITIONS`); any other move raises
:class:`IllegalTransitionError` naming the current status and the moves that are allowed. Awarding
writes the new status and the SOLVES edges to the winners in one transaction, so a failure leaves
neither. Applications (APPLIED_TO) are accepted only while applications are open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from graph.exceptions import DuplicateIdError, NotFoundError, ValidationError
from graph.model import Challenge, ChallengeStatus, Milestone, NodeLabel, Relation, RelType
from graph.store import GraphStore
from matcher.solvers.refs import SolverRef

S = ChallengeStatus
#: status -> the statuses it may move to
TRANSITIONS: dict[ChallengeStatus, frozenset[ChallengeStatus]] = {
    S.DRAFT: frozenset({S.PUBLISHED}),
    S.PUBLISHED: frozenset({S.APPLICATIONS_OPEN, S.DRAFT}),  # back to draft = withdrawn for edits
    S.APPLICATIONS_OPEN: frozenset({S.AWARDED, S.FAILED}),  # failed = no acceptable application (流榜)
    S.AWARDED: frozenset({S.IN_PROGRESS, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.ACCEPTED, S.FAILED}),
    S.ACCEPTED: frozenset(),
    S.FAILED: frozenset(),
}
#: who may apply to a challenge
APPLICANT_LABELS = (NodeLabel.TALENT, NodeLabel.INSTITUTION, NodeLabel.ENTERPRISE)


class IllegalTransitionError(ValidationError):
    """A status change the lifecycle does not allow."""

    def __init__(self, challenge_id: str, current: ChallengeStatus, wanted: ChallengeStatus) -> None:
        self.current, self.wanted = current, wanted
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final status)"
        super().__init__(
            f"challenge {challenge_id!r} cannot go from {current.value} to {wanted.value}; allowed: {allowed}",
            field="status",
            where=challenge_id,
        )


def check_transition(challenge: Challenge, wanted: ChallengeStatus) -> None:
    if ChallengeStatus(wanted) not in TRANSITIONS[challenge.status]:
        raise IllegalTransitionError(challenge.id, challenge.status, ChallengeStatus(wanted))


class ChallengeService:
    """Create, move through the lifecycle, take applications and award challenges in the graph."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def get(self, challenge_id: str) -> Challenge:
        node = self.store.require_node(NodeLabel.CHALLENGE, challenge_id)
        assert isinstance(node, Challenge)
        return node

    def create(self, challenge: Challenge) -> Challenge:
        """Store a new challenge (status draft unless given) and the POSTED edge from its owner."""
        if challenge.status != ChallengeStatus.DRAFT:
            raise ValidationError("a new challenge starts as draft", field="status", where=challenge.id)
        rels = []
        if challenge.owner_id:
            owner_label = self.store.find_label(challenge.owner_id)
            if owner_label not in (NodeLabel.ENTERPRISE.value, NodeLabel.DEPARTMENT.value):
                raise ValidationError(
                    f"owner {challenge.owner_id!r} must be an existing Enterprise or Department", field="owner_id",
                    where=challenge.id)
            rels.append(Relation(type=RelType.POSTED, source_label=NodeLabel(owner_label),
                                 source_id=challenge.owner_id, target_label=NodeLabel.CHALLENGE,
                                 target_id=challenge.id))
        if challenge.segment_id:
            if self.store.get_props(NodeLabel.CHAIN_SEGMENT, challenge.segment_id) is None:
                raise NotFoundError(NodeLabel.CHAIN_SEGMENT.value, challenge.segment_id)
            rels.append(Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.CHALLENGE, source_id=challenge.id,
                                 target_label=NodeLabel.CHAIN_SEGMENT, target_id=challenge.segment_id))
        if self.store.get_props(NodeLabel.CHALLENGE, challenge.id) is not None:
            raise DuplicateIdError(NodeLabel.CHALLENGE.value, challenge.id)
        self.store.write_batch([challenge], rels)
        return challenge

    def transition(self, challenge_id: str, wanted: ChallengeStatus) -> Challenge:
        """Move to ``wanted`` if the lifecycle allows it. Awarding goes through :meth:`award`."""
        challenge = self.get(challenge_id)
        wanted = ChallengeStatus(wanted)
        check_transition(challenge, wanted)
        if wanted == ChallengeStatus.AWARDED:
            raise ValidationError("use award() to award a challenge: it needs the winners", field="status",
                                  where=challenge_id)
        if wanted == ChallengeStatus.PUBLISHED and challenge.deadline and challenge.deadline < date.today():
            raise ValidationError(f"deadline {challenge.deadline} is already past", field="deadline",
                                  where=challenge_id)
        updated = challenge.model_copy(update={"status": wanted})
        self.store.update_node(updated)
        return updated

    def apply(self, challenge_id: str, applicant: SolverRef) -> None:
        challenge = self.get(challenge_id)
        if challenge.status != ChallengeStatus.APPLICATIONS_OPEN:
            raise ValidationError(
                f"challenge {challenge_id!r} is {challenge.status.value}, not taking applications",
                field="status", where=challenge_id)
        if applicant.label not in APPLICANT_LABELS:
            raise ValidationError(f"a {applicant.label.value} cannot apply", field="applicant", where=applicant.id)
        report = self.store.upsert_relations([Relation(
            type=RelType.APPLIED_TO, source_label=applicant.label, source_id=applicant.id,
            target_label=NodeLabel.CHALLENGE, target_id=challenge_id)])
        if report.missing_endpoints:
            raise NotFoundError(applicant.label.value, applicant.id)

    def applicants(self, challenge_id: str) -> list[SolverRef]:
        rows = self.store.read(
            "MATCH (a)-[:APPLIED_TO]->(c:Challenge {id: $id}) RETURN labels(a)[0] AS label, a.id AS id ORDER BY id",
            id=challenge_id)
        return [SolverRef(label=NodeLabel(r["label"]), id=r["id"]) for r in rows]

    def award(self, challenge_id: str, winners: Sequence[str]) -> Challenge:
        """Award to talents (ids): status awarded and SOLVES edges, in one transaction."""
        challenge = self.get(challenge_id)
        check_transition(challenge, ChallengeStatus.AWARDED)
        if not winners:
            raise ValidationError("award needs at least one winner", field="winners", where=challenge_id)
        missing = [w for w in winners if self.store.get_props(NodeLabel.TALENT, w) is None]
        if missing:
            raise NotFoundError(NodeLabel.TALENT.value, ", ".join(missing))
        updated = challenge.model_copy(update={"status": ChallengeStatus.AWARDED})
        rels = [Relation(type=RelType.SOLVES, source_label=NodeLabel.TALENT, source_id=w,
                         target_label=NodeLabel.CHALLENGE, target_id=challenge_id) for w in dict.fromkeys(winners)]
        self.store.write_batch([updated], rels)
        return updated

    def winners(self, challenge_id: str) -> list[str]:
        rows = self.store.read(
            "MATCH (t:Talent)-[:SOLVES]->(c:Challenge {id: $id}) RETURN t.id AS id ORDER BY id", id=challenge_id)
        return [r["id"] for r in rows]

    def complete_milestone(self, challenge_id: str, name: str) -> Challenge:
        """Mark a milestone done; only while the work is in progress."""
        challenge = self.get(challenge_id)
        if challenge.status != ChallengeStatus.IN_PROGRESS:
            raise ValidationError(f"milestones are tracked only in progress (now {challenge.status.value})",
                                  field="status", where=challenge_id)
        if not any(m.name == name for m in challenge.milestones):
            raise ValidationError(f"challenge {challenge_id!r} has no milestone {name!r}", field="milestones",
                                  where=challenge_id)
        milestones = [Milestone(name=m.name, due=m.due, done=m.done or m.name == name) for m in challenge.milestones]
        updated = challenge.model_copy(update={"milestones": milestones})
        self.store.update_node(updated)
        return updated
