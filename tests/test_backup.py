"""`naiad export PROJECT DIR` / `naiad import naiad DIR`: a whole project (runs, files, models, versions,
evaluations, the registry's history, gate decisions) round-trips, verified by content hashes, into an
embedded store and into PostgreSQL, while runs write; a damaged export is refused, naming the file."""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from click.testing import CliRunner

import naiad
import naiad.store
from naiad.cli.main import main
from naiad.errors import ConfigError, FileError, IntegrityError
from naiad.importers.export import export_project, verify_export
from naiad.importers.naiad import import_naiad
from naiad.store.base import Store
from registry_kit import controlled, shop_registry, writing_to
from services import postgres_store_dsn

pytestmark = pytest.mark.trust


def _month(n: int, right: float, seed: int, shift: float = 0.0) -> Any:
    frame = controlled(n, right, seed)
    frame["x"] = frame["x"] + shift
    return frame


def _rich_run(tmp: Path) -> None:
    """A run of every field type and kind of file."""
    data = tmp / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.bin").write_bytes(os.urandom(3000))
    image = tmp / "img.png"
    image.write_bytes(b"\x89PNG fake " + os.urandom(500))
    run = naiad.init_run(project="shop", name="rich", tags=["a", "b"], capture_hardware_metrics=False,
                         capture_stdout=False, capture_stderr=False)
    run["parameters"] = {"lr": 0.01, "depth": 7, "flag": True, "opt": "adam"}
    run["when"] = datetime.datetime(2026, 5, 4, 3, 2, 1, 500000, tzinfo=datetime.timezone.utc)
    for i in range(300):
        run["train/loss"].append(1.0 / (i + 1), step=i * 2)
        if i % 50 == 0:
            run["train/notes"].append(f"step {i} ü")
    run["model/weights"].upload(str(data / "sub" / "b.bin"))
    run["files"].upload_files([str(data / "a.csv"), str(data / "sub" / "b.bin")])
    run["images"].append(naiad.types.File(str(image)), step=0)
    run["datasets/train"].track_files(str(data))
    run["datasets/uploaded"].track_files(str(data / "a.csv"), upload=True)
    run["empty/set"].add([])
    run["x"] = 1
    run.stop()
    with naiad.init_project(project="shop") as project:
        project["notes"] = "the shop's project-level field"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Project "shop" in an embedded store: the registry of registry_kit (evaluations, profiles, a gate,
    stage changes) plus a run of every field type; exported once."""
    home = tmp_path_factory.mktemp("shop")
    with writing_to(home / ".naiad"):
        facts = shop_registry(_month, n_boot=50)
        _rich_run(home)
    store = naiad.store.open_store(str(home / ".naiad"))
    export = home / "export"
    report = export_project(store, "shop", export)
    facts.update(home=home, store=store, export=export, report=report)
    return facts


def _snapshot(store: Store, project: str) -> dict[str, Any]:
    """Everything a user can read of a project: every container's fields, every series' points, every
    blob's bytes by hash, the registry's events and the gate's decisions."""
    out: dict[str, Any] = {"containers": {}, "blobs": {}}
    for kind in ("project", "model", "model_version", "run"):
        for short_id in store.query_table(project, kind, columns=["sys/id"]).ids:
            info = store.get_container(short_id=short_id)
            values = store.read_fields(info.uuid)
            fields = {}
            for path, fv in values.items():
                value: Any = sorted(fv.value) if isinstance(fv.value, set) else fv.value
                if isinstance(value, float) and math.isnan(value):
                    value = "NaN"
                if fv.type in ("FloatSeries", "StringSeries", "FileSeries"):
                    data = store.read_series(info.uuid, path)
                    vals = np.asarray(data.values, dtype=object if fv.type != "FloatSeries" else np.float64)
                    value = (data.steps.tolist(), data.timestamps.tolist(),
                             [("NaN" if isinstance(v, float) and math.isnan(v) else v) for v in vals.tolist()])
                    for raw in (vals.tolist() if fv.type == "FileSeries" else []):
                        digest = json.loads(raw)["hash"]
                        out["blobs"][digest] = _blob(store, digest)
                if fv.type == "File":
                    out["blobs"][fv.value["hash"]] = _blob(store, fv.value["hash"])
                if fv.type == "FileSet":
                    for ref in fv.value.values():
                        out["blobs"][ref["hash"]] = _blob(store, ref["hash"])
                fields[path] = (fv.type, value)
            out["containers"][short_id] = {"uuid": info.uuid, "kind": info.kind, "created": info.created,
                                           "custom_run_id": info.custom_run_id, "fields": fields}
    out["events"] = [(e.model, e.version, e.kind, e.name, e.before, e.after, e.actor, e.reason, e.at)
                     for e in store.registry_events(project)]
    out["decisions"] = [(d.model, d.candidate, d.baseline, d.dataset_hash, d.n, d.verdict, d.reason, d.run,
                         d.details, d.actor, d.actor_role, d.at) for d in store.gate_decisions(project)]
    return out


