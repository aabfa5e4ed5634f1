"""Who is calling: roles, users and API keys kept in the graph (salted scrypt hashes only), the signed
session cookie of the web pages, and the FastAPI dependencies that demand a role.

An API key looks like ``tm_<key id>_<secret>``; the key id is stored in clear to find the record, the whole
key only as a scrypt hash with a per-key salt. Verified keys are remembered for a short while so that a
busy client does not pay the deliberately slow hash on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.errors import ApiError
from graph.model import ApiKey, NodeLabel, RelType, User
from graph.store import GraphStore


class Role(StrEnum):
    ENTERPRISE = "enterprise"  # its own needs and their matches
    BROKER = "broker"  # searches and curates matches for the enterprises assigned to it
    BUREAU = "bureau"  # everything, plus challenges and statistics
    ADMIN = "admin"  # keys and users


ROLE_NAMES_ZH = {Role.ENTERPRISE: "企业", Role.BROKER: "技术经纪人", Role.BUREAU: "科技局", Role.ADMIN: "管理员"}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SESSION_COOKIE = "tm_session"
SESSION_MAX_AGE_S = 12 * 3600
_KEY_CACHE_TTL_S = 60.0


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            secret.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: str
    name: str
    role: Role
    enterprise_id: str | None = None
    broker_id: str | None = None
    assigned: frozenset[str] = field(default_factory=frozenset)  # enterprise ids a broker looks after

    def may_act_for(self, enterprise_id: str | None) -> bool:
        """Whether this caller may act for (and read everything of) this enterprise."""
        if enterprise_id is None:
            return self.role == Role.BUREAU
        if self.role == Role.BUREAU:
            return True
        if self.role == Role.ENTERPRISE:
            return self.enterprise_id == enterprise_id
        if self.role == Role.BROKER:
            return enterprise_id in self.assigned
        return False


_ASSIGNED = (
    f"MATCH (b:{NodeLabel.BROKER.value} {{id: $id}})-[:{RelType.ASSIGNED_TO.value}]->"
    f"(e:{NodeLabel.ENTERPRISE.value}) RETURN e.id AS id"
)
_USER_BY_NAME = f"MATCH (u:{NodeLabel.USER.value} {{name: $name}}) RETURN properties(u) AS p LIMIT 1"
_KEYS_OF_USER = (
    f"MATCH (k:{NodeLabel.API_KEY.value} {{user_id: $uid}}) RETURN k.id AS id, k.created_at AS created_at, "
    "k.revoked AS revoked ORDER BY k.id"
)


class AccountService:
    """Users and API keys in the graph."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    # -- users -----------------------------------------------------------------------------------
    def create_user(
        self,
        name: str,
        role: Role,
        password: str | None = None,
        enterprise_id: str | None = None,
        broker_id: str | None = None,
        full_name: str = "",
    ) -> User:
        if role == Role.ENTERPRISE and not enterprise_id:
            raise ApiError(422, "an enterprise user needs enterprise_id", "enterprise_id")
        if role == Role.BROKER and not broker_id:
            raise ApiError(422, "a broker user needs broker_id", "broker_id")
        if enterprise_id and self.store.get_props(NodeLabel.ENTERPRISE, enterprise_id) is None:
            raise ApiError(422, f"no enterprise with id {enterprise_id!r}", "enterprise_id")
        if broker_id and self.store.get_props(NodeLabel.BROKER, broker_id) is None:
            raise ApiError(422, f"no broker with id {broker_id!r}", "broker_id")
        if self.user_by_name(name) is not None:
            raise ApiError(409, f"user name {name!r} is taken", "name")
        user = User(
            id=f"user-{uuid.uuid4().hex[:12]}",
            name=name,
            full_name=full_name,
            role=role.value,
            password_hash=hash_secret(password) if password else "",
            enterprise_id=enterprise_id if role == Role.ENTERPRISE else None,
            broker_id=broker_id if role == Role.BROKER else None,
        )
        self.store.create_node(user)
        return user

    def user_by_name(self, name: str) -> User | None:
        rows = self.store.read(_USER_BY_NAME, name=name)
        return User.from_props(rows[0]["p"]) if rows else None  # type: ignore[return-value]

    def get_user(self, user_id: str) -> User | None:
        return self.store.get_node(NodeLabel.USER, user_id)  # type: ignore[return-value]

    def list_users(self) -> list[User]:
        return [User.from_props(p) for p in self.store.all_props(NodeLabel.USER)]  # type: ignore[misc]

    def set_active(self, user_id: str, active: bool) -> User:
        user = self.store.require_node(NodeLabel.USER, user_id)
        updated = user.model_copy(update={"active": active})
        self.store.update_node(updated)
        self._forget_all()
        return updated  # type: ignore[return-value]

    def principal(self, user: User) -> Principal:
        role = Role(user.role)
        assigned: frozenset[str] = frozenset()
        if role == Role.BROKER and user.broker_id:
            assigned = frozenset(r["id"] for r in self.store.read(_ASSIGNED, id=user.broker_id))
        return Principal(
            user_id=user.id, name=user.name, role=role, enterprise_id=user.enterprise_id,
            broker_id=user.broker_id, assigned=assigned,
        )

    def login(self, name: str, password: str) -> User | None:
        user = self.user_by_name(name)
        if user is None or not user.active or not user.password_hash:
            # spend the same time as a real check so a wrong name is not told apart from a wrong password
            verify_secret(password, hash_secret("timing"))
            return None
        return user if verify_secret(password, user.password_hash) else None

    # -- keys ------------------------------------------------------------------------------------
    def issue_key(self, user_id: str) -> tuple[str, ApiKey]:
        """A new key for a user; the clear key is returned once and never stored."""
        self.store.require_node(NodeLabel.USER, user_id)
        key_id = secrets.token_hex(6)
        clear = f"tm_{key_id}_{secrets.token_urlsafe(24)}"
        record = ApiKey(id=key_id, user_id=user_id, key_hash=hash_secret(clear), created_at=datetime.now(UTC))
        self.store.create_node(record)
        return clear, record

    def list_keys(self, user_id: str) -> list[dict[str, object]]:
        return self.store.read(_KEYS_OF_USER, uid=user_id)

    def revoke_key(self, key_id: str) -> None:
        record = self.store.require_node(NodeLabel.API_KEY, key_id)
        self.store.update_node(record.model_copy(update={"revoked": True}))
        self._forget_all()

    def user_for_key(self, clear: str) -> User | None:
        parts = clear.split("_", 2)
        if len(parts) != 3 or parts[0] != "tm" or not parts[1] or len(clear) > 200:
            return None
        fingerprint = hashlib.sha256(clear.encode("utf-8")).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(fingerprint)
        if hit and now - hit[0] < _KEY_CACHE_TTL_S:
            user = self.get_user(hit[1])
            return user if user and user.active else None
        record = self.store.get_node(NodeLabel.API_KEY, parts[1])
        if not isinstance(record, ApiKey) or record.revoked or not verify_secret(clear, record.key_hash):
            return None
        user = self.get_user(record.user_id)
        if user is None or not user.active:
            return None
        with self._lock:
            self._cache[fingerprint] = (now, user.id)
        return user

    def _forget_all(self) -> None:
        with self._lock:
            self._cache.clear()


