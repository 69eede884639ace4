"""Accounts, API tokens and project roles of a team store (SQLite or PostgreSQL catalog).

A token reads ``naiad_<id>_<secret>``: the id finds the row, the secret is checked against the
SHA-256 kept there (secrets are 256 random bits, so a fast hash is enough and nothing reversible is
stored).  The full token is shown once, when it is made.

Roles, per project, in increasing power: ``viewer`` reads; ``contributor`` also writes runs;
``maintainer`` also manages the project's models and settings; ``owner`` also grants roles.  An
``admin`` account may do everything everywhere, including managing accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from naiad.errors import AuthError, ConfigError, NotFoundError
from naiad.store.sql import SqlStore

ROLES = ("viewer", "contributor", "maintainer", "owner")
KINDS = ("user", "service")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")
_TOKEN = re.compile(r"naiad_([a-z0-9]{12})_([A-Za-z0-9_-]{20,100})")


def role_rank(role: str | None) -> int:
    """0 for no role, then 1 (viewer) … 4 (owner)."""
    return ROLES.index(role) + 1 if role in ROLES else 0


@dataclass(frozen=True)
class Account:
    name: str
    kind: str
    admin: bool
    created: float


@dataclass(frozen=True)
class TokenInfo:
    id: str
    account: str
    label: str
    created: float
    expires: float | None
    revoked: float | None
    last_used: float | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a valid account name: use letters, digits and . _ @ - "
                          "(at most 100 characters, starting with a letter or digit).")
    return name


class Accounts:
    """Account management over a store's catalog."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ accounts
    def ensure_account(self, name: str, *, kind: str = "user", admin: bool | None = None) -> Account:
        _check_name(name)
        if kind not in KINDS:
            raise ConfigError(f"account kind {kind!r} is unknown; use one of {', '.join(KINDS)}.")
        with self.store._tx() as conn:
            conn.execute("INSERT INTO accounts(name, kind, admin, created) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT DO NOTHING", (name, kind, int(bool(admin)), time.time()))
            if admin is not None:
                conn.execute("UPDATE accounts SET admin=? WHERE name=?", (int(admin), name))
        return self.account(name)

    def account(self, name: str) -> Account:
        row = self.store.conn().execute("SELECT name, kind, admin, created FROM accounts WHERE name=?",
                                        (name,)).fetchone()
        if row is None:
            raise NotFoundError(f"no account {name!r}; make one with `naiad token create --user {name}`.")
        return Account(row[0], row[1], bool(row[2]), row[3])

    def list_accounts(self) -> list[Account]:
        rows = self.store.conn().execute(
            "SELECT name, kind, admin, created FROM accounts ORDER BY name").fetchall()
        return [Account(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def has_accounts(self) -> bool:
        return self.store.conn().execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None

    # ------------------------------------------------------------------ roles
    def grant(self, account: str, project: str, role: str) -> None:
        if role not in ROLES:
            raise ConfigError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}.")
        self.account(account)
        with self.store._tx() as conn:
            conn.execute("INSERT INTO project_roles(account, project, role) VALUES (?, ?, ?) "
                         "ON CONFLICT (account, project) DO UPDATE SET role=excluded.role",
                         (account, project, role))

    def revoke_role(self, account: str, project: str) -> None:
        with self.store._tx() as conn:
            conn.execute("DELETE FROM project_roles WHERE account=? AND project=?", (account, project))

    def roles(self, account: str) -> dict[str, str]:
        """Project name → role of ``account``."""
        return dict(self.store.conn().execute(
            "SELECT project, role FROM project_roles WHERE account=?", (account,)).fetchall())

    def members(self, project: str) -> list[tuple[str, str]]:
        """(account, role) of every account with a role in ``project``, by name."""
        return [(str(a), str(r)) for a, r in self.store.conn().execute(
            "SELECT account, role FROM project_roles WHERE project=? ORDER BY account", (project,)).fetchall()]

    # ------------------------------------------------------------------ tokens
    def create_token(self, account: str, *, label: str = "", expires_in: float | None = None) -> str:
        """A new token for ``account``; the returned string is the only copy of its secret."""
        self.account(account)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        with self.store._tx() as conn:
            conn.execute("INSERT INTO tokens(id, account, secret_hash, label, created, expires) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (token_id, account, _hash(secret), label,
                          now, None if expires_in is None else now + expires_in))
        return f"naiad_{token_id}_{secret}"

    def verify(self, token: str) -> Account:
        """The account a token belongs to; AuthError (never naming the token) when it does not pass."""
        match = _TOKEN.fullmatch(token.strip())
        if match is None:
            raise AuthError("the API token is malformed; tokens look like naiad_<id>_<secret> "
                            "(make one with `naiad token create`).")
        token_id, secret = match[1], match[2]
        row = self.store.conn().execute(
            "SELECT account, secret_hash, expires, revoked, last_used FROM tokens WHERE id=?",
            (token_id,)).fetchone()
        if row is None or not hmac.compare_digest(row[1], _hash(secret)):
            raise AuthError(f"API token {token_id} is not valid; ask an admin for a new one.")
        now = time.time()
        if row[3] is not None:
            raise AuthError(f"API token {token_id} was revoked; ask an admin for a new one.")
        if row[2] is not None and row[2] < now:
            raise AuthError(f"API token {token_id} expired; ask an admin for a new one.")
        if row[4] is None or row[4] < now - 60:  # a write a minute at most, not one per request
            with self.store._tx() as conn:
                conn.execute("UPDATE tokens SET last_used=? WHERE id=?", (now, token_id))
        return self.account(row[0])

    def token_key(self, token_id: str) -> tuple[str, str]:
        """The account of a token and the key that signs what it was exchanged for (the neptune wire's
        access tokens): HMAC of the server's own secret (kept in the store, never sent) and the token's
        id, so no client can make one; AuthError once the token is revoked or expired."""
        owner = self.token_owner(token_id)
        key = hmac.new(self._server_secret().encode(), str(token_id).encode(), hashlib.sha256).hexdigest()
        return owner, key

    def token_owner(self, token_id: str) -> str:
        """The account of a token that is still valid; AuthError once it is revoked or expired."""
        row = self.store.conn().execute("SELECT account, expires, revoked FROM tokens WHERE id=?",
                                        (str(token_id)[:40],)).fetchone()
        if row is None:
            raise AuthError(f"API token {str(token_id)[:40]} is not valid; ask an admin for a new one.")
        if row[2] is not None:
            raise AuthError(f"API token {token_id} was revoked; ask an admin for a new one.")
        if row[1] is not None and row[1] < time.time():
            raise AuthError(f"API token {token_id} expired; ask an admin for a new one.")
        return str(row[0])

    def _server_secret(self) -> str:
        conn = self.store.conn()
        row = conn.execute("SELECT value FROM server_secrets WHERE name='token-signing'").fetchone()
        if row is None:
            with self.store._tx() as tx:  # the first process to need it makes it; every other one reads it
                tx.execute("INSERT INTO server_secrets(name, value) VALUES ('token-signing', ?) "
                           "ON CONFLICT DO NOTHING", (secrets.token_hex(32),))
            row = self.store.conn().execute("SELECT value FROM server_secrets WHERE name='token-signing'").fetchone()
        return str(row[0])

    def list_tokens(self, account: str | None = None) -> list[TokenInfo]:
        sql = "SELECT id, account, label, created, expires, revoked, last_used FROM tokens"
        params: tuple[str, ...] = ()
        if account is not None:
            sql += " WHERE account=?"
            params = (account,)
        return [TokenInfo(*r) for r in self.store.conn().execute(sql + " ORDER BY created", params).fetchall()]

    def revoke_token(self, token_id: str) -> None:
        with self.store._tx() as conn:
            found = conn.execute("SELECT 1 FROM tokens WHERE id=?", (token_id,)).fetchone()
            if found is None:
                raise NotFoundError(f"no token with id {token_id!r}; list them with `naiad token ls`.")
            conn.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL", (time.time(), token_id))