def _blob(store: Store, digest: str) -> str:
    import hashlib

    if not store.blobs.exists(digest):
        return "missing"
    with store.blobs.open(digest) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_export_lists_every_file_with_its_hash(shop: dict[str, Any]) -> None:
    export, report = shop["export"], shop["report"]
    manifest = verify_export(export)
    assert manifest["project"]["name"] == "shop" and manifest["project"]["key"] == "SHO"
    kinds = sorted({c["kind"] for c in manifest["containers"]})
    assert kinds == ["model", "model_version", "project", "run"]
    assert report.containers == len(manifest["containers"]) >= 7
    assert report.points > 300 and report.blobs >= 3 and not report.missing_blobs
    sums = (export / "SHA256SUMS").read_text().splitlines()
    on_disk = sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file())
    assert sorted(line.split("  ", 1)[1] for line in sums) == [p for p in on_disk if p != "SHA256SUMS"]
    history = json.loads((export / "history.json").read_text())
    assert history["gate_decisions"] and history["registry_events"]
    assert not any(p.name.startswith(".export.partial") for p in export.parent.iterdir())


@pytest.mark.parametrize("target", ["embedded", "postgres"])
def test_round_trip_keeps_everything(shop: dict[str, Any], target: str, tmp_path: Path,
                                     request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = str(tmp_path / "restored" / ".naiad")
    if target == "postgres":  # a team's store: PostgreSQL and S3
        bucket = f"naiad-backup-{uuid.uuid4().hex[:8]}"
        endpoint = request.getfixturevalue("s3_env")
        boto3.session.Session().client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        monkeypatch.setenv("NAIAD_BLOBS", f"s3://{bucket}/blobs")
        uri = postgres_store_dsn(tmp_path / "pg")
    restored = naiad.store.open_store(uri)
    report = import_naiad(restored, shop["export"])
    assert not report.problems and not report.skipped
    assert report.points_checked == shop["report"].points
    before, after = _snapshot(shop["store"], "shop"), _snapshot(restored, "shop")
    assert before["containers"].keys() == after["containers"].keys()
    for short_id, was in before["containers"].items():
        now = after["containers"][short_id]
        assert {k: v for k, v in now.items() if k != "fields"} == {k: v for k, v in was.items() if k != "fields"}
        for path in sorted(set(was["fields"]) | set(now["fields"])):
            assert now["fields"].get(path) == was["fields"].get(path), (short_id, path)
    assert after["blobs"] == before["blobs"] and all(v != "missing" for v in after["blobs"].values())
    assert after["events"] == before["events"] and after["decisions"] == before["decisions"]
    # the restored store goes on as the old one would have: the next run and version get the next ids
    runs = [s for s, c in before["containers"].items() if c["kind"] == "run"]
    top = max(int(s.rsplit("-", 1)[1]) for s in runs)
    info = restored.create_container("shop", "run", "0" * 32)
    assert info.short_id == f"SHO-{top + 1}"
    version = restored.create_container("shop", "model_version", "1" * 32, parent=shop["model"])
    assert version.short_id == f"{shop['model']}-3"
    # the registry's guard works on the restored history: production is held by v2 (the gate promoted it)
    assert restored.read_fields(restored.get_container(short_id=shop["v2"]).uuid)["sys/stage"].value == "production"


def test_import_again_adds_nothing_and_a_foreign_project_is_refused(shop: dict[str, Any], tmp_path: Path) -> None:
    restored = naiad.store.open_store(str(tmp_path / "r" / ".naiad"))
    first = import_naiad(restored, shop["export"])
    again = import_naiad(restored, shop["export"])
    assert not again.imported and len(again.skipped) == len(first.imported)
    assert again.registry_events == 0 and again.points_checked == first.points_checked
    assert len(restored.registry_events("shop")) == first.registry_events
    other = naiad.store.open_store(str(tmp_path / "o" / ".naiad"))
    other.create_container("shop", "run", "2" * 32)
    with pytest.raises(ConfigError, match=r"not from this export.*project key SHO"):
        import_naiad(other, shop["export"])
    with pytest.raises(ConfigError, match="key SHO is used by project 'shop'"):
        import_naiad(other, shop["export"], project="shop-copy")


def test_a_damaged_export_is_refused_naming_the_file(shop: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(shop["export"], copy)
    target = tmp_path / "t" / ".naiad"
    series = sorted((copy / "series").rglob("*.npz"))[0]
    good = series.read_bytes()
    raw = bytearray(good)
    raw[-30] ^= 0xFF
    series.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=f"{series.name} is damaged"):
        import_naiad(naiad.store.open_store(str(target)), copy)
    assert not target.exists() or not naiad.store.open_store(str(target)).list_projects()  # nothing written
    series.write_bytes(good)
    verify_export(copy)
    (copy / "extra.txt").write_text("x")
    with pytest.raises(IntegrityError, match=r"extra\.txt is not in SHA256SUMS"):
        verify_export(copy)
    (copy / "extra.txt").unlink()
    blob = sorted((copy / "blobs").rglob("*"))[-1]
    blob.unlink()
    with pytest.raises(IntegrityError, match="is missing from the export"):
        verify_export(copy)
    with pytest.raises(FileError, match="not a naiad export"):
        verify_export(tmp_path)
    result = CliRunner().invoke(main, ["import", "naiad", "--check", str(copy)])
    assert result.exit_code != 0 and "missing from the export" in result.output


def test_cli_round_trip_and_refusals(shop: dict[str, Any], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-export"
    result = runner.invoke(main, ["export", "shop", str(out), "--uri", str(shop["home"] / ".naiad")])
    assert result.exit_code == 0, result.output
    assert f"into {out}" in result.output and "naiad import naiad --check" in result.output
    result = runner.invoke(main, ["export", "shop", str(out), "--uri", str(shop["home"] / ".naiad")])
    assert result.exit_code != 0 and "not an empty folder" in result.output
    result = runner.invoke(main, ["import", "naiad", "--check", str(out)])
    assert result.exit_code == 0 and "every file matches SHA256SUMS" in result.output
    target = tmp_path / "into" / ".naiad"
    result = runner.invoke(main, ["import", "naiad", str(out), "--uri", str(target), "--project", "shop2"])
    assert "key SHO" not in result.output and result.exit_code == 0, result.output
    assert "read back and compared" in result.output
    assert [p.name for p in naiad.store.open_store(str(target)).list_projects()] == ["shop2"]


def test_export_while_a_run_writes(tmp_path: Path) -> None:
    """Online: a run logs in another process during the export; every finished container is exported whole,
    the running one as it was when read (at least what it had when the export began), and the import of
    that export checks out."""
    from conftest import start_script

    home = tmp_path / "live"
    with writing_to(home):
        for i in range(3):
            with naiad.init_run(project="live", capture_hardware_metrics=False) as run:
                run["i"] = i
                for s in range(2000):
                    run["m"].append(float(s))
    writer = start_script(
        "import naiad, time\n"
        "run = naiad.init_run(project='live', custom_run_id='busy', capture_hardware_metrics=False)\n"
        "print('started', flush=True)\n"
        "i = 0\n"
        "while True:\n"
        "    run['busy'].append(float(i)); i += 1\n"
        "    if i % 1000 == 0: time.sleep(0.01)\n",
        env={"NAIAD_URI": str(home), "NAIAD_FLUSH_PERIOD": "0.05"})
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        store = naiad.store.open_store(str(home))
        deadline = time.time() + 30
        busy = None
        while time.time() < deadline and busy is None:
            rows = store.query_table("live", "run", columns=["sys/id", "busy"]).rows
            busy = next((r for r in rows if r.get("busy") and (r["busy"].count or 0) > 1000), None)
            time.sleep(0.1)
        assert busy is not None, "the writing run never reached the store"
        had = int(store.read_fields(store.get_container(short_id=busy["sys/id"].value).uuid)["busy"].count or 0)
        report = export_project(store, "live", tmp_path / "out")
        still = writer.poll() is None
    finally:
        writer.kill()
        writer.communicate()
    assert still, "the run stopped writing before the export ended"
    assert report.running == [busy["sys/id"].value] and report.containers == 4
    manifest = verify_export(tmp_path / "out")
    entry = next(c for c in manifest["containers"] if c["short_id"] == busy["sys/id"].value)
    record = json.loads((tmp_path / "out" / entry["file"]).read_text())
    assert record["series"]["busy"]["points"] >= had
    restored = naiad.store.open_store(str(tmp_path / "restored"))
    result = import_naiad(restored, tmp_path / "out")
    assert result.points_checked == report.points >= 3 * 2000 + had


def test_export_through_a_server_matches_and_import_needs_the_database(shop: dict[str, Any], tmp_path: Path) -> None:
    """Over HTTP (a viewer's token) the export holds the same containers, series and history, byte for byte,
    as one read from the store itself; an import into a server is refused with what to do instead."""
    import shutil

    from naiad.store.remote import RemoteStore
    from services import team_server

    folder = tmp_path / "srv"
    folder.mkdir()
    shutil.copytree(shop["home"] / ".naiad", folder / "store")
    with team_server(folder, [("vera", "shop", "viewer")]) as server:
        remote = RemoteStore(server.url, server.tokens["vera"])
        try:
            export_project(remote, "shop", tmp_path / "via-http")
            with pytest.raises(ConfigError, match=r"is a server.*--uri"):
                import_naiad(remote, shop["export"])
        finally:
            remote.close()
    ours, theirs = shop["export"], tmp_path / "via-http"
    sums = {line.split("  ", 1)[1]: line for line in (ours / "SHA256SUMS").read_text().splitlines()}
    over_http = {line.split("  ", 1)[1]: line for line in (theirs / "SHA256SUMS").read_text().splitlines()}
    assert sums.keys() == over_http.keys()
    assert {k: v for k, v in sums.items() if k != "manifest.json"} == \
           {k: v for k, v in over_http.items() if k != "manifest.json"}


def test_a_file_the_store_lost_is_said_not_hidden(shop: dict[str, Any], tmp_path: Path) -> None:
    """A field whose file the source store does not hold: the export keeps the reference, says so (CLI
    warning, manifest), and the import reports it; everything else round-trips."""
    import shutil

    source = tmp_path / "src" / ".naiad"
    shutil.copytree(shop["home"] / ".naiad", source)
    store = naiad.store.open_store(str(source))
    table = store.query_table("shop", "run", query='`sys/name`:string = "rich"', columns=["sys/id"])
    run = store.get_container(short_id=table.ids[0])
    digest = store.read_fields(run.uuid, ["model/weights"])["model/weights"].value["hash"]
    (source / "blobs" / digest[:2] / digest[2:]).unlink()
    result = CliRunner().invoke(main, ["export", "shop", str(tmp_path / "out"), "--uri", str(source)])
    assert result.exit_code == 0, result.output
    assert f"{run.short_id} 'model/weights' refers to file {digest[:16]}" in result.output
    manifest = verify_export(tmp_path / "out")
    missing = {(m["hash"], m["container"], m["path"]) for m in manifest["missing_blobs"]}
    assert missing == {(digest, run.short_id, "model/weights"), (digest, run.short_id, "files")}  # same bytes twice
    report = import_naiad(naiad.store.open_store(str(tmp_path / "r" / ".naiad")), tmp_path / "out")
    assert sorted(p.split("'")[1] for p in report.problems) == ["files", "model/weights"]


def _edit_export(folder: Path, change: Any) -> None:
    """Change an export by hand the way an attacker would, checksums rewritten to match."""
    import hashlib

    change(folder)
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(folder).as_posix()}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))


