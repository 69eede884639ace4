"""Projects and containers (runs, models, model versions): finding, creating, numbering them."""

from __future__ import annotations

import re
import time
from typing import Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.errors import (
    ConfigError,
    ContainerNotFound,
    ModelKeyTakenError,
    ModelNotFound,
    ProjectNotFound,
)
from naiad.store.base import (
    MODEL,
    MODEL_VERSION,
    RUN,
    ContainerInfo,
    ProjectInfo,
)
from naiad.store.sql.base import Conn, SqlBase
from naiad.store.sql.outbox import enqueue


def project_key_candidates(name: str) -> list[str]:
    """Keys to try for a new project: ``defects`` → DEF, DEFE, DEFEC, …, DEF2, DEF3, …"""
    last = name.rsplit("/", 1)[-1]
    letters = re.sub(r"[^A-Za-z0-9]", "", last).upper() or "PRJ"
    if letters[0].isdigit():
        letters = "P" + letters
    base = letters[:3]
    out = [letters[:n] for n in range(3, min(len(letters), 10) + 1)] or [base]
    out += [f"{base}{i}" for i in range(2, 1000)]
    return out


def effective_state(state: str | None, ping: float | None, now: float | None = None) -> str | None:
    """A ``running`` run whose heartbeat stopped longer than ``NAIAD_CRASH_AFTER`` ago is crashed."""
    if state == "running" and ping is not None:
        now = time.time() if now is None else now
        if ping < now - SETTINGS.crash_after.get():
            return "crashed"
    return state


