"""Notifications: an in-app inbox for every role and an outbox of messages ready for e-mail or SMS.

What is announced, to whom, produced when the data changes (never by scanning everything):

- a new achievement that reaches the confidence threshold for a need (once per need and achievement): the
  need's enterprise and its assigned brokers (they read the need in full);
- a new need of an enterprise: the brokers assigned to it;
- a docking's stage change: the need's enterprise, its assigned brokers;
- a saved search that finds a new achievement; a new achievement or a need one may read in full placed on a
  subscribed chain segment.

Every notification to a user with an e-mail address or a phone number also becomes an :class:`OutboxMessage`.
Delivery is an adapter (:class:`MessageSender`); the shipped :class:`LoggingSender` only logs (no mail or SMS
leaves these machines). See docs/notifications.md.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from api.auth import AccountService, Principal
from api.policy import Visibility, need_visibility
from graph.model import (
    Achievement,
    Docking,
    DockingStage,
    Need,
    NodeLabel,
    Notification,
    OutboxMessage,
    Subscription,
    User,
)
from graph.store import GraphStore
from matcher.standing import NewFit

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

log = logging.getLogger(__name__)

STAGE_ZH = {DockingStage.ACCEPTED: "已接受匹配，待联系", DockingStage.CONTACTED: "已联系成果方",
            DockingStage.NEGOTIATING: "洽谈中", DockingStage.SIGNED: "已签约", DockingStage.ABANDONED: "已终止"}
_N = NodeLabel.NOTIFICATION.value
_USERS_OF_ENTERPRISE = (
    f"MATCH (u:{NodeLabel.USER.value} {{enterprise_id: $ent}}) WHERE u.active = true RETURN properties(u) AS p"
)
_BROKER_USERS_OF_ENTERPRISE = (
    f"MATCH (b:{NodeLabel.BROKER.value})-[:ASSIGNED_TO]->(:{NodeLabel.ENTERPRISE.value} {{id: $ent}}) "
    f"MATCH (u:{NodeLabel.USER.value} {{broker_id: b.id}}) WHERE u.active = true RETURN properties(u) AS p"
)
_EXISTING = f"MATCH (n:{_N}) WHERE n.dedupe_key IN $keys RETURN n.dedupe_key AS k, n.user_id AS u"
_INBOX = (
    f"MATCH (n:{_N} {{user_id: $uid}}) WHERE NOT $unread OR n.read = false "
    "RETURN properties(n) AS p ORDER BY n.created_at DESC SKIP $skip LIMIT $limit"
)
_UNREAD = f"MATCH (n:{_N} {{user_id: $uid}}) WHERE n.read = false RETURN count(n) AS c"
_MARK_READ = (
    f"MATCH (n:{_N} {{user_id: $uid}}) WHERE $ids IS NULL OR n.id IN $ids SET n.read = true RETURN count(n) AS c"
)
_SUBSCRIPTIONS = f"MATCH (s:{NodeLabel.SUBSCRIPTION.value}) WHERE s.kind = $kind RETURN properties(s) AS p"
_PENDING = (
    f"MATCH (m:{NodeLabel.OUTBOX_MESSAGE.value}) "
    "WHERE m.status = 'pending' OR (m.status = 'failed' AND m.attempts < $max) "
    "RETURN properties(m) AS p ORDER BY m.created_at LIMIT $limit"
)


class MessageSender(Protocol):
    """Delivers one outbox message (e-mail or SMS); raises on failure (the message is retried later)."""

    def send(self, message: OutboxMessage) -> None: ...


class LoggingSender:
    """The shipped adapter: writes the message to the log and calls it sent. A deployment plugs in its own
    (an SMTP relay, the city's SMS gateway) with the same one method."""

    def send(self, message: OutboxMessage) -> None:
        log.info("outbox %s to %s: %s", message.channel, _mask(message.to), message.subject)


def _mask(address: str) -> str:
    return address[:2] + "***" + address[-2:] if len(address) > 6 else "***"


class Notifier:
    """Writes notifications and outbox messages; reads and marks a user's inbox."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.accounts = AccountService(store)

    # -- recipients --------------------------------------------------------------------------------
    def _users(self, cypher: str, **params: Any) -> list[User]:
        out = []
        for r in self.store.read(cypher, **params):
            user = User.from_props(r["p"])
            if isinstance(user, User):
                out.append(user)
        return out

    def people_of(self, enterprise_id: str) -> list[User]:
        """The enterprise's own users and the users of the brokers assigned to it."""
        return [*self._users(_USERS_OF_ENTERPRISE, ent=enterprise_id),
                *self._users(_BROKER_USERS_OF_ENTERPRISE, ent=enterprise_id)]

    # -- writing -----------------------------------------------------------------------------------
    def notify(self, users: Iterable[User], kind: str, title: str, body: str = "", link: str = "",
               dedupe: str = "") -> list[Notification]:
        """One notification per user (none twice for the same ``dedupe`` key and user), plus outbox messages."""
        users = list({u.id: u for u in users}.values())
        if not users:
            return []
        now = datetime.now(UTC)
        keys = {u.id: _key(dedupe, u.id) if dedupe else "" for u in users}
        seen = {(r["k"], r["u"]) for r in self.store.read(_EXISTING, keys=[k for k in keys.values() if k])}
        notes: list[Notification] = []
        outbox: list[OutboxMessage] = []
        for user in users:
            if keys[user.id] and (keys[user.id], user.id) in seen:
                continue
            note = Notification(id=f"note-{uuid.uuid4().hex[:16]}", user_id=user.id, kind=kind, title=title[:200],
                                body=body[:1000], link=link[:300], created_at=now, dedupe_key=keys[user.id])
            notes.append(note)
            for channel, to in (("email", user.email), ("sms", user.phone)):
                if to:
                    outbox.append(OutboxMessage(id=f"msg-{uuid.uuid4().hex[:16]}", channel=channel, to=to,
                                                subject=f"【techmatch】{note.title}"[:200],
                                                body=(note.body + (f"\n{note.link}" if note.link else ""))[:2000],
                                                created_at=now, notification_id=note.id))
        if notes:
            self.store.upsert_nodes([*notes, *outbox])
        return notes

    def new_fits(self, fits: Sequence[NewFit]) -> int:
        """Announce achievements that newly fit needs; returns how many notifications were written."""
        written = 0
        for fit in fits:
            need = self.store.get_node(NodeLabel.NEED, fit.need_id)
            ach = self.store.get_node(NodeLabel.ACHIEVEMENT, fit.achievement_id)
            if not isinstance(need, Need) or not isinstance(ach, Achievement) or not need.enterprise_id:
                continue
            written += len(self.notify(
                self.people_of(need.enterprise_id), "new_fit", f"新成果可能满足需求「{need.name}」",
                f"「{ach.name}」达到匹配阈值（置信度 {fit.confidence:.0%}）。",
                f"/needs/{need.id}/matches/{ach.id}", dedupe=f"fit:{need.id}:{ach.id}"))
        return written

    def new_need(self, need: Need) -> int:
        if not need.enterprise_id:
            return 0
        ent = self.store.get_props(NodeLabel.ENTERPRISE, need.enterprise_id) or {}
        brokers = self._users(_BROKER_USERS_OF_ENTERPRISE, ent=need.enterprise_id)
        return len(self.notify(brokers, "new_need", f"{ent.get('name', '所服务的企业')}发布了新需求",
                               f"「{need.name}」", f"/needs/{need.id}", dedupe=f"need:{need.id}"))

    def docking_stage(self, docking: Docking, need_name: str, achievement_name: str) -> int:
        stage = STAGE_ZH[docking.stage]
        return len(self.notify(self.people_of(docking.enterprise_id), "docking_stage", f"对接进展：{stage}",
                               f"需求「{need_name}」与成果「{achievement_name}」的对接：{stage}。",
                               f"/dockings/{docking.id}", dedupe=f"dock:{docking.id}:{docking.stage.value}"))

    def new_achievements(self, achievements: Sequence[Achievement], engine: MatchEngine,
                         segments_of: dict[str, set[str]]) -> int:
        """Saved searches that now find one of ``achievements``, and segment subscriptions they land in."""
        if not achievements:
            return 0
        written = 0
        new_ids = {a.id: a for a in achievements}
        for sub in self._subscriptions("search"):
            if engine is None or not sub.query:
                continue
            from api.services.matching import match_text

            result = match_text(engine, sub.query, k=20)
            hits = [m for m in result.matches if m.candidate_id in new_ids and m.confidence >= result.threshold]
            user = self.accounts.get_user(sub.user_id)
            for m in hits:
                if user is not None and user.active:
                    written += len(self.notify([user], "saved_search", f"保存的搜索「{sub.query[:30]}」有新成果",
                                               f"「{m.name}」", f"/achievements/{m.candidate_id}",
                                               dedupe=f"search:{sub.id}:{m.candidate_id}"))
        for sub in self._subscriptions("segment"):
            user = self.accounts.get_user(sub.user_id)
            if user is None or not user.active:
                continue
            for ach in achievements:
                if sub.segment_id in segments_of.get(ach.id, set()):
                    written += len(self.notify([user], "segment", "订阅的产业链环节有新成果", f"「{ach.name}」",
                                               f"/achievements/{ach.id}", dedupe=f"seg:{sub.id}:{ach.id}"))
        return written

    def new_need_in_segments(self, need: Need, segment_ids: set[str]) -> int:
        """A need placed on subscribed segments, to the subscribers who may read it in full (never others)."""
        written = 0
        for sub in self._subscriptions("segment"):
            if sub.segment_id not in segment_ids:
                continue
            user = self.accounts.get_user(sub.user_id)
            if user is None or not user.active:
                continue
            if need_visibility(self.accounts.principal(user), need) != Visibility.FULL:
                continue
            written += len(self.notify([user], "segment", "订阅的产业链环节有新需求", f"「{need.name}」",
                                       f"/needs/{need.id}", dedupe=f"seg:{sub.id}:{need.id}"))
        return written

    def _subscriptions(self, kind: str) -> list[Subscription]:
        out = []
        for r in self.store.read(_SUBSCRIPTIONS, kind=kind):
            sub = Subscription.from_props(r["p"])
            if isinstance(sub, Subscription):
                out.append(sub)
        return out

    # -- the inbox ---------------------------------------------------------------------------------
    def inbox(self, principal: Principal, unread_only: bool = False, skip: int = 0, limit: int = 50
              ) -> list[Notification]:
        rows = self.store.read(_INBOX, uid=principal.user_id, unread=unread_only, skip=skip, limit=limit)
        return [n for n in (Notification.from_props(r["p"]) for r in rows) if isinstance(n, Notification)]

    def unread(self, principal: Principal) -> int:
        return int(self.store.read(_UNREAD, uid=principal.user_id)[0]["c"])

    def mark_read(self, principal: Principal, ids: Sequence[str] | None = None) -> int:
        rows = self.store.write(_MARK_READ, uid=principal.user_id, ids=list(ids) if ids is not None else None)
        return int(rows[0]["c"]) if rows else 0


def _key(dedupe: str, user_id: str) -> str:
    return hashlib.sha1(f"{dedupe}|{user_id}".encode()).hexdigest()


def deliver_outbox(store: GraphStore, sender: MessageSender, max_attempts: int = 5, limit: int = 500) -> dict[str, int]:
    """Send what is pending (and retry what failed, up to ``max_attempts``); returns counts by outcome."""
    counts = {"sent": 0, "failed": 0}
    for r in store.read(_PENDING, max=max_attempts, limit=limit):
        message = OutboxMessage.from_props(r["p"])
        assert isinstance(message, OutboxMessage)
        try:
            sender.send(message)
            message = message.model_copy(update={"status": "sent", "attempts": message.attempts + 1, "last_error": ""})
            counts["sent"] += 1
        except Exception as exc:  # an adapter's failure is recorded and retried, never lost
            message = message.model_copy(update={"status": "failed", "attempts": message.attempts + 1,
                                                 "last_error": str(exc)[:300]})
            counts["failed"] += 1
        store.update_node(message)
    return counts