def _record_of(folder: Path, short_id: str) -> tuple[Path, dict[str, Any]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = next(c for c in manifest["containers"] if c["short_id"] == short_id)
    return folder / entry["file"], json.loads((folder / entry["file"]).read_text())


def test_an_export_edited_by_hand_cannot_reach_outside_or_take_other_ids(shop: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"steps": [0.0], "timestamps": [0.0], "values": ["SECRET"]}))
    manifest = json.loads((shop["export"] / "manifest.json").read_text())
    run = next(c["short_id"] for c in manifest["containers"] if c["kind"] == "run" and any(
        e["type"] == "StringSeries" for e in _record_of(shop["export"], c["short_id"])[1]["series"].values()))

    def series_elsewhere(folder: Path) -> None:
        path, record = _record_of(folder, run)
        name = next(p for p, e in record["series"].items() if e["type"] == "StringSeries")
        record["series"][name]["file"] = str(secret)
        path.write_text(json.dumps(record))

    def foreign_id(folder: Path) -> None:
        path, record = _record_of(folder, run)
        record["short_id"] = record["fields"]["sys/id"]["value"] = "VIC-2"
        path.write_text(json.dumps(record))
        manifest = json.loads((folder / "manifest.json").read_text())
        for c in manifest["containers"]:
            if c["short_id"] == run:
                c["short_id"] = "VIC-2"
        (folder / "manifest.json").write_text(json.dumps(manifest))

    for change, expected in ((series_elsewhere, "not a series file of this container"),
                             (foreign_id, "'VIC-2' is not the id of a run of project 'shop' \\(key SHO\\)")):
        copy = tmp_path / change.__name__
        shutil.copytree(shop["export"], copy)
        _edit_export(copy, change)
        verify_export(copy)  # the checksums agree: only the import's own checks stand in the way
        target = naiad.store.open_store(str(tmp_path / f"into-{change.__name__}"))
        with pytest.raises((IntegrityError, naiad.NaiadError), match=expected):
            import_naiad(target, copy)