class LoginThrottle:
    """Refuse a login name for a while after repeated wrong passwords (guessing is slowed down, and the
    slow hash is not spent on a name under attack)."""

    def __init__(self, max_failures: int = 5, window_s: float = 900.0) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, name: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(name, []) if now - t < self.window_s]
            self._failures[name] = recent
            return len(recent) >= self.max_failures

    def failed(self, name: str) -> None:
        with self._lock:
            self._failures.setdefault(name, []).append(time.monotonic())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


class ApiKeyRateLimiter:
    """A token bucket per API key: on average ``per_minute`` requests a minute, bursts of up to that many.
    A script that loops on the matching endpoints (each a few hundred ms of CPU) must not starve the
    workspace's people; ``per_minute`` 0 turns the limit off."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, last refill, monotonic)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """Spend one request of ``key_id``'s allowance: 0 when allowed, else the seconds until it would be."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


# --- sessions for the web pages -------------------------------------------------------------------

class SessionSigner:
    """Signs the session cookie (user id) and the CSRF token of web forms."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="techmatch-session")
        self._secret = secret.encode("utf-8")

    def dumps(self, user_id: str) -> str:
        return self._serializer.dumps({"uid": user_id, "n": secrets.token_hex(8)})

    def loads(self, cookie: str) -> str | None:
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        return data.get("uid") if isinstance(data, dict) else None

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._secret, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token and hmac.compare_digest(self.csrf_token(cookie), token))


# --- dependencies -------------------------------------------------------------------------------

def _accounts(request: Request) -> AccountService:
    return request.app.state.accounts


def principal_from_request(request: Request) -> Principal | None:
    """The caller from an API key (``X-API-Key`` or ``Authorization: Bearer``) or the session cookie."""
    accounts = _accounts(request)
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if key:
        user = accounts.user_for_key(key)
        if user is None:
            raise ApiError(401, "unknown or revoked API key", "X-API-Key")
        wait = request.app.state.key_limiter.take(key.split("_", 2)[1])
        if wait > 0:
            raise ApiError(429, f"too many requests with this API key: "
                           f"{request.app.state.key_limiter.per_minute} a minute; retry in {math.ceil(wait)} s",
                           "X-API-Key", headers={"Retry-After": str(math.ceil(wait))})
        return accounts.principal(user)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.url.path.startswith("/api") and request.method not in ("GET", "HEAD"):
        # the session cookie reads the API from the workspace's pages; changes need a key (no CSRF surface)
        cookie = None
    if cookie:
        user_id = request.app.state.signer.loads(cookie)
        user = accounts.get_user(user_id) if user_id else None
        if user is not None and user.active:
            return accounts.principal(user)
    return None


def current_principal(request: Request) -> Principal:
    """Dependency: any authenticated caller, else 401."""
    principal = principal_from_request(request)
    if principal is None:
        raise ApiError(401, "an API key (header X-API-Key) or a login session is required", "X-API-Key")
    request.state.principal = principal
    return principal


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller must hold one of ``roles``, else 403."""
    allowed = frozenset(roles)

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise ApiError(403, f"role {principal.role.value!r} may not do this (needs one of: {names})")
        return principal

    dependency.roles = allowed  # type: ignore[attr-defined]  # read by the access tests and the docs page
    return dependency


ANY_ROLE = require_roles(*Role)
WORKSPACE_ROLES = require_roles(Role.ENTERPRISE, Role.BROKER, Role.BUREAU)
