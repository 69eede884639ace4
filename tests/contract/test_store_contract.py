"""Store contract: projects, containers, the write primitive ``apply`` with every op kind, and field reads."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch, decode_batch, encode_batch
from naiad.errors import ConfigError, ContainerNotFound, InvalidValueError, NaiadError, NotFoundError, ProjectNotFound
from naiad.store.base import MODEL, MODEL_VERSION, RUN, FieldValue, Store

from .conftest import MakeRun, StoreFactory
from .support import Handle, assign, file_ref, manifest_entry, new_uuid, points

KEY = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


# ------------------------------------------------------------------------------------------ projects
def test_store_has_a_uri(store: Store) -> None:
    assert isinstance(store.uri, str) and store.uri


def test_everything_written_survives_closing_and_reopening_the_store(store_factory: StoreFactory,
                                                                      tmp_path: Path) -> None:
    with store_factory(tmp_path) as first:
        info = first.create_container("team/defects", RUN, new_uuid(), custom_run_id="c")
        first.apply(Batch(info.uuid, "w", 3, [assign("a", F.FLOAT, 1.5), points("s", [1, 2], [3.0, 4.0]),
                                              (O.ADD, "tags", ["t"])]))
        digest, _ = first.blobs.put_bytes(b"kept")
        before = first.read_fields(info.uuid)
    with store_factory(tmp_path) as second:
        assert second.get_project("team/defects").key == "DEF"
        assert second.get_container(short_id="DEF-1").uuid == info.uuid
        assert second.read_fields(info.uuid) == before
        assert second.read_series(info.uuid, "s").steps.tolist() == [1.0, 2.0]
        assert second.writer_seq("w", info.uuid) == 3
        assert second.blobs.exists(digest)
        assert second.create_container("team/defects", RUN, new_uuid()).short_id == "DEF-2"


def test_concurrent_batches_from_several_threads_all_land(run: Handle, store: Store) -> None:
    def work(k: int) -> None:
        for seq in range(1, 41):
            store.apply(Batch(run.uuid, f"thread-{k}", seq, [points(f"t{k}/s", [seq], [float(seq)]),
                                                            (O.ADD, "tags", [f"{k}-{seq}"])]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = run.fields()
    for k in range(4):
        assert got[f"t{k}/s"] == FieldValue(F.FLOAT_SERIES, 40.0, 40)
        assert store.writer_seq(f"thread-{k}", run.uuid) == 40
    assert len(got["tags"].value) == 160
    assert run.errors() == 0


def test_get_or_create_project_is_idempotent(store: Store) -> None:
    first = store.get_or_create_project("defects")
    again = store.get_or_create_project("defects")
    assert again == first
    assert store.get_project("defects") == first
    assert [p.name for p in store.list_projects()] == ["defects"]


def test_project_key_is_the_short_uppercase_start_of_its_name(store: Store) -> None:
    assert store.get_or_create_project("defects").key == "DEF"
    assert store.get_or_create_project("team/vision").key == "VIS"


def test_project_keys_are_unique_short_and_uppercase(store: Store) -> None:
    names = ["defects", "default", "def", "Defaults-2", "ws/defects", "9lives", "--", "x", "X", "x2"]
    keys = [store.get_or_create_project(n).key for n in names]
    assert keys[0] == "DEF"
    assert keys[1] != "DEF"
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert KEY.match(key), key


def test_get_project_missing_raises_project_not_found_naming_existing_projects(store: Store) -> None:
    store.get_or_create_project("alpha")
    store.get_or_create_project("team/beta")
    with pytest.raises(ProjectNotFound) as caught:
        store.get_project("gamma")
    message = str(caught.value)
    assert "gamma" in message
    assert "alpha" in message
    assert "team/beta" in message
    assert isinstance(caught.value, NotFoundError)


def test_get_project_by_bare_name_finds_workspace_project(store: Store) -> None:
    created = store.get_or_create_project("team/vision")
    assert store.get_project("vision") == created
    assert store.get_project("team/vision") == created


def test_a_bare_name_shared_by_two_workspaces_is_not_guessed(store: Store) -> None:
    store.get_or_create_project("a/vision")
    store.get_or_create_project("b/vision")
    with pytest.raises(ProjectNotFound) as caught:
        store.get_project("vision")
    assert "a/vision" in str(caught.value) and "b/vision" in str(caught.value)


def test_bare_name_lookup_takes_underscores_and_percents_literally(store: Store) -> None:
    store.get_or_create_project("ws/my_proj%")
    assert store.get_project("my_proj%").name == "ws/my_proj%"
    with pytest.raises(ProjectNotFound):
        store.get_project("myXprojY")


def test_project_names_are_case_sensitive(store: Store) -> None:
    store.get_or_create_project("team/vision")
    assert store.get_or_create_project("Vision").name == "Vision"
    with pytest.raises(ProjectNotFound):
        store.get_project("VISION")


def test_list_projects_lists_every_project(store: Store) -> None:
    for name in ("b", "a/c", "d"):
        store.get_or_create_project(name)
    assert sorted(p.name for p in store.list_projects()) == ["a/c", "b", "d"]


def test_count_containers_counts_one_kind_of_one_project(store: Store) -> None:
    for _ in range(3):
        store.create_container("defects", RUN, new_uuid())
    store.create_container("other", RUN, new_uuid())
    assert store.count_containers("defects", RUN) == 3
    assert store.count_containers("other", RUN) == 1
    assert store.count_containers("defects", "model") == 0
    with pytest.raises(ProjectNotFound):
        store.count_containers("missing", RUN)


# ---------------------------------------------------------------------------------------- containers
def test_container_ids_are_key_dash_number_in_creation_order(store: Store) -> None:
    ids = [store.create_container("defects", RUN, new_uuid()).short_id for _ in range(4)]
    assert ids == ["DEF-1", "DEF-2", "DEF-3", "DEF-4"]


def test_container_numbers_are_counted_per_project(store: Store) -> None:
    assert store.create_container("defects", RUN, new_uuid()).short_id == "DEF-1"
    other = store.create_container("vision", RUN, new_uuid())
    assert other.short_id == "VIS-1"
    assert store.create_container("defects", RUN, new_uuid()).short_id == "DEF-2"


def test_create_container_returns_its_description(store: Store) -> None:
    uuid = new_uuid()
    info = store.create_container("team/defects", RUN, uuid, created=1234.5, owner="ann")
    assert info.uuid == uuid
    assert info.kind == RUN
    assert info.project == "team/defects"
    assert info.created == 1234.5
    assert info.custom_run_id is None
    assert info.is_new is True


def test_custom_run_id_returns_the_same_container(store: Store) -> None:
    first = store.create_container("proj", RUN, new_uuid(), custom_run_id="nightly-7")
    again = store.create_container("proj", RUN, new_uuid(), custom_run_id="nightly-7")
    assert first.is_new is True
    assert again.is_new is False
    assert (again.uuid, again.short_id, again.custom_run_id) == (first.uuid, first.short_id, "nightly-7")
    other = store.create_container("proj", RUN, new_uuid(), custom_run_id="nightly-8")
    assert other.short_id != first.short_id


def test_create_container_twice_with_the_same_uuid_returns_the_existing_one(store: Store) -> None:
    uuid = new_uuid()
    first = store.create_container("proj", RUN, uuid)
    again = store.create_container("proj", RUN, uuid)
    assert again.short_id == first.short_id
    assert again.is_new is False


def test_get_container_by_short_id_and_by_uuid(store: Store) -> None:
    store.create_container("proj", RUN, new_uuid())
    info = store.create_container("proj", RUN, new_uuid(), custom_run_id="c1")
    for found in (store.get_container(short_id=info.short_id), store.get_container(uuid=info.uuid),
                  store.get_container(short_id=info.short_id, project="proj")):
        assert (found.uuid, found.short_id, found.kind, found.project, found.custom_run_id) == (
            info.uuid, info.short_id, RUN, "proj", "c1")
        assert found.created == pytest.approx(info.created)
        assert found.is_new is False


def test_get_container_unknown_id_raises_container_not_found(store: Store) -> None:
    store.create_container("proj", RUN, new_uuid())
    with pytest.raises(ContainerNotFound):
        store.get_container(short_id="PRO-99")
    with pytest.raises(ContainerNotFound):
        store.get_container(uuid=new_uuid())


def test_get_container_of_another_project_raises_container_not_found(store: Store) -> None:
    info = store.create_container("proj", RUN, new_uuid())
    store.get_or_create_project("other")
    with pytest.raises(ContainerNotFound):
        store.get_container(short_id=info.short_id, project="other")


def test_reading_an_unknown_container_raises_container_not_found(store: Store) -> None:
    with pytest.raises(ContainerNotFound):
        store.read_fields(new_uuid())
    with pytest.raises(ContainerNotFound):
        store.structure(new_uuid())


def test_new_run_has_its_sys_fields(store: Store) -> None:
    before = time.time()
    info = store.create_container("proj", RUN, new_uuid(), owner="ann", custom_run_id="cr")
    got = store.read_fields(info.uuid)
    assert got["sys/id"] == FieldValue(F.STRING, info.short_id)
    assert got["sys/creation_time"].type == F.DATETIME
    assert got["sys/creation_time"].value == pytest.approx(info.created)
    assert before - 1 <= got["sys/creation_time"].value <= time.time() + 1
    assert got["sys/state"] == FieldValue(F.STRING, "running")
    assert got["sys/owner"] == FieldValue(F.STRING, "ann")
    assert got["sys/failed"] == FieldValue(F.BOOLEAN, False)
    assert got["sys/custom_run_id"] == FieldValue(F.STRING, "cr")
    assert got["sys/ping_time"].type == F.DATETIME
    assert got["sys/modification_time"].type == F.DATETIME


def test_creation_time_given_by_the_caller_is_kept(store: Store) -> None:
    info = store.create_container("proj", RUN, new_uuid(), created=1_600_000_000.25)
    assert store.read_fields(info.uuid, ["sys/creation_time"])["sys/creation_time"].value == 1_600_000_000.25


def test_model_container_has_sys_id_but_no_run_state(store: Store) -> None:
    info = store.create_container("proj", MODEL, new_uuid(), key="CLS")
    got = store.read_fields(info.uuid)
    assert got["sys/id"].value == info.short_id
    assert "sys/state" not in got


# ------------------------------------------------------------------------------------ apply: atoms
ATOMS = [
    (F.FLOAT, 0.1),
    (F.FLOAT, -1.5e-300),
    (F.INTEGER, 42),
    (F.INTEGER, -(2**53)),
    (F.BOOLEAN, True),
    (F.BOOLEAN, False),
    (F.STRING, "héllo wörld — 日本語 🚀"),
    (F.STRING, ""),
    (F.DATETIME, 1_700_000_123.456),
]


@pytest.mark.parametrize(("ftype", "value"), ATOMS, ids=[f"{t}-{v!r}"[:30] for t, v in ATOMS])
def test_assign_atom_round_trips_type_and_value(run: Handle, ftype: str, value: object) -> None:
    run.apply(assign("x/field", ftype, value))
    got = run.fields("x/field")["x/field"]
    assert got.type == ftype
    assert got.value == value
    assert type(got.value) is type(value)


def test_assign_overwrites_a_field_of_the_same_type(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1))
    run.apply(assign("params/lr", F.FLOAT, 0.2))
    assert run.value("params/lr") == 0.2
    assert run.errors() == 0


def test_assign_file_reference_round_trips(run: Handle) -> None:
    ref = {"hash": "ab" * 32, "size": 3, "ext": "txt", "name": "notes"}
    run.apply(assign("files/notes", F.FILE, ref))
    assert run.fields("files/notes")["files/notes"] == FieldValue(F.FILE, ref)


def test_apply_returns_the_high_mark_and_no_errors_when_everything_applies(run: Handle) -> None:
    result = run.apply(assign("a", F.FLOAT, 1.0), points("s", [1], [1.0]), (O.ADD, "t", ["x"]))
    assert (result.seq, result.errors) == (run.seq, [])


def test_apply_updates_modification_time(run: Handle) -> None:
    run.apply(assign("sys/modification_time", F.DATETIME, 1.0))
    run.apply(assign("a", F.FLOAT, 1.0))
    assert run.value("sys/modification_time") >= time.time() - 60


# ----------------------------------------------------------------------------------- apply: series
def test_points_float_series_reads_last_value_and_count(run: Handle) -> None:
    run.apply(points("train/loss", [0, 1, 2], [0.9, 0.5, 0.3]))
    run.apply(points("train/loss", [3, 4], [0.2, 0.25]))
    got = run.fields("train/loss")["train/loss"]
    assert got == FieldValue(F.FLOAT_SERIES, 0.25, 5)


def test_points_string_series_reads_last_value_and_count(run: Handle) -> None:
    run.apply(points("logs/out", [1, 2], ["épocha 1", "épocha 2 ✓"]))
    got = run.fields("logs/out")["logs/out"]
    assert got == FieldValue(F.STRING_SERIES, "épocha 2 ✓", 2)


def test_clear_empties_a_series_and_lets_steps_start_over(run: Handle) -> None:
    run.apply(points("loss", [10, 11], [1.0, 2.0]))
    run.apply((O.CLEAR, "loss"))
    assert run.fields("loss")["loss"].type == F.FLOAT_SERIES
    assert run.fields("loss")["loss"].count == 0
    assert len(run.store.read_series(run.uuid, "loss").steps) == 0
    run.apply(points("loss", [0, 1], [5.0, 6.0]))
    data = run.store.read_series(run.uuid, "loss")
    assert data.steps.tolist() == [0.0, 1.0]
    assert np.asarray(data.values).tolist() == [5.0, 6.0]
    assert run.errors() == 0


def test_clear_empties_a_string_set(run: Handle) -> None:
    run.apply((O.ADD, "sys/tags", ["a", "b"]))
    run.apply((O.CLEAR, "sys/tags"))
    assert run.fields("sys/tags")["sys/tags"] == FieldValue(F.STRING_SET, set())
    run.apply((O.ADD, "sys/tags", ["c"]))
    assert run.value("sys/tags") == {"c"}


def test_clear_of_a_missing_field_does_nothing(run: Handle) -> None:
    before = run.store.structure(run.uuid)
    run.apply((O.CLEAR, "nothing/here"))
    assert run.store.structure(run.uuid) == before
    assert run.errors() == 0


# -------------------------------------------------------------------------------- apply: string sets
def test_add_and_remove_string_set_members(run: Handle) -> None:
    run.apply((O.ADD, "sys/tags", ["best", "cnn", "best"]))
    assert run.fields("sys/tags")["sys/tags"] == FieldValue(F.STRING_SET, {"best", "cnn"})
    run.apply((O.ADD, "sys/tags", ["cnn", "日本"]), (O.REMOVE, "sys/tags", ["best", "absent"]))
    assert run.value("sys/tags") == {"cnn", "日本"}
    run.apply((O.REMOVE, "sys/tags", ["cnn", "日本"]))
    assert run.fields("sys/tags")["sys/tags"] == FieldValue(F.STRING_SET, set())


def test_ops_of_a_batch_apply_in_order(run: Handle) -> None:
    run.apply((O.ADD, "tags", ["a"]), (O.REMOVE, "tags", ["a"]), (O.ADD, "tags", ["b"]),
              assign("x", F.FLOAT, 1.0), (O.DELETE, "x"), assign("x", F.STRING, "now a string"))
    assert run.value("tags") == {"b"}
    assert run.fields("x")["x"] == FieldValue(F.STRING, "now a string")
    assert run.errors() == 0


# ------------------------------------------------------------------------------------- apply: delete
def test_delete_removes_a_field_and_frees_its_type(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1), points("loss", [5], [1.0]))
    run.apply((O.DELETE, "params/lr"), (O.DELETE, "loss"))
    assert "params/lr" not in run.store.structure(run.uuid)
    assert "loss" not in run.store.structure(run.uuid)
    assert run.fields("params/lr", "loss") == {}
    run.apply(assign("params/lr", F.STRING, "auto"), points("loss", [0], [2.0]))
    assert run.fields("params/lr")["params/lr"] == FieldValue(F.STRING, "auto")
    assert run.fields("loss")["loss"] == FieldValue(F.FLOAT_SERIES, 2.0, 1)
    assert run.errors() == 0


def test_delete_of_a_namespace_removes_every_field_under_it_and_nothing_else(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1), assign("params/opt/name", F.STRING, "adam"),
              points("params/sched", [1], [0.5]), (O.ADD, "params/tags", ["x"]),
              assign("params_extra", F.INTEGER, 1), assign("paramsX/a", F.INTEGER, 2), assign("other", F.INTEGER, 3))
    run.apply((O.DELETE, "params"))
    paths = set(run.store.structure(run.uuid))
    assert not {p for p in paths if p.startswith("params/")}
    assert {"params_extra", "paramsX/a", "other"} <= paths
    # the namespace can become a field now
    run.apply(assign("params", F.STRING, "none"))
    assert run.value("params") == "none"
    assert run.errors() == 0


def test_delete_of_a_missing_path_does_nothing(run: Handle) -> None:
    before = run.store.structure(run.uuid)
    run.apply((O.DELETE, "no/such/thing"))
    assert run.store.structure(run.uuid) == before
    assert run.errors() == 0


# -------------------------------------------------------------------------------------- apply: files
def test_files_merge_adds_to_a_file_set_and_reset_replaces_it(run: Handle) -> None:
    a, b, c = file_ref("a" * 64), file_ref("b" * 64), file_ref("c" * 64)
    run.apply((O.FILES, "src", {"main.py": a, "lib/util.py": b}, False))
    assert run.fields("src")["src"] == FieldValue(F.FILE_SET, {"main.py": a, "lib/util.py": b})
    run.apply((O.FILES, "src", {"main.py": c, "README.md": a}, False))
    assert run.value("src") == {"main.py": c, "lib/util.py": b, "README.md": a}
    run.apply((O.FILES, "src", {"only.py": b}, True))
    assert run.value("src") == {"only.py": b}


def test_delete_files_removes_names_and_folders_from_a_file_set(run: Handle) -> None:
    ref = file_ref("d" * 64)
    run.apply((O.FILES, "data", {"imgs/a.png": ref, "imgs/b.png": ref, "imgs2.png": ref, "x.csv": ref}, False))
    run.apply((O.DELETE_FILES, "data", ["imgs", "missing.txt"]))
    assert run.value("data") == {"imgs2.png": ref, "x.csv": ref}
    run.apply((O.DELETE_FILES, "data", ["x.csv"]))
    assert run.value("data") == {"imgs2.png": ref}
    assert run.errors() == 0


# ---------------------------------------------------------------------------------- apply: artifacts
def test_track_merges_manifest_entries_by_path(run: Handle) -> None:
    e1, e2, e2b = (manifest_entry("train.csv", "1" * 64), manifest_entry("test.csv", "2" * 64),
                   manifest_entry("test.csv", "3" * 64))
    run.apply((O.TRACK, "datasets/main", [e1], False))
    run.apply((O.TRACK, "datasets/main", [e2], False))
    got = run.fields("datasets/main")["datasets/main"]
    assert got.type == F.ARTIFACT
    assert sorted(e["file_path"] for e in got.value["files"]) == ["test.csv", "train.csv"]
    run.apply((O.TRACK, "datasets/main", [e2b], False))
    files = {e["file_path"]: e for e in run.value("datasets/main")["files"]}
    assert files == {"train.csv": e1, "test.csv": e2b}
    run.apply((O.TRACK, "datasets/main", [e2], True))
    assert run.value("datasets/main")["files"] == [e2]


def test_artifact_hash_changes_when_content_changes(run: Handle) -> None:
    run.apply((O.TRACK, "data", [manifest_entry("a.csv", "1" * 64), manifest_entry("b.csv", "2" * 64)], False))
    first = run.value("data")["hash"]
    run.apply((O.TRACK, "data", [manifest_entry("b.csv", "9" * 64)], False))
    changed = run.value("data")["hash"]
    run.apply((O.TRACK, "data", [manifest_entry("c.csv", "3" * 64)], False))
    added = run.value("data")["hash"]
    assert len({first, changed, added}) == 3
    for digest in (first, changed, added):
        assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_artifact_hash_is_stable_for_the_same_manifest(make_run: MakeRun) -> None:
    entries = [manifest_entry("a.csv", "1" * 64), manifest_entry("b/c.csv", "2" * 64, size=99)]
    one, two, three = make_run(), make_run(), make_run(project="elsewhere")
    one.apply((O.TRACK, "data", entries, False))
    two.apply((O.TRACK, "data", list(reversed(entries)), False))
    three.apply((O.TRACK, "data", entries[:1], False), (O.TRACK, "data", entries[1:], False))
    hashes = {h.value("data")["hash"] for h in (one, two, three)}
    assert len(hashes) == 1
    one.apply((O.TRACK, "data", entries, True))  # re-tracking the same files changes nothing
    assert one.value("data")["hash"] in hashes


# ------------------------------------------------------------------------------ apply: offline create
def _create_op(project: str, **spec: object) -> tuple[object, ...]:
    return (O.CREATE, "", {"project": project, "kind": RUN, "custom_run_id": None, "owner": "ann",
                           "created": 1_650_000_000.5, **spec})


def test_create_op_creates_an_offline_container_and_applies_the_rest_of_the_batch(store: Store) -> None:
    uuid = new_uuid()
    store.apply(Batch(uuid, "offline-w", 1, [_create_op("team/offline"), assign("params/x", F.FLOAT, 1.5)]))
    info = store.get_container(uuid=uuid)
    assert (info.short_id, info.project, info.kind, info.created) == ("OFF-1", "team/offline", RUN, 1_650_000_000.5)
    got = store.read_fields(uuid)
    assert got["params/x"] == FieldValue(F.FLOAT, 1.5)
    assert got["sys/id"].value == "OFF-1"
    assert got["sys/owner"].value == "ann"
    assert got["sys/creation_time"].value == 1_650_000_000.5
    assert got["sys/state"].type == F.STRING
    store.apply(Batch(uuid, "offline-w", 2, [assign("params/y", F.FLOAT, 2.5)]))
    assert store.read_fields(uuid, ["params/y"])["params/y"].value == 2.5


def test_create_op_numbers_after_existing_containers_of_the_project(store: Store) -> None:
    store.create_container("vision", RUN, new_uuid())
    uuid = new_uuid()
    store.apply(Batch(uuid, "offline-w", 1, [_create_op("vision")]))
    assert store.get_container(uuid=uuid).short_id == "VIS-2"


def test_create_op_replayed_by_another_writer_does_not_create_a_second_container(store: Store) -> None:
    uuid = new_uuid()
    store.apply(Batch(uuid, "w1", 1, [_create_op("proj"), assign("a", F.INTEGER, 1)]))
    store.apply(Batch(uuid, "w2", 1, [_create_op("proj"), assign("b", F.INTEGER, 2)]))
    table = store.query_table("proj", RUN)
    assert table.ids == ["PRO-1"]
    assert store.read_fields(uuid, ["a", "b"]) == {"a": FieldValue(F.INTEGER, 1), "b": FieldValue(F.INTEGER, 2)}


def test_offline_container_with_an_existing_custom_run_id_receives_its_later_batches(store: Store) -> None:
    online = store.create_container("proj", RUN, new_uuid(), custom_run_id="job-1")
    offline_uuid = new_uuid()
    store.apply(Batch(offline_uuid, "off", 1, [_create_op("proj", custom_run_id="job-1"), assign("a", F.INTEGER, 1)]))
    assert store.read_fields(online.uuid, ["a"])["a"].value == 1
    store.apply(Batch(offline_uuid, "off", 2, [assign("b", F.INTEGER, 2)]))
    assert store.read_fields(online.uuid, ["b"])["b"].value == 2


def test_an_offline_uuid_joined_to_a_run_finds_that_run(store: Store) -> None:
    online = store.create_container("proj", RUN, new_uuid(), custom_run_id="job-1")
    offline_uuid = new_uuid()
    store.apply(Batch(offline_uuid, "off", 1, [_create_op("proj", custom_run_id="job-1")]))
    assert store.structure(offline_uuid) == store.structure(online.uuid)
    assert store.get_container(uuid=offline_uuid).short_id == online.short_id


# ----------------------------------------------------------------------------------------- idempotency
def test_applying_the_same_writer_seq_twice_changes_nothing(run: Handle, store: Store) -> None:
    batch = Batch(run.uuid, "w", 1, [points("loss", [1, 2], [0.5, 0.4]), (O.ADD, "tags", ["a"]),
                                     assign("n", F.INTEGER, 1)])
    assert store.apply(batch).seq == 1
    before = store.read_fields(run.uuid, ["loss", "tags", "n"])
    retry = Batch(run.uuid, "w", 1, [points("loss", [3], [0.1]), (O.ADD, "tags", ["b"]), assign("n", F.INTEGER, 2)])
    again = store.apply(batch)
    assert (again.seq, again.errors) == (1, [])
    assert store.apply(retry).seq == 1
    assert store.read_fields(run.uuid, ["loss", "tags", "n"]) == before
    assert store.read_series(run.uuid, "loss").steps.tolist() == [1.0, 2.0]
    assert store.writer_seq("w", run.uuid) == 1


def test_a_lower_seq_after_a_higher_one_is_ignored_and_the_high_mark_returned(run: Handle, store: Store) -> None:
    assert store.apply(Batch(run.uuid, "w", 5, [assign("n", F.INTEGER, 5)])).seq == 5
    assert store.apply(Batch(run.uuid, "w", 3, [assign("n", F.INTEGER, 3)])).seq == 5
    assert store.apply(Batch(run.uuid, "w", 5, [assign("n", F.INTEGER, 55)])).seq == 5
    assert run.value("n") == 5
    assert store.writer_seq("w", run.uuid) == 5
    assert store.apply(Batch(run.uuid, "w", 6, [assign("n", F.INTEGER, 6)])).seq == 6
    assert run.value("n") == 6


def test_writer_seq_is_zero_for_an_unknown_writer_and_tracks_each_writer(run: Handle, store: Store) -> None:
    assert store.writer_seq("never-seen", run.uuid) == 0
    store.apply(Batch(run.uuid, "w1", 1, [assign("a", F.INTEGER, 1)]))
    store.apply(Batch(run.uuid, "w1", 2, [assign("a", F.INTEGER, 2)]))
    store.apply(Batch(run.uuid, "w2", 7, [assign("b", F.INTEGER, 7)]))
    assert [store.writer_seq(w, run.uuid) for w in ("w1", "w2", "w3")] == [2, 7, 0]


def test_a_writer_belongs_to_the_container_it_first_wrote_to(run: Handle, make_run: MakeRun, store: Store) -> None:
    """A batch naming another container's writer is refused whole (it would move that writer's mark and
    the owner's later batches would be dropped as repeats); another container never reads its mark."""
    store.apply(Batch(run.uuid, "mine", 4, [assign("a", F.INTEGER, 1)]))
    other = make_run()
    with pytest.raises(InvalidValueError, match="writes to another container"):
        store.apply(Batch(other.uuid, "mine", 90, [assign("b", F.INTEGER, 2)]))
    # a seq the writer has passed is no repeat there either: refused, not acknowledged and dropped
    with pytest.raises(InvalidValueError, match="writes to another container"):
        store.apply(Batch(other.uuid, "mine", 3, [assign("b", F.INTEGER, 3)]))
    assert "b" not in store.structure(other.uuid)
    assert (store.writer_seq("mine", run.uuid), store.writer_seq("mine", other.uuid)) == (4, 0)
    assert store.apply(Batch(run.uuid, "mine", 5, [assign("a", F.INTEGER, 5)])).seq == 5
    assert run.value("a") == 5


