"""The query language's tree, its lexer and parser, and the canonical text of a tree (``describe``).
See :mod:`naiad.core.query` for the grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, TypeAlias

from naiad.errors import QueryError

Value: TypeAlias = "float | bool | str"


# ----------------------------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class TrueNode:
    """The empty query: matches everything."""


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Compare:
    path: str
    type: str | None  # canonical type name (see TYPES) or None when unannotated
    aggregate: str | None
    op: str  # = != > >= < <=
    value: Value
    position: int = 0


@dataclass(frozen=True)
class Contains:
    path: str
    type: str | None
    value: str
    negated: bool = False
    position: int = 0


@dataclass(frozen=True)
class Matches:
    path: str
    type: str | None
    pattern: str
    negated: bool = False
    position: int = 0


@dataclass(frozen=True)
class Exists:
    path: str
    type: str | None
    position: int = 0


Node: TypeAlias = "TrueNode | And | Or | Not | Compare | Contains | Matches | Exists"

TYPES = ("float", "int", "bool", "string", "datetime", "stringSet", "floatSeries", "stringSeries",
         "experimentState", "artifact")
_TYPE_NAMES = {t.lower(): t for t in TYPES} | {"integer": "int", "boolean": "bool"}
AGGREGATES = ("last", "min", "max", "average", "variance")
OPS = ("=", "!=", ">", ">=", "<", "<=")
_KEYWORDS = {"and", "or", "not", "contains", "matches", "exists"}
STATES = ("running", "finished", "failed", "crashed", "active", "inactive")
# field types (the `fields.type` column) each annotation may match
FIELD_TYPES = {"float": ("Float", "Integer"), "int": ("Float", "Integer"), "bool": ("Boolean",),
                "string": ("String",), "datetime": ("Datetime",), "stringSet": ("StringSet",),
                "floatSeries": ("FloatSeries",), "stringSeries": ("StringSeries",),
                "experimentState": ("String",), "artifact": ("Artifact",)}


# ------------------------------------------------------------------------------------------- lexer
class _Tok(NamedTuple):
    kind: str  # ( ) op string bq word end
    text: str  # source text, or the unescaped content of a string / backquoted path
    pos: int


_TOKEN = re.compile(r"""(?P<paren>[()])|"(?P<string>(?:[^"\\]|\\.)*)"|`(?P<bq>[^`]*)`"""
                    r"|(?P<op>==|!=|>=|<=|=|>|<)|(?P<word>[A-Za-z0-9_/.\-:+]+)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BARE_PATH = re.compile(r"[A-Za-z0-9_/.\-]+")
_LEX_ERRORS = {'"': 'unterminated string; close it with a double quote (")',
               "`": "unterminated `path`; close it with a backquote (`)",
               "'": 'single-quoted strings are not supported; use double quotes: "value"'}


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if m is None:
            ch = text[i]
            hint = {"&": "; use AND", "|": "; use OR", "!": "; use NOT or !="}.get(ch, "")
            raise QueryError(_LEX_ERRORS.get(ch, f"unexpected character {ch!r}{hint}"), text, i)
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)
        toks.append(_Tok(value if kind == "paren" else kind, value, i))
        i = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


