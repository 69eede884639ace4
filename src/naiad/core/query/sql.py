"""A parsed query compiled to a SQL ``WHERE`` over the store's tables, for SQLite or PostgreSQL."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from naiad.core.query.parse import (
    FIELD_TYPES,
    And,
    Compare,
    Contains,
    Exists,
    Matches,
    Node,
    Not,
    Or,
    TrueNode,
    epoch_of,
)
from naiad.errors import QueryError


# ------------------------------------------------------------------------------------------ dialect
@dataclass(frozen=True)
class Dialect:
    """What differs between SQL engines; templates are filled with SQL expressions."""

    name: str
    placeholder: str
    regexp: str  # {text} {pattern}
    substring: str  # {text} {needle}
    artifact_hash: str  # {col}


SQLITE = Dialect("sqlite", "?", "naiad_regexp({pattern}, {text}) = 1", "instr({text}, {needle}) > 0",
                 "json_extract({col}, '$.hash')")
POSTGRES = Dialect("postgres", "%s", "{text} ~ {pattern}", "strpos({text}, {needle}) > 0",
                   "(({col})::json ->> 'hash')")


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _naiad_regexp(pattern: Any, text: Any) -> int:
    if pattern is None or text is None:
        return 0
    try:
        return 1 if _compiled(str(pattern)).search(str(text)) else 0
    except re.error:
        return 0


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Register ``naiad_regexp(pattern, text)`` (Python ``re.search``; 1/0, NULL gives 0) on ``conn``."""
    conn.create_function("naiad_regexp", 2, _naiad_regexp, deterministic=True)


# ----------------------------------------------------------------------------------------- compiler
Sql: TypeAlias = "tuple[str, list[Any]]"
_AGG_SQL = {
    "last": "s.last_num", "min": "s.vmin", "max": "s.vmax",
    "average": "(s.vsum / NULLIF(s.count, 0))",
    "variance": "(s.vsumsq / NULLIF(s.count, 0)"
                " - (s.vsum / NULLIF(s.count, 0)) * (s.vsum / NULLIF(s.count, 0)))",
}


def compile_where(node: Node, *, dialect: Dialect = SQLITE, now: float, crash_after: float,
                  pid_of: Callable[[str], int] | None = None) -> Sql:
    """SQL boolean expression (and its parameters) over ``containers c`` that is true for matches.

    ``now`` anchors relative date-times ("-2h"); a ``running`` container whose ``sys/ping_time`` is
    older than ``now - crash_after`` counts as ``crashed``.  ``pid_of`` (a path's id in ``paths``,
    negative when unknown) lets each test name the field by id instead of joining ``paths`` once per
    container.
    """
    return _Compiler(dialect, now, crash_after, pid_of).node(node)


def _join(sep: str, parts: list[Sql]) -> Sql:
    params: list[Any] = []
    for _, p in parts:
        params.extend(p)
    return "(" + sep.join(sql for sql, _ in parts) + ")", params


def _types(names: tuple[str, ...], col: str = "f.type") -> str:
    return f"{col} IN ({', '.join(repr(n) for n in names)})"


