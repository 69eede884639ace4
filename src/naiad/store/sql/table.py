"""The runs table: which containers a query selects, in which order, and their cells (by row for
the SDK, by column for the UI); the field paths a column picker offers."""

from __future__ import annotations

import json
import time
from typing import Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import query as Q
from naiad.store.base import (
    FieldValue,
    TableResult,
)
from naiad.store.sql.base import Conn
from naiad.store.sql.catalog import effective_state
from naiad.store.sql.fields import Fields, _field_value
from naiad.store.wire import num_out


class Table(Fields):
    """Tables of containers."""

    def _select(self, conn: Conn, project: str, kind: str, *, query: str | None, sort_by: str, ascending: bool,
                limit: int | None, extra_where: tuple[str, list[Any]] | None = None) -> tuple[list[int], list[str]]:
        """The containers a table shows, in order: their internal ids and their short ids."""
        proj = self.get_project(project)
        node = Q.parse(query or "")
        now = time.time()
        where, params = Q.compile_where(node, dialect=self.dialect, now=now,
                                        crash_after=SETTINGS.crash_after.get(),
                                        pid_of=lambda path: self._pid(conn, path, create=False))
        if extra_where:
            where = f"({where}) AND ({extra_where[0]})"
            params = [*params, *extra_where[1]]
        joins, keys, key_params = self._sort_keys(conn, sort_by)
        direction = "ASC" if ascending else "DESC"
        order = ", ".join(f"{k} {direction} NULLS LAST" for k in keys)
        sql = (f"SELECT c.cid, c.short_id FROM containers c{joins} WHERE c.project_id=? AND c.kind=? "
               f"AND ({where}) ORDER BY {order}, c.cid {direction}")
        all_params: list[Any] = [*key_params, proj.id, kind, *params]
        if limit is not None:
            sql += " LIMIT ?"
            all_params.append(int(limit))
        found = conn.execute(sql, all_params).fetchall()
        return [r[0] for r in found], [r[1] for r in found]

    def query_table(
        self, project: str, kind: str, *, query: str | None = None, columns: list[str] | None = None,
        sort_by: str = "sys/creation_time", ascending: bool = False, limit: int | None = None,
        extra_where: tuple[str, list[Any]] | None = None,
    ) -> TableResult:
        conn = self.conn()
        cids, ids = self._select(conn, project, kind, query=query, sort_by=sort_by, ascending=ascending,
                                 limit=limit, extra_where=extra_where)
        now = time.time()
        in_cids = self._in("f.cid", cids)
        if columns is None:
            pid_rows = conn.execute(
                "SELECT DISTINCT f.pid, p.path FROM fields f JOIN paths p ON p.pid=f.pid WHERE " + in_cids[0],
                in_cids[1]).fetchall()
        else:
            wanted = list(dict.fromkeys(["sys/id", *columns, *([sort_by] if sort_by else [])]))
            pid_rows = []
            for col in wanted:
                col = F.normalize_path(col)
                pid_rows += conn.execute(
                    "SELECT pid, path FROM paths WHERE path = ? OR (path >= ? AND path < ?)",
                    (col, col + "/", col + "0")).fetchall()
        pid_to_path = dict(pid_rows)
        rows: dict[int, dict[str, FieldValue]] = {cid: {} for cid in cids}
        set_cells: list[tuple[int, int]] = []
        if pid_to_path and cids:
            in_pids = self._in("f.pid", list(pid_to_path))
            cells = conn.execute(
                "SELECT f.cid, f.pid, f.type, f.num, f.txt, s.count, s.last_num, s.last_txt, s.vmin, s.vmax "
                "FROM fields f LEFT JOIN series s ON s.cid = f.cid AND s.pid = f.pid "
                f"WHERE {in_pids[0]} AND {in_cids[0]}", [*in_pids[1], *in_cids[1]])
            for cid, pid, ftype, num, txt, count, last_num, last_txt, vmin, vmax in cells:
                fv = rows[cid][pid_to_path[pid]] = _field_value(ftype, num, txt, count, last_num, last_txt)
                if ftype == F.FLOAT_SERIES:
                    fv.stats = (vmin, vmax)
                if ftype == F.STRING_SET:
                    set_cells.append((cid, pid))
            if set_cells:
                members: dict[tuple[int, int], set[str]] = {}
                m_pids = self._in("pid", sorted({p for _, p in set_cells}))
                m_cids = self._in("cid", cids)
                for cid, pid, value in conn.execute(
                        f"SELECT cid, pid, value FROM set_members WHERE {m_pids[0]} AND {m_cids[0]}",
                        [*m_pids[1], *m_cids[1]]):
                    members.setdefault((cid, pid), set()).add(value)
                for cid, pid in set_cells:
                    rows[cid][pid_to_path[pid]].value = members.get((cid, pid), set())
            if "sys/state" in pid_to_path.values():  # a running run's state depends on its last ping
                pings = self._pings(conn, cids)
                for cid in cids:
                    state = rows[cid].get("sys/state")
                    if state is not None:
                        state.value = effective_state(state.value, pings.get(cid), now)
        present = sorted({p for row in rows.values() for p in row})
        return TableResult(columns=present, rows=[rows[c] for c in cids], ids=ids)

    def table_columns(self, project: str, kind: str, *, columns: list[str], query: str | None = None,
                      sort_by: str = "sys/creation_time", ascending: bool = False, offset: int = 0,
                      limit: int | None = None) -> dict[str, Any]:
        """A window of the runs table by column, JSON-ready, for the UI: ``{"total", "offset", "ids",
        "columns": {path: {"type", "values", and for series "count" (and float series "min", "max")}}}``.

        The rows and order are :meth:`query_table`'s; ``total`` counts every matching row, and only rows
        ``offset … offset + limit`` carry their cells, so a client pages through 10,000 runs × 50
        columns as it scrolls instead of waiting for all of them.  Columns are exact paths (no
        namespaces); ``sort_by`` may also be a float series' ``path:min`` or ``path:max``.  Each column is
        one list with ``null`` where a run lacks the field.  A column whose runs disagree on its type
        carries ``"types"`` (one per row).  Non-finite floats are "NaN", "Infinity", "-Infinity".
        """
        conn = self.conn()
        all_cids, all_ids = self._select(conn, project, kind, query=query, sort_by=sort_by, ascending=ascending,
                                         limit=None)
        end = len(all_cids) if limit is None else offset + limit
        cids, ids = all_cids[offset:end], all_ids[offset:end]
        now = time.time()
        n = len(cids)
        row_of = {cid: i for i, cid in enumerate(cids)}
        wanted = list(dict.fromkeys(F.normalize_path(c) for c in columns))
        pid_rows = conn.execute(f"SELECT pid, path FROM paths WHERE {self._in('path', wanted)[0]}",
                                self._in("path", wanted)[1]).fetchall() if wanted else []
        out: dict[str, dict[str, Any]] = {path: {"type": None, "values": [None] * n} for path in wanted}
        by_pid = {pid: out[path] for pid, path in pid_rows}
        types: dict[int, list[Any]] = {}  # pid → each row's type of that field (None: the row lacks it)
        sets: list[tuple[int, int]] = []
        if by_pid and cids:
            in_pids, in_cids = self._in("f.pid", list(by_pid)), self._in("f.cid", cids)
            cells = conn.execute(
                "SELECT f.cid, f.pid, f.type, f.num, f.txt, s.count, s.last_num, s.last_txt, s.vmin, s.vmax "
                "FROM fields f LEFT JOIN series s ON s.cid = f.cid AND s.pid = f.pid "
                f"WHERE {in_pids[0]} AND {in_cids[0]}", [*in_pids[1], *in_cids[1]])
            for cid, pid, ftype, num, txt, count, last_num, last_txt, vmin, vmax in cells:
                col, i = by_pid[pid], row_of[cid]
                row_types = types.get(pid)
                if row_types is None:
                    row_types = types[pid] = [None] * n
                row_types[i] = ftype
                if ftype == F.FLOAT_SERIES:
                    col["values"][i] = num_out(last_num)
                    for key, v in (("count", count or 0), ("min", num_out(vmin)), ("max", num_out(vmax))):
                        col.setdefault(key, [None] * n)[i] = v
                elif ftype in (F.STRING_SERIES, F.FILE_SERIES):
                    col["values"][i] = last_txt
                    col.setdefault("count", [None] * n)[i] = count or 0
                elif ftype in (F.FLOAT, F.DATETIME):
                    col["values"][i] = num_out(num)
                elif ftype == F.INTEGER:
                    col["values"][i] = None if num is None else int(num)
                elif ftype == F.BOOLEAN:
                    col["values"][i] = bool(num)
                elif ftype == F.STRING:
                    col["values"][i] = txt
                elif ftype == F.STRING_SET:
                    col["values"][i] = []
                    sets.append((cid, pid))
                else:
                    col["values"][i] = json.loads(txt) if txt else None
            for pid, per_row in types.items():  # a column's type is its first row's, as wire.table_to_columns says
                seen = [t for t in per_row if t is not None]
                by_pid[pid]["type"] = seen[0] if seen else None
                if len(set(seen)) > 1:
                    by_pid[pid]["types"] = per_row
            if sets:
                m_pids, m_cids = self._in("pid", sorted({p for _, p in sets})), self._in("cid", cids)
                for cid, pid, value in conn.execute(
                        f"SELECT cid, pid, value FROM set_members WHERE {m_pids[0]} AND {m_cids[0]} ORDER BY value",
                        [*m_pids[1], *m_cids[1]]):
                    by_pid[pid]["values"][row_of[cid]].append(value)
            state = out.get("sys/state")
            if state is not None:
                pings = self._pings(conn, cids)
                values = state["values"]
                for i, cid in enumerate(cids):
                    values[i] = effective_state(values[i], pings.get(cid), now)
        return {"total": len(all_cids), "offset": offset, "ids": ids, "columns": out}

    FIELD_TYPE_SAMPLE = 200

    def field_paths(self, project: str, kind: str = "run") -> dict[str, str]:
        """Every field path of the project's containers of ``kind``, with its type (where containers
        disagree, the type most of the first 200 holding it have): what a column picker offers.

        One query, path by path through the ``(pid, …)`` index and stopping after a sample: the cost
        follows the number of paths, not the number of fields (a full scan of 10,000 runs × 100 fields
        takes a second; this, tens of milliseconds), and a server's database is asked once, not once per
        path.
        """
        proj = self.get_project(project)
        rows = self.conn().execute(
            "SELECT p.path, (SELECT s.type FROM (SELECT f.type FROM fields f JOIN containers c ON c.cid = f.cid "
            "WHERE f.pid = p.pid AND c.project_id = ? AND c.kind = ? LIMIT ?) s "
            "GROUP BY s.type ORDER BY count(*) DESC, s.type LIMIT 1) FROM paths p ORDER BY p.path",
            (proj.id, kind, self.FIELD_TYPE_SAMPLE)).fetchall()
        return {path: ftype for path, ftype in rows if ftype is not None}

    def _pings(self, conn: Conn, cids: list[int]) -> dict[int, float]:
        pid = self._pid(conn, "sys/ping_time", create=False)
        in_cids = self._in("cid", cids)
        return dict(conn.execute(f"SELECT cid, num FROM fields WHERE pid=? AND {in_cids[0]}",
                                 [pid, *in_cids[1]]).fetchall())

    def _sort_keys(self, conn: Conn, sort_by: str) -> tuple[str, list[str], list[Any]]:
        """Joins and ORDER BY keys for sorting by a field: numbers (atoms, a series' last value)
        before text, runs without the field last.  ``path:min`` / ``path:max`` sort by a float series'
        extremes wherever ``path`` is a field somewhere in the store (a field whose own name ends in
        ":min" is sorted by its value only where no ``path`` exists)."""
        path = F.normalize_path(sort_by) if sort_by else ""
        if path in ("", "sys/creation_time"):
            return "", ["c.created"], []
        if path == "sys/id":
            return "", ["c.cid"], []
        base, _, extreme = path.rpartition(":")
        if extreme in ("min", "max") and base:
            base_pid = self._pid(conn, base, create=False)
            if base_pid != -1:  # `path:min` / `path:max`: a float series' extremes, as the UI's columns name them
                return " LEFT JOIN series ss ON ss.cid = c.cid AND ss.pid = ?", [f"ss.v{extreme}"], [base_pid]
        pid = self._pid(conn, path, create=False)
        joins = (" LEFT JOIN fields sf ON sf.cid = c.cid AND sf.pid = ?"
                 " LEFT JOIN series ss ON ss.cid = c.cid AND ss.pid = ?"
                 # a string set (tags) sorts by its first member
                 " LEFT JOIN (SELECT cid, min(value) AS first FROM set_members WHERE pid = ? GROUP BY cid) sm"
                 " ON sm.cid = c.cid")
        return (joins, ["COALESCE(ss.last_num, sf.num)", "COALESCE(ss.last_txt, sf.txt)", "sm.first"],
                [pid, pid, pid])