def test_an_empty_batch_advances_the_writer_mark(run: Handle, store: Store) -> None:
    assert store.apply(Batch(run.uuid, "w", 1, [])).seq == 1
    assert store.writer_seq("w", run.uuid) == 1


def test_a_batch_that_cannot_be_applied_raises_and_applies_nothing(run: Handle, store: Store) -> None:
    store.apply(Batch(run.uuid, "w", 1, [assign("a", F.INTEGER, 1)]))
    bad = Batch(run.uuid, "w", 2, [assign("a", F.INTEGER, 2), (O.ADD, "tags", ["t"]), ("no-such-op", "b")])
    with pytest.raises(NaiadError):
        store.apply(bad)
    assert store.writer_seq("w", run.uuid) == 1
    assert run.value("a") == 1
    assert "tags" not in store.structure(run.uuid)
    assert store.apply(Batch(run.uuid, "w", 2, [assign("a", F.INTEGER, 2)])).seq == 2  # the retry is applied
    assert run.value("a") == 2


def test_a_batch_for_an_unknown_container_raises_container_not_found(store: Store) -> None:
    missing = new_uuid()
    with pytest.raises(ContainerNotFound):
        store.apply(Batch(missing, "w", 1, [assign("a", F.INTEGER, 1)]))
    assert store.writer_seq("w", missing) == 0


