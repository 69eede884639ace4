"""The useful subset of Neptune's query language (NQL): parsed to a small AST, compiled to SQL.

Grammar (keywords, type and aggregate names are case-insensitive)::

    query     := and ("OR" and)*
    and       := not ("AND" not)*
    not       := "NOT" not | "(" query ")" | clause
    clause    := attribute ["NOT"] "EXISTS"
               | aggregate "(" attribute ")" op value
               | attribute op value
               | attribute ["NOT"] ("CONTAINS" | "MATCHES") value
    attribute := `any path but backquote`[:type] | bare/path[:type]     (bare: [A-Za-z0-9_/.-]+)
    type      := float | int | integer | bool | boolean | string | datetime | stringSet
               | floatSeries | stringSeries | experimentState | artifact
    aggregate := last | min | max | average | variance
    op        := = | == | != | > | >= | < | <=
    value     := number | "double-quoted with \\" and \\\\ escapes" | true | false | bare word

Example::

    >>> node = parse('(`sys/tags`:stringSet CONTAINS "best") AND last(metrics/acc) > 0.9')
    >>> sql, params = compile_where(node, now=time.time(), crash_after=300)
    >>> conn.execute(f"SELECT c.short_id FROM containers c WHERE {sql}", params)

Comparisons, CONTAINS and MATCHES (negated or not) only match containers that have the field;
``NOT (...)`` is plain boolean negation.  An empty query parses to :class:`TrueNode`.

Layer 1 (core): the tree and parser are in :mod:`~naiad.core.query.parse`, the SQL compiler in
:mod:`~naiad.core.query.sql`; both are re-exported here.
"""

from __future__ import annotations

from naiad.core.query.parse import (
    And,
    Compare,
    Contains,
    Exists,
    Matches,
    Node,
    Not,
    Or,
    TrueNode,
    describe,
    normalize_path,
    parse,
)
from naiad.core.query.sql import POSTGRES, SQLITE, Dialect, compile_where, register_sqlite_functions

__all__ = [
    "POSTGRES", "SQLITE", "And", "Compare", "Contains", "Dialect", "Exists", "Matches", "Node", "Not",
    "Or", "TrueNode", "compile_where", "describe", "normalize_path", "parse", "register_sqlite_functions",
]
