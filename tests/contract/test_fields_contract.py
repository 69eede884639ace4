"""Store contract for what a column picker and the runs table read: ``field_paths`` (every path of a
project's containers of one kind, with its type) and the ``(min, max)`` that ``query_table`` attaches
to a float series column."""

from __future__ import annotations

import math

import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ProjectNotFound
from naiad.store.base import MODEL, RUN, FieldValue, Store

from .conftest import MakeRun
from .support import assign, points

PROJECT = "team/cls"


# --------------------------------------------------------------------------------------- field_paths
def test_field_paths_gives_every_path_of_the_projects_runs_with_its_type(store: Store, make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT), make_run(PROJECT)
    r1.apply(assign("params/lr", F.FLOAT, 0.1), assign("sys/name", F.STRING, "first"),
             points("train/loss", [0, 1], [0.5, 0.4]), points("train/log", [0], ["epoch 0"]),
             (O.ADD, "sys/tags", ["cnn"]))
    r2.apply(assign("params/batch", F.INTEGER, 32), assign("params/augment", F.BOOLEAN, True),
             assign("data/when", F.DATETIME, 1_700_000_000.0))
    found = store.field_paths(PROJECT, RUN)
    for path, ftype in [("params/lr", F.FLOAT), ("sys/name", F.STRING), ("train/loss", F.FLOAT_SERIES),
                        ("train/log", F.STRING_SERIES), ("sys/tags", F.STRING_SET), ("params/batch", F.INTEGER),
                        ("params/augment", F.BOOLEAN), ("data/when", F.DATETIME)]:
        assert found[path] == ftype, path
    # exactly the union of what the runs hold, naiad's own sys/ fields included
    expected = {path: fv.type for run in (r1, r2) for path, fv in run.fields().items()}
    assert found == expected