def test_a_rolled_back_batch_does_not_disturb_later_writes_of_its_paths(run: Handle, store: Store) -> None:
    with pytest.raises(NaiadError):
        store.apply(Batch(run.uuid, "w", 1, [assign("fresh/a", F.INTEGER, 1), ("no-such-op", "x")]))
    store.apply(Batch(run.uuid, "w", 1, [assign("fresh/b", F.INTEGER, 2)]))
    store.apply(Batch(run.uuid, "w", 2, [assign("fresh/a", F.INTEGER, 3)]))
    got = store.read_fields(run.uuid, ["fresh/a", "fresh/b"])
    assert got == {"fresh/a": FieldValue(F.INTEGER, 3), "fresh/b": FieldValue(F.INTEGER, 2)}


def test_a_rolled_back_create_leaves_no_container_behind(store: Store) -> None:
    ghost = new_uuid()
    with pytest.raises(NaiadError):
        store.apply(Batch(ghost, "w", 1, [_create_op("proj"), ("no-such-op", "x")]))
    with pytest.raises(ContainerNotFound):
        store.get_container(uuid=ghost)
    victim = store.create_container("proj", RUN, new_uuid())
    with pytest.raises(ContainerNotFound):
        store.apply(Batch(ghost, "w", 1, [assign("stray", F.INTEGER, 1)]))
    assert "stray" not in store.structure(victim.uuid)


