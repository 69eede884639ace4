"""``naiad models …`` and ``naiad datasets …``: the registry and the datasets view on the command line.

    naiad models ls                                 models, their production version and aliases
    naiad models show DEF-CLS                       the versions of a model (stage, aliases, run)
    naiad models promote DEF-CLS-3 --stage production --reason "beats -2 on March data"
    naiad models alias DEF-CLS champion DEF-CLS-3   (--remove to take it away)
    naiad models history DEF-CLS [--at 2026-03-01]  the audit trail, or the registry at a time
    naiad models download DEF-CLS --stage production ./serve    weights + inference code + manifest
    naiad models verify ./serve                     check a bundle against its manifest
    naiad datasets ls | show REF | diff A B | download REF DEST
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import click

from naiad.cli.common import _console, _json_value, _project_name, _size, _store
from naiad.config import SETTINGS
from naiad.store.base import MODEL, MODEL_VERSION, RegistryEvent
from naiad.tracking.container import default_owner

_URI = click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")
_PROJECT = click.option("--project", "-p", help="project name (default: NAIAD_PROJECT, or the only project)")


def _when(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _versions(store: Any, project: str, model: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    cols = ["sys/name", "sys/model_id", "sys/stage", "sys/aliases", "sys/creation_time", "sys/owner", "run/id"]
    query = f'`sys/model_id`:string = "{model}"' if model else None
    result = store.query_table(project, MODEL_VERSION, query=query, columns=cols, ascending=True)
    return [(sid, {p: _json_value(fv) for p, fv in row.items()})
            for sid, row in zip(result.ids, result.rows, strict=True)]


def _event_json(e: RegistryEvent) -> dict[str, Any]:
    return {"id": e.id, "time": _dt.datetime.fromtimestamp(e.at, tz=_dt.timezone.utc).isoformat(), "model": e.model,
            "version": e.version, "kind": e.kind, "name": e.name, "from": e.before, "to": e.after,
            "actor": e.actor, "reason": e.reason}


@click.group()
def models() -> None:
    """The model registry: versions, stages, aliases, history and deployment bundles."""


@models.command("ls")
@_PROJECT
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@_URI
def models_ls(project: str | None, as_json: bool, uri: str | None) -> None:
    """The models of a project, with their production version and aliases."""
    store = _store(uri)
    name = _project_name(store, project)
    result = store.query_table(name, MODEL, columns=["sys/name", "sys/creation_time"], ascending=True)
    versions = _versions(store, name)
    rows = []
    for sid, row in zip(result.ids, result.rows, strict=True):
        mine = [(v, r) for v, r in versions if r.get("sys/model_id") == sid]
        rows.append({
            "id": sid, "name": row["sys/name"].value if "sys/name" in row else "",
            "versions": len(mine),
            "production": next((v for v, r in reversed(mine) if r.get("sys/stage") == "production"), None),
            "staging": [v for v, r in mine if r.get("sys/stage") == "staging"],
            "aliases": {a: v for v, r in mine for a in r.get("sys/aliases") or []},
        })
    if as_json:
        for r in rows:
            click.echo(json.dumps(r))
        return
    from rich.table import Table

    table = Table(title=f"{name} — {len(rows)} model(s)")
    for col in ("id", "name", "versions", "production", "staging", "aliases"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["name"], str(r["versions"]), r["production"] or "-", ", ".join(r["staging"]) or "-",
                      ", ".join(f"{a}→{v}" for a, v in sorted(r["aliases"].items())) or "-")
    _console().print(table)


@models.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@_URI
def models_show(model: str, as_json: bool, uri: str | None) -> None:
    """The versions of MODEL: stage, aliases, the run that trained each, when and by whom."""
    store = _store(uri)
    info = _model_info(store, model)
    versions = _versions(store, info.project, info.short_id)
    if as_json:
        for sid, r in versions:
            click.echo(json.dumps({"id": sid, **r}, default=str))
        return
    from rich.table import Table

    table = Table(title=f"{info.short_id} — {len(versions)} version(s)")
    for col in ("version", "name", "stage", "aliases", "run", "created", "owner"):
        table.add_column(col, overflow="fold")
    for sid, r in versions:
        created = r.get("sys/creation_time")
        table.add_row(sid, str(r.get("sys/name") or ""), str(r.get("sys/stage") or "none"),
                      ", ".join(r.get("sys/aliases") or []) or "-", str(r.get("run/id") or "-"),
                      _when(created) if created else "", str(r.get("sys/owner") or ""))
    _console().print(table)


def _model_info(store: Any, model: str) -> Any:
    info = store.get_container(short_id=model)
    if info.kind != MODEL:
        raise click.BadParameter(f"{model} is a {info.kind.replace('_', ' ')}, not a model.", param_hint="MODEL")
    return info


@models.command("promote")
@click.argument("version")
@click.option("--stage", "-s", type=click.Choice(["none", "staging", "production", "archived"]), required=True,
              help="the stage to move VERSION to (production archives the version there before)")
@click.option("--reason", "-r", default="", help="why: kept in the history")
@_URI
def models_promote(version: str, stage: str, reason: str, uri: str | None) -> None:
    """Move VERSION to a stage; the change (and any version it replaces) goes in the history."""
    from naiad.registry.history import describe

    events = _store(uri).change_stage(version, stage, actor=default_owner(), reason=reason)
    if not events:
        click.echo(f"{version} is already in {stage}; nothing changed.")
    for e in events:
        click.echo(describe(e))


@models.command("alias")
@click.argument("model")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--remove", is_flag=True, help="take ALIAS away from whichever version holds it")
@click.option("--reason", "-r", default="", help="why: kept in the history")
@_URI
def models_alias(model: str, alias: str, version: str | None, remove: bool, reason: str, uri: str | None) -> None:
    """Point ALIAS (champion, shadow…) of MODEL at VERSION, or --remove it."""
    from naiad.registry.history import describe

    if remove == (version is not None):
        raise click.UsageError("give VERSION to set the alias, or --remove to take it away (not both).")
    events = _store(uri).set_alias(model, alias, version, actor=default_owner(), reason=reason)
    if not events:
        click.echo(f"{alias} already {'points at ' + version if version else 'points nowhere'}; nothing changed.")
    for e in events:
        click.echo(describe(e))


@models.command("policy")
@click.argument("model")
@click.option("--require-gate/--no-require-gate", default=None,
              help="require a passing `naiad gate` decision before a version goes to production")
@click.option("--gate-account", "gate_accounts", multiple=True, metavar="ACCOUNT",
              help="an account whose gate decisions count besides maintainers, owners and admins (a CI service "
                   "account); repeat for several; replaces the list")
@click.option("--no-gate-accounts", is_flag=True, help="count only decisions by maintainers, owners and admins")
@click.option("--reason", "-r", default="", help="why: kept in the history")
@_URI
def models_policy(model: str, require_gate: bool | None, gate_accounts: tuple[str, ...], no_gate_accounts: bool,
                  reason: str, uri: str | None) -> None:
    """Show MODEL's promotion policy, or change it (a maintainer's call on a server)."""
    from naiad.registry.history import describe

    if gate_accounts and no_gate_accounts:
        raise click.UsageError("give --gate-account or --no-gate-accounts, not both.")
    store = _store(uri)
    info = _model_info(store, model)
    accounts = list(gate_accounts) if gate_accounts else ([] if no_gate_accounts else None)
    if require_gate is not None or accounts is not None:
        events = store.set_policy(model, require_gate=require_gate, gate_accounts=accounts, actor=default_owner(),
                                  reason=reason)
        for e in events:
            click.echo(describe(e))
    got = store.read_fields(info.uuid, ["sys/policy/require_gate", "sys/policy/gate_accounts"])
    fv = got.get("sys/policy/require_gate")
    required = bool(fv.value) if fv is not None else False
    named = sorted(got["sys/policy/gate_accounts"].value) if "sys/policy/gate_accounts" in got else []
    if not required:
        click.echo(f"{model}: no promotion policy (any contributor may promote)")
        return
    who = "a maintainer, owner or admin" + (f" or {', '.join(named)}" if named else "")
    click.echo(f"{model}: a version goes to production only with a passing gate decision")
    click.echo(f"  decisions count when recorded by {who}, compared with the version in production then, and "
               f"younger than {SETTINGS.gate_max_age.get() / 86400:.3g} days")


@models.command("history")
@click.argument("model")
@click.option("--at", "at", help="show the registry as it was at this time (2026-03-01, 2026-03-01T12:00, "
                                 "…; local time unless a zone is given)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_URI
def models_history(model: str, at: str | None, as_json: bool, uri: str | None) -> None:
    """Every stage and alias change of MODEL (who, when, from, to, why), or with --at: which version held
    production and each alias then, the run that trained it and the datasets it saw."""
    from naiad.registry.history import describe, state_at

    store = _store(uri)
    info = _model_info(store, model)
    events = store.registry_events(info.project, info.short_id)
    if at is None:
        if as_json:
            click.echo(json.dumps([_event_json(e) for e in events], indent=2))
            return
        if not events:
            click.echo(f"{info.short_id} has no stage or alias changes yet.")
        for e in events:
            click.echo(f"{_when(e.at)}  {describe(e)}")
        return
    state = state_at(events, at)
    production = state.holder(stage="production")
    lineage = _lineage(store, production) if production else None
    if as_json:
        click.echo(json.dumps({"model": info.short_id, "at": at, "production": production,
                               "stages": state.stages, "aliases": state.aliases, "lineage": lineage}, indent=2))
        return
    click.echo(f"{info.short_id} at {at}:")
    click.echo(f"  production: {production or 'no version'}")
    if lineage:
        click.echo(f"    trained by run {lineage['run'] or '(not recorded)'}")
        for role, digest in lineage["datasets"].items():
            click.echo(f"    dataset {role}: {digest}")
    for alias, holder in sorted(state.aliases.items()):
        click.echo(f"  alias {alias}: {holder}")
    others = {v: s for v, s in state.stages.items() if s != "production"}
    for version, stage in others.items():
        click.echo(f"  {version}: {stage}")


def _lineage(store: Any, version: str) -> dict[str, Any]:
    from naiad.core import fields as F

    info = store.get_container(short_id=version)
    values = store.read_fields(info.uuid)
    run = values.get("run/id")
    return {"version": version, "run": run.value if run else None,
            "datasets": {p[len("datasets/"):]: fv.value["hash"] for p, fv in sorted(values.items())
                         if p.startswith("datasets/") and fv.type == F.ARTIFACT}}


@models.command("download")
@click.argument("model")
@click.argument("destination", type=click.Path(file_okay=False))
@click.option("--stage", "-s", type=click.Choice(["staging", "production", "archived", "none"]),
              help="the version in this stage (default: production)")
@click.option("--alias", "-a", help="the version holding this alias")
@click.option("--version", "-v", "version", help="this version id")
@_URI
def models_download(model: str, destination: str, stage: str | None, alias: str | None, version: str | None,
                    uri: str | None) -> None:
    """Write the deployment bundle of MODEL's production version (or --stage/--alias/--version) to
    DESTINATION: weights, inference code and naiad-manifest.json, every file checked against its hash."""
    import naiad

    if uri:
        import os

        os.environ["NAIAD_URI"] = uri
    m = naiad.init_model(with_id=model, mode="read-only")
    try:
        manifest = m.download(destination, stage=stage, alias=alias, version=version)
    finally:
        m.stop()
    total = sum(f["size"] for f in manifest["files"])
    click.echo(f"{manifest['version']} ({manifest['stage']}, run {manifest['run'] or '-'}): "
               f"{len(manifest['files'])} file(s), {_size(total)}, hashes verified → {destination}")


@models.command("verify")
@click.argument("destination", type=click.Path(exists=True, file_okay=False))
def models_verify(destination: str) -> None:
    """Check a downloaded bundle against its naiad-manifest.json (exit status 1 on any difference)."""
    from naiad.registry.bundle import MANIFEST, verify_bundle

    problems = verify_bundle(destination)
    manifest = json.loads((Path(destination) / MANIFEST).read_text())
    for p in problems:
        click.echo(f"FAIL {p}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"OK {manifest['version']}: {len(manifest['files'])} file(s) match their hashes.")


# ------------------------------------------------------------------------------------------ datasets
@click.group()
def datasets() -> None:
    """Dataset versions (tracked with track_files): where each is used, diffs, downloads."""


@datasets.command("ls")
@_PROJECT
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@_URI
def datasets_ls(project: str | None, as_json: bool, uri: str | None) -> None:
    """Every dataset version of the project, with the runs and model versions that used it and how."""
    from naiad.tracking.datasets import versions_frame

    store = _store(uri)
    name = _project_name(store, project)
    frame = versions_frame(store.dataset_uses(name))
    if as_json:
        for rec in frame.to_dict("records"):
            rec["first_seen"] = rec["first_seen"].isoformat()
            click.echo(json.dumps(rec))
        return
    from rich.table import Table

    table = Table(title=f"{name} — {len(frame)} dataset version(s)")
    for col in ("hash", "files", "size", "first seen", "roles", "runs", "model versions"):
        table.add_column(col, overflow="fold")
    for rec in frame.to_dict("records"):
        table.add_row(rec["hash"][:12], str(rec["files"]), _size(rec["size"]),
                      rec["first_seen"].strftime("%Y-%m-%d %H:%M:%S"), rec["roles"], rec["runs"] or "-",
                      rec["model_versions"] or "-")
    _console().print(table)


@datasets.command("show")
@click.argument("ref")
@_PROJECT
@click.option("--files", "show_files", is_flag=True, help="also list every file")
@_URI
def datasets_show(ref: str, project: str | None, show_files: bool, uri: str | None) -> None:
    """One dataset version (hash prefix, or RUN-ID:field/path): its uses and roles, and with --files its files."""
    from naiad.tracking.datasets import resolve, role_of

    store = _store(uri)
    name = _project_name(store, project)
    digest, files = resolve(store, name, ref)
    click.echo(f"dataset {digest}: {len(files)} file(s), {_size(sum(int(e['size']) for e in files))}")
    for u in store.dataset_uses(name, digest):
        click.echo(f"  {u.container:<14} {u.kind.replace('_', ' '):<14} {u.path}  ({role_of(u.path)})")
    if show_files:
        for e in files:
            click.echo(f"    {e['file_path']}  {e['size']:,} B  {e['file_hash'][:12]}")


@datasets.command("diff")
@click.argument("a")
@click.argument("b")
@_PROJECT
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_URI
def datasets_diff(a: str, b: str, project: str | None, as_json: bool, uri: str | None) -> None:
    """Files added, removed and changed from dataset version A to B (hash prefixes or RUN-ID:field/path)."""
    from naiad.tracking.datasets import diff_manifests, resolve

    store = _store(uri)
    name = _project_name(store, project)
    hash_a, files_a = resolve(store, name, a)
    hash_b, files_b = resolve(store, name, b)
    diff = diff_manifests(files_a, files_b, name_a=hash_a, name_b=hash_b)
    if as_json:
        click.echo(json.dumps({"a": hash_a, "b": hash_b, "unchanged": diff.unchanged,
                               "added": [e["file_path"] for e in diff.added],
                               "removed": [e["file_path"] for e in diff.removed],
                               "changed": [o["file_path"] for o, _ in diff.changed]}, indent=2))
        return
    click.echo(f"--- {hash_a[:12]} ({len(files_a)} files)\n+++ {hash_b[:12]} ({len(files_b)} files)")
    for e in diff.added:
        click.echo(f"+ {e['file_path']}  ({e['size']:,} B)")
    for e in diff.removed:
        click.echo(f"- {e['file_path']}  ({e['size']:,} B)")
    for o, n in diff.changed:
        click.echo(f"~ {o['file_path']}  ({o['size']:,} B → {n['size']:,} B)")
    click.echo(f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed, "
               f"{diff.unchanged} unchanged")


@datasets.command("download")
@click.argument("ref")
@click.argument("destination", type=click.Path(file_okay=False))
@_PROJECT
@_URI
def datasets_download(ref: str, destination: str, project: str | None, uri: str | None) -> None:
    """Recreate dataset version REF in DESTINATION (files tracked with upload=True come from the store,
    hash-checked; others are linked to where they were tracked)."""
    from naiad.tracking.datasets import resolve
    from naiad.tracking.handler import _download_artifact

    store = _store(uri)
    name = _project_name(store, project)
    digest, files = resolve(store, name, ref)
    Path(destination).mkdir(parents=True, exist_ok=True)
    _download_artifact(files, destination, store.blobs)
    click.echo(f"dataset {digest[:12]}: {len(files)} file(s) → {destination}")


def register(main: click.Group) -> None:
    main.add_command(models)
    main.add_command(datasets)


__all__ = ["datasets", "models", "register"]
