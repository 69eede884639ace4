"""Properties of what clients write, drawn by hypothesis (issue 19, "prove the promises": fuzzing).

- a field path is normal or refused, and the SDK and the server agree on which;
- any text — lone surrogates and NUL included — is stored as itself or as its documented replacement
  (U+FFFD, with a warning), by the SDK into the embedded store and through a server into PostgreSQL;
- a file name a file set accepts never leads a download out of its folder;
- a batch of anything is applied or refused whole, and never stalls its writer;
- any query text runs or is a QueryError.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naiad
from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store.base import RUN, Store
from services import as_user, postgres_store_dsn, team_server
from strategies import any_text, op_lists, paths

pytestmark = pytest.mark.trust

QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@QUICK
@given(paths)
def test_a_path_is_normal_or_refused_and_the_sdk_and_the_server_agree(text: str) -> None:
    try:
        normal = F.normalize_path(text)
    except E.InvalidPathError:
        normal = None
    # the server's check of a batch (validate_batch) takes a path exactly when it is already normal
    batch = Batch("c" * 32, "w", 1, [(O.ASSIGN, text, F.FLOAT, 1.0)])
    try:
        O.validate_batch(batch)
        served = True
    except ValueError:
        served = False
    if normal is None:
        assert not served or text == "", text
        return
    assert F.normalize_path(normal) == normal  # normal stays normal
    assert served == (normal == text or text == ""), (text, normal)
    segments = normal.split("/") if normal else []
    assert all(s not in ("", ".", "..") for s in segments), normal
    assert len(normal) <= F.MAX_PATH_LENGTH and "\x00" not in normal
    normal.encode("utf-8")  # a store can keep it


@QUICK
@given(any_text)
def test_clean_text_keeps_what_a_store_can_keep_and_replaces_only_the_rest(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", F.NaiadWarning)
        clean = F.clean_text(text, "p")
    clean.encode("utf-8")
    assert "\x00" not in clean
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert clean == text.replace("\x00", "\ufffd")
    else:
        assert len(clean) <= len(text)


def _stored_texts(store_texts: list[str], read: Any) -> None:
    for i, text in enumerate(store_texts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", F.NaiadWarning)
            expected = F.clean_text(text, "p")
        assert read(f"texts/t{i}") == expected, (text, expected)


@SLOW
@given(st.lists(any_text, min_size=1, max_size=20))
def test_any_text_the_sdk_logs_is_stored_as_itself_or_its_replacement(texts: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", F.NaiadWarning)
        run = naiad.init_run(project="fuzz", capture_stdout=False, capture_stderr=False,
                             capture_hardware_metrics=False, source_files=[])
        for i, text in enumerate(texts):
            run[f"texts/t{i}"] = text
            run["texts/series"].append(text)
        short_id = run["sys/id"].fetch()
        run.stop()
    again = naiad.init_run(with_id=short_id, mode="read-only")
    _stored_texts(texts, lambda path: again[path].fetch())
    assert again["texts/series"].fetch_values()["value"].tolist() == [
        F.clean_text(t, "p", keep_nul=True) for t in texts]
    assert not again.exists("sys/errors") or again["sys/errors"].fetch() == 0  # nothing was refused
    again.stop()


def test_any_text_through_a_server_into_postgresql_is_stored_as_itself_or_its_replacement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with team_server(tmp_path / "pg", [("carl", "fuzz", "contributor")], postgres=True) as server:
        as_user(server, "carl", monkeypatch)

        @SLOW
        @given(st.lists(any_text, min_size=1, max_size=10))
        def check(texts: list[str]) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", F.NaiadWarning)
                run = naiad.init_run(project="fuzz", capture_stdout=False, capture_stderr=False,
                                     capture_hardware_metrics=False, source_files=[])
                for i, text in enumerate(texts):
                    run[f"texts/t{i}"] = text
                run.stop()
            info = server.store.get_container(uuid=run._uuid)
            fields = server.store.read_fields(info.uuid)
            _stored_texts(texts, lambda path: fields[path].value)
            assert "sys/errors" not in fields or fields["sys/errors"].value == 0

        check()


@QUICK
@given(name=any_text, below=st.sampled_from(["", "sub", "a/b"]))
def test_a_file_name_a_file_set_takes_never_leads_out_of_the_download_folder(name: str, below: str,
                                                                            tmp_path: Path) -> None:
    root = (tmp_path / "dest").resolve()
    if F.relative_name_problem(name) is not None:
        return
    target = Path(os.path.normpath(root / below / name))
    assert target.is_relative_to(root / below) and target != root / below, name


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    from naiad.store.blobs import LocalBlobs
    from naiad.store.postgres import PostgresStore
    from naiad.store.sqlite import SqliteStore

    made: Store = (SqliteStore(tmp_path / "s") if request.param == "sqlite"
                   else PostgresStore(postgres_store_dsn(tmp_path / "pg"), LocalBlobs(tmp_path / "blobs")))
    yield made
    made.close()


def _snapshot(store: Store, uuid_: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in store.read_fields(uuid_).items():
        if path in ("sys/modification_time", "sys/ping_time"):
            continue
        out[path] = repr(value)
        if value.type in F.SERIES:
            data = store.read_series(uuid_, path)
            out[path + "#"] = (list(data.steps), repr(list(data.values)))
    return out


def test_a_batch_of_anything_is_applied_or_refused_whole_and_never_stalls_its_writer(store: Store) -> None:
    run = store.create_container("fuzz", RUN, uuid.uuid4().hex)
    writer = "fuzz-" + uuid.uuid4().hex
    seq = [0]
    counts = {"refused at the edge": 0, "refused whole": 0, "applied": 0}

    @SLOW
    @given(op_lists(st.one_of(paths, st.sampled_from(["a", "a/b", "loss", "tags", "sys/owner", "sys/name"]))))
    def check(ops: list[tuple[Any, ...]]) -> None:
        seq[0] += 1
        batch = Batch(run.uuid, writer, seq[0], ops)
        try:
            O.validate_batch(batch)
        except ValueError:
            counts["refused at the edge"] += 1  # the server answers 400; the store never sees it
            batch = Batch(run.uuid, writer, seq[0], [])
        before = _snapshot(store, run.uuid)
        try:
            result = store.apply(batch)
        except E.NaiadError:
            counts["refused whole"] += 1
            assert _snapshot(store, run.uuid) == before  # nothing half-applied
            seq[0] -= 1  # the seq was not used: the writer sends it again with other ops
        else:
            counts["applied"] += 1
            assert result.seq == seq[0]
        # the writer goes on: its next batch is applied
        seq[0] += 1
        marker = float(seq[0])
        assert store.apply(Batch(run.uuid, writer, seq[0], [(O.ASSIGN, "fuzz/next", F.FLOAT, marker)])).seq == seq[0]
        assert store.read_fields(run.uuid, ["fuzz/next"])["fuzz/next"].value == marker

    check()
    assert counts["applied"] > 0 and sum(counts.values()) >= 60, counts


@QUICK
@given(text=st.one_of(any_text, st.lists(st.sampled_from(
    ["params/lr", ">", "<", "=", "!=", "0.1", "'x'", '"y"', "AND", "OR", "NOT", "(", ")", "CONTAINS", "sys/tags",
     "EXISTS", "1e309", "-", "`a b`", "\\", "\x00"]), max_size=8).map(" ".join)))
def test_any_query_text_runs_or_is_a_query_error(text: str, tmp_path: Path) -> None:
    store = _query_store(tmp_path)
    try:
        table = store.query_table("fuzz", "run", query=text)
    except E.QueryError as exc:
        assert str(exc)
    except E.InvalidValueError as exc:  # NUL or text no store can hold in a query
        assert str(exc)
    else:
        assert len(table.rows) <= 3


_QUERY_STORES: dict[Path, Any] = {}


def _query_store(tmp_path: Path) -> Any:
    from naiad.store.sqlite import SqliteStore

    root = tmp_path.parent / "query-store"
    if root not in _QUERY_STORES:
        store = SqliteStore(root)
        for lr in (0.1, 0.2, 0.3):
            run = store.create_container("fuzz", RUN, uuid.uuid4().hex)
            store.apply(Batch(run.uuid, "q-" + run.uuid, 1, [
                (O.ASSIGN, "params/lr", F.FLOAT, lr), (O.ADD, "sys/tags", ["x"]),
                (O.POINTS, "loss", F.FLOAT_SERIES, np.arange(3.0), np.arange(3.0) + 1.7e9, np.ones(3))]))
        _QUERY_STORES[root] = store
    return _QUERY_STORES[root]