class Catalog(SqlBase):
    """Projects and containers."""

    def _project_row(self, conn: Conn, name: str) -> ProjectInfo | None:
        row = conn.execute("SELECT id, name, key, created FROM projects WHERE name=?", (name,)).fetchone()
        if row is None and "/" not in name:
            rows = conn.execute(  # "vision" finds "team/vision" (exact, case-sensitive suffix)
                "SELECT id, name, key, created FROM projects WHERE length(name) > length(?) "
                "AND substr(name, length(name) - length(?)) = '/' || ?", (name, name, name)).fetchall()
            if len(rows) == 1:
                row = rows[0]
        return ProjectInfo(*row) if row else None

    def get_project(self, name: str) -> ProjectInfo:
        found = self._project_row(self.conn(), name)
        if found is None:
            names = [p.name for p in self.list_projects()]
            hint = f" Projects in this store: {', '.join(names)}." if names else " The store has no projects yet."
            raise ProjectNotFound(
                f"project {name!r} does not exist in {self.location}.{hint} "
                "Create it by starting a run in it (naiad.init_run(project=...)).")
        return found

    def list_projects(self) -> list[ProjectInfo]:
        rows = self.conn().execute("SELECT id, name, key, created FROM projects ORDER BY name").fetchall()
        return [ProjectInfo(*r) for r in rows]

    def count_containers(self, project: str, kind: str) -> int:
        proj = self.get_project(project)
        row = self.conn().execute("SELECT count(*) FROM containers WHERE project_id=? AND kind=?",
                                  (proj.id, kind)).fetchone()
        return int(row[0])

    def get_or_create_project(self, name: str) -> ProjectInfo:
        conn = self.conn()
        found = self._project_row(conn, name)
        if found is not None:
            return found
        with self._tx() as conn:
            return self._project_in_tx(conn, name)

    def _project_in_tx(self, conn: Conn, name: str) -> ProjectInfo:
        found = self._project_row(conn, name)
        if found is not None:
            return found
        self._lock(conn, self.LOCK_PROJECTS, 0)
        found = self._project_row(conn, name)  # made by another process while we waited
        if found is not None:
            return found
        taken = {r[0] for r in conn.execute("SELECT key FROM projects")}
        key = next(k for k in project_key_candidates(name) if k not in taken)
        now = time.time()
        (pid,) = conn.execute("INSERT INTO projects(name, key, created) VALUES (?, ?, ?) RETURNING id",
                              (name, key, now)).fetchone()
        return ProjectInfo(int(pid), name, key, now)

    def _container_from_row(self, row: tuple[Any, ...], is_new: bool = False) -> ContainerInfo:
        uuid, short_id, kind, project, custom, created = row
        return ContainerInfo(uuid, short_id, kind, project, custom, created, is_new)

    _CONTAINER_SQL = ("SELECT c.uuid, c.short_id, c.kind, p.name, c.custom_run_id, c.created "
                      "FROM containers c JOIN projects p ON p.id = c.project_id ")

    def get_container(self, *, short_id: str | None = None, uuid: str | None = None,
                      project: str | None = None) -> ContainerInfo:
        conn = self.conn()
        if uuid is not None:
            row = conn.execute(self._CONTAINER_SQL + "WHERE c.uuid=? OR c.cid = "
                               "(SELECT cid FROM container_aliases WHERE uuid=?)", (uuid, uuid)).fetchone()
        else:
            row = conn.execute(self._CONTAINER_SQL + "WHERE c.short_id=?", (short_id,)).fetchone()
        if row is None:
            what = uuid or short_id
            raise ContainerNotFound(
                f"no run, model or version {what!r} in {self.location}. List runs with `naiad runs ls`"
                + (f" --project {project}" if project else "") + ".")
        info = self._container_from_row(row)
        if project is not None and info.project != project and info.project.rsplit("/", 1)[-1] != project:
            raise ContainerNotFound(f"{info.short_id} belongs to project {info.project!r}, not {project!r}.")
        return info

    def create_container(
        self, project: str, kind: str, uuid: str, *, custom_run_id: str | None = None,
        created: float | None = None, owner: str = "", key: str | None = None, parent: str | None = None,
    ) -> ContainerInfo:
        proj = self.get_or_create_project(project)
        with self._tx() as conn:
            info = self._create_in_tx(conn, proj, kind, uuid, custom_run_id, created, owner, key, parent)
        if kind == MODEL_VERSION and info.is_new:
            self._delivered(True)  # version_created
        return info

    def _model_short_id(self, conn: Conn, proj: ProjectInfo, key: str | None) -> str:
        if not key or not re.fullmatch(r"[A-Z0-9]{1,10}", key):
            raise ConfigError(f"a model needs a key of 1 to 10 uppercase letters or digits (got {key!r}), "
                              "e.g. init_model(key=\"CLS\").")
        short_id = f"{proj.key}-{key}"
        if conn.execute("SELECT 1 FROM containers WHERE short_id=?", (short_id,)).fetchone():
            raise ModelKeyTakenError(f"project {proj.name!r} already has a model with key {key} ({short_id}); open it "
                              f"with init_model(with_id=\"{short_id}\") or choose another key.")
        return short_id

    def _version_short_id(self, conn: Conn, proj: ProjectInfo, parent: str | None) -> tuple[str, str]:
        row = None if not parent else conn.execute(
            "SELECT short_id FROM containers WHERE kind=? AND project_id=? AND (short_id=? OR uuid=?)",
            (MODEL, proj.id, parent, parent)).fetchone()
        if row is None:
            raise ModelNotFound(f"no model {parent!r} in project {proj.name!r} to add a version to; "
                                    "make it with init_model(key=...) first.")
        model_id = str(row[0])
        conn.execute("INSERT INTO counters(scope, next) VALUES (?, 1) ON CONFLICT DO NOTHING", (model_id,))
        (num,) = conn.execute("UPDATE counters SET next = next + 1 WHERE scope=? RETURNING next - 1",
                              (model_id,)).fetchone()
        return f"{model_id}-{num}", model_id

    def _create_in_tx(self, conn: Conn, proj: ProjectInfo, kind: str, uuid: str,
                      custom_run_id: str | None, created: float | None, owner: str,
                      key: str | None = None, parent: str | None = None) -> ContainerInfo:
        self._lock(conn, self.LOCK_CREATE, proj.id)
        if custom_run_id:
            row = conn.execute(
                self._CONTAINER_SQL + "WHERE c.project_id=? AND c.kind=? AND c.custom_run_id=?",
                (proj.id, kind, custom_run_id)).fetchone()
            if row:
                if row[0] != uuid:  # an offline run joining a known run: its batches name this uuid
                    conn.execute("INSERT INTO container_aliases(uuid, cid) SELECT ?, cid "
                                 "FROM containers WHERE uuid=? ON CONFLICT DO NOTHING", (uuid, row[0]))
                return self._container_from_row(row)
        row = conn.execute(self._CONTAINER_SQL + "WHERE c.uuid=?", (uuid,)).fetchone()
        if row:
            return self._container_from_row(row)
        model_id = None
        if kind == "project":
            short_id = proj.key
            row = conn.execute(self._CONTAINER_SQL + "WHERE c.project_id=? AND c.kind='project'",
                               (proj.id,)).fetchone()
            if row:  # a project has one container: another uuid for it (an offline copy) joins it
                conn.execute("INSERT INTO container_aliases(uuid, cid) SELECT ?, cid "
                             "FROM containers WHERE uuid=? ON CONFLICT DO NOTHING", (uuid, row[0]))
                return self._container_from_row(row)
        elif kind == MODEL:
            short_id = self._model_short_id(conn, proj, key)
        elif kind == MODEL_VERSION:
            short_id, model_id = self._version_short_id(conn, proj, parent)
        else:
            (num,) = conn.execute("UPDATE projects SET next_num = next_num + 1 WHERE id=? "
                                  "RETURNING next_num - 1", (proj.id,)).fetchone()
            short_id = f"{proj.key}-{num}"
        now = time.time()
        created = now if created is None else created
        (cid,) = conn.execute(
            "INSERT INTO containers(uuid, project_id, kind, short_id, custom_run_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING cid",
            (uuid, proj.id, kind, short_id, custom_run_id or None, created)).fetchone()
        self._local.new_cids[uuid] = cid
        sys_fields: list[tuple[str, str, Any]] = [
            ("sys/id", F.STRING, short_id),
            ("sys/creation_time", F.DATETIME, created),
            ("sys/modification_time", F.DATETIME, now),
            ("sys/ping_time", F.DATETIME, now),
            ("sys/owner", F.STRING, owner),
            ("sys/failed", F.BOOLEAN, False),
            ("sys/trashed", F.BOOLEAN, False),
        ]
        if kind == RUN:
            sys_fields.append(("sys/state", F.STRING, "running"))
        if custom_run_id:
            sys_fields.append(("sys/custom_run_id", F.STRING, custom_run_id))
        if model_id is not None:
            sys_fields += [("sys/model_id", F.STRING, model_id), ("sys/stage", F.STRING, "none")]
        for path, ftype, value in sys_fields:
            self._put_atom(conn, cid, self._pid(conn, path), ftype, value)
        if kind == MODEL_VERSION:  # aliases (champion, shadow…) are moved by set_alias only
            conn.execute("INSERT INTO fields(cid, pid, type) VALUES (?, ?, ?)",
                         (cid, self._pid(conn, "sys/aliases"), F.STRING_SET))
            enqueue(conn, proj.name, "version_created", {"model": model_id, "version": short_id,
                                                         "actor": owner}, now)
        return ContainerInfo(uuid, short_id, kind, proj.name, custom_run_id or None, created, True)
