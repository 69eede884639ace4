"""Who is asking, and may they: API tokens → accounts → project roles.

Every request but ``/api/v1/health`` carries ``Authorization: Bearer <token>``, unless the server
was started with anonymous access (``--anonymous ROLE``), which gives requests without a token that
role in every project.  A project the caller has no role in does not exist for them (404, not 403),
so project names do not leak.  Tokens are never logged or echoed: errors name the token's id only.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from naiad.errors import AuthError, PermissionDeniedError, ProjectNotFound
from naiad.store.accounts import ROLES, Accounts, role_rank

_CACHE_SECONDS = 1.0  # a revoked token or a changed role reaches every server process within it


@dataclass(frozen=True)
class Principal:
    name: str
    admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    default_role: str | None = None  # anonymous access: this role everywhere
    anonymous: bool = False

    def rank_in(self, project: str) -> int:
        if self.admin:
            return role_rank("owner")
        return max(role_rank(self.roles.get(project)), role_rank(self.default_role))

    def role_in(self, project: str) -> str:
        """The principal's role in ``project`` by name: ``admin``, a project role, or ``none``."""
        if self.admin:
            return "admin"
        rank = self.rank_in(project)
        return ROLES[rank - 1] if rank else "none"

    def can_see(self, project: str) -> bool:
        return self.rank_in(project) > 0

    def require(self, project: str, role: str) -> None:
        """Raise unless the principal holds ``role`` (or more) in ``project``."""
        rank = self.rank_in(project)
        if rank >= role_rank(role):
            return
        if rank == 0:
            raise ProjectNotFound(f"project {project!r} does not exist or you have no role in it; "
                                  "ask its owner for access.")
        held = ROLES[rank - 1]
        raise PermissionDeniedError(f"{self.name} is a {held} of {project!r}; this needs {role} or above. "
                                    "Ask the project's owner for a higher role.")


class Authenticator:
    """Turns a bearer token into a :class:`Principal`, caching verified tokens for a few seconds
    (a revoked token stops working within ``_CACHE_SECONDS``)."""

    def __init__(self, accounts: Accounts | None, anonymous_role: str | None = None) -> None:
        if anonymous_role is not None and anonymous_role not in ROLES:
            raise ValueError(f"anonymous role {anonymous_role!r} is unknown; use one of {', '.join(ROLES)}")
        self.accounts = accounts
        self.anonymous_role = anonymous_role
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            if self.anonymous_role is not None:
                return Principal("anonymous", default_role=self.anonymous_role, anonymous=True)
            raise AuthError("this naiad server needs an API token: set NAIAD_API_TOKEN (the SDK sends it "
                            "as 'Authorization: Bearer <token>'); an admin makes one with `naiad token create`.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must read 'Bearer <token>'.")
        if self.accounts is None:
            raise AuthError("this server does not use tokens.")
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        account = self.accounts.verify(token)
        found = Principal(account.name, admin=account.admin, roles=self.accounts.roles(account.name),
                          default_role=self.anonymous_role)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + _CACHE_SECONDS, found)
        return found
