"""对接: from an accepted match to a registered technology contract.

A docking opens when a match is accepted (one per need and achievement while it runs), and moves through
已接受 → 已联系 → 洽谈中 → 已签约 or 已终止. Each step is a :class:`DockingEvent` (who was contacted, how,
what was said), audited, and announced to the need's enterprise and brokers. Signing writes the deal the
plan's targets count — a ``TRANSFERRED_TO`` edge from the achievement to the enterprise with the contract's
date, amount, type and numbers — and teaches the matcher: a signed contract is its strongest positive, an
abandoned docking whose reason says the match was wrong (off topic, not mature enough) a negative; price or
the enterprise's capacity say nothing about the match and teach nothing.

Who may see and move a docking is the role table's (``Resource.DOCKING``): the need's enterprise, its
assigned brokers, the bureau.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from api.audit import AuditLog
from api.auth import Principal, Role
from api.errors import ApiError
from api.policy import Act, Resource, Target, authorize
from graph.model import (
    OPEN_DOCKING_STAGES,
    AbandonReason,
    Achievement,
    ContactChannel,
    ContractType,
    Docking,
    DockingEvent,
    DockingStage,
    Need,
    NodeLabel,
    Relation,
    RelType,
    Verdict,
)
from graph.store import GraphStore

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

ABANDON_ZH = {AbandonReason.PRICE: "价格谈不拢", AbandonReason.MATURITY: "成熟度不够（未过小试/中试）",
              AbandonReason.IP_UNCLEAR: "知识产权权属不清", AbandonReason.CAPACITY: "企业承接能力不足",
              AbandonReason.NO_RESPONSE: "对方无回应", AbandonReason.OFF_TOPIC: "技术并不对路",
              AbandonReason.OTHER: "其他"}
#: abandon reasons that say the match itself was wrong (a negative example for the re-ranker)
WRONG_MATCH = {AbandonReason.MATURITY, AbandonReason.OFF_TOPIC}
#: a signed contract teaches as much as this many plain verdicts
SIGNED_STRENGTH = 3.0
#: the stages one may move to from each stage (signing and abandoning have their own forms)
NEXT: dict[DockingStage, tuple[DockingStage, ...]] = {
    DockingStage.ACCEPTED: (DockingStage.CONTACTED, DockingStage.NEGOTIATING),
    DockingStage.CONTACTED: (DockingStage.NEGOTIATING,),
    DockingStage.NEGOTIATING: (),
    DockingStage.SIGNED: (),
    DockingStage.ABANDONED: (),
}
_D = NodeLabel.DOCKING.value
_OPEN_FOR_PAIR = (
    f"MATCH (d:{_D} {{need_id: $need, achievement_id: $ach}}) WHERE d.stage IN $open RETURN properties(d) AS p"
)
_EVENTS = (
    f"MATCH (e:{NodeLabel.DOCKING_EVENT.value} {{docking_id: $id}}) RETURN properties(e) AS p ORDER BY e.at"
)
_OF_ENTERPRISES = (
    f"MATCH (d:{_D}) WHERE ($all OR d.enterprise_id IN $ents) AND ($stages IS NULL OR d.stage IN $stages) "
    "RETURN properties(d) AS p ORDER BY d.updated_at DESC SKIP $skip LIMIT $limit"
)
_FIRST_BROKER = (
    f"MATCH (b:{NodeLabel.BROKER.value})-[:ASSIGNED_TO]->(:{NodeLabel.ENTERPRISE.value} {{id: $ent}}) "
    "RETURN b.id AS id ORDER BY b.id LIMIT 1"
)


@dataclass(frozen=True)
class Contract:
    """What a signed technology contract records (and its registration, when done)."""

    contract_type: ContractType
    amount_wan: float
    signed_on: date
    contract_no: str
    tech_amount_wan: float | None = None
    registration_no: str = ""
    registered_on: date | None = None


class DockingService:
    """Opens, advances, signs and abandons dockings; every step checked, recorded, audited and announced."""

    def __init__(self, store: GraphStore, audit: AuditLog, notifier: Any | None = None,
                 engine: MatchEngine | None = None, upkeep: Any | None = None) -> None:
        self.store, self.audit, self.notifier, self.engine = store, audit, notifier, engine
        self.upkeep = upkeep

    # -- reads -------------------------------------------------------------------------------------
    def get(self, principal: Principal, docking_id: str) -> Docking:
        node = self.store.get_node(NodeLabel.DOCKING, docking_id)
        if not isinstance(node, Docking) or not _may(principal, Act.READ, node):
            raise ApiError(404, "没有该对接记录，或你无权查看", "docking_id")
        return node

    def events(self, docking: Docking) -> list[DockingEvent]:
        return [e for e in (DockingEvent.from_props(r["p"]) for r in self.store.read(_EVENTS, id=docking.id))
                if isinstance(e, DockingEvent)]

    def open_for(self, need_id: str, achievement_id: str) -> Docking | None:
        rows = self.store.read(_OPEN_FOR_PAIR, need=need_id, ach=achievement_id,
                               open=[s.value for s in OPEN_DOCKING_STAGES])
        node = Docking.from_props(rows[0]["p"]) if rows else None
        return node if isinstance(node, Docking) else None

    def board(self, principal: Principal, stages: list[DockingStage] | None = None, skip: int = 0,
              limit: int = 100) -> list[Docking]:
        """The dockings of the enterprises the caller acts for (the bureau: all), newest change first."""
        ents = sorted(_acts_for(principal))
        rows = self.store.read(_OF_ENTERPRISES, all=principal.role == Role.BUREAU, ents=ents,
                               stages=[s.value for s in stages] if stages else None, skip=skip, limit=limit)
        return [d for d in (Docking.from_props(r["p"]) for r in rows) if isinstance(d, Docking)]

    # -- steps -------------------------------------------------------------------------------------
    def open(self, principal: Principal, need: Need, achievement_id: str) -> Docking:
        """The running docking of this match, or a new one (stage 已接受)."""
        assert need.enterprise_id is not None
        authorize(principal, Resource.DOCKING, Act.CREATE, Target(enterprise_id=need.enterprise_id))
        if self.store.get_props(NodeLabel.ACHIEVEMENT, achievement_id) is None:
            raise ApiError(404, "没有该成果", "achievement_id")
        existing = self.open_for(need.id, achievement_id)
        if existing is not None:
            return existing
        broker = principal.broker_id
        if broker is None:
            rows = self.store.read(_FIRST_BROKER, ent=need.enterprise_id)
            broker = rows[0]["id"] if rows else None
        now = datetime.now(UTC)
        docking = Docking(id=f"dock-{uuid.uuid4().hex[:12]}", need_id=need.id, achievement_id=achievement_id,
                          enterprise_id=need.enterprise_id, broker_id=broker, stage=DockingStage.ACCEPTED,
                          opened_at=now, updated_at=now)
        event = self._event(principal, docking, "stage", stage=DockingStage.ACCEPTED, note="接受匹配，开始对接")
        rels = [Relation(type=RelType.ABOUT, source_label=NodeLabel.DOCKING, source_id=docking.id,
                         target_label=label, target_id=target)
                for label, target in ((NodeLabel.NEED, need.id), (NodeLabel.ACHIEVEMENT, achievement_id))]
        self.store.write_batch([docking, event], rels)
        self.audit.record(principal, "docking_open", NodeLabel.DOCKING, docking.id, f"{need.id} {achievement_id}")
        self._announce(docking)
        return docking

    def record_contact(self, principal: Principal, docking: Docking, who: str, channel: ContactChannel,
                       note: str = "") -> Docking:
        """A contact with the achievement's side: who, how, what was said (moves 已接受 to 已联系)."""
        self._check_open(principal, docking)
        if not who.strip():
            raise ApiError(422, "请填写联系了谁（成果方联系人）", "who")
        event = self._event(principal, docking, "contact", channel=channel, who=who.strip(), note=note.strip())
        update: dict[str, Any] = {"owner_contact": docking.owner_contact or who.strip()}
        if docking.stage == DockingStage.ACCEPTED:
            update["stage"] = DockingStage.CONTACTED
        return self._save(principal, docking, update, [event], "docking_contact")

    def add_note(self, principal: Principal, docking: Docking, note: str) -> Docking:
        self._check_open(principal, docking)
        if not note.strip():
            raise ApiError(422, "请填写洽谈记录", "note")
        return self._save(principal, docking, {}, [self._event(principal, docking, "note", note=note.strip())],
                          "docking_note")

    def advance(self, principal: Principal, docking: Docking, stage: DockingStage) -> Docking:
        self._check_open(principal, docking)
        if stage not in NEXT[docking.stage]:
            raise ApiError(422, f"对接不能从「{_STAGE_ZH[docking.stage]}」转到「{_STAGE_ZH[stage]}」", "stage")
        event = self._event(principal, docking, "stage", stage=stage)
        return self._save(principal, docking, {"stage": stage}, [event], "docking_stage")

    def abandon(self, principal: Principal, docking: Docking, reason: AbandonReason, note: str = "") -> Docking:
        self._check_open(principal, docking)
        if reason == AbandonReason.OTHER and not note.strip():
            raise ApiError(422, "选择“其他”时请说明终止原因", "note")
        event = self._event(principal, docking, "stage", stage=DockingStage.ABANDONED,
                            note=f"{ABANDON_ZH[reason]}{'：' + note.strip() if note.strip() else ''}")
        updated = self._save(principal, docking, {"stage": DockingStage.ABANDONED, "abandon_reason": reason,
                                                  "abandon_note": note.strip()}, [event], "docking_abandon")
        if reason in WRONG_MATCH and self.engine is not None:
            why = "immature" if reason == AbandonReason.MATURITY else "off_topic"
            self.engine.record_feedback("need_achievement", docking.need_id, docking.achievement_id, Verdict.REJECT,
                                        why, f"对接终止：{ABANDON_ZH[reason]}",
                                        user=principal.broker_id or principal.user_id)
        return updated

    def sign(self, principal: Principal, docking: Docking, contract: Contract) -> Docking:
        """Record the signed contract: the docking ends 已签约, and the deal (``TRANSFERRED_TO``) is written."""
        self._check_open(principal, docking)
        if contract.amount_wan < 0:
            raise ApiError(422, "合同金额不能为负数", "amount_wan")
        if not contract.contract_no.strip():
            raise ApiError(422, "请填写合同编号", "contract_no")
        if contract.signed_on > datetime.now(UTC).date():
            raise ApiError(422, "签订日期不能晚于今天", "signed_on")
        update = {"stage": DockingStage.SIGNED, "contract_type": contract.contract_type,
                  "amount_wan": contract.amount_wan, "tech_amount_wan": contract.tech_amount_wan,
                  "signed_on": contract.signed_on, "contract_no": contract.contract_no.strip(),
                  "registration_no": contract.registration_no.strip(), "registered_on": contract.registered_on}
        event = self._event(principal, docking, "stage", stage=DockingStage.SIGNED,
                            note=f"{contract.contract_type.value}，{contract.amount_wan:g} 万元，合同编号 "
                                 f"{contract.contract_no.strip()}")
        deal = Relation(type=RelType.TRANSFERRED_TO, source_label=NodeLabel.ACHIEVEMENT,
                        source_id=docking.achievement_id, target_label=NodeLabel.ENTERPRISE,
                        target_id=docking.enterprise_id,
                        props={"date": contract.signed_on.isoformat(), "amount_wan": contract.amount_wan,
                               "contract_no": contract.contract_no.strip(),
                               "contract_type": contract.contract_type.value,
                               "tech_amount_wan": contract.tech_amount_wan,
                               "registration_no": contract.registration_no.strip() or None,
                               "registered_on": contract.registered_on.isoformat() if contract.registered_on else None,
                               "docking_id": docking.id})
        updated = self._save(principal, docking, update, [event], "docking_sign", relations=[deal])
        if self.engine is not None:
            # the strongest positive the matcher gets: a contract, worth several verdicts
            self.engine.record_feedback("need_achievement", docking.need_id, docking.achievement_id, Verdict.ACCEPT,
                                        None, "已签约", user=principal.broker_id or principal.user_id,
                                        strength=SIGNED_STRENGTH)
            if self.upkeep is not None:  # a deal is the verdict that matters most: recalibrate in the background
                self.upkeep.recalibrate()
        return updated

    # -- internals ---------------------------------------------------------------------------------
    def _check_open(self, principal: Principal, docking: Docking) -> None:
        if not _may(principal, Act.UPDATE, docking):
            raise ApiError(403, "你无权推进该对接")
        if docking.stage not in OPEN_DOCKING_STAGES:
            raise ApiError(409, f"该对接已{_STAGE_ZH[docking.stage]}，不能再更改", "stage")

    def _event(self, principal: Principal, docking: Docking, kind: str, **fields: Any) -> DockingEvent:
        return DockingEvent(id=f"dev-{uuid.uuid4().hex[:12]}", docking_id=docking.id, at=datetime.now(UTC),
                            kind=kind, user_id=principal.user_id, **fields)

    def _save(self, principal: Principal, docking: Docking, update: dict[str, Any], events: list[DockingEvent],
              action: str, relations: list[Relation] | None = None) -> Docking:
        updated = docking.model_copy(update={**update, "updated_at": datetime.now(UTC)})
        updated = Docking.model_validate(updated.model_dump())
        self.store.write_batch([updated, *events], relations or [])
        self.audit.record(principal, action, NodeLabel.DOCKING, docking.id, updated.stage.value)
        if updated.stage != docking.stage:
            self._announce(updated)
        return updated

    def _announce(self, docking: Docking) -> None:
        if self.notifier is None:
            return
        need = self.store.get_props(NodeLabel.NEED, docking.need_id) or {}
        ach = self.store.get_props(NodeLabel.ACHIEVEMENT, docking.achievement_id) or {}
        self.notifier.docking_stage(docking, str(need.get("name", "")), str(ach.get("name", "")))


_STAGE_ZH = {DockingStage.ACCEPTED: "已接受", DockingStage.CONTACTED: "已联系", DockingStage.NEGOTIATING: "洽谈中",
             DockingStage.SIGNED: "已签约", DockingStage.ABANDONED: "已终止"}
STAGE_ZH = _STAGE_ZH


def _may(principal: Principal, act: Act, docking: Docking) -> bool:
    from api.policy import permits

    return permits(principal, Resource.DOCKING, act, Target(enterprise_id=docking.enterprise_id))


def _acts_for(principal: Principal) -> set[str]:
    if principal.role == Role.ENTERPRISE and principal.enterprise_id:
        return {principal.enterprise_id}
    if principal.role == Role.BROKER:
        return set(principal.assigned)
    return set()


def achievement_name(store: GraphStore, achievement_id: str) -> str:
    node = store.get_node(NodeLabel.ACHIEVEMENT, achievement_id)
    return node.name if isinstance(node, Achievement) else achievement_id