def test_a_batch_survives_the_op_log_encoding(run: Handle, store: Store) -> None:
    ops = [assign("a", F.FLOAT, 0.5), points("s", [1, 2.5], [1.0, -2.0]), points("t", [1], ["x"]),
           (O.ADD, "tags", ["p", "q"]), (O.REMOVE, "tags", ["p"]), (O.FILES, "fs", {"f": file_ref("e" * 64)}, False),
           (O.TRACK, "art", [manifest_entry("a", "f" * 64)], False), (O.DELETE_FILES, "fs", ["g"]),
           (O.CLEAR, "none"), (O.DELETE, "none")]
    direct = Handle(store, store.create_container("proj", RUN, new_uuid()), "direct")
    direct.apply(*ops)
    store.apply(decode_batch(encode_batch(Batch(run.uuid, "encoded", 1, ops))))
    skip = {"sys/id", "sys/creation_time", "sys/modification_time", "sys/ping_time"}
    want = {k: v for k, v in direct.fields().items() if k not in skip}
    assert {k: v for k, v in run.fields().items() if k not in skip} == want
    assert run.errors() == 0


# ------------------------------------------------------------------------------------ refused writes
def test_a_type_clash_is_skipped_counted_and_the_rest_of_the_batch_applies(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1))
    assert run.errors() == 0
    result = run.apply(assign("before", F.INTEGER, 1), assign("params/lr", F.STRING, "fast"),
                       assign("after", F.INTEGER, 2))
    assert result.seq == run.seq
    assert len(result.errors) == 1 and "params/lr" in result.errors[0]
    assert run.fields("params/lr")["params/lr"] == FieldValue(F.FLOAT, 0.1)
    assert (run.value("before"), run.value("after")) == (1, 2)
    assert run.fields("sys/errors")["sys/errors"] == FieldValue(F.INTEGER, 1)
    assert "params/lr" in run.last_error()
    result = run.apply(points("params/lr", [1], [0.2]), (O.ADD, "params/lr", ["x"]),
                       (O.FILES, "params/lr", {}, False), (O.TRACK, "before", [], False))
    assert len(result.errors) == 4
    assert run.errors() == 5
    assert run.fields("params/lr")["params/lr"] == FieldValue(F.FLOAT, 0.1)
    assert run.fields("before")["before"] == FieldValue(F.INTEGER, 1)


