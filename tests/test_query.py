"""NQL parsing and compilation, checked against a real SQLite catalog built from the store schema."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from naiad.core.query import (
    POSTGRES,
    And,
    Compare,
    Contains,
    Exists,
    Not,
    Or,
    TrueNode,
    compile_where,
    describe,
    parse,
    register_sqlite_functions,
)
from naiad.errors import QueryError

SCHEMA = Path(__file__).parents[1] / "src" / "naiad" / "store" / "schema.sql"
NOW = 1_700_000_000.0
DAY = 86400.0
CRASH_AFTER = 300.0
RUN3_CREATED = datetime(2023, 6, 1, 12, 0, tzinfo=timezone.utc).timestamp()


class Catalog:
    """A hand-filled catalog: one project, a few runs, rows written the way the store writes them."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path)
        self.conn.executescript(SCHEMA.read_text())
        register_sqlite_functions(self.conn)
        self.conn.execute("INSERT INTO projects (id, name, key, created) VALUES (1, 'ws/proj', 'RUN', 0)")

    def run(self, short_id: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO containers (uuid, project_id, kind, short_id, created) VALUES (?, 1, 'run', ?, 0)",
            (f"uuid-{short_id}", short_id),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def pid(self, path: str) -> int:
        self.conn.execute("INSERT OR IGNORE INTO paths (path) VALUES (?)", (path,))
        return self.conn.execute("SELECT pid FROM paths WHERE path = ?", (path,)).fetchone()[0]

    def field(self, cid: int, path: str, type_: str, num: float | None = None, txt: str | None = None
              ) -> None:
        self.conn.execute("INSERT INTO fields VALUES (?, ?, ?, ?, ?)", (cid, self.pid(path), type_, num, txt))

    def tags(self, cid: int, path: str, values: list[str]) -> None:
        self.field(cid, path, "StringSet")
        for value in values:
            self.conn.execute("INSERT INTO set_members VALUES (?, ?, ?)", (cid, self.pid(path), value))

    def float_series(self, cid: int, path: str, values: list[float]) -> None:
        self.field(cid, path, "FloatSeries")
        self.conn.execute(
            "INSERT INTO series (cid, pid, type, count, first_step, last_step, last_num, vmin, vmax, vsum,"
            " vsumsq) VALUES (?, ?, 'FloatSeries', ?, 0, ?, ?, ?, ?, ?, ?)",
            (cid, self.pid(path), len(values), len(values) - 1, values[-1], min(values), max(values),
             sum(values), sum(v * v for v in values)),
        )

    def string_series(self, cid: int, path: str, values: list[str]) -> None:
        self.field(cid, path, "StringSeries")
        self.conn.execute(
            "INSERT INTO series (cid, pid, type, count, last_txt) VALUES (?, ?, 'StringSeries', ?, ?)",
            (cid, self.pid(path), len(values), values[-1]),
        )

    def ids(self, query: str, now: float = NOW) -> set[str]:
        sql, params = compile_where(parse(query), now=now, crash_after=CRASH_AFTER)
        rows = self.conn.execute(f"SELECT c.short_id FROM containers c WHERE {sql}", params).fetchall()
        return {row[0] for row in rows}


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    cat = Catalog(tmp_path_factory.mktemp("query") / "catalog.db")
    r1, r2, r3, r4 = (cat.run(f"RUN-{i}") for i in range(1, 5))
    # RUN-1: running and pinging, tagged t1/best, created a day ago
    cat.field(r1, "params/lr", "Float", 0.01)
    cat.field(r1, "params/epochs", "Integer", 10)
    cat.field(r1, "params/use_bn", "Boolean", 1)
    cat.field(r1, "sys/name", "String", txt="baseline model")
    cat.tags(r1, "sys/tags", ["t1", "best"])
    cat.field(r1, "sys/trashed", "Boolean", 0)
    cat.float_series(r1, "metrics/acc", [0.5, 0.9, 0.8])
    cat.string_series(r1, "logs/stage", ["warmup", "train"])
    cat.field(r1, "sys/state", "String", txt="running")
    cat.field(r1, "sys/ping_time", "Datetime", NOW - 10)
    cat.field(r1, "sys/creation_time", "Datetime", NOW - DAY)
    cat.field(r1, "data/my file.csv", "String", txt="x")
    cat.field(r1, "model/weights", "Artifact", txt=json.dumps({"hash": "abc123", "size": 3}))
    # RUN-2: stored as running but its last ping is an hour old -> crashed
    cat.field(r2, "params/lr", "Float", 0.1)
    cat.field(r2, "params/epochs", "Integer", 20)
    cat.field(r2, "params/use_bn", "Boolean", 0)
    cat.field(r2, "sys/name", "String", txt="resnet-50 big")
    cat.tags(r2, "sys/tags", ["t2"])
    cat.field(r2, "sys/trashed", "Boolean", 0)
    cat.float_series(r2, "metrics/acc", [0.7, 0.6])
    cat.string_series(r2, "logs/stage", ["eval"])
    cat.field(r2, "sys/state", "String", txt="running")
    cat.field(r2, "sys/ping_time", "Datetime", NOW - 3600)
    cat.field(r2, "sys/creation_time", "Datetime", NOW - 10 * DAY)
    # RUN-3: finished, trashed, created 2023-06-01T12:00Z
    cat.field(r3, "params/lr", "Float", 0.001)
    cat.field(r3, "sys/name", "String", txt="baseline tiny")
    cat.tags(r3, "sys/tags", ["t1"])
    cat.field(r3, "sys/trashed", "Boolean", 1)
    cat.float_series(r3, "metrics/acc", [0.95])
    cat.field(r3, "sys/state", "String", txt="finished")
    cat.field(r3, "sys/creation_time", "Datetime", RUN3_CREATED)
    cat.field(r3, "axb/c", "String", txt="y")
    # RUN-4: failed, almost empty, no tags field at all
    cat.field(r4, "sys/state", "String", txt="failed")
    cat.field(r4, "sys/name", "String", txt="empty")
    cat.field(r4, "a_b/c", "String", txt="z")
    cat.conn.commit()
    return cat


# ------------------------------------------------------------------------------------------- atoms
def test_empty_query_matches_every_run(cat: Catalog) -> None:
    assert parse("   ") == TrueNode()
    assert cat.ids("") == {"RUN-1", "RUN-2", "RUN-3", "RUN-4"}


def test_numeric_compare_on_float_field(cat: Catalog) -> None:
    assert cat.ids("params/lr > 0.005") == {"RUN-1", "RUN-2"}
    assert cat.ids("`params/lr`:float < 0.05") == {"RUN-1", "RUN-3"}
    assert cat.ids("params/lr == 0.1") == {"RUN-2"}
    assert cat.ids("params/lr>=1e-2") == {"RUN-1", "RUN-2"}


def test_numeric_compare_on_integer_field(cat: Catalog) -> None:
    assert cat.ids("params/epochs >= 10") == {"RUN-1", "RUN-2"}
    assert cat.ids("params/epochs:int = 20") == {"RUN-2"}
    assert cat.ids("params/epochs:integer <= 10") == {"RUN-1"}


def test_not_equal_does_not_match_runs_without_the_field(cat: Catalog) -> None:
    assert cat.ids("params/lr != 0.01") == {"RUN-2", "RUN-3"}


def test_boolean_compare_uses_true_and_false(cat: Catalog) -> None:
    assert cat.ids("params/use_bn = true") == {"RUN-1"}
    assert cat.ids("`params/use_bn`:bool = false") == {"RUN-2"}
    assert cat.ids("params/use_bn:boolean != TRUE") == {"RUN-2"}


def test_string_equality_and_inequality(cat: Catalog) -> None:
    assert cat.ids('sys/name = "baseline model"') == {"RUN-1"}
    assert cat.ids('sys/name:string != "baseline model"') == {"RUN-2", "RUN-3", "RUN-4"}
    assert cat.ids("sys/name = empty") == {"RUN-4"}


def test_string_contains_is_substring(cat: Catalog) -> None:
    assert cat.ids("sys/name CONTAINS baseline") == {"RUN-1", "RUN-3"}
    assert cat.ids('sys/name:string NOT CONTAINS "base"') == {"RUN-2", "RUN-4"}


def test_string_matches_is_regex_search(cat: Catalog) -> None:
    assert cat.ids(r'sys/name MATCHES "^res.*\\d+"') == {"RUN-2"}
    assert cat.ids('sys/name matches "tiny$"') == {"RUN-3"}
    assert cat.ids('sys/name NOT MATCHES "^baseline"') == {"RUN-2", "RUN-4"}


def test_escaped_quote_in_string_value(cat: Catalog) -> None:
    node = parse(r'sys/name = "say \"hi\" \\o/"')
    assert isinstance(node, Compare) and node.value == 'say "hi" \\o/'


def test_backquoted_path_may_contain_spaces(cat: Catalog) -> None:
    assert cat.ids('`data/my file.csv` = "x"') == {"RUN-1"}
    assert cat.ids('`data//my file.csv/`:string = x') == {"RUN-1"}


def test_artifact_compares_hash(cat: Catalog) -> None:
    assert cat.ids('`model/weights`:artifact = "abc123"') == {"RUN-1"}
    assert cat.ids('`model/weights`:artifact = "other"') == set()


# -------------------------------------------------------------------------------------------- tags
def test_tags_contains_member(cat: Catalog) -> None:
    assert cat.ids('sys/tags CONTAINS "t1"') == {"RUN-1", "RUN-3"}
    assert cat.ids('`sys/tags`:stringSet CONTAINS "best"') == {"RUN-1"}
    # membership is exact, not substring
    assert cat.ids('sys/tags:stringSet CONTAINS "t"') == set()


def test_tags_not_contains_needs_the_field_but_not_of_contains_does_not(cat: Catalog) -> None:
    assert cat.ids('sys/tags:stringSet NOT CONTAINS "t1"') == {"RUN-2"}
    assert cat.ids('NOT (sys/tags CONTAINS "t1")') == {"RUN-2", "RUN-4"}


def test_tags_matches_any_member(cat: Catalog) -> None:
    assert cat.ids('sys/tags MATCHES "^b"') == {"RUN-1"}
    assert cat.ids('sys/tags:stringSet NOT MATCHES "^t"') == set()


# ------------------------------------------------------------------------------------------ series
def test_last_aggregate_compares_last_point(cat: Catalog) -> None:
    assert cat.ids("last(metrics/acc) > 0.7") == {"RUN-1", "RUN-3"}
    assert cat.ids("LAST(`metrics/acc`:floatSeries) <= 0.6") == {"RUN-2"}


def test_min_and_max_aggregates(cat: Catalog) -> None:
    assert cat.ids("min(metrics/acc) >= 0.6") == {"RUN-2", "RUN-3"}
    assert cat.ids("max(metrics/acc:float) < 0.8") == {"RUN-2"}


def test_average_aggregate_is_mean(cat: Catalog) -> None:
    assert cat.ids("average(metrics/acc) > 0.7") == {"RUN-1", "RUN-3"}
    assert cat.ids("average(metrics/acc) < 0.7") == {"RUN-2"}


def test_variance_aggregate_is_population_variance(cat: Catalog) -> None:
    # RUN-1 [0.5, 0.9, 0.8] -> 0.0289; RUN-2 [0.7, 0.6] -> 0.0025; RUN-3 [0.95] -> 0
    assert cat.ids("variance(metrics/acc) > 0.01") == {"RUN-1"}
    assert cat.ids("variance(metrics/acc) > 0.002") == {"RUN-1", "RUN-2"}
    assert cat.ids("variance(metrics/acc) < 0.001") == {"RUN-3"}


def test_unannotated_series_path_compares_last_value(cat: Catalog) -> None:
    assert cat.ids("metrics/acc > 0.7") == {"RUN-1", "RUN-3"}
    assert cat.ids("`metrics/acc`:floatSeries > 0.7") == {"RUN-1", "RUN-3"}


def test_float_annotation_without_aggregate_ignores_series(cat: Catalog) -> None:
    assert cat.ids("metrics/acc:float > 0.1") == set()


def test_string_series_last_value(cat: Catalog) -> None:
    assert cat.ids('last(logs/stage) = "train"') == {"RUN-1"}
    assert cat.ids("logs/stage = eval") == {"RUN-2"}
    assert cat.ids('`logs/stage`:stringSeries != "eval"') == {"RUN-1"}


# ---------------------------------------------------------------------------------------- datetime
def test_relative_datetime_counts_back_from_now(cat: Catalog) -> None:
    assert cat.ids('sys/creation_time > "-7d"') == {"RUN-1"}
    assert cat.ids('sys/creation_time:datetime > "-2w"') == {"RUN-1", "RUN-2"}
    assert cat.ids("sys/creation_time > -1M") == {"RUN-1", "RUN-2"}
    assert cat.ids('sys/creation_time > "-25h"') == {"RUN-1"}
    assert cat.ids('sys/creation_time > "-1440m"') == set()
    assert cat.ids('sys/creation_time > "-86401s"') == {"RUN-1"}
    # the same query later in time matches fewer runs
    assert cat.ids('sys/creation_time > "-7d"', now=NOW + 30 * DAY) == set()


def test_iso_datetime_naive_is_utc_and_offsets_apply(cat: Catalog) -> None:
    assert cat.ids('sys/creation_time:datetime < "2023-07-01"') == {"RUN-3"}
    assert cat.ids("sys/creation_time > 2023-01-01T00:00:00Z") == {"RUN-1", "RUN-2", "RUN-3"}
    assert cat.ids('sys/creation_time = "2023-06-01T12:00:00"') == {"RUN-3"}
    assert cat.ids('sys/creation_time = "2023-06-01T14:00:00+02:00"') == {"RUN-3"}
    assert cat.ids('sys/creation_time:datetime = "2023-06-01 07:00:00-0500"') == {"RUN-3"}


# ------------------------------------------------------------------------------------------ exists
def test_exists_on_field(cat: Catalog) -> None:
    assert cat.ids("params/epochs exists") == {"RUN-1", "RUN-2"}
    assert cat.ids("`params/epochs`:int EXISTS") == {"RUN-1", "RUN-2"}
    assert cat.ids("params/epochs:string exists") == set()


def test_exists_on_namespace_prefix(cat: Catalog) -> None:
    assert cat.ids("params exists") == {"RUN-1", "RUN-2", "RUN-3"}
    assert cat.ids("par exists") == set()
    assert cat.ids("params/ep EXISTS") == set()


def test_exists_escapes_like_wildcards(cat: Catalog) -> None:
    assert cat.ids("a_b exists") == {"RUN-4"}


def test_not_exists(cat: Catalog) -> None:
    assert cat.ids("params/epochs NOT EXISTS") == {"RUN-3", "RUN-4"}
    assert cat.ids("NOT params exists") == {"RUN-4"}


# ------------------------------------------------------------------------------------------- logic
def test_and_binds_tighter_than_or(cat: Catalog) -> None:
    query = "params/lr > 0.05 OR params/lr < 0.005 AND sys/tags CONTAINS t1"
    assert isinstance(parse(query), Or)
    assert cat.ids(query) == {"RUN-2", "RUN-3"}


def test_parentheses_override_precedence(cat: Catalog) -> None:
    assert cat.ids("(params/lr > 0.05 OR params/lr < 0.005) AND sys/tags CONTAINS t1") == {"RUN-3"}


def test_not_negates_clause_and_group(cat: Catalog) -> None:
    assert cat.ids("NOT params/lr > 0.05") == {"RUN-1", "RUN-3", "RUN-4"}
    assert cat.ids("not (params/lr > 0.05 or sys/state = failed)") == {"RUN-1", "RUN-3"}
    assert cat.ids("NOT NOT params/lr > 0.05") == {"RUN-2"}


def test_keywords_are_case_insensitive(cat: Catalog) -> None:
    assert cat.ids("params/lr > 0.005 and Sys/tags contains t1") == set()  # paths are case-sensitive
    assert cat.ids("params/lr > 0.005 aNd sys/tags Contains t1") == {"RUN-1"}


def test_neptune_generated_query(cat: Catalog) -> None:
    query = '((`sys/trashed`:bool = false) AND (`sys/tags`:stringSet CONTAINS "t1"))'
    assert cat.ids(query) == {"RUN-1"}


# ------------------------------------------------------------------------------------------- state
def test_state_running_excludes_stale_ping(cat: Catalog) -> None:
    assert cat.ids("sys/state = running") == {"RUN-1"}
    assert cat.ids('`sys/state`:experimentState = "running"') == {"RUN-1"}


def test_state_crashed_is_running_with_stale_ping(cat: Catalog) -> None:
    assert cat.ids("sys/state = crashed") == {"RUN-2"}
    # a ping that is fresh again relative to an earlier `now` is not crashed
    assert cat.ids("sys/state = crashed", now=NOW - 3500) == set()


def test_state_finished_failed_and_case(cat: Catalog) -> None:
    assert cat.ids('`sys/state`:experimentState = "Finished"') == {"RUN-3"}
    assert cat.ids('sys/state = "FAILED"') == {"RUN-4"}
    assert cat.ids("sys/state != running") == {"RUN-2", "RUN-3", "RUN-4"}


def test_state_active_and_inactive(cat: Catalog) -> None:
    assert cat.ids("sys/state = Active") == {"RUN-1"}
    assert cat.ids("`sys/state`:experimentState = Inactive") == {"RUN-2", "RUN-3", "RUN-4"}
    assert cat.ids("sys/state != active") == {"RUN-2", "RUN-3", "RUN-4"}


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("sys/name = 'x'", 11, "use double quotes"),
        ("params/lr >", 11, "expected a value after '>'"),
        ("params/lr > AND x = 1", 12, "expected a value after '>'"),
        ("params/lr 5", 10, "expected an operator"),
        ("(params/lr > 1", 14, "expected ')' to close"),
        ("params/lr > 1)", 13, "no matching '('"),
        ("params/lr > 1 params/x = 2", 14, "expected AND, OR or the end"),
        ('sys/name = "abc', 11, "unterminated string"),
        ("`sys/name = 1", 0, "unterminated `path`"),
        ("median(metrics/acc) > 1", 0, "unknown aggregate 'median'; use one of last, min"),
        ("params/lr:flot > 1", 10, "unknown type 'flot'; use one of float, int"),
        ("`params/lr`:Flot > 1", 12, "unknown type 'Flot'"),
        ('`params/lr`:float > "abc"', 20, "expected a number"),
        ('sys/creation_time:datetime > "yesterday"', 29, "expected a date-time"),
        ("sys/creation_time:datetime > 2024-13-01", 29, "expected a date-time"),
        ("sys/state = sleeping", 12, "expected a state"),
        ("sys/state > running", 10, "= or !="),
        ("params/lr > 1 AND", 17, "expected an attribute"),
        ("()", 1, "expected a condition"),
        ('sys/tags:stringSet = "a"', 19, "use CONTAINS"),
        ('sys/name MATCHES "("', 17, "invalid regular expression"),
        ("params/lr > 1 && x = 2", 14, "use AND"),
        ('min(logs/stage) = "a"', 18, "expected a number"),
        ('min(`logs/stage`:stringSeries) = "a"', 0, "float series only"),
        ('last(sys/name:string) = "a"', 14, "works on float and string series"),
        ("last(metrics/acc > 1", 17, "expected ')'"),
        ("params/lr:bool = 3", 17, "expected true or false"),
        ('sys/name:float CONTAINS "a"', 9, "CONTAINS works on string"),
        ("sys/name NOT = 1", 13, "expected CONTAINS, MATCHES or EXISTS after NOT"),
        ("params/lr+x > 1", 0, "invalid path"),
    ],
)
def test_bad_query_reports_position_and_expectation(query: str, position: int, expected: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert info.value.position == position
    assert expected in info.value.message
    assert info.value.query == query
    # the message shows the query with a caret under the offending token
    assert "\n  " + query + "\n  " + " " * position + "^" in str(info.value)


def test_query_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse("x >")


# ---------------------------------------------------------------------------------- ast / dialects
def test_parse_builds_small_ast() -> None:
    node = parse('a = 1 AND (b:string != "x" OR NOT c exists) AND tags CONTAINS t')
    assert node == And((
        Compare("a", None, None, "=", 1.0, 0),
        Or((Compare("b", "string", None, "!=", "x", 11), Not(Exists("c", None, 34)))),
        Contains("tags", None, "t", False, 48),
    ))


def test_paths_are_normalized() -> None:
    node = parse("`/params//lr/` > 1")
    assert isinstance(node, Compare) and node.path == "params/lr"


def test_number_is_kept_as_text_for_string_annotation() -> None:
    node = parse("sys/name:string = 007")
    assert isinstance(node, Compare) and node.value == "007"


@pytest.mark.parametrize(
    "query",
    [
        '((`sys/trashed`:bool = false) AND (`sys/tags`:stringSet CONTAINS "t1"))',
        'last(metrics/acc) > 0.5 OR NOT sys/name NOT MATCHES "^a\\"b"',
        "sys/state = Inactive AND `data/my file`:string EXISTS",
        "variance(`m`:floatSeries) <= 1.5e-3 AND x != -2",
        'sys/creation_time > "-2h" AND NOT (a = 1 OR b = 2)',
    ],
)
def test_describe_round_trips(query: str) -> None:
    text = describe(parse(query))
    assert describe(parse(text)) == text


def test_describe_is_canonical() -> None:
    assert describe(parse("a==1 and not b:Boolean=TRUE")) == "(`a` = 1 AND NOT (`b`:bool = true))"


def test_postgres_dialect_uses_percent_placeholders() -> None:
    node = parse('sys/name MATCHES "^a" AND sys/tags CONTAINS x AND params exists AND sys/state = crashed')
    sql, params = compile_where(node, dialect=POSTGRES, now=NOW, crash_after=CRASH_AFTER)
    assert "?" not in sql
    assert sql.count("%s") == len(params)
    assert "~ %s" in sql and "naiad_regexp" not in sql


def test_sqlite_placeholders_match_params() -> None:
    node = parse('x = "2024-01-01" OR last(m) > 1 OR sys/state = running OR a NOT CONTAINS b')
    sql, params = compile_where(node, now=NOW, crash_after=CRASH_AFTER)
    assert sql.count("?") == len(params)


def test_regexp_function_is_null_safe(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "r.db")
    register_sqlite_functions(conn)
    row = conn.execute(
        "SELECT naiad_regexp(NULL, 'x'), naiad_regexp('a', NULL), naiad_regexp('^a', 'abc'),"
        " naiad_regexp('b$', 'abc'), naiad_regexp('(', 'abc')"
    ).fetchone()
    assert row == (0, 0, 1, 0, 0)