def test_export_names_files_by_position_whatever_the_uuid(tmp_path: Path) -> None:
    """A uuid is a client's string (a server takes 1 to 100 characters): no file of the export is named by it."""
    from naiad.core import ops as O
    from naiad.core.ops import Batch

    store = naiad.store.open_store(str(tmp_path / "s"))
    odd = "../../pwned"
    store.create_container("odd", "run", odd)
    store.apply(Batch(odd, "w", 1, [(O.POINTS, "m", "FloatSeries", np.arange(3.0), np.arange(3.0) + 1e9,
                                     np.ones(3))]))
    export_project(store, "odd", tmp_path / "deep" / "out")
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert not list(tmp_path.glob("pwned*"))
    report = import_naiad(naiad.store.open_store(str(tmp_path / "r")), tmp_path / "deep" / "out")
    assert report.points_checked == 3


def test_a_promotion_during_the_export_is_caught_up(tmp_path: Path) -> None:
    """v1 is read in production, then v2 is promoted (v1 archived) before the export ends: the export holds
    the registry as it ended, one version in production, with the event that moved it."""
    home = tmp_path / "reg"
    with writing_to(home):
        naiad.init_model(key="CLS", project="reg").stop()
        for _ in range(2):
            naiad.init_model_version(model="REG-CLS").stop()
        with naiad.init_model_version(with_id="REG-CLS-1") as mv:
            mv.change_stage("production")
    store = naiad.store.open_store(str(home))
    moved = []

    def promote_midway(stage: str, done: int, total: int) -> None:
        if stage == "containers" and done == total - 1 and not moved:  # both versions read already
            moved.extend(store.change_stage("REG-CLS-2", "production", actor="ci", reason="better"))

    export_project(store, "reg", tmp_path / "out", progress=promote_midway)
    assert moved
    restored = naiad.store.open_store(str(tmp_path / "r"))
    import_naiad(restored, tmp_path / "out")
    stages = {v: restored.read_fields(restored.get_container(short_id=v).uuid)["sys/stage"].value
              for v in ("REG-CLS-1", "REG-CLS-2")}
    assert stages == {"REG-CLS-1": "archived", "REG-CLS-2": "production"}
    assert [e.after for e in restored.registry_events("reg") if e.kind == "stage"][-2:] == ["archived", "production"]