def test_a_series_type_clash_is_refused(run: Handle) -> None:
    run.apply(points("out", [1], [1.0]))
    run.apply(points("out", [2], ["text"]), assign("ok", F.BOOLEAN, True))
    assert run.fields("out")["out"] == FieldValue(F.FLOAT_SERIES, 1.0, 1)
    assert run.value("ok") is True
    assert run.errors() == 1
    assert "out" in run.last_error()


def test_points_not_above_the_last_stored_step_are_dropped_and_counted(run: Handle) -> None:
    run.apply(points("loss", [1, 2, 3, 4, 5], [1.0, 2.0, 3.0, 4.0, 5.0]))
    result = run.apply(points("loss", [4, 5, 6, 7], [40.0, 50.0, 6.0, 7.0]), assign("other", F.INTEGER, 1))
    assert len(result.errors) == 1 and "loss" in result.errors[0]
    data = run.store.read_series(run.uuid, "loss")
    assert data.steps.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert np.asarray(data.values).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert run.fields("loss")["loss"] == FieldValue(F.FLOAT_SERIES, 7.0, 7)
    assert run.value("other") == 1
    assert run.errors() == 1
    assert "loss" in run.last_error()
    run.apply(points("loss", [7, 7], [8.0, 9.0]))  # nothing new: every point dropped
    assert run.fields("loss")["loss"] == FieldValue(F.FLOAT_SERIES, 7.0, 7)
    assert run.errors() == 2


