"""Store contract: the model registry (stages, aliases, their append-only history) and the datasets index
(which Artifact field holds which dataset version), on every Store implementation."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import (
    InvalidValueError,
    ModelNotFound,
    ModelVersionNotFound,
    NotFoundError,
)
from naiad.registry.history import state_at
from naiad.store.base import MODEL, MODEL_VERSION, RUN, DatasetUse, FieldValue, RegistryEvent, Store

from .support import Handle, assign, manifest_entry, new_uuid

PROJECT = "defects"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------------------------ helpers
@dataclass
class Registry:
    store: Store
    model: str
    versions: list[str]
    uuids: dict[str, str]

    def stage(self, version: str) -> str:
        return str(self.store.read_fields(self.uuids[version], ["sys/stage"])["sys/stage"].value)

    def aliases(self, version: str) -> FieldValue:
        return self.store.read_fields(self.uuids[version], ["sys/aliases"])["sys/aliases"]

    def stages(self) -> dict[str, str]:
        """Every version's sys/stage, the ones still ``none`` left out (as state_at lists them)."""
        return {v: s for v in self.versions if (s := self.stage(v)) != "none"}

    def alias_holders(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for v in self.versions:
            for alias in self.aliases(v).value:
                assert alias not in out, f"alias {alias} held by {out[alias]} and {v}"
                out[alias] = v
        return out


def make_registry(store: Store, n: int = 3, *, project: str = PROJECT, key: str = "CLS") -> Registry:
    model = store.create_container(project, MODEL, new_uuid(), key=key).short_id
    uuids = {}
    for _ in range(n):
        info = store.create_container(project, MODEL_VERSION, new_uuid(), parent=model)
        uuids[info.short_id] = info.uuid
    return Registry(store, model, list(uuids), uuids)


def actor(store: Store, claimed: str) -> str:
    """The actor a store records for a change claimed by ``claimed``: a server records the account
    that is signed in, whatever the client claims."""
    from naiad.store.remote import RemoteStore

    if isinstance(store, RemoteStore):
        return str(store.json("GET", "/whoami")["name"])
    return claimed


def ev(e: RegistryEvent) -> tuple[Any, ...]:
    """An event without its id and time, for exact comparisons."""
    return (e.model, e.version, e.kind, e.name, e.before, e.after, e.actor, e.reason)


def tick() -> float:
    time.sleep(0.02)
    now = time.time()
    time.sleep(0.02)
    return now


# ------------------------------------------------------------------------------------------ stages
def test_change_stage_records_one_event_and_mirrors_sys_stage(store: Store) -> None:
    reg = make_registry(store)
    v1 = reg.versions[0]
    who = actor(store, "ana")
    assert reg.stage(v1) == "none"
    t0 = tick()
    first = store.change_stage(v1, "staging", actor="ana", reason="passed eval")
    t1 = tick()
    assert [ev(e) for e in first] == [(reg.model, v1, "stage", "", "none", "staging", who, "passed eval")]
    assert t0 <= first[0].at <= t1
    assert store.read_fields(reg.uuids[v1], ["sys/stage"])["sys/stage"] == FieldValue(F.STRING, "staging")
    second = store.change_stage(v1, "production", actor="ana")
    assert [ev(e) for e in second] == [(reg.model, v1, "stage", "", "staging", "production", who, "")]
    assert second[0].id > first[0].id
    assert second[0].at >= t1
    assert reg.stage(v1) == "production"
    assert [reg.stage(v) for v in reg.versions[1:]] == ["none", "none"]  # the others are untouched
    assert store.registry_events(PROJECT) == first + second
    assert store.registry_events(PROJECT, reg.model) == first + second


def test_changing_to_the_stage_a_version_is_in_records_nothing(store: Store) -> None:
    reg = make_registry(store, 2)
    v1, v2 = reg.versions
    assert store.change_stage(v1, "none") == []
    done = store.change_stage(v1, "staging")
    assert store.change_stage(v1, "staging", reason="again") == []
    store.change_stage(v2, "production")
    assert store.change_stage(v2, "production") == []  # the holder stays, nothing archived
    assert (reg.stage(v1), reg.stage(v2)) == ("staging", "production")
    events = store.registry_events(PROJECT)
    assert len(events) == 2 and events[0] == done[0]


def test_a_version_goes_back_to_none_and_the_history_says_so(store: Store) -> None:
    reg = make_registry(store, 1)
    (v1,) = reg.versions
    store.change_stage(v1, "archived")
    back = store.change_stage(v1, "none", reason="restored")
    assert [(e.before, e.after, e.reason) for e in back] == [("archived", "none", "restored")]
    assert reg.stage(v1) == "none"
    assert state_at(store.registry_events(PROJECT)).stages == {}


def refused(call: Any, values: list[str], error: type[Exception]) -> dict[str, str]:
    """``call(value)`` for each value; those not refused with ``error``, and what happened instead."""
    wrong = {}
    for value in values:
        try:
            call(value)
            wrong[value] = "accepted"
        except error:
            pass
        except Exception as exc:  # reported by the test: the wrong error
            wrong[value] = f"{type(exc).__name__}: {exc}"
    return wrong


def test_an_unknown_stage_is_refused_and_changes_nothing(store: Store) -> None:
    reg = make_registry(store, 1)
    bad = ["prod", "", "deleted", "none ", "stag", "production!"]
    assert refused(lambda s: store.change_stage(reg.versions[0], s), bad, InvalidValueError) == {}
    assert reg.stage(reg.versions[0]) == "none"
    assert store.registry_events(PROJECT) == []


def test_change_stage_of_something_not_a_model_version_raises_model_version_not_found(store: Store) -> None:
    reg = make_registry(store, 1)
    run = store.create_container(PROJECT, RUN, new_uuid())
    wrong = ["DEF-CLS-99", run.short_id, reg.model, "NOPE-1"]
    assert refused(lambda v: store.change_stage(v, "staging"), wrong, ModelVersionNotFound) == {}
    assert store.registry_events(PROJECT) == []
    assert "sys/stage" not in store.read_fields(run.uuid)


def test_promoting_to_production_archives_the_version_there_in_the_same_change(store: Store) -> None:
    reg = make_registry(store, 3)
    v1, v2, v3 = reg.versions
    who = actor(store, "bo")
    store.change_stage(v1, "production", actor="bo")
    store.change_stage(v3, "staging", actor="bo")
    events = store.change_stage(v2, "production", actor="bo", reason="better F1")
    assert [ev(e) for e in events] == [
        (reg.model, v1, "stage", "", "production", "archived", who, f"replaced in production by {v2}"),
        (reg.model, v2, "stage", "", "none", "production", who, "better F1"),
    ]
    assert events[0].id < events[1].id
    assert events[0].at == events[1].at
    assert reg.stages() == {v1: "archived", v2: "production", v3: "staging"}
    back = store.change_stage(v1, "production")  # from archived back to production: v2 is archived now
    assert [(e.version, e.before, e.after) for e in back] == [(v2, "production", "archived"),
                                                             (v1, "archived", "production")]
    assert reg.stages() == {v1: "production", v2: "archived", v3: "staging"}
    assert store.registry_events(PROJECT, reg.model)[-4:] == events + back


def test_at_most_one_version_is_in_production_and_the_history_replays_to_the_fields(store: Store) -> None:
    reg = make_registry(store, 4)
    v = reg.versions
    moves = [(v[0], "production"), (v[1], "staging"), (v[1], "production"), (v[2], "production"),
             (v[2], "archived"), (v[3], "production"), (v[0], "none"), (v[0], "production"),
             (v[3], "staging"), (v[1], "production"), (v[1], "production"), (v[2], "staging")]
    marks = []
    for version, stage in moves:
        store.change_stage(version, stage)
        now = reg.stages()
        assert list(now.values()).count("production") <= 1, now
        assert reg.stage(version) == stage
        marks.append((tick(), now))
    assert reg.stages() == {v[0]: "archived", v[1]: "production", v[2]: "staging", v[3]: "staging"}
    events = store.registry_events(PROJECT, reg.model)
    assert [e.id for e in events] == sorted({e.id for e in events})
    assert state_at(events).stages == reg.stages()
    for when, expected in marks:  # the history at every moment is what the fields said then
        assert state_at(events, when).stages == expected


def test_registry_events_of_a_project_or_of_one_model(store: Store) -> None:
    cls = make_registry(store, 2, key="CLS")
    seg = make_registry(store, 2, key="SEG")
    other = make_registry(store, 1, project="other", key="CLS")
    assert store.registry_events(PROJECT) == []
    a = store.change_stage(cls.versions[0], "staging")
    b = store.change_stage(seg.versions[0], "production")
    c = store.set_alias(cls.model, "champion", cls.versions[1])
    d = store.change_stage(seg.versions[1], "production")
    e = store.change_stage(other.versions[0], "staging")
    assert store.registry_events(PROJECT) == a + b + c + d
    assert store.registry_events(PROJECT, cls.model) == a + c
    assert store.registry_events(PROJECT, seg.model) == b + d
    assert store.registry_events("other") == e
    assert store.registry_events("other", other.model) == e
    assert [x.model for x in store.registry_events(PROJECT)] == [cls.model, seg.model, cls.model, seg.model,
                                                                   seg.model]


def test_registry_events_of_a_model_of_another_project_is_refused(store: Store) -> None:
    make_registry(store, 1, key="CLS")
    other = make_registry(store, 1, project="other", key="SEG")
    store.change_stage(other.versions[0], "staging")
    with pytest.raises(NotFoundError, match=other.model):
        store.registry_events(PROJECT, other.model)
    with pytest.raises(ModelNotFound):
        store.registry_events(PROJECT, "DEF-NOPE")
    run = store.create_container(PROJECT, RUN, new_uuid())
    with pytest.raises(ModelNotFound):
        store.registry_events(PROJECT, run.short_id)


# ------------------------------------------------------------------------------------------ aliases
def test_set_move_and_remove_an_alias(store: Store) -> None:
    reg = make_registry(store, 2)
    v1, v2 = reg.versions
    who = actor(store, "cy")
    assert reg.aliases(v1) == FieldValue(F.STRING_SET, set())
    t0 = tick()
    set_ = store.set_alias(reg.model, "champion", v1, actor="cy", reason="first")
    assert [ev(e) for e in set_] == [(reg.model, v1, "alias", "champion", None, v1, who, "first")]
    assert t0 <= set_[0].at
    assert reg.aliases(v1) == FieldValue(F.STRING_SET, {"champion"})
    moved = store.set_alias(reg.model, "champion", v2, actor="cy", reason="better")
    assert [ev(e) for e in moved] == [(reg.model, v2, "alias", "champion", v1, v2, who, "better")]
    assert (reg.aliases(v1).value, reg.aliases(v2).value) == (set(), {"champion"})
    removed = store.set_alias(reg.model, "champion", None, actor="cy", reason="retired")
    assert [ev(e) for e in removed] == [(reg.model, v2, "alias", "champion", v2, None, who, "retired")]
    assert (reg.aliases(v1).value, reg.aliases(v2).value) == (set(), set())
    assert set_[0].id < moved[0].id < removed[0].id
    assert store.registry_events(PROJECT, reg.model) == set_ + moved + removed
    assert reg.stages() == {}  # aliases never touch stages


def test_setting_an_alias_to_its_holder_again_or_removing_a_free_one_records_nothing(store: Store) -> None:
    reg = make_registry(store, 2)
    v1, v2 = reg.versions
    assert store.set_alias(reg.model, "shadow", None) == []
    store.set_alias(reg.model, "shadow", v1)
    assert store.set_alias(reg.model, "shadow", v1, reason="again") == []
    store.set_alias(reg.model, "shadow", None)
    assert store.set_alias(reg.model, "shadow", None) == []
    assert len(store.registry_events(PROJECT)) == 2
    assert (reg.aliases(v1).value, reg.aliases(v2).value) == (set(), set())


def test_a_version_holds_several_aliases_each_mirrored_in_sys_aliases(store: Store) -> None:
    reg = make_registry(store, 2)
    v1, v2 = reg.versions
    store.set_alias(reg.model, "champion", v1)
    store.set_alias(reg.model, "shadow", v1)
    store.set_alias(reg.model, "v1.2_rc-3", v2)
    store.set_alias(reg.model, "a" * 64, v2)
    assert reg.aliases(v1) == FieldValue(F.STRING_SET, {"champion", "shadow"})
    assert reg.aliases(v2) == FieldValue(F.STRING_SET, {"v1.2_rc-3", "a" * 64})
    store.set_alias(reg.model, "shadow", v2)
    assert reg.alias_holders() == {"champion": v1, "shadow": v2, "v1.2_rc-3": v2, "a" * 64: v2}
    assert state_at(store.registry_events(PROJECT)).aliases == reg.alias_holders()


def test_invalid_alias_names_and_stage_names_are_refused(store: Store) -> None:
    reg = make_registry(store, 1)
    bad = ["", "-x", ".hidden", "a b", "a/b", "é", "x" * 65, "champion!", "production", "Staging", "none",
           "ARCHIVED"]
    assert refused(lambda a: store.set_alias(reg.model, a, reg.versions[0]), bad, InvalidValueError) == {}
    assert refused(lambda a: store.set_alias(reg.model, a, None), ["production", "-x"], InvalidValueError) == {}
    assert reg.aliases(reg.versions[0]).value == set()
    assert store.registry_events(PROJECT) == []


def test_an_alias_takes_only_a_version_of_its_model(store: Store) -> None:
    cls = make_registry(store, 1, key="CLS")
    seg = make_registry(store, 1, key="SEG")
    with pytest.raises(InvalidValueError, match=seg.versions[0]):
        store.set_alias(cls.model, "champion", seg.versions[0])
    with pytest.raises(ModelVersionNotFound):
        store.set_alias(cls.model, "champion", "DEF-CLS-9")
    run = store.create_container(PROJECT, RUN, new_uuid())
    not_models = ["DEF-NOPE", cls.versions[0], run.short_id]  # a version or a run is not a model
    assert refused(lambda m: store.set_alias(m, "champion", cls.versions[0]), not_models, ModelNotFound) == {}
    assert store.registry_events(PROJECT) == []
    assert seg.aliases(seg.versions[0]).value == set()


def test_aliases_of_different_models_are_independent(store: Store) -> None:
    cls = make_registry(store, 2, key="CLS")
    seg = make_registry(store, 2, key="SEG")
    store.set_alias(cls.model, "champion", cls.versions[0])
    store.set_alias(seg.model, "champion", seg.versions[0])
    moved = store.set_alias(cls.model, "champion", cls.versions[1])
    assert [(e.before, e.after) for e in moved] == [(cls.versions[0], cls.versions[1])]
    assert cls.alias_holders() == {"champion": cls.versions[1]}
    assert seg.alias_holders() == {"champion": seg.versions[0]}
    store.set_alias(seg.model, "champion", None)
    assert cls.alias_holders() == {"champion": cls.versions[1]}
    assert seg.alias_holders() == {}
    assert state_at(store.registry_events(PROJECT, cls.model)).aliases == {"champion": cls.versions[1]}
    assert state_at(store.registry_events(PROJECT, seg.model)).aliases == {}


# ------------------------------------------------------------------------------------------ concurrency
def _all_at_once(n: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(k: int) -> None:
        barrier.wait()
        try:
            results[k] = work(k)
        except BaseException as exc:  # reported by the test
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_concurrent_promotions_leave_exactly_one_version_in_production(store: Store) -> None:
    n = 6
    reg = make_registry(store, n)
    for round_ in range(2):
        results = _all_at_once(n, lambda k: store.change_stage(reg.versions[k], "production", reason=f"r{k}"))
        assert not [r for r in results if isinstance(r, BaseException)], results
        stages = reg.stages()
        assert list(stages.values()).count("production") == 1, stages
        events = store.registry_events(PROJECT, reg.model)
        assert state_at(events).stages == stages
        # the promotions were serialized: each one after the first archived the one before it
        promotions = [e for e in events if e.after == "production"]
        archivals = [e for e in events if e.after == "archived"]
        if round_ == 0:
            assert len(promotions) == n and len(archivals) == n - 1
            assert set(stages.values()) == {"production", "archived"}
        assert [e.id for e in events] == sorted({e.id for e in events})
        for archived in archivals:  # an archived version was the production one just before
            before = state_at([e for e in events if e.id < archived.id])
            assert before.stages.get(archived.version) == "production"
        for k in range(n):  # each caller got the events of its own change
            mine = results[k]
            if mine:
                assert mine[-1].version == reg.versions[k] and mine[-1].after == "production"
                assert mine[-1].reason == f"r{k}"
                assert all(x in events for x in mine)
        if round_ == 0:  # second round: everyone archived, then all promoted at once again
            for v in reg.versions:
                store.change_stage(v, "archived")


def test_concurrent_alias_moves_leave_exactly_one_holder(store: Store) -> None:
    n = 6
    reg = make_registry(store, n)
    results = _all_at_once(n, lambda k: store.set_alias(reg.model, "champion", reg.versions[k]))
    assert not [r for r in results if isinstance(r, BaseException)], results
    holders = reg.alias_holders()
    assert list(holders) == ["champion"]
    events = store.registry_events(PROJECT, reg.model)
    assert len(events) == n
    assert state_at(events).aliases == holders
    assert [e.before for e in events] == [None] + [e.after for e in events[:-1]]  # a chain, no lost move


# ------------------------------------------------------------------------------------------ datasets
E1 = manifest_entry("train/a.csv", "1" * 64, size=100)
E2 = manifest_entry("train/b.csv", "2" * 64, size=23)
E3 = manifest_entry("val/c.csv", "3" * 64, size=7)
E4 = manifest_entry("train/d.csv", "4" * 64, size=1000)


def handle(store: Store, project: str, kind: str = RUN, **kwargs: Any) -> Handle:
    return Handle(store, store.create_container(project, kind, new_uuid(), **kwargs), writer="w-" + new_uuid())


def digest_of(h: Handle, path: str) -> str:
    value = h.value(path)
    assert HEX64.match(value["hash"]), value
    return str(value["hash"])


def use(h: Handle, path: str, files: int, size: int) -> DatasetUse:
    return DatasetUse(digest_of(h, path), files, size, h.short_id, h.info.kind, path, h.info.created)


def test_dataset_uses_lists_every_artifact_field_of_runs_and_model_versions(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "datasets/train", [E1, E2], False), (O.TRACK, "datasets/val", [E3], False),
              assign("params/lr", F.FLOAT, 0.1))
    store.create_container(PROJECT, MODEL, new_uuid(), key="CLS")
    version = handle(store, PROJECT, MODEL_VERSION, parent="DEF-CLS")
    version.apply((O.TRACK, "datasets/train", [E2, E1], False))
    got = store.dataset_uses(PROJECT)
    assert got == [use(run, "datasets/train", 2, 123), use(run, "datasets/val", 1, 7),
                   use(version, "datasets/train", 2, 123)]
    assert got[0].kind == RUN and got[2].kind == MODEL_VERSION
    assert got[0].hash == got[2].hash != got[1].hash  # the same manifest is the same dataset version


def test_an_artifact_value_assigned_whole_is_indexed_too(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "datasets/train", [E1, E2], False))
    store.create_container(PROJECT, MODEL, new_uuid(), key="CLS")
    version = handle(store, PROJECT, MODEL_VERSION, parent="DEF-CLS")
    version.apply(assign("datasets/train", F.ARTIFACT, run.value("datasets/train")))  # as register_model_version
    assert store.dataset_uses(PROJECT) == [use(run, "datasets/train", 2, 123), use(version, "datasets/train", 2, 123)]
    assert digest_of(version, "datasets/train") == digest_of(run, "datasets/train")


