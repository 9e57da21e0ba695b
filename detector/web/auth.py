"""Who may use the reviewer UI: users (password login, signed session cookie), API tokens, roles and CSRF.

Configured by environment variables (read by ``detector web``, documented in docs/review.md):

``DETECTOR_WEB_USERS``
    Comma-separated ``name:role:hash``; role ``reviewer`` or ``admin``; hash from ``detector web --hash-password``
    (``scrypt$<salt hex>$<key hex>``, or ``sha256$<hex>`` for a random, high-entropy password only).
``DETECTOR_WEB_TOKENS``
    Comma-separated ``name:role:<sha256 hex of the token>`` for the JSON API (``Authorization: Bearer <token>``).
``DETECTOR_WEB_SECRET``
    Signs session cookies; generated at start (sessions then end with the process) when unset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

REVIEWER, ADMIN = "reviewer", "admin"
ROLES = (REVIEWER, ADMIN)
SESSION_SECONDS = 12 * 3600
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


@dataclass(frozen=True, slots=True)
class Session:
    """A signed cookie's content: the user (empty before login) and the session's CSRF token."""

    user: str
    csrf: str
    expires_at: float


class AuthConfig:
    """Users with password hashes, API tokens (by SHA-256), and the session signing secret.

    Examples
    --------
    >>> auth = AuthConfig.from_strings(f"ann:admin:{hash_password('pw')}", "", secret="s")
    >>> auth.login("ann", "pw"), auth.login("ann", "nope")
    (User(name='ann', role='admin'), None)
    >>> auth.read_session(auth.sign_session(Session("ann", "t", time.time() + 60))).user
    'ann'
    >>> auth.read_session("forged.cookie") is None
    True
    """

    def __init__(self, users: dict[str, tuple[str, str]], tokens: dict[str, User], secret: str):
        self.users = users  # name -> (role, password hash)
        self.tokens = tokens  # sha256 hex of the token -> user
        self.secret = secret.encode()

    @classmethod
    def from_strings(cls, users: str, tokens: str, secret: str) -> AuthConfig:
        parsed_users = {name: (role, digest) for name, role, digest in _entries(users, "DETECTOR_WEB_USERS")}
        parsed_tokens = {d.lower(): User(name, role) for name, role, d in _entries(tokens, "DETECTOR_WEB_TOKENS")}
        return cls(parsed_users, parsed_tokens, secret)

    def add_user(self, name: str, role: str, password: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        self.users[name] = (role, hash_password(password))

    def user(self, name: str) -> User | None:
        entry = self.users.get(name)
        return User(name, entry[0]) if entry else None

    def login(self, name: str, password: str) -> User | None:
        entry = self.users.get(name)
        # Verify against a dummy hash for unknown names too, so timing does not reveal which names exist.
        ok = verify_password(password, entry[1] if entry else _DUMMY_HASH)
        return User(name, entry[0]) if entry and ok else None

    def token_user(self, token: str) -> User | None:
        return self.tokens.get(hashlib.sha256(token.encode()).hexdigest())

    def sign_session(self, session: Session) -> str:
        payload = base64.urlsafe_b64encode(
            orjson.dumps({"u": session.user, "c": session.csrf, "e": session.expires_at})
        ).decode()
        return f"{payload}.{self._mac(payload)}"

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if data["e"] < time.time():
            return None
        return Session(data["u"], data["c"], data["e"])

    def new_session(self, user: str = "") -> Session:
        return Session(user, secrets.token_urlsafe(24), time.time() + SESSION_SECONDS)

    def _mac(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str) -> bool:
    kind, _, rest = stored.partition("$")
    if kind == "scrypt":
        salt, _, key = rest.partition("$")
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT).hex()
        return hmac.compare_digest(computed, key)
    if kind == "sha256":
        return hmac.compare_digest(hashlib.sha256(password.encode()).hexdigest(), rest.lower())
    return False


def token_digest(token: str) -> str:
    """What ``DETECTOR_WEB_TOKENS`` holds for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _entries(spec: str, variable: str) -> list[tuple[str, str, str]]:
    out = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep1, rest = item.partition(":")
        role, sep2, digest = rest.partition(":")
        if not (sep1 and sep2 and name and digest) or role not in ROLES:
            raise ValueError(f"{variable}: expected name:reviewer|admin:hash, got {item.split(':')[0]!r}...")
        out.append((name, role, digest))
    return out


_DUMMY_HASH = hash_password(secrets.token_hex(8))