def test_string_points_not_above_the_last_step_are_dropped(run: Handle) -> None:
    run.apply(points("log", [1, 2], ["a", "b"]))
    run.apply(points("log", [2, 3], ["dup", "c"]))
    assert run.store.read_series(run.uuid, "log").values == ["a", "b", "c"]
    assert run.errors() == 1


def test_a_field_under_an_existing_field_is_refused(run: Handle) -> None:
    run.apply(assign("model", F.STRING, "resnet"))
    result = run.apply(assign("model/depth", F.INTEGER, 50), points("model/loss", [1], [1.0]),
                       (O.ADD, "model/tags", ["x"]), assign("fine", F.INTEGER, 1))
    assert len(result.errors) == 3
    assert run.fields("model")["model"] == FieldValue(F.STRING, "resnet")
    assert not {p for p in run.store.structure(run.uuid) if p.startswith("model/")}
    assert run.value("fine") == 1
    assert run.errors() == 3
    assert "model" in run.last_error()


def test_a_field_at_an_existing_namespace_is_refused(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1))
    run.apply(assign("params", F.STRING, "oops"), points("params", [1], [1.0]), assign("fine", F.INTEGER, 1))
    assert "params" not in run.store.structure(run.uuid)
    assert run.value("params/lr") == 0.1
    assert run.value("fine") == 1
    assert run.errors() == 2


