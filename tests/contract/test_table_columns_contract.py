"""Contract of ``SqlStore.table_columns``, the runs table by column for the UI, on both SQL stores: one
JSON-ready list per column, a window of ``offset … offset + limit`` rows, the total of matching rows,
and the same rows, order and values as ``query_table``; and of the ``path:min`` / ``path:max`` sort keys
that order runs by a float series' extremes.

``table_columns`` is not on the Store protocol (the remote store has none; the server answers its
``columns`` layout with ``wire.table_to_columns`` there, see tests/test_ui_api.py), so this module runs
the contract fixtures on SQLite and PostgreSQL only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ProjectNotFound, QueryError
from naiad.store.base import MODEL, RUN, FieldValue, Store
from naiad.store.sql import SqlStore

from .conftest import MakeRun, StoreFactory, postgres_store, sqlite_store
from .support import Handle, assign, file_ref, manifest_entry, points

PROJECT = "team/cls"


@pytest.fixture(params=[pytest.param(sqlite_store, id="sqlite"), pytest.param(postgres_store, id="postgres")])
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    """Only the SQL stores: ``store`` and ``make_run`` of the contract conftest build on this."""
    factory: StoreFactory = request.param
    return factory


@pytest.fixture
def sql(store: Store) -> SqlStore:
    assert isinstance(store, SqlStore)
    return store


def ids(*handles: Handle) -> list[str]:
    return [h.short_id for h in handles]


# ---------------------------------------------------------------- the expected form, from query_table
def json_num(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def cell_value(fv: FieldValue) -> Any:
    if fv.type == F.STRING_SET:
        return sorted(fv.value)
    if fv.type in (F.FLOAT, F.DATETIME, F.FLOAT_SERIES):
        return json_num(fv.value)
    return fv.value


def expected_column(rows: list[dict[str, FieldValue]], path: str) -> dict[str, Any]:
    """What ``table_columns`` should give for ``path``, built from ``query_table``'s rows."""
    n = len(rows)
    cells = [row.get(path) for row in rows]
    present = {fv.type for fv in cells if fv is not None}
    col: dict[str, Any] = {"values": [None if fv is None else cell_value(fv) for fv in cells]}
    if len(present) <= 1:
        col["type"] = next(iter(present), None)
    else:
        col["types"] = [None if fv is None else fv.type for fv in cells]
    if any(fv is not None and fv.count is not None for fv in cells):
        col["count"] = [None if fv is None else fv.count for fv in cells]
    if F.FLOAT_SERIES in present:
        stats = [fv.stats if fv is not None and fv.type == F.FLOAT_SERIES else None for fv in cells]
        col["min"] = [None if s is None else json_num(s[0]) for s in stats]
        col["max"] = [None if s is None else json_num(s[1]) for s in stats]
    assert all(len(v) == n for k, v in col.items() if isinstance(v, list))
    return col


