"""Store contract for the runs table: filtering, column projection, sorting, limits, effective state."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ProjectNotFound, QueryError
from naiad.store.base import MODEL, RUN, FieldValue, Store

from .conftest import MakeRun
from .support import Handle, assign, points


@dataclass
class Table:
    store: Store
    r1: Handle
    r2: Handle
    r3: Handle
    model: Handle


@pytest.fixture
def table(store: Store, make_run: MakeRun) -> Table:
    """Three runs of team/cls (created 1000, 2000, 3000 s), a model in the same project, a run elsewhere.

    train/loss is built so that ordering by its last value (r2 < r1 < r3) differs from ordering by
    its first, min or max value.
    """
    r1 = make_run("team/cls", created=1000.0)
    r2 = make_run("team/cls", created=2000.0)
    r3 = make_run("team/cls", created=3000.0)
    model = make_run("team/cls", kind=MODEL, created=1500.0, key="CLS")
    other = make_run("other", created=500.0)
    for run, lr, bs, losses, tags, name in [
        (r1, 0.1, 32, [0.1, 0.5], ["best", "cnn"], "alpha"),
        (r2, 0.01, 64, [0.9, 0.2], ["cnn"], "beta"),
        (r3, 0.001, 128, [0.3, 0.9], [], "gamma"),
    ]:
        run.apply(assign("params/lr", F.FLOAT, lr), assign("params/batch", F.INTEGER, bs),
                  points("train/loss", [0, 1], losses), assign("sys/name", F.STRING, name))
        if tags:
            run.apply((O.ADD, "sys/tags", tags))
    model.apply(assign("params/lr", F.FLOAT, 0.5))
    other.apply(assign("params/lr", F.FLOAT, 0.05), assign("params/momentum", F.FLOAT, 0.9))
    return Table(store, r1, r2, r3, model)


def ids(*handles: Handle) -> list[str]:
    return [h.short_id for h in handles]


def test_query_table_lists_runs_of_the_project_newest_first(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN)
    assert got.ids == ids(table.r3, table.r2, table.r1)
    assert [row["sys/id"].value for row in got.rows] == got.ids


def test_query_table_finds_a_workspace_project_by_bare_name(table: Table) -> None:
    assert table.store.query_table("cls", RUN).ids == ids(table.r3, table.r2, table.r1)


def test_query_table_lists_only_containers_of_the_asked_kind(table: Table) -> None:
    got = table.store.query_table("team/cls", MODEL)
    assert got.ids == ids(table.model)
    assert got.rows[0]["params/lr"].value == 0.5


@pytest.mark.parametrize(("query", "expected"), [
    ("params/lr > 0.005", ["r2", "r1"]),
    ("params/lr <= 0.01", ["r3", "r2"]),
    ("params/batch = 64", ["r2"]),
    ('`sys/tags`:stringSet CONTAINS "best"', ["r1"]),
    ('sys/tags CONTAINS "cnn" AND NOT params/batch = 32', ["r2"]),
    ("last(train/loss) < 0.6", ["r2", "r1"]),
    ("min(train/loss) < 0.15 OR max(train/loss) > 0.85", ["r3", "r2", "r1"]),
    ('sys/name = "gamma"', ["r3"]),
    ('sys/name MATCHES "^(al|be)"', ["r2", "r1"]),
    ('sys/creation_time > "1970-01-01T00:25:00Z"', ["r3", "r2"]),
    ("sys/creation_time:datetime <= 2000", ["r2", "r1"]),
    ("params/momentum EXISTS", []),
    ("params EXISTS", ["r3", "r2", "r1"]),
    ("", ["r3", "r2", "r1"]),
])
def test_query_filters_runs(table: Table, query: str, expected: list[str]) -> None:
    got = table.store.query_table("team/cls", RUN, query=query)
    assert got.ids == [getattr(table, name).short_id for name in expected]


def test_exists_on_a_namespace_takes_underscores_literally(store: Store, make_run: MakeRun) -> None:
    run = make_run("p")
    run.apply(assign("a_b/c", F.FLOAT, 1.0))
    assert store.query_table("p", RUN, query="axb EXISTS").ids == []
    assert store.query_table("p", RUN, query="a_b EXISTS").ids == [run.short_id]


def test_exists_on_a_namespace_is_case_sensitive(store: Store, make_run: MakeRun) -> None:
    run = make_run("p")
    run.apply(assign("Params/lr", F.FLOAT, 1.0))
    assert store.query_table("p", RUN, query="params EXISTS").ids == []
    assert store.query_table("p", RUN, query="Params EXISTS").ids == [run.short_id]


def test_an_invalid_query_raises_query_error(table: Table) -> None:
    with pytest.raises(QueryError):
        table.store.query_table("team/cls", RUN, query="params/lr >")


def test_query_table_of_a_missing_project_raises_project_not_found(table: Table) -> None:
    with pytest.raises(ProjectNotFound):
        table.store.query_table("nope", RUN)


def test_columns_project_the_rows_to_the_asked_fields(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN, columns=["params/lr"], sort_by="params/lr", ascending=True)
    assert got.ids == ids(table.r3, table.r2, table.r1)
    assert [row["params/lr"] for row in got.rows] == [FieldValue(F.FLOAT, v) for v in (0.001, 0.01, 0.1)]
    for row in got.rows:
        assert set(row) <= {"sys/id", "params/lr"}
    assert "params/lr" in got.columns
    assert "train/loss" not in got.columns and "params/batch" not in got.columns


def test_a_namespace_column_expands_to_its_fields(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN, columns=["params"])
    for row, lr, bs in zip(got.rows, (0.001, 0.01, 0.1), (128, 64, 32), strict=True):
        assert row["params/lr"] == FieldValue(F.FLOAT, lr)
        assert row["params/batch"] == FieldValue(F.INTEGER, bs)
        assert set(row) <= {"sys/id", "params/lr", "params/batch", "sys/creation_time"}
    assert {"params/lr", "params/batch"} <= set(got.columns)
    assert "train/loss" not in got.columns


def test_a_namespace_column_lists_only_fields_of_the_matched_runs(table: Table) -> None:
    table.r1.apply(assign("params/old", F.FLOAT, 1.0))
    table.r1.apply((O.DELETE, "params/old"))
    got = table.store.query_table("team/cls", RUN, columns=["params"])
    assert "params/momentum" not in got.columns
    assert "params/old" not in got.columns


def test_series_and_set_columns_carry_last_value_count_and_members(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN, columns=["train/loss", "sys/tags"], sort_by="sys/id",
                                  ascending=True)
    assert got.ids == ids(table.r1, table.r2, table.r3)
    assert [row["train/loss"] for row in got.rows] == [
        FieldValue(F.FLOAT_SERIES, v, 2) for v in (0.5, 0.2, 0.9)]
    assert got.rows[0]["sys/tags"] == FieldValue(F.STRING_SET, {"best", "cnn"})
    assert got.rows[1]["sys/tags"] == FieldValue(F.STRING_SET, {"cnn"})
    assert "sys/tags" not in got.rows[2]


def test_without_columns_rows_carry_every_field(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN)
    for row in got.rows:
        assert {"params/lr", "params/batch", "train/loss", "sys/id", "sys/state", "sys/name"} <= set(row)
    assert "params/momentum" not in got.columns


@pytest.mark.parametrize(("sort_by", "ascending", "expected"), [
    ("params/lr", True, ["r3", "r2", "r1"]),
    ("params/lr", False, ["r1", "r2", "r3"]),
    ("params/batch", True, ["r1", "r2", "r3"]),
    ("train/loss", True, ["r2", "r1", "r3"]),     # by last value: 0.2, 0.5, 0.9
    ("train/loss", False, ["r3", "r1", "r2"]),
    ("sys/name", False, ["r3", "r2", "r1"]),
    ("sys/creation_time", True, ["r1", "r2", "r3"]),
    ("sys/id", True, ["r1", "r2", "r3"]),
])
def test_sort_by_a_field(table: Table, sort_by: str, ascending: bool, expected: list[str]) -> None:
    got = table.store.query_table("team/cls", RUN, sort_by=sort_by, ascending=ascending, columns=["sys/name"])
    assert got.ids == [getattr(table, name).short_id for name in expected]


def test_runs_without_the_sort_field_come_last_either_way(table: Table) -> None:
    table.r2.apply((O.DELETE, "params/lr"))
    asc = table.store.query_table("team/cls", RUN, sort_by="params/lr", ascending=True)
    desc = table.store.query_table("team/cls", RUN, sort_by="params/lr", ascending=False)
    assert asc.ids == ids(table.r3, table.r1, table.r2)
    assert desc.ids == ids(table.r1, table.r3, table.r2)


def test_limit_keeps_the_first_rows_of_the_sorted_result(table: Table) -> None:
    got = table.store.query_table("team/cls", RUN, sort_by="train/loss", ascending=True, limit=2)
    assert got.ids == ids(table.r2, table.r1)
    assert len(got.rows) == 2
    got = table.store.query_table("team/cls", RUN, query="params/lr < 0.05", limit=1)
    assert got.ids == ids(table.r3)


# ------------------------------------------------------------------------------------- crashed state
def test_a_running_run_without_a_recent_heartbeat_shows_as_crashed(
        store: Store, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "60")
    now = time.time()
    stale, fresh, done = make_run("p"), make_run("p"), make_run("p")
    stale.apply(assign("sys/ping_time", F.DATETIME, now - 3600))
    fresh.apply(assign("sys/ping_time", F.DATETIME, now))
    done.apply(assign("sys/ping_time", F.DATETIME, now - 3600), assign("sys/state", F.STRING, "finished"))

    assert stale.value("sys/state") == "crashed"
    assert fresh.value("sys/state") == "running"
    assert done.value("sys/state") == "finished"

    table = store.query_table("p", RUN, columns=["sys/state"], sort_by="sys/id", ascending=True)
    assert table.ids == ids(stale, fresh, done)
    assert [row["sys/state"].value for row in table.rows] == ["crashed", "running", "finished"]
    assert store.query_table("p", RUN, query='sys/state = "crashed"').ids == ids(stale)
    assert store.query_table("p", RUN, query='sys/state = "running"').ids == ids(fresh)
    assert store.query_table("p", RUN, query='sys/state = "finished"').ids == ids(done)
    assert store.query_table("p", RUN, query='sys/state != "crashed"', sort_by="sys/id",
                             ascending=True).ids == ids(fresh, done)

    monkeypatch.setenv("NAIAD_CRASH_AFTER", "7200")  # the threshold is read at query time
    assert stale.value("sys/state") == "running"
    assert store.query_table("p", RUN, query='sys/state = "crashed"').ids == []


def test_a_fresh_heartbeat_revives_a_crashed_looking_run(make_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "60")
    run = make_run("p")
    run.apply(assign("sys/ping_time", F.DATETIME, time.time() - 3600))
    assert run.value("sys/state") == "crashed"
    run.apply(assign("sys/ping_time", F.DATETIME, time.time()))
    assert run.value("sys/state") == "running"
    assert run.store.query_table("p", RUN, query='sys/state = "running"').ids == [run.short_id]
