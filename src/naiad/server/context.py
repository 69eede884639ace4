"""What every route group of ``/api/v1`` shares: the store, who is asking, and the access checks.

One :class:`Api` per app.  It holds no state beyond caches of immutable facts (which project a
container is in), so any number of server processes can serve one store.  Route modules
(:mod:`naiad.server.routes`) take it in their ``register(app, api)``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from naiad import errors as E
from naiad.store.accounts import role_rank
from naiad.store.base import Store
from naiad.store.sql import SqlStore

from .auth import Authenticator, Principal

API = "/api/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Api:
    """The store, the authenticator and the checks every route applies before it touches the store."""

    def __init__(self, store: Store, auth: Authenticator) -> None:
        self.store = store
        self.auth = auth
        self._release = getattr(store, "release", None)
        self._projects_of: dict[str, str] = {}
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ calling the store
    def who(self, request: Request) -> Principal:
        return self.auth.principal(request.headers.get("authorization"))

    def released(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            if self._release is not None:
                self._release()  # the worker thread's database connection goes back to the pool

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on a worker thread (the store blocks), its connection released after."""
        return await run_in_threadpool(self.released, fn, *args, **kwargs)

    # ------------------------------------------------------------------ names
    def canonical(self, project: str) -> str:
        try:
            return self.store.get_project(project).name
        except E.ProjectNotFound:
            return project

    def project_of(self, uuid: str) -> str:
        with self._cache_lock:
            found = self._projects_of.get(uuid)
        if found is None:
            found = self.store.get_container(uuid=uuid).project
            with self._cache_lock:
                self._projects_of[uuid] = found
        return found

    @staticmethod
    def actor_of(p: Principal, claimed: str) -> str:
        return (f"anonymous ({claimed})" if claimed else "anonymous") if p.anonymous else p.name

    @staticmethod
    def digest_of(digest: str) -> str:
        if not _HEX64.fullmatch(digest):
            raise E.RequestError(f"{digest[:80]!r} is not a blob hash (64 lowercase hex digits)")
        return digest

    @staticmethod
    def no_upload(upload_id: str) -> str:
        return (f"upload {upload_id[:80]!r} does not exist on this server: it was completed or aborted, or the id "
                "is not one begin_upload gave out. Begin a new upload.")

    # ------------------------------------------------------------------ access checks
    @staticmethod
    def unseen(what: str) -> E.ContainerNotFound:
        return E.ContainerNotFound(f"no run, model or version {what!r} you can see.")

    def require_container(self, principal: Principal, uuid: str, role: str) -> None:
        """``role`` in the project of container ``uuid``; one that is missing, or in a project the
        principal has no role in, is not found (the project is not named)."""
        try:
            project = self.project_of(uuid)
        except E.ContainerNotFound:
            if principal.admin:
                raise
            raise self.unseen(uuid) from None
        if not principal.can_see(project):
            raise self.unseen(uuid)
        principal.require(project, role)

    def require_existing(self, principal: Principal, uuid: str, role: str) -> None:
        """Like require_container, but a container that does not exist yet passes (it is being made)."""
        try:
            self.project_of(uuid)
        except E.ContainerNotFound:
            return
        self.require_container(principal, uuid, role)

    def require_short_id(self, p: Principal, short_id: str, role: str, missing: type[E.ContainerNotFound]) -> None:
        """``role`` in the project of ``short_id``; a missing one (or one the caller cannot see) is
        ``missing`` (ModelNotFound, ModelVersionNotFound), as the store itself would say."""
        try:
            info = self.discreet(p, lambda: self.store.get_container(short_id=short_id), short_id)
        except E.ContainerNotFound as exc:
            raise missing(str(exc)) from None
        if not p.can_see(info.project):
            raise missing(str(self.unseen(short_id)))
        p.require(info.project, role)

    def discreet(self, principal: Principal, fn: Callable[[], Any], what: str) -> Any:
        """``fn()``, with the store's not-found errors retold to non-admins: the store's own messages
        name its location and the other projects, which only admins may see."""
        try:
            return fn()
        except E.ProjectNotFound:
            if principal.admin:
                raise
            raise E.ProjectNotFound(f"project {what!r} does not exist or you have no role in it; "
                                    "ask its owner for access.") from None
        except E.ContainerNotFound:
            if principal.admin:
                raise
            raise self.unseen(what) from None

    @staticmethod
    def require_any(principal: Principal) -> None:
        if not (principal.admin or principal.default_role or principal.roles):
            raise E.PermissionDeniedError(f"{principal.name} has no role in any project.")

    @staticmethod
    def require_writer(principal: Principal) -> None:
        """Storing files is writing: it takes contributor (or more) in some project."""
        ranks = [role_rank(r) for r in (principal.default_role, *principal.roles.values())]
        if not (principal.admin or max(ranks) >= role_rank("contributor")):
            raise E.PermissionDeniedError(f"{principal.name} may only read (a viewer); uploading files needs "
                                          "contributor or above in a project. Ask a project's owner.")

    def require_hooks(self, p: Principal, project: str) -> None:
        if project == "*":
            if not p.admin:
                raise E.PermissionDeniedError(f"{p.name}: only an admin may subscribe to every project's events.")
            return
        p.require(self.canonical(project), "maintainer")

    def visible_blobs(self, principal: Principal, digests: list[str]) -> set[str]:
        """Those of ``digests`` the principal may read: referred to by a container of a project it can
        see (an admin sees every stored blob).  A blob no visible container refers to does not exist for
        the principal — not even its size or its presence."""
        if principal.admin or not isinstance(self.store, SqlStore):
            return set(digests)
        return {d for d, projects in self.store.blob_projects(digests).items()
                if any(principal.can_see(name) for name in projects)}

    def require_referable(self, principal: Principal, ops: list[Any]) -> None:
        """A write may refer to a blob only if the writer may read it, or sent its bytes, or no one refers to
        it yet (just uploaded): naming a hash is not a way into another project's files."""
        if principal.admin or not isinstance(self.store, SqlStore):
            return
        from naiad.store.sql.blobrefs import hashes_of

        wanted = sorted({h for op in ops for h in hashes_of(op)})
        if not wanted:
            return
        held = self.store.blob_projects(wanted)
        foreign = [h for h in wanted if held[h] and not any(principal.can_see(name) for name in held[h])]
        if foreign:
            mine = self.store.claimed(foreign, principal.name)
            missing = [h for h in foreign if h not in mine]
            if missing:
                raise E.NotFoundError(f"blob {missing[0]} is not stored on this server; upload the file first.")

    def require_blob(self, principal: Principal, digest: str) -> None:
        if digest not in self.visible_blobs(principal, [digest]):
            raise E.NotFoundError(f"blob {digest} is not stored on this server.")

    def require_upload(self, principal: Principal, upload_id: str) -> None:
        """The upload is the principal's (an admin may touch any): another account's upload, or one
        this server did not begin, does not exist for them."""
        if principal.admin or not isinstance(self.store, SqlStore):
            return
        if self.store.upload_owner(upload_id) != principal.name:
            raise E.NotFoundError(self.no_upload(upload_id))

    def began_upload(self, principal: Principal, upload_id: str) -> None:
        """Note whose the new upload is, and expire uploads abandoned longer than NAIAD_UPLOAD_TTL."""
        if not isinstance(self.store, SqlStore):
            return
        from naiad.config import SETTINGS

        for old in self.store.expired_uploads(time.time() - SETTINGS.upload_ttl.get()):
            try:
                self.store.blobs.abort_upload(old)
            except E.NaiadError:
                pass  # gone already (completed elsewhere, or its parts removed)
            self.store.forget_upload(old)
        self.store.note_upload(upload_id, principal.name)

    def ended_upload(self, upload_id: str) -> None:
        if isinstance(self.store, SqlStore):
            self.store.forget_upload(upload_id)

    @staticmethod
    def not_here(principal: Principal, message: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``; a NotFoundError from the blob store (its message names the server's folders)
        is retold to non-admins as ``message``."""
        try:
            return fn(*args)
        except E.NotFoundError:
            if principal.admin:
                raise
            raise E.NotFoundError(message) from None