def test_dataset_uses_and_manifests_are_kept_per_project(store: Store) -> None:
    mine = handle(store, PROJECT)
    mine.apply((O.TRACK, "data", [E1], False))
    theirs = handle(store, "other")
    theirs.apply((O.TRACK, "data", [E1], False), (O.TRACK, "extra", [E4], False))
    same, only_theirs = digest_of(theirs, "data"), digest_of(theirs, "extra")
    assert same == digest_of(mine, "data")
    assert store.dataset_uses(PROJECT) == [use(mine, "data", 1, 100)]
    assert store.dataset_uses("other") == [use(theirs, "data", 1, 100), use(theirs, "extra", 1, 1000)]
    assert store.dataset_uses(PROJECT, only_theirs) == []
    assert store.dataset_manifest("other", only_theirs) == [E4]
    with pytest.raises(NotFoundError):
        store.dataset_manifest(PROJECT, only_theirs)
    store.get_or_create_project("empty")
    assert store.dataset_uses("empty") == []


def test_dataset_manifest_is_the_tracked_file_list(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "datasets/train", [E2, E1], False))
    digest = digest_of(run, "datasets/train")
    assert store.dataset_manifest(PROJECT, digest) == [E1, E2]  # sorted by path, every key kept
    with pytest.raises(NotFoundError):
        store.dataset_manifest(PROJECT, "0" * 64)
    with pytest.raises(NotFoundError):
        store.dataset_manifest("other-" + new_uuid()[:6], digest)


