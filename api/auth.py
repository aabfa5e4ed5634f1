"""Who is calling: roles, users and API keys kept in the graph (salted scrypt hashes only), web sessions
kept server-side, login throttling, one request rate limit, and the FastAPI dependencies that demand a role.

An API key looks like ``tm_<key id>_<secret>``; the key id is stored in clear to find the record, the whole
key only as a scrypt hash with a per-key salt. Verified keys are remembered for a short while so that a
busy client does not pay the deliberately slow hash on every request. A login costs one scrypt run whether
the name exists or not, and runs one at a time, so that a flood of logins cannot starve the API.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import limits
import limits.storage
import limits.strategies
from fastapi import Depends, Request

from api.errors import ApiError
from graph.model import ApiKey, NodeLabel, RelType, Session, User
from graph.store import GraphStore


class Role(StrEnum):
    ENTERPRISE = "enterprise"  # its own needs and their matches
    BROKER = "broker"  # searches and curates matches for the enterprises assigned to it
    BUREAU = "bureau"  # everything, plus challenges and statistics
    ADMIN = "admin"  # keys and users


ROLE_NAMES_ZH = {Role.ENTERPRISE: "企业", Role.BROKER: "技术经纪人", Role.BUREAU: "科技局", Role.ADMIN: "管理员"}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SESSION_COOKIE = "tm_session"
PRELOGIN_COOKIE = "tm_prelogin"  # carries the login form's CSRF token before there is a session
_KEY_CACHE_TTL_S = 60.0
#: one login's scrypt at a time per worker; a login waits at most this long for its turn, then gets a 503
_LOGIN_WAIT_S = 5.0


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


_LOGIN_SLOT = threading.BoundedSemaphore(1)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to check unknown names against, so that they cost what a known name costs."""
    return hash_secret(secrets.token_urlsafe(16))


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
            raise ApiError(422, "企业用户须填写所属企业（enterprise_id）", "enterprise_id")
        if role == Role.BROKER and not broker_id:
            raise ApiError(422, "经纪人用户须填写经纪人 id（broker_id）", "broker_id")
        if enterprise_id and self.store.get_props(NodeLabel.ENTERPRISE, enterprise_id) is None:
            raise ApiError(422, f"没有 id 为 {enterprise_id!r} 的企业", "enterprise_id")
        if broker_id and self.store.get_props(NodeLabel.BROKER, broker_id) is None:
            raise ApiError(422, f"没有 id 为 {broker_id!r} 的技术经纪人", "broker_id")
        if self.user_by_name(name) is not None:
            raise ApiError(409, f"用户名 {name!r} 已被占用", "name")
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
        return User.from_props(rows[0]["p"]) if rows else None

    def get_user(self, user_id: str) -> User | None:
        return self.store.get(User, user_id)

    def list_users(self) -> list[User]:
        return [User.from_props(p) for p in self.store.all_props(NodeLabel.USER)]

    def set_active(self, user_id: str, active: bool) -> User:
        user = self.store.require(User, user_id)
        updated = user.model_copy(update={"active": active})
        self.store.update_node(updated)
        self._forget_all()
        return updated

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
        """The user when name and password fit, else None; the same work either way (one scrypt run)."""
        user = self.user_by_name(name)
        usable = user is not None and user.active and bool(user.password_hash)
        stored = user.password_hash if usable and user is not None else _dummy_hash()
        if not _LOGIN_SLOT.acquire(timeout=_LOGIN_WAIT_S):
            raise ApiError(503, "登录请求过多，请稍后再试", error="busy", headers={"Retry-After": "5"})
        try:
            ok = verify_secret(password, stored)
        finally:
            _LOGIN_SLOT.release()
        return user if ok and usable else None

    def set_password(self, user_id: str, password: str, sessions: SessionStore | None = None) -> User:
        """Set a user's password and end all their web sessions."""
        user = self.store.require(User, user_id)
        updated = user.model_copy(update={"password_hash": hash_secret(password)})
        self.store.update_node(updated)
        if sessions is not None:
            sessions.close_all(user_id)
        return updated

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