def test_replaying_a_batch_with_a_refused_op_counts_the_refusal_once(run: Handle, store: Store) -> None:
    run.apply(assign("a", F.FLOAT, 1.0))
    clash = Batch(run.uuid, "replayer", 1, [assign("a", F.STRING, "x"), assign("b", F.INTEGER, 1)])
    store.apply(clash)
    store.apply(clash)
    assert run.errors() == 1


def test_refusals_are_counted_per_container(make_run: MakeRun) -> None:
    bad, good = make_run(), make_run()
    bad.apply(assign("a", F.FLOAT, 1.0))
    bad.apply(assign("a", F.STRING, "x"))
    good.apply(assign("a", F.STRING, "x"))
    assert (bad.errors(), good.errors()) == (1, 0)
    assert "sys/last_error" not in good.fields()


# ---------------------------------------------------------------------------------------- field reads
def test_read_fields_without_paths_returns_every_field(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1), points("loss", [1], [0.5]), (O.ADD, "sys/tags", ["x"]))
    got = run.fields()
    assert {"params/lr", "loss", "sys/tags", "sys/id", "sys/state", "sys/creation_time"} <= set(got)
    assert got["params/lr"] == FieldValue(F.FLOAT, 0.1)
    assert got["loss"] == FieldValue(F.FLOAT_SERIES, 0.5, 1)
    assert got["sys/tags"] == FieldValue(F.STRING_SET, {"x"})


