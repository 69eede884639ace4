"""What a client of ``naiad server`` may not do with a well-formed request (issue 19): attacks replayed
against a real server on loopback with accounts of every role.

- Hole 5: a batch assigning a field the store maintains (``sys/owner``, ``sys/creation_time``, ``sys/id``…)
  forged attribution.  Each such op is refused, counted in ``sys/errors`` and named in
  ``sys/last_error``; the rest of the batch is stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import naiad
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store import open_store
from registry_kit import PROJECT
from services import TeamServer, as_user, team_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    grants = [("carl", PROJECT, "contributor"), ("mona", PROJECT, "maintainer")]
    with team_server(tmp_path_factory.mktemp("trust-wire"), grants) as found:
        yield found


def test_a_batch_cannot_forge_the_fields_the_store_maintains(server: TeamServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    as_user(server, "carl", monkeypatch)
    run = naiad.init_run(project=PROJECT, custom_run_id="carl-1", capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    run_id = str(run["sys/id"].fetch())
    run.stop()
    info = server.store.get_container(short_id=run_id)
    before = server.store.read_fields(info.uuid)
    forged = [(O.ASSIGN, "sys/owner", F.STRING, "mona"), (O.ASSIGN, "sys/creation_time", F.DATETIME, 0.0),
              (O.ASSIGN, "sys/id", F.STRING, "DEF-999"), (O.ASSIGN, "sys/custom_run_id", F.STRING, "mona-1"),
              (O.ASSIGN, "sys/trashed", F.BOOLEAN, True), (O.ASSIGN, "sys/hostname", F.STRING, "prod-gpu-1"),
              (O.ASSIGN, "sys/modification_time", F.DATETIME, 1.0), (O.ASSIGN, "sys/errors", F.INTEGER, 0),
              (O.DELETE, "sys/owner"), (O.CLEAR, "sys/creation_time")]
    remote = open_store(server.url)
    result = remote.apply(Batch(info.uuid, "carl-forger", 1, [*forged, (O.ASSIGN, "notes/by", F.STRING, "carl"),
                                                               (O.ASSIGN, "sys/state", F.STRING, "inactive")]))
    assert len(result.errors) == len(forged)
    assert all("is maintained by naiad and cannot be written" in e for e in result.errors)
    after = server.store.read_fields(info.uuid)
    for path in ("sys/owner", "sys/creation_time", "sys/id", "sys/custom_run_id", "sys/trashed"):
        assert after[path].value == before[path].value, path
    assert (after["sys/owner"].value, after["sys/id"].value) == ("carl", run_id)
    assert "sys/hostname" not in after
    assert after["sys/errors"].value == len(forged)
    assert "is maintained by naiad" in after["sys/last_error"].value
    # the rest of the batch is stored, the SDK's own lifecycle writes among it
    assert (after["notes/by"].value, after["sys/state"].value) == ("carl", "inactive")
    assert server.store.get_container(short_id=run_id).custom_run_id == "carl-1"