def test_field_paths_come_sorted_by_path(store: Store, make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(assign("zeta", F.FLOAT, 1.0), assign("alpha/b", F.FLOAT, 1.0), assign("alpha/a", F.INTEGER, 1),
              assign("Beta", F.STRING, "x"), points("m/loss", [0], [1.0]))
    found = store.field_paths(PROJECT)
    assert list(found) == sorted(found)
    assert {"zeta", "alpha/a", "alpha/b", "Beta", "m/loss"} <= set(found)


def test_field_paths_defaults_to_runs(store: Store, make_run: MakeRun) -> None:
    make_run(PROJECT).apply(assign("params/lr", F.FLOAT, 0.1))
    make_run(PROJECT, kind=MODEL, key="CLS").apply(assign("model/only", F.STRING, "m"))
    assert store.field_paths(PROJECT) == store.field_paths(PROJECT, RUN)
    assert "model/only" not in store.field_paths(PROJECT)


def test_field_paths_only_looks_at_containers_of_that_kind_in_that_project(store: Store,
                                                                           make_run: MakeRun) -> None:
    make_run(PROJECT).apply(assign("run/only", F.FLOAT, 1.0))
    make_run(PROJECT, kind=MODEL, key="CLS").apply(assign("model/only", F.STRING, "m"))
    make_run("other").apply(assign("other/only", F.FLOAT, 2.0))
    runs = store.field_paths(PROJECT, RUN)
    assert runs["run/only"] == F.FLOAT
    assert "model/only" not in runs and "other/only" not in runs
    models = store.field_paths(PROJECT, MODEL)
    assert models["model/only"] == F.STRING
    assert "run/only" not in models and "other/only" not in models
    assert store.field_paths("other", RUN)["other/only"] == F.FLOAT
    assert "run/only" not in store.field_paths("other", RUN)


def test_where_runs_disagree_a_path_has_the_type_most_of_them_have(store: Store, make_run: MakeRun) -> None:
    runs = [make_run(PROJECT) for _ in range(3)]
    runs[0].apply(assign("score", F.FLOAT, 0.5), assign("label", F.STRING, "a"))
    runs[1].apply(assign("score", F.FLOAT, 0.7), assign("label", F.INTEGER, 1))
    runs[2].apply(assign("score", F.STRING, "high"), assign("label", F.INTEGER, 2))
    found = store.field_paths(PROJECT)
    assert found["score"] == F.FLOAT
    assert found["label"] == F.INTEGER


def test_a_majority_of_series_wins_over_an_atom_of_the_same_path(store: Store, make_run: MakeRun) -> None:
    runs = [make_run(PROJECT) for _ in range(3)]
    runs[0].apply(assign("val/acc", F.FLOAT, 0.9))
    runs[1].apply(points("val/acc", [0, 1], [0.5, 0.6]))
    runs[2].apply(points("val/acc", [0], [0.7]))
    assert store.field_paths(PROJECT)["val/acc"] == F.FLOAT_SERIES


def test_field_paths_of_a_project_without_containers_of_that_kind_is_empty(store: Store,
                                                                           make_run: MakeRun) -> None:
    store.get_or_create_project("empty")
    assert store.field_paths("empty") == {}
    make_run(PROJECT).apply(assign("params/lr", F.FLOAT, 0.1))
    assert store.field_paths(PROJECT, MODEL) == {}


def test_field_paths_of_an_unknown_project_raises_project_not_found(store: Store) -> None:
    store.get_or_create_project("known")
    with pytest.raises(ProjectNotFound):
        store.field_paths("missing")


def test_field_paths_finds_a_workspace_project_by_its_bare_name(store: Store, make_run: MakeRun) -> None:
    make_run(PROJECT).apply(assign("params/lr", F.FLOAT, 0.1))
    assert store.field_paths("cls") == store.field_paths(PROJECT)
    assert store.field_paths("cls")["params/lr"] == F.FLOAT


def test_a_deleted_field_leaves_field_paths_unless_another_run_still_has_it(store: Store,
                                                                            make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT), make_run(PROJECT)
    r1.apply(assign("gone", F.FLOAT, 1.0), assign("shared", F.FLOAT, 1.0))
    r2.apply(assign("shared", F.FLOAT, 2.0))
    r1.apply((O.DELETE, "gone"), (O.DELETE, "shared"))
    found = store.field_paths(PROJECT)
    assert "gone" not in found
    assert found["shared"] == F.FLOAT


# --------------------------------------------------------------------- min and max of a series column
def test_a_float_series_column_carries_the_min_and_max_of_all_its_points(store: Store,
                                                                         make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(points("train/loss", [0, 1], [0.5, 0.9]))
    run.apply(points("train/loss", [2, 3], [0.1, 0.7]))  # min and max span both batches
    [row] = store.query_table(PROJECT, RUN, columns=["train/loss"]).rows
    cell = row["train/loss"]
    assert cell == FieldValue(F.FLOAT_SERIES, 0.7, 4)
    assert cell.stats == (0.1, 0.9)


def test_each_run_in_the_table_has_its_own_series_min_and_max(store: Store, make_run: MakeRun) -> None:
    r1, r2 = make_run(PROJECT, created=1000.0), make_run(PROJECT, created=2000.0)
    r1.apply(points("train/loss", [0, 1, 2], [3.0, -1.5, 2.0]))
    r2.apply(points("train/loss", [0], [42.0]))
    table = store.query_table(PROJECT, RUN, columns=["train/loss"], sort_by="sys/creation_time", ascending=True)
    assert table.ids == [r1.short_id, r2.short_id]
    assert [row["train/loss"].stats for row in table.rows] == [(-1.5, 3.0), (42.0, 42.0)]


def test_series_stats_do_not_take_part_in_equality(store: Store, make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(points("train/loss", [0, 1], [0.2, 0.1]))
    [row] = store.query_table(PROJECT, RUN, columns=["train/loss"]).rows
    read = run.fields("train/loss")["train/loss"]
    assert row["train/loss"].stats == (0.1, 0.2)
    assert row["train/loss"] == read  # the same field read two ways is equal


def test_string_series_and_atoms_in_the_table_carry_no_stats(store: Store, make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(points("train/log", [0, 1], ["a", "b"]), assign("params/lr", F.FLOAT, 0.1),
              assign("params/batch", F.INTEGER, 8))
    [row] = store.query_table(PROJECT, RUN, columns=["train/log", "params/lr", "params/batch"]).rows
    assert row["train/log"] == FieldValue(F.STRING_SERIES, "b", 2)
    for path in ("train/log", "params/lr", "params/batch"):
        assert row[path].stats is None, path


def test_an_infinite_point_is_the_series_max(store: Store, make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(points("grad/norm", [0, 1, 2], [1.0, math.inf, 0.25]))
    [row] = store.query_table(PROJECT, RUN, columns=["grad/norm"]).rows
    assert row["grad/norm"].stats == (0.25, math.inf)


def test_a_cleared_series_has_no_min_or_max_until_new_points_come(store: Store, make_run: MakeRun) -> None:
    run = make_run(PROJECT)
    run.apply(points("train/loss", [0, 1], [5.0, 9.0]))
    run.apply((O.CLEAR, "train/loss"))
    [row] = store.query_table(PROJECT, RUN, columns=["train/loss"]).rows
    assert row["train/loss"].stats == (None, None)
    run.apply(points("train/loss", [0, 1], [0.3, 0.2]))
    [row] = store.query_table(PROJECT, RUN, columns=["train/loss"]).rows
    assert row["train/loss"].stats == (0.2, 0.3)