def test_read_fields_with_paths_returns_only_those_that_exist(run: Handle) -> None:
    run.apply(assign("params/lr", F.FLOAT, 0.1), assign("params/bs", F.INTEGER, 8), (O.ADD, "tags", ["t"]))
    got = run.fields("params/lr", "tags", "missing/field", "params")
    assert got == {"params/lr": FieldValue(F.FLOAT, 0.1), "tags": FieldValue(F.STRING_SET, {"t"})}
    assert run.store.read_fields(run.uuid, []) == {}


def test_string_set_reads_as_a_python_set(run: Handle) -> None:
    run.apply((O.ADD, "sys/tags", ["b", "a", "ü"]))
    value = run.value("sys/tags")
    assert isinstance(value, set)
    assert value == {"a", "b", "ü"}


def test_structure_maps_every_field_path_to_its_type(run: Handle) -> None:
    run.apply(assign("p/f", F.FLOAT, 1.0), assign("p/i", F.INTEGER, 1), assign("p/b", F.BOOLEAN, False),
              assign("p/s", F.STRING, "s"), assign("p/d", F.DATETIME, 1.0), (O.ADD, "p/set", ["a"]),
              points("p/fs", [1], [1.0]), points("p/ss", [1], ["x"]),
              points("p/files", [1], ['{"hash": "x"}'], ftype=F.FILE_SERIES),
              assign("p/file", F.FILE, file_ref("a" * 64)), (O.FILES, "p/fileset", {}, False),
              (O.TRACK, "p/art", [manifest_entry("a", "b" * 64)], False))
    got = run.store.structure(run.uuid)
    assert {k: v for k, v in got.items() if k.startswith("p/")} == {
        "p/f": F.FLOAT, "p/i": F.INTEGER, "p/b": F.BOOLEAN, "p/s": F.STRING, "p/d": F.DATETIME,
        "p/set": F.STRING_SET, "p/fs": F.FLOAT_SERIES, "p/ss": F.STRING_SERIES, "p/files": F.FILE_SERIES,
        "p/file": F.FILE, "p/fileset": F.FILE_SET, "p/art": F.ARTIFACT,
    }
    assert got["sys/id"] == F.STRING
    assert got == {k: v.type for k, v in run.fields().items()}


def test_reads_of_one_container_never_show_another_containers_fields(make_run: MakeRun) -> None:
    one, two = make_run(), make_run()
    one.apply(assign("only/one", F.INTEGER, 1), (O.ADD, "tags", ["one"]))
    two.apply((O.ADD, "tags", ["two"]))
    assert "only/one" not in two.store.structure(two.uuid)
    assert two.value("tags") == {"two"}
    assert one.value("only/one") == 1


def test_points_out_of_order_within_one_op_are_dropped_and_counted(run: Handle) -> None:
    result = run.apply(points("loss", [1, 3, 2, 3, 4], [1.0, 3.0, 2.0, 3.5, 4.0]))
    assert len(result.errors) == 1 and "2 point(s)" in result.errors[0]
    data = run.store.read_series(run.uuid, "loss")
    assert data.steps.tolist() == [1, 3, 4]
    assert np.asarray(data.values).tolist() == [1.0, 3.0, 4.0]
    assert run.errors() == 1


# ------------------------------------------------------------------------------- models and versions
def test_models_are_named_by_key_and_versions_numbered_per_model(store: Store) -> None:
    run = store.create_container("defects", RUN, new_uuid())
    cls = store.create_container("defects", MODEL, new_uuid(), key="CLS")
    seg = store.create_container("defects", MODEL, new_uuid(), key="SEG")
    assert (run.short_id, cls.short_id, seg.short_id) == ("DEF-1", "DEF-CLS", "DEF-SEG")
    v1 = store.create_container("defects", MODEL_VERSION, new_uuid(), parent="DEF-CLS")
    v2 = store.create_container("defects", MODEL_VERSION, new_uuid(), parent=cls.uuid)
    s1 = store.create_container("defects", MODEL_VERSION, new_uuid(), parent="DEF-SEG")
    assert (v1.short_id, v2.short_id, s1.short_id) == ("DEF-CLS-1", "DEF-CLS-2", "DEF-SEG-1")
    fields = store.read_fields(v2.uuid)
    assert fields["sys/model_id"].value == "DEF-CLS" and fields["sys/stage"].value == "none"
    assert "sys/state" not in fields
    assert store.create_container("defects", RUN, new_uuid()).short_id == "DEF-2"
    assert store.get_container(short_id="DEF-CLS-2").uuid == v2.uuid


def test_a_model_key_is_checked_and_taken_once(store: Store) -> None:
    store.create_container("defects", MODEL, new_uuid(), key="CLS")
    with pytest.raises(ConfigError, match="already has a model with key CLS"):
        store.create_container("defects", MODEL, new_uuid(), key="CLS")
    for bad in (None, "", "cls", "TOO-LONG", "ABCDEFGHIJK"):
        with pytest.raises(ConfigError, match="key"):
            store.create_container("defects", MODEL, new_uuid(), key=bad)
    assert store.create_container("other", MODEL, new_uuid(), key="CLS").short_id == "OTH-CLS"


def test_a_version_needs_a_model_of_its_project(store: Store) -> None:
    store.create_container("other", MODEL, new_uuid(), key="CLS")
    with pytest.raises(ContainerNotFound, match="no model"):
        store.create_container("defects", MODEL_VERSION, new_uuid(), parent="OTH-CLS")
    with pytest.raises(ContainerNotFound):
        store.create_container("defects", MODEL_VERSION, new_uuid(), parent=None)