def test_an_import_cut_short_is_finished_by_running_it_again(shop: dict[str, Any], tmp_path: Path) -> None:
    target = naiad.store.open_store(str(tmp_path / "r"))

    class Cut(Exception):
        pass

    def cut(stage: str, done: int, total: int) -> None:
        if stage == "containers" and done == total - 1:
            raise Cut  # every container but the last is in, no history yet

    with pytest.raises(Cut):
        import_naiad(target, shop["export"], progress=cut)
    assert not target.registry_events("shop")
    report = import_naiad(target, shop["export"])
    assert len(report.imported) == 1 and report.registry_events == len(shop["store"].registry_events("shop"))
    assert import_naiad(target, shop["export"]).registry_events == 0  # nothing twice
    assert len(target.gate_decisions("shop")) == len(shop["store"].gate_decisions("shop"))


def test_an_artifact_assigned_whole_is_kept_as_it_was(tmp_path: Path) -> None:
    from naiad.core import ops as O
    from naiad.core.ops import Batch

    store = naiad.store.open_store(str(tmp_path / "s"))
    info = store.create_container("art", "run", uuid.uuid4().hex)
    value = {"hash": "c0ffee" * 10 + "abcd", "files": [{"file_path": "a.csv", "file_hash": "1" * 64, "size": 3,
                                                        "type": "file", "metadata": {}}]}
    store.apply(Batch(info.uuid, "w", 1, [(O.ASSIGN, "data", "Artifact", value)]))
    export_project(store, "art", tmp_path / "out")
    restored = naiad.store.open_store(str(tmp_path / "r"))
    import_naiad(restored, tmp_path / "out")
    assert restored.read_fields(info.uuid)["data"].value == value
    assert [u.hash for u in restored.dataset_uses("art")] == [value["hash"]]