class _Compiler:
    def __init__(self, dialect: Dialect, now: float, crash_after: float,
                 pid_of: Callable[[str], int] | None = None) -> None:
        self.d, self.now, self.crash_after, self.pid_of = dialect, now, crash_after, pid_of
        self.ph = dialect.placeholder

    def node(self, node: Node) -> Sql:
        if isinstance(node, TrueNode):
            return "(1 = 1)", []
        if isinstance(node, And):
            return _join(" AND ", [self.node(n) for n in node.items])
        if isinstance(node, Or):
            return _join(" OR ", [self.node(n) for n in node.items])
        if isinstance(node, Not):
            sql, params = self.node(node.item)
            return f"(NOT {sql})", params
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, (Contains, Matches)):
            return self.text_test(node)
        if isinstance(node, Exists):
            return self.exists(node)
        raise QueryError(f"cannot compile {node!r}")

    def field(self, path: str, cond: Sql, table: str = "fields f") -> Sql:
        a = table[-1]
        if self.pid_of is not None:
            sql = f"EXISTS (SELECT 1 FROM {table} WHERE {a}.cid = c.cid AND {a}.pid = {self.ph} AND {cond[0]})"
            return sql, [self.pid_of(path), *cond[1]]
        sql = (f"EXISTS (SELECT 1 FROM {table} JOIN paths p ON p.pid = {a}.pid "
               f"WHERE {a}.cid = c.cid AND p.path = {self.ph} AND {cond[0]})")
        return sql, [path, *cond[1]]

    def series(self, path: str, cond: Sql) -> Sql:
        return self.field(path, cond, "series s")

    def compare(self, n: Compare) -> Sql:
        ph, op, v, typ = self.ph, n.op, n.value, n.type
        if typ == "experimentState" or (typ is None and n.aggregate is None and n.path == "sys/state"):
            return self.state(n)
        if n.aggregate is not None or typ in ("floatSeries", "stringSeries"):
            if isinstance(v, str):
                return self.series(n.path, (f"s.type = 'StringSeries' AND s.last_txt {op} {ph}", [v]))
            expr = _AGG_SQL[n.aggregate or "last"]
            return self.series(n.path, (f"s.type = 'FloatSeries' AND {expr} {op} {ph}", [float(v)]))
        if isinstance(v, bool):
            return self.field(n.path, (f"f.type = 'Boolean' AND f.num {op} {ph}", [int(v)]))
        if typ in ("float", "int"):
            return self.field(n.path, (f"{_types(('Float', 'Integer'))} AND f.num {op} {ph}", [v]))
        if typ == "datetime":
            when = v if isinstance(v, float) else epoch_of(v, self.now)
            if when is None:
                raise QueryError(f"not a date-time: {v!r}")
            return self.field(n.path, (f"f.type = 'Datetime' AND f.num {op} {ph}", [when]))
        if typ == "artifact":
            expr = self.d.artifact_hash.format(col="f.txt")
            return self.field(n.path, (f"f.type = 'Artifact' AND {expr} {op} {ph}", [v]))
        if typ == "string":
            return self.field(n.path, (f"f.type = 'String' AND f.txt {op} {ph}", [v]))
        # unannotated: every field type the value can be compared with
        if isinstance(v, float):
            atoms = (f"{_types(('Float', 'Integer', 'Boolean', 'Datetime'))} AND f.num {op} {ph}", [v])
            last: Sql = (f"s.type = 'FloatSeries' AND s.last_num {op} {ph}", [v])
            return _join(" OR ", [self.field(n.path, atoms), self.series(n.path, last)])
        branches: list[Sql] = [(f"(f.type = 'String' AND f.txt {op} {ph})", [v])]
        when = epoch_of(v, self.now)
        if when is not None:
            branches.append((f"(f.type = 'Datetime' AND f.num {op} {ph})", [when]))
        last = (f"s.type = 'StringSeries' AND s.last_txt {op} {ph}", [v])
        return _join(" OR ", [self.field(n.path, _join(" OR ", branches)), self.series(n.path, last)])

    def state(self, n: Compare) -> Sql:
        ph = self.ph
        if self.pid_of is not None:
            ping = f"f2.pid = {ph}"
            params: list[Any] = [self.pid_of("sys/ping_time")]
        else:
            ping = "f2.pid = (SELECT pid FROM paths WHERE path = 'sys/ping_time')"
            params = []
        effective = (f"CASE WHEN lower(f.txt) = 'running' AND EXISTS (SELECT 1 FROM fields f2 "
                     f"WHERE f2.cid = c.cid AND {ping} AND f2.num < {ph}) THEN 'crashed' ELSE lower(f.txt) END")
        params.append(self.now - self.crash_after)
        state = str(n.value)
        if state in ("active", "inactive"):
            cond = f"{effective} {'=' if state == 'active' else '!='} 'running'"
        else:
            cond = f"{effective} = {ph}"
            params.append(state)
        if n.op == "!=":
            cond = f"NOT ({cond})"
        return self.field(n.path, (f"f.type = 'String' AND {cond}", params))

    def text_test(self, n: Contains | Matches) -> Sql:
        ph, neg = self.ph, "NOT " if n.negated else ""
        if isinstance(n, Contains):
            needle = n.value
            on_text = self.d.substring.format(text="f.txt", needle=ph)
            on_member = f"m.value = {ph}"
        else:
            needle = n.pattern
            on_text = self.d.regexp.format(text="f.txt", pattern=ph)
            on_member = self.d.regexp.format(text="m.value", pattern=ph)
        branches: list[Sql] = []
        if n.type in (None, "string"):
            branches.append((f"(f.type = 'String' AND {neg}({on_text}))", [needle]))
        if n.type in (None, "stringSet"):
            members = (f"EXISTS (SELECT 1 FROM set_members m "
                       f"WHERE m.cid = f.cid AND m.pid = f.pid AND {on_member})")
            branches.append((f"(f.type = 'StringSet' AND {neg}{members})", [needle]))
        return self.field(n.path, _join(" OR ", branches))

    def exists(self, n: Exists) -> Sql:
        if n.type is not None:
            return self.field(n.path, (_types(FIELD_TYPES[n.type]), []))
        # a byte-wise range, not LIKE: case-sensitive in every dialect, and it uses the path index
        sql = (f"EXISTS (SELECT 1 FROM fields f JOIN paths p ON p.pid = f.pid WHERE f.cid = c.cid "
               f"AND (p.path = {self.ph} OR (p.path >= {self.ph} AND p.path < {self.ph})))")
        return sql, [n.path, n.path + "/", n.path + "0"]