def test_dataset_uses_filters_by_hash_prefix(store: Store) -> None:
    a, b = handle(store, PROJECT), handle(store, PROJECT)
    a.apply((O.TRACK, "d", [E1], False))
    b.apply((O.TRACK, "d", [E3], False), (O.TRACK, "e", [E1], False))
    h1, h3 = digest_of(a, "d"), digest_of(b, "d")
    assert h1 != h3
    short = 1
    while h1[:short] == h3[:short]:
        short += 1
    for prefix in (h1[:short], h1[:8], h1):
        assert store.dataset_uses(PROJECT, prefix) == [use(a, "d", 1, 100), use(b, "e", 1, 100)], prefix
    assert store.dataset_uses(PROJECT, h3[:12]) == [use(b, "d", 1, 7)]
    unused = next(c for c in "0123456789abcdef" if c not in (h1[0], h3[0]))
    assert store.dataset_uses(PROJECT, unused) == []


def test_a_hash_prefix_that_is_not_hexadecimal_is_refused(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "d", [E1], False))
    bad = ["zz12", "12 4", "-1", "g", "12%", "1_"]
    assert refused(lambda d: store.dataset_uses(PROJECT, d), bad, InvalidValueError) == {}


def test_re_tracking_a_field_updates_its_row(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "datasets/train", [E1, E2], False))
    first = digest_of(run, "datasets/train")
    run.apply((O.TRACK, "datasets/train", [E4], False))  # added to the manifest
    grown = digest_of(run, "datasets/train")
    assert grown != first
    assert store.dataset_uses(PROJECT) == [use(run, "datasets/train", 3, 1123)]
    assert store.dataset_uses(PROJECT, first) == []
    assert store.dataset_manifest(PROJECT, grown) == [E1, E2, E4]
    with pytest.raises(NotFoundError):
        store.dataset_manifest(PROJECT, first)
    run.apply((O.TRACK, "datasets/train", [E3], True))  # reset: only the new files
    assert store.dataset_uses(PROJECT) == [use(run, "datasets/train", 1, 7)]
    run.apply((O.TRACK, "datasets/train", [E2, E1], True))  # back to the first content: the first hash
    assert digest_of(run, "datasets/train") == first
    assert store.dataset_uses(PROJECT) == [use(run, "datasets/train", 2, 123)]


def test_deleting_the_field_or_its_namespace_removes_its_row(store: Store) -> None:
    run = handle(store, PROJECT)
    run.apply((O.TRACK, "datasets/train", [E1], False), (O.TRACK, "datasets/val", [E3], False),
              (O.TRACK, "datasets/more/test", [E4], False), (O.TRACK, "keep", [E2], False))
    val = digest_of(run, "datasets/val")
    run.apply((O.DELETE, "datasets/val"))
    assert [u.path for u in store.dataset_uses(PROJECT)] == ["datasets/more/test", "datasets/train", "keep"]
    with pytest.raises(NotFoundError):
        store.dataset_manifest(PROJECT, val)
    run.apply((O.DELETE, "datasets"))
    assert store.dataset_uses(PROJECT) == [use(run, "keep", 1, 23)]
    run.apply((O.TRACK, "datasets/train", [E1], False))  # tracked again after the delete: back in the index
    assert [u.path for u in store.dataset_uses(PROJECT)] == ["datasets/train", "keep"]
    assert run.errors() == 0