def assert_agrees_with_query_table(sql: SqlStore, columns: list[str], *, query: str | None = None,
                                   sort_by: str = "sys/creation_time", ascending: bool = False,
                                   offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    got = sql.table_columns(PROJECT, RUN, columns=columns, query=query, sort_by=sort_by, ascending=ascending,
                            offset=offset, limit=limit)
    table = sql.query_table(PROJECT, RUN, columns=columns, query=query, sort_by=sort_by, ascending=ascending)
    case = (query, sort_by, ascending, offset, limit)
    end = len(table.ids) if limit is None else offset + limit
    rows = table.rows[offset:end]
    assert set(got) == {"total", "offset", "ids", "columns"}, case
    assert (got["total"], got["offset"]) == (len(table.ids), offset), case
    assert got["ids"] == table.ids[offset:end], case
    assert list(got["columns"]) == columns, case
    for path in columns:
        col = dict(got["columns"][path])
        expected = expected_column(rows, path)
        if "types" in expected:  # which type a mixed column names is not fixed; its rows' types are
            col.pop("type", None)
        assert col == expected, (case, path)
    return got


# ------------------------------------------------------------------------------------ a varied project
COLUMNS = ["sys/id", "sys/name", "sys/state", "sys/tags", "sys/creation_time", "params/lr", "params/batch",
           "params/augment", "data/when", "train/loss", "train/log", "files/frames", "files/notes", "src",
           "datasets/main", "score", "params/never"]


@dataclass
class Project:
    sql: SqlStore
    runs: list[Handle]


@pytest.fixture
def project(sql: SqlStore, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Six runs of team/cls (created 1000 … 6000 s) with every field type, fields missing here and
    there, a cleared series, an emptied tag set, a run that crashed (stale heartbeat), a column whose
    runs disagree on its type; a model in the project and a run elsewhere, which the table never shows."""
    monkeypatch.setenv("NAIAD_CRASH_AFTER", "60")
    now = time.time()
    r1, r2, r3, r4, r5, r6 = (make_run(PROJECT, created=1000.0 * i) for i in range(1, 7))
    r1.apply(assign("sys/name", F.STRING, "alpha"), assign("params/lr", F.FLOAT, 0.1),
             assign("params/batch", F.INTEGER, 32), assign("params/augment", F.BOOLEAN, True),
             assign("data/when", F.DATETIME, 1_700_000_000.5), (O.ADD, "sys/tags", ["cnn", "best", "a-first"]),
             points("train/loss", [0, 1, 2], [0.9, 0.2, 0.5]), points("train/log", [0, 1], ["epoch 0", "epoch 1"]),
             points("files/frames", [0], ['{"hash": "f1"}'], ftype=F.FILE_SERIES),
             assign("files/notes", F.FILE, file_ref("a" * 64)),
             (O.FILES, "src", {"main.py": file_ref("b" * 64), "lib/util.py": file_ref("c" * 64)}, False),
             (O.TRACK, "datasets/main", [manifest_entry("train.csv", "1" * 64)], False),
             assign("score", F.FLOAT, 0.75), assign("sys/ping_time", F.DATETIME, now))
    r2.apply(assign("sys/name", F.STRING, "beta"), assign("params/lr", F.FLOAT, 0.01),
             assign("params/batch", F.INTEGER, 64), assign("params/augment", F.BOOLEAN, False),
             (O.ADD, "sys/tags", ["cnn"]), points("train/loss", [0, 1], [0.3, 0.4]),
             points("train/log", [0], ["only line"]), assign("score", F.STRING, "high"),
             assign("sys/ping_time", F.DATETIME, now - 3600))  # running, heartbeat stopped: crashed
    r3.apply(assign("sys/name", F.STRING, "gamma"), assign("params/lr", F.FLOAT, math.inf),
             points("train/loss", [0, 1], [math.inf, 0.1]), assign("score", F.INTEGER, 3),
             assign("sys/state", F.STRING, "finished"), assign("sys/ping_time", F.DATETIME, now - 3600))
    r4.apply(assign("sys/name", F.STRING, "delta"), assign("params/lr", F.FLOAT, -math.inf),
             assign("params/batch", F.INTEGER, 8), points("train/loss", [0, 1], [5.0, 6.0]),
             (O.ADD, "sys/tags", ["gone"]))
    r4.apply((O.CLEAR, "train/loss"), (O.REMOVE, "sys/tags", ["gone"]))
    r5.apply(assign("sys/name", F.STRING, "epsilon"), assign("params/lr", F.FLOAT, 0.5),
             points("train/loss", [0, 1, 2], [-1.5, 2.0, 0.0]), (O.ADD, "sys/tags", ["best"]))
    r6.apply(assign("sys/name", F.STRING, "zeta"))
    make_run(PROJECT, kind=MODEL, key="CLS", created=3500.0).apply(assign("params/lr", F.FLOAT, 0.2))
    make_run("other", created=9000.0).apply(assign("params/lr", F.FLOAT, 0.3))
    return Project(sql, [r1, r2, r3, r4, r5, r6])


# ------------------------------------------------------------------------------------- shape and values
def test_table_columns_gives_the_total_the_offset_the_ids_and_one_list_per_column(project: Project) -> None:
    r1, r2, r3, r4, r5, r6 = project.runs
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name", "params/batch"])
    assert got == {
        "total": 6, "offset": 0, "ids": ids(r6, r5, r4, r3, r2, r1),
        "columns": {
            "sys/name": {"type": F.STRING, "values": ["zeta", "epsilon", "delta", "gamma", "beta", "alpha"]},
            "params/batch": {"type": F.INTEGER, "values": [None, None, 8, None, 64, 32]},
        },
    }


def test_each_field_type_comes_in_its_json_form(project: Project) -> None:
    r1 = project.runs[0]
    got = project.sql.table_columns(PROJECT, RUN, columns=COLUMNS, sort_by="sys/id", ascending=True, limit=1)
    assert got["ids"] == ids(r1)
    cols = {path: (col["type"], col["values"][0]) for path, col in got["columns"].items() if path != "score"}
    created = r1.value("sys/creation_time")
    assert cols == {
        "sys/id": (F.STRING, r1.short_id),
        "sys/name": (F.STRING, "alpha"),
        "sys/state": (F.STRING, "running"),
        "sys/tags": (F.STRING_SET, ["a-first", "best", "cnn"]),  # sorted
        "sys/creation_time": (F.DATETIME, created),
        "params/lr": (F.FLOAT, 0.1),
        "params/batch": (F.INTEGER, 32),
        "params/augment": (F.BOOLEAN, True),
        "data/when": (F.DATETIME, 1_700_000_000.5),
        "train/loss": (F.FLOAT_SERIES, 0.5),  # the last value
        "train/log": (F.STRING_SERIES, "epoch 1"),  # the last line
        "files/frames": (F.FILE_SERIES, '{"hash": "f1"}'),
        "files/notes": (F.FILE, file_ref("a" * 64)),  # parsed JSON
        "src": (F.FILE_SET, {"main.py": file_ref("b" * 64), "lib/util.py": file_ref("c" * 64)}),
        "datasets/main": (F.ARTIFACT, r1.value("datasets/main")),
        "params/never": (None, None),
    }
    assert got["columns"]["datasets/main"]["values"][0]["files"][0]["file_path"] == "train.csv"
    assert isinstance(got["columns"]["params/batch"]["values"][0], int)
    assert got["columns"]["params/augment"]["values"] == [True]
    loss = got["columns"]["train/loss"]
    assert (loss["count"], loss["min"], loss["max"]) == ([3], [0.2], [0.9])
    assert got["columns"]["train/log"]["count"] == [2]
    assert got["columns"]["files/frames"]["count"] == [1]


def test_atoms_carry_no_count_min_or_max_and_string_series_no_min_or_max(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["params/lr", "params/batch", "sys/tags", "train/log"])
    for path in ("params/lr", "params/batch", "sys/tags"):
        assert set(got["columns"][path]) == {"type", "values"}, path
    assert set(got["columns"]["train/log"]) == {"type", "values", "count"}


def test_a_run_without_the_field_has_null_in_every_list_of_the_column(project: Project) -> None:
    r1, r2, r3, r4, r5, r6 = project.runs
    got = project.sql.table_columns(PROJECT, RUN, columns=["train/log", "train/loss", "params/augment"],
                                    sort_by="sys/id", ascending=True)
    assert got["ids"] == ids(r1, r2, r3, r4, r5, r6)
    log, loss, augment = (got["columns"][p] for p in ("train/log", "train/loss", "params/augment"))
    assert log == {"type": F.STRING_SERIES, "values": ["epoch 1", "only line", None, None, None, None],
                   "count": [2, 1, None, None, None, None]}
    assert loss["count"][5] is None and loss["min"][5] is None and loss["max"][5] is None
    assert loss["values"][5] is None
    assert augment["values"] == [True, False, None, None, None, None]  # False is a value, not a gap


def test_a_cleared_series_has_a_count_of_zero_and_no_value_min_or_max(project: Project) -> None:
    r4 = project.runs[3]
    got = project.sql.table_columns(PROJECT, RUN, columns=["train/loss"], query='sys/name = "delta"')
    assert got["ids"] == ids(r4)
    assert got["columns"]["train/loss"] == {"type": F.FLOAT_SERIES, "values": [None], "count": [0],
                                            "min": [None], "max": [None]}


def test_an_emptied_string_set_is_an_empty_list_not_null(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/tags"], sort_by="sys/id", ascending=True)
    assert got["columns"]["sys/tags"]["values"] == [["a-first", "best", "cnn"], ["cnn"], None, [], ["best"], None]


def test_infinite_floats_come_as_strings(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["params/lr", "train/loss"], sort_by="sys/id",
                                    ascending=True, offset=2, limit=2)
    lr, loss = got["columns"]["params/lr"], got["columns"]["train/loss"]
    assert lr["values"] == ["Infinity", "-Infinity"]
    assert (loss["values"][0], loss["min"][0], loss["max"][0]) == (0.1, 0.1, "Infinity")


def test_nan_comes_as_the_string_NaN(tmp_path: Path) -> None:
    # the embedded SQLite store cannot hold NaN; PostgreSQL can
    with postgres_store(tmp_path) as store:
        assert isinstance(store, SqlStore)
        info = store.create_container(PROJECT, RUN, "a" * 32)
        run = Handle(store, info, writer="w")
        run.apply(assign("params/lr", F.FLOAT, math.nan), points("train/loss", [0, 1], [1.0, math.nan]))
        got = store.table_columns(PROJECT, RUN, columns=["params/lr", "train/loss"])
        assert got["columns"]["params/lr"]["values"] == ["NaN"]
        assert got["columns"]["train/loss"]["values"] == ["NaN"]
        assert_agrees_with_query_table(store, ["params/lr", "train/loss"])


def test_a_column_no_run_has_is_all_null_with_no_type(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["params/never", "no/such/path/anywhere"])
    assert got["columns"] == {"params/never": {"type": None, "values": [None] * 6},
                              "no/such/path/anywhere": {"type": None, "values": [None] * 6}}
    # a path the model and the other project have is still empty in this project's runs table
    model_only = project.sql.table_columns(PROJECT, RUN, columns=["params/lr"], query="params/lr = 0.2")
    assert (model_only["total"], model_only["ids"]) == (0, [])


def test_columns_are_exact_paths_not_namespaces(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["params", "train"])
    assert got["columns"] == {"params": {"type": None, "values": [None] * 6},
                              "train": {"type": None, "values": [None] * 6}}


def test_columns_come_in_the_asked_order_normalized_and_once_each(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["train/loss", "/params//lr/", "sys/name", "params/lr"])
    assert list(got["columns"]) == ["train/loss", "params/lr", "sys/name"]
    assert got["columns"]["params/lr"]["values"][:2] == [None, 0.5]


def test_no_columns_still_gives_the_total_and_the_ids(project: Project) -> None:
    r4, r5, r6 = project.runs[3:]
    got = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="sys/id", ascending=False, limit=3)
    assert got == {"total": 6, "offset": 0, "ids": ids(r6, r5, r4), "columns": {}}


def test_a_column_whose_runs_disagree_on_its_type_carries_each_rows_type(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["score"], sort_by="sys/id", ascending=True)
    score = got["columns"]["score"]
    assert score["values"] == [0.75, "high", 3, None, None, None]
    assert score["types"] == [F.FLOAT, F.STRING, F.INTEGER, None, None, None]
    assert score["type"] in (F.FLOAT, F.STRING, F.INTEGER)
    # a window in which the rows agree has no "types"
    window = project.sql.table_columns(PROJECT, RUN, columns=["score"], sort_by="sys/id", ascending=True,
                                       offset=2, limit=3)
    assert window["columns"]["score"] == {"type": F.INTEGER, "values": [3, None, None]}


def test_a_present_field_with_a_null_value_keeps_its_type_in_a_mixed_column(sql: SqlStore,
                                                                            make_run: MakeRun) -> None:
    cleared, atom = make_run(PROJECT, created=1.0), make_run(PROJECT, created=2.0)
    cleared.apply(points("m", [0, 1], [1.0, 2.0]))
    cleared.apply((O.CLEAR, "m"))
    atom.apply(assign("m", F.FLOAT, 5.0))
    got = sql.table_columns(PROJECT, RUN, columns=["m"], sort_by="sys/id", ascending=True)
    col = got["columns"]["m"]
    assert (col["values"], col["count"]) == ([None, 5.0], [0, None])
    assert col["types"] == [F.FLOAT_SERIES, F.FLOAT]


# ---------------------------------------------------------------------------------------------- paging
def test_offset_and_limit_give_a_window_and_the_total_counts_every_matching_row(project: Project) -> None:
    r2, r3 = project.runs[1:3]
    page = project.sql.table_columns(PROJECT, RUN, columns=["sys/name", "train/loss"], sort_by="sys/id",
                                     ascending=True, offset=1, limit=2)
    assert (page["total"], page["offset"], page["ids"]) == (6, 1, ids(r2, r3))
    assert page["columns"]["sys/name"]["values"] == ["beta", "gamma"]
    assert page["columns"]["train/loss"] == {"type": F.FLOAT_SERIES, "values": [0.4, 0.1], "count": [2, 2],
                                             "min": [0.3, 0.1], "max": [0.4, "Infinity"]}


def test_pages_put_together_are_the_whole_table(project: Project) -> None:
    whole = project.sql.table_columns(PROJECT, RUN, columns=COLUMNS, sort_by="params/lr")
    for size in (1, 4):
        joined: dict[str, dict[str, list[Any]]] = {}
        seen: list[str] = []
        for offset in range(0, 6, size):
            page = project.sql.table_columns(PROJECT, RUN, columns=COLUMNS, sort_by="params/lr",
                                             offset=offset, limit=size)
            assert page["total"] == 6
            seen += page["ids"]
            for path, col in page["columns"].items():
                for key in ("values", "count", "min", "max"):
                    joined.setdefault(path, {}).setdefault(key, []).extend(
                        col.get(key, [None] * len(page["ids"])))
        assert seen == whole["ids"], size
        for path, col in whole["columns"].items():
            for key in ("values", "count", "min", "max"):
                assert joined[path][key] == col.get(key, [None] * 6), (size, path, key)


def test_an_offset_past_the_end_gives_no_rows_but_the_total(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name", "train/loss"], offset=10, limit=5)
    assert got == {"total": 6, "offset": 10, "ids": [],
                   "columns": {"sys/name": {"type": None, "values": []}, "train/loss": {"type": None, "values": []}}}


def test_a_limit_of_zero_gives_only_the_total(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name"], limit=0)
    assert (got["total"], got["ids"], got["columns"]["sys/name"]["values"]) == (6, [], [])


def test_without_a_limit_every_row_from_the_offset_comes(project: Project) -> None:
    r5, r6 = project.runs[4:]
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name"], sort_by="sys/id", ascending=True, offset=4)
    assert (got["total"], got["ids"], got["columns"]["sys/name"]["values"]) == (6, ids(r5, r6),
                                                                                 ["epsilon", "zeta"])


def test_a_limit_past_the_end_gives_the_rows_there_are(project: Project) -> None:
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name"], sort_by="sys/id", ascending=True,
                                    offset=5, limit=100)
    assert (got["total"], got["ids"], got["columns"]["sys/name"]["values"]) == (6, ids(project.runs[5]), ["zeta"])


# ------------------------------------------------------------------------- the same table as query_table
QUERIES = [None, "params/lr > 0.005", 'sys/tags CONTAINS "cnn"', 'sys/state = "crashed"',
           'sys/state = "running"', "last(train/loss) < 0.6", 'sys/name MATCHES "^[a-d]"',
           "params/batch >= 32 OR params/augment = false", 'sys/name = "nobody"']
SORTS = [("sys/creation_time", False), ("sys/creation_time", True), ("sys/id", True), ("params/lr", True),
         ("params/lr", False), ("train/loss", True), ("train/loss:min", True), ("train/loss:max", False),
         ("sys/name", False), ("params/batch", True), ("score", True), ("train/log", False), ("params/never", True)]


def test_every_query_gives_the_rows_and_values_of_query_table(project: Project) -> None:
    for query in QUERIES:
        assert_agrees_with_query_table(project.sql, COLUMNS, query=query)


def test_every_sort_gives_the_order_and_values_of_query_table(project: Project) -> None:
    for sort_by, ascending in SORTS:
        assert_agrees_with_query_table(project.sql, COLUMNS, sort_by=sort_by, ascending=ascending)


def test_every_window_is_that_slice_of_query_table(project: Project) -> None:
    for offset, limit in [(0, 1), (0, 6), (1, 3), (3, None), (5, 1), (6, 2), (0, 0), (2, 100)]:
        for sort_by, ascending in SORTS[::3]:
            assert_agrees_with_query_table(project.sql, COLUMNS, query="params/lr < 1", sort_by=sort_by,
                                           ascending=ascending, offset=offset, limit=limit)


def test_only_runs_of_the_asked_kind_and_project_are_rows(project: Project) -> None:
    models = project.sql.table_columns(PROJECT, MODEL, columns=["params/lr"])
    assert (models["total"], models["columns"]["params/lr"]["values"]) == (1, [0.2])
    other = project.sql.table_columns("other", RUN, columns=["params/lr"])
    assert (other["total"], other["columns"]["params/lr"]["values"]) == (1, [0.3])


def test_a_workspace_project_is_found_by_its_bare_name(project: Project) -> None:
    assert project.sql.table_columns("cls", RUN, columns=["sys/name"]) == \
        project.sql.table_columns(PROJECT, RUN, columns=["sys/name"])


def test_an_unknown_project_raises_project_not_found(sql: SqlStore) -> None:
    sql.get_or_create_project("known")
    with pytest.raises(ProjectNotFound):
        sql.table_columns("missing", RUN, columns=["sys/name"])


def test_an_invalid_query_raises_query_error(project: Project) -> None:
    with pytest.raises(QueryError):
        project.sql.table_columns(PROJECT, RUN, columns=["sys/name"], query="params/lr >")


def test_a_regex_postgresql_refuses_is_a_query_error_in_table_columns_as_in_query_table(tmp_path: Path) -> None:
    with postgres_store(tmp_path) as store:
        assert isinstance(store, SqlStore)
        store.create_container(PROJECT, RUN, "b" * 32)
        query = 'sys/name MATCHES "a*+"'  # a possessive quantifier: Python's re has it, PostgreSQL's has not
        with pytest.raises(QueryError):
            store.query_table(PROJECT, RUN, query=query)
        with pytest.raises(QueryError):
            store.table_columns(PROJECT, RUN, columns=["sys/name"], query=query)


# ------------------------------------------------------------------------------------------- sys/state
def test_a_running_run_whose_heartbeat_stopped_shows_as_crashed(project: Project,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    r2 = project.runs[1]
    got = project.sql.table_columns(PROJECT, RUN, columns=["sys/state"], sort_by="sys/id", ascending=True,
                                    limit=3)
    assert got["columns"]["sys/state"]["values"] == ["running", "crashed", "finished"]
    crashed = project.sql.table_columns(PROJECT, RUN, columns=["sys/state"], query='sys/state = "crashed"')
    assert (crashed["ids"], crashed["columns"]["sys/state"]["values"]) == (ids(r2), ["crashed"])

    monkeypatch.setenv("NAIAD_CRASH_AFTER", "7200")  # the threshold is read at each call
    again = project.sql.table_columns(PROJECT, RUN, columns=["sys/state"], sort_by="sys/id", ascending=True,
                                      limit=3)
    assert again["columns"]["sys/state"]["values"] == ["running", "running", "finished"]


# ---------------------------------------------------------------------- sorting by a series' min or max
def test_sort_by_path_min_orders_runs_by_the_smallest_point_of_the_series(project: Project) -> None:
    r1, r2, r3, r4, r5, r6 = project.runs
    # mins: r1 0.2, r2 0.3, r3 0.1, r5 -1.5; r4's series is cleared and r6 has none: both last
    asc = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:min", ascending=True)
    desc = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:min", ascending=False)
    assert asc["ids"][:4] == ids(r5, r3, r1, r2)
    assert desc["ids"][:4] == ids(r2, r1, r3, r5)
    assert set(asc["ids"][4:]) == set(desc["ids"][4:]) == set(ids(r4, r6))


def test_sort_by_path_max_orders_runs_by_the_largest_point_of_the_series(project: Project) -> None:
    r1, r2, r3, r4, r5, r6 = project.runs
    # maxes: r1 0.9, r2 0.4, r3 inf, r5 2.0
    asc = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:max", ascending=True)
    desc = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:max", ascending=False)
    assert asc["ids"][:4] == ids(r2, r1, r5, r3)
    assert desc["ids"][:4] == ids(r3, r5, r1, r2)
    assert set(asc["ids"][4:]) == set(desc["ids"][4:]) == set(ids(r4, r6))


def test_min_and_max_order_differently_from_the_last_value(project: Project) -> None:
    last = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss", ascending=True)["ids"]
    low = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:min", ascending=True)["ids"]
    high = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by="train/loss:max", ascending=True)["ids"]
    assert len({tuple(last[:4]), tuple(low[:4]), tuple(high[:4])}) == 3


def test_query_table_sorts_by_min_and_max_the_same_way(project: Project) -> None:
    for sort_by in ("train/loss:min", "train/loss:max"):
        for ascending in (True, False):
            table = project.sql.query_table(PROJECT, RUN, sort_by=sort_by, ascending=ascending)
            got = project.sql.table_columns(PROJECT, RUN, columns=[], sort_by=sort_by, ascending=ascending)
            assert got["ids"] == table.ids, (sort_by, ascending)


def test_runs_whose_field_is_not_a_float_series_come_last_in_a_min_or_max_sort(sql: SqlStore,
                                                                                make_run: MakeRun) -> None:
    atom, low, high, text = (make_run(PROJECT, created=float(i)) for i in range(1, 5))
    atom.apply(assign("m", F.FLOAT, -100.0))
    low.apply(points("m", [0, 1], [1.0, 9.0]))
    high.apply(points("m", [0, 1], [2.0, 3.0]))
    text.apply(points("m", [0], ["a line"]))
    for extreme, asc_first in (("min", ids(low, high)), ("max", ids(high, low))):
        asc = sql.table_columns(PROJECT, RUN, columns=["m"], sort_by=f"m:{extreme}", ascending=True)
        desc = sql.table_columns(PROJECT, RUN, columns=["m"], sort_by=f"m:{extreme}", ascending=False)
        assert asc["ids"][:2] == asc_first, extreme
        assert desc["ids"][:2] == asc_first[::-1], extreme
        assert set(asc["ids"][2:]) == set(desc["ids"][2:]) == set(ids(atom, text)), extreme


def test_min_or_max_of_a_path_no_run_has_leaves_every_run_in_the_table(project: Project) -> None:
    for sort_by in ("params/never:min", "nowhere:max"):
        got = project.sql.table_columns(PROJECT, RUN, columns=["sys/name"], sort_by=sort_by)
        assert got["total"] == 6
        assert sorted(got["ids"]) == sorted(ids(*project.runs))


def test_path_min_means_the_series_minimum_even_beside_a_field_of_that_name(sql: SqlStore,
                                                                           make_run: MakeRun) -> None:
    r1, r2, r3 = (make_run(PROJECT, created=float(i)) for i in range(1, 4))
    # by the series' min r1 < r2 < r3; by the field named "loss:min" r3 < r1 < r2
    r1.apply(points("loss", [0, 1], [0.1, 5.0]), assign("loss:min", F.FLOAT, 20.0))
    r2.apply(points("loss", [0, 1], [0.2, 0.3]), assign("loss:min", F.FLOAT, 30.0))
    r3.apply(points("loss", [0, 1], [0.3, 0.4]), assign("loss:min", F.FLOAT, 10.0))
    got = sql.table_columns(PROJECT, RUN, columns=["loss:min"], sort_by="loss:min", ascending=True)
    assert got["ids"] == ids(r1, r2, r3)
    assert got["columns"]["loss:min"]["values"] == [20.0, 30.0, 10.0]  # the column is the field itself
    assert sql.query_table(PROJECT, RUN, sort_by="loss:min", ascending=True).ids == ids(r1, r2, r3)
    assert sql.table_columns(PROJECT, RUN, columns=[], sort_by="loss:max", ascending=True)["ids"] == ids(r2, r3, r1)


def test_a_field_named_path_min_without_a_path_field_sorts_by_its_own_value(sql: SqlStore,
                                                                             make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT, created=1.0), make_run(PROJECT, created=2.0)
    r1.apply(assign("score:min", F.FLOAT, 2.0))
    r2.apply(assign("score:min", F.FLOAT, 1.0))
    assert sql.table_columns(PROJECT, RUN, columns=[], sort_by="score:min", ascending=True)["ids"] == ids(r2, r1)


def test_a_field_named_path_min_in_another_project_does_not_change_this_projects_sort(
        sql: SqlStore, make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT, created=1.0), make_run(PROJECT, created=2.0)
    r1.apply(points("loss", [0, 1], [3.0, 1.0]))
    r2.apply(points("loss", [0, 1], [0.5, 2.0]))
    assert sql.table_columns(PROJECT, RUN, columns=[], sort_by="loss:min", ascending=True)["ids"] == ids(r2, r1)
    make_run("elsewhere").apply(assign("loss:min", F.FLOAT, 1.0))
    assert sql.table_columns(PROJECT, RUN, columns=[], sort_by="loss:min", ascending=True)["ids"] == ids(r2, r1)


def test_a_deleted_field_named_path_max_no_longer_hides_the_series_max(sql: SqlStore, make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT, created=1.0), make_run(PROJECT, created=2.0)
    r1.apply(points("loss", [0, 1], [3.0, 1.0]), assign("loss:max", F.FLOAT, 1.0))
    r2.apply(points("loss", [0, 1], [0.5, 2.0]))
    r1.apply((O.DELETE, "loss:max"))
    assert "loss:max" not in sql.field_paths(PROJECT)
    assert sql.table_columns(PROJECT, RUN, columns=[], sort_by="loss:max", ascending=False)["ids"] == ids(r1, r2)


def test_a_string_set_sorts_by_its_first_member_with_runs_without_it_last(sql: SqlStore, make_run: MakeRun) -> None:
    b, az, none = (make_run(PROJECT, created=float(i)) for i in range(1, 4))
    b.apply((O.ADD, "sys/tags", ["b"]))
    az.apply((O.ADD, "sys/tags", ["z", "a"]))
    none.apply(assign("x", F.FLOAT, 1.0))
    asc = sql.table_columns(PROJECT, RUN, columns=["sys/tags"], sort_by="sys/tags", ascending=True)
    assert asc["ids"] == ids(az, b, none)
    assert asc["columns"]["sys/tags"]["values"] == [["a", "z"], ["b"], None]
    desc = sql.table_columns(PROJECT, RUN, columns=[], sort_by="sys/tags", ascending=False)
    assert desc["ids"] == ids(b, az, none)
    assert sql.query_table(PROJECT, RUN, sort_by="sys/tags", ascending=True).ids == ids(az, b, none)