# ------------------------------------------------------------------------------------------ parser
def parse(text: str) -> Node:
    """Parse an NQL query; raise :class:`QueryError` (with ``position``) when it is not valid."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        return TrueNode()
    node = parser.query()
    tok = parser.peek()
    if tok.kind == ")":
        raise QueryError("unexpected ')' with no matching '('", text, tok.pos)
    if tok.kind != "end":
        raise QueryError(f"expected AND, OR or the end of the query, got {_show(tok)}", text, tok.pos)
    return node


def _show(tok: _Tok) -> str:
    if tok.kind == "end":
        return "the end of the query"
    return f'"{tok.text}"' if tok.kind == "string" else f"'{tok.text}'"


def normalize_path(path: str) -> str:
    return "/".join(part for part in path.split("/") if part)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def fail(self, message: str, pos: int) -> QueryError:
        return QueryError(message, self.text, pos)

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text.lower() in words

    def query(self) -> Node:
        items = [self.and_()]
        while self.keyword("or"):
            self.next()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.keyword("and"):
            self.next()
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        tok = self.peek()
        if self.keyword("not"):
            self.next()
            return Not(self.not_())
        if tok.kind == "(":
            self.next()
            if self.peek().kind == ")":
                raise self.fail("expected a condition inside '()'", self.peek().pos)
            node = self.query()
            close = self.peek()
            if close.kind != ")":
                raise self.fail(f"expected ')' to close the '(' at position {tok.pos}, got {_show(close)}",
                                close.pos)
            self.next()
            return node
        return self.clause()

    def clause(self) -> Node:
        start = self.peek()
        aggregate = None
        if start.kind == "word" and self.peek(1).kind == "(":
            aggregate = start.text.lower()
            if aggregate not in AGGREGATES:
                raise self.fail(f"unknown aggregate '{start.text}'; use one of {', '.join(AGGREGATES)}",
                                start.pos)
            self.i += 2
        path, typ, type_pos = self.attribute()
        if aggregate is not None:
            close = self.next()
            if close.kind != ")":
                raise self.fail(f"expected ')' after the attribute of {aggregate}(), got {_show(close)}",
                                close.pos)
        tok = self.peek()
        if tok.kind == "op":
            self.next()
            op = "=" if tok.text == "==" else tok.text
            value, vtok = self.value(f"after '{tok.text}'")
            return self.check_compare(path, typ, aggregate, op, value, start.pos, type_pos, tok, vtok)
        if aggregate is not None:
            ops = ", ".join(OPS)
            raise self.fail(f"expected an operator ({ops}) after {aggregate}(...), got {_show(tok)}", tok.pos)
        negated = self.keyword("not")
        if negated:
            self.next()
        kw = self.peek()
        word = kw.text.lower() if kw.kind == "word" else ""
        if word == "exists":
            self.next()
            node = Exists(path, typ, start.pos)
            return Not(node) if negated else node
        if word in ("contains", "matches"):
            self.next()
            value, vtok = self.value(f"after {kw.text.upper()}")
            if typ not in ("string", "stringSet", None):
                raise self.fail(f"{word.upper()} works on string and stringSet attributes, not :{typ}",
                                type_pos)
            text = vtok.text if isinstance(value, (bool, float)) else value
            if word == "contains":
                return Contains(path, typ, text, negated, start.pos)
            try:
                re.compile(text)
            except re.error as exc:
                raise self.fail(f"invalid regular expression: {exc}", vtok.pos) from None
            return Matches(path, typ, text, negated, start.pos)
        expected = "CONTAINS, MATCHES or EXISTS after NOT" if negated else (
            f"an operator ({', '.join(OPS)}), CONTAINS, MATCHES or EXISTS after the attribute")
        raise self.fail(f"expected {expected}, got {_show(kw)}", kw.pos)

    def attribute(self) -> tuple[str, str | None, int]:
        tok = self.next()
        type_text, type_pos = None, tok.pos
        if tok.kind == "bq":
            raw = tok.text
            nxt = self.peek()
            if nxt.kind == "word" and nxt.text.startswith(":"):
                self.next()
                type_text, type_pos = nxt.text[1:], nxt.pos + 1
        elif tok.kind == "word" and tok.text.lower() not in _KEYWORDS:
            raw, sep, rest = tok.text.partition(":")
            if sep:
                type_text, type_pos = rest, tok.pos + len(raw) + 1
            if not _BARE_PATH.fullmatch(raw):
                raise self.fail(f"invalid path '{raw}'; put paths with other characters in `backquotes`",
                                tok.pos)
        else:
            raise self.fail(f"expected an attribute (like params/lr or `a path`), got {_show(tok)}", tok.pos)
        path = normalize_path(raw)
        if not path:
            raise self.fail("expected an attribute path, got an empty one", tok.pos)
        typ = None
        if type_text is not None:
            typ = _TYPE_NAMES.get(type_text.lower())
            if typ is None:
                raise self.fail(f"unknown type '{type_text}'; use one of {', '.join(TYPES)}", type_pos)
        return path, typ, type_pos

    def value(self, where: str) -> tuple[Value, _Tok]:
        tok = self.peek()
        if tok.kind == "string":
            self.next()
            return tok.text, tok
        if tok.kind != "word" or tok.text.lower() in _KEYWORDS:
            raise self.fail(f"expected a value {where}, got {_show(tok)}", tok.pos)
        self.next()
        low = tok.text.lower()
        if low in ("true", "false"):
            return low == "true", tok
        if _NUMBER.fullmatch(tok.text):
            return float(tok.text), tok
        return tok.text, tok

    def check_compare(self, path: str, typ: str | None, agg: str | None, op: str, value: Value,
                      pos: int, type_pos: int, op_tok: _Tok, vtok: _Tok) -> Compare:
        """Type-check a comparison and coerce its value to what the annotation needs."""
        text = vtok.text  # the literal as written (for string compares of numbers / words)
        is_num = isinstance(value, float)
        if typ == "experimentState" or (typ is None and agg is None and path == "sys/state"):
            if agg is not None:
                raise self.fail("experimentState has no aggregates", pos)
            if op not in ("=", "!="):
                raise self.fail("sys/state can only be compared with = or !=", op_tok.pos)
            if text.lower() not in STATES:
                raise self.fail(f"expected a state ({', '.join(STATES)}), got '{text}'", vtok.pos)
            return Compare(path, typ, None, op, text.lower(), pos)
        if agg is not None:
            if typ not in (None, "float", "int", "floatSeries", "stringSeries"):
                raise self.fail(f"{agg}() works on float and string series, not :{typ}", type_pos)
            if typ == "stringSeries" or (typ is None and agg == "last" and not is_num):
                if agg != "last":
                    raise self.fail(f"{agg}() works on float series only; use last() on a string series",
                                    pos)
                return Compare(path, typ, agg, op, text, pos)
            if not is_num:
                raise self.fail(f"expected a number after '{op_tok.text}' to compare with {agg}()", vtok.pos)
            return Compare(path, typ, agg, op, value, pos)
        if typ == "stringSet":
            raise self.fail("a stringSet cannot be compared; use CONTAINS or MATCHES", op_tok.pos)
        if typ in ("float", "int", "floatSeries"):
            if isinstance(value, bool) or not _NUMBER.fullmatch(text.strip()):
                raise self.fail(f"expected a number for :{typ}, got {_show(vtok)}", vtok.pos)
            return Compare(path, typ, None, op, float(text), pos)
        if typ == "bool":
            if not isinstance(value, bool) and text.lower() not in ("true", "false"):
                raise self.fail(f"expected true or false for :bool, got {_show(vtok)}", vtok.pos)
            return Compare(path, typ, None, op, text.lower() == "true", pos)
        if typ == "datetime":
            if not is_num and epoch_of(text, 0.0) is None:
                raise self.fail("expected a date-time like \"2024-01-31\", \"2024-01-31T12:00:00Z\" or "
                                f"\"-2h\" (s m h d w M) for :datetime, got {_show(vtok)}", vtok.pos)
            return Compare(path, typ, None, op, value if is_num else text, pos)
        if typ in ("string", "stringSeries", "artifact"):
            return Compare(path, typ, None, op, text, pos)
        return Compare(path, None, None, op, value, pos)


# -------------------------------------------------------------------------------------- date-times
_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?)?"
                  r"\s*(Z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE)
_RELATIVE = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([smhdwM])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400}


def epoch_of(text: str, now: float) -> float | None:
    """Epoch seconds for an ISO 8601 date-time (naive = UTC) or a relative "-2h"; None if neither."""
    text = text.strip()
    if m := _RELATIVE.fullmatch(text):
        return now - float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    m = _ISO.fullmatch(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    offset = timedelta(0)
    if tz and tz.upper() != "Z":
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        offset = -offset if tz[0] == "-" else offset
    try:
        moment = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                          tzinfo=timezone(offset))
    except ValueError:
        return None
    return moment.timestamp() + (float("0." + frac) if frac else 0.0)




# ----------------------------------------------------------------------------------------- describe
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return _quote(value)


def _attr(path: str, typ: str | None) -> str:
    return f"`{path}`" + (f":{typ}" if typ else "")


def describe(node: Node) -> str:
    """Canonical text of a parsed query (parses back to the same tree, positions aside)."""
    if isinstance(node, TrueNode):
        return ""
    if isinstance(node, (And, Or)):
        sep = " AND " if isinstance(node, And) else " OR "
        return "(" + sep.join(describe(n) for n in node.items) + ")"
    if isinstance(node, Not):
        inner = describe(node.item)
        return f"NOT {inner}" if inner.startswith("(") else f"NOT ({inner})"
    if isinstance(node, Compare):
        attr = _attr(node.path, node.type)
        lhs = f"{node.aggregate}({attr})" if node.aggregate else attr
        return f"{lhs} {node.op} {_value_text(node.value)}"
    if isinstance(node, Exists):
        return f"{_attr(node.path, node.type)} EXISTS"
    word = "CONTAINS" if isinstance(node, Contains) else "MATCHES"
    value = node.value if isinstance(node, Contains) else node.pattern
    return f"{_attr(node.path, node.type)} {'NOT ' if node.negated else ''}{word} {_quote(value)}"