class LoginGuard:
    """Refuses login attempts before any password is checked: a client over its rate of attempts (whatever
    the names it tries), and an account locked out *for that client* after repeated wrong passwords. Keyed by
    account and client together, so that nobody can lock the bureau out by failing from their own machine.
    Counters live in the `limits` library's storage (memory here, redis to share them between workers)."""

    def __init__(self, attempts_per_minute: int, failures: int, lockout_minutes: int,
                 storage_uri: str = "memory://") -> None:
        self.storage = limits.storage.storage_from_string(storage_uri)
        self.limiter = limits.strategies.MovingWindowRateLimiter(self.storage)
        self.attempts = limits.RateLimitItemPerMinute(attempts_per_minute)
        self.failures = limits.parse(f"{failures}/{lockout_minutes} minutes")
        self.lockout_minutes = lockout_minutes

    def admit(self, client: str, name: str) -> str | None:
        """None when this attempt may go ahead (it is counted); else why not, in Chinese."""
        if not self.limiter.test(self.failures, "login-failures", name, client):
            return f"该账号在此设备上密码错误次数过多，请 {self.lockout_minutes} 分钟后再试"
        if not self.limiter.hit(self.attempts, "login-attempts", client):
            return "登录尝试过于频繁，请稍后再试"
        return None

    def failed(self, client: str, name: str) -> None:
        self.limiter.hit(self.failures, "login-failures", name, client)

    def succeeded(self, client: str, name: str) -> None:
        self.limiter.clear(self.failures, "login-failures", name, client)


class RequestLimiter:
    """One rate limit per caller, the same for API keys and web sessions: on average ``per_minute`` requests
    a minute in a moving window. A script that loops on the matching endpoints (each a few hundred ms of
    CPU) must not starve the workspace's people; ``per_minute`` 0 turns the limit off."""

    def __init__(self, per_minute: int, storage_uri: str = "memory://") -> None:
        self.per_minute = per_minute
        self.storage = limits.storage.storage_from_string(storage_uri)
        self.limiter = limits.strategies.MovingWindowRateLimiter(self.storage)
        self.item = limits.RateLimitItemPerMinute(max(per_minute, 1))

    def take(self, caller: str) -> float:
        """Spend one request of ``caller``'s allowance: 0 when allowed, else the seconds until it would be."""
        if self.per_minute <= 0:
            return 0.0
        if self.limiter.hit(self.item, "requests", caller):
            return 0.0
        reset_at = self.limiter.get_window_stats(self.item, "requests", caller).reset_time
        return max(0.001, reset_at - time.time())


# --- sessions for the web pages -------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_SESSION_USER = (
    f"MATCH (s:{NodeLabel.SESSION.value} {{id: $id}}) MATCH (u:{NodeLabel.USER.value} {{id: s.user_id}}) "
    "RETURN properties(u) AS u, s.expires_at AS expires_at"
)
_DROP_SESSION = f"MATCH (s:{NodeLabel.SESSION.value} {{id: $id}}) DELETE s"
_DROP_USER_SESSIONS = f"MATCH (s:{NodeLabel.SESSION.value} {{user_id: $uid}}) DELETE s"
_DROP_EXPIRED = f"MATCH (s:{NodeLabel.SESSION.value}) WHERE s.expires_at < $now DELETE s"


class SessionStore:
    """Web login sessions kept in the graph, so that logging out, a password change or a disabled account
    ends them at once, on every worker. The cookie carries a random token; the graph only its hash."""

    def __init__(self, store: GraphStore, hours: float = 12.0) -> None:
        self.store, self.hours = store, hours

    def open(self, user_id: str) -> str:
        """A new session for ``user_id``; returns the cookie's token."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self.store.write(_DROP_EXPIRED, now=now.isoformat())
        self.store.create_node(Session(id=_token_hash(token), user_id=user_id, created_at=now,
                                       expires_at=now + timedelta(hours=self.hours)))
        return token

    def user(self, token: str) -> User | None:
        """The active user of a live session, else None (an expired session is dropped)."""
        if not token or len(token) > 200:
            return None
        rows = self.store.read(_SESSION_USER, id=_token_hash(token))
        if not rows:
            return None
        expires = datetime.fromisoformat(str(rows[0]["expires_at"]))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if expires < datetime.now(UTC):
            self.close(token)
            return None
        user = User.from_props(rows[0]["u"])
        return user if isinstance(user, User) and user.active else None

    def close(self, token: str) -> None:
        self.store.write(_DROP_SESSION, id=_token_hash(token))

    def close_all(self, user_id: str) -> None:
        """End every session of a user (password changed, account disabled)."""
        self.store.write(_DROP_USER_SESSIONS, uid=user_id)


class FormSigner:
    """CSRF tokens of the web forms: an HMAC of the session token (or of the pre-login cookie)."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode("utf-8")

    def csrf_token(self, cookie: str) -> str:
        return hmac.new(self._secret, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie and token and hmac.compare_digest(self.csrf_token(cookie), token))


# --- dependencies -------------------------------------------------------------------------------

def _accounts(request: Request) -> AccountService:
    return request.app.state.accounts


def client_address(request: Request) -> str:
    """The caller's address (uvicorn puts a trusted proxy's X-Forwarded-For here when told to)."""
    return request.client.host if request.client else "unknown"


def principal_from_request(request: Request) -> Principal | None:
    """The caller from an API key (``X-API-Key`` or ``Authorization: Bearer``) or the session cookie, with the
    caller's request rate checked (one limit for keys and sessions)."""
    accounts = _accounts(request)
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    user: User | None = None
    if key:
        user = accounts.user_for_key(key)
        if user is None:
            raise ApiError(401, "API 密钥无效或已被吊销", "X-API-Key")
        caller = "key:" + key.split("_", 2)[1]
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token and request.url.path.startswith("/api") and request.method not in ("GET", "HEAD"):
            # the session cookie reads the API from the workspace's pages; changes need a key (no CSRF surface)
            token = None
        if token:
            user = request.app.state.sessions.user(token)
        if user is None:
            return None
        caller = "user:" + user.id
    limiter: RequestLimiter = request.app.state.request_limiter
    wait = limiter.take(caller)
    if wait > 0:
        raise ApiError(429, f"请求过于频繁（每分钟至多 {limiter.per_minute} 次），请 {math.ceil(wait)} 秒后再试",
                       "X-API-Key", headers={"Retry-After": str(math.ceil(wait))})
    return accounts.principal(user)


def current_principal(request: Request) -> Principal:
    """Dependency: any authenticated caller, else 401."""
    principal = principal_from_request(request)
    if principal is None:
        raise ApiError(401, "需要登录，或在请求头 X-API-Key 中提供 API 密钥", "X-API-Key")
    request.state.principal = principal
    return principal


class RoleCheck:
    """A dependency: the caller's principal when they hold one of :attr:`roles` (read by the access tests and the
    docs page), else 403."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(self, principal: Principal = Depends(current_principal)) -> Principal:  # on the loop: no I/O
        if principal.role not in self.roles:
            names = "、".join(ROLE_NAMES_ZH[r] for r in sorted(self.roles))
            raise ApiError(403, f"{ROLE_NAMES_ZH[principal.role]}账号无权进行此操作（需要：{names}）")
        return principal


def require_roles(*roles: Role) -> RoleCheck:
    """Dependency factory: the caller must hold one of ``roles``, else 403."""
    return RoleCheck(frozenset(roles))


ANY_ROLE = require_roles(*Role)
WORKSPACE_ROLES = require_roles(Role.ENTERPRISE, Role.BROKER, Role.BUREAU)
