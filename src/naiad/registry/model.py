"""The model registry: ``naiad.init_model`` / ``naiad.init_model_version`` (neptune 1.x names and semantics),
stages and aliases with an audit trail, and the one-call ``register_model_version``.

>>> model = naiad.init_model(key="CLS", name="defect classifier", project="defects")
>>> mv = naiad.register_model_version(run, model="DEF-CLS", weights="model/weights", inference=["serve/*.py"])
>>> mv.change_stage("staging", reason="beats DEF-CLS-2 on the March test set")
>>> model.version_at("2026-03-01")           # which version held production then
'DEF-CLS-2'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import (
    ConfigError,
    ContainerNotFound,
    FileError,
    InactiveContainerError,
    InvalidValueError,
    MissingFieldError,
    ModelNotFound,
    ModelVersionNotFound,
    NotFoundError,
)
from naiad.registry.history import RegistryState, history_frame, state_at
from naiad.store.base import MODEL, MODEL_VERSION, STAGES, ContainerInfo, RegistryEvent, Store
from naiad.tracking.container import Container, default_owner, new_uuid, resolve_mode, resolve_project, store_for
from naiad.tracking.files import File

if TYPE_CHECKING:
    import pandas as pd

    from naiad.tracking.project import Table
    from naiad.tracking.run import Run


def _check_args(**kwargs: Any) -> None:
    for pname, (pvalue, ptypes) in kwargs.items():
        if pvalue is not None and not isinstance(pvalue, ptypes):
            names = " or ".join(t.__name__ for t in (ptypes if isinstance(ptypes, tuple) else (ptypes,)))
            raise TypeError(f"{pname} must be a {names} (was {type(pvalue).__name__})")


class _RegistryContainer(Container):
    """What models and model versions share: opening by id, creation, and the registry's reads."""

    _not_found: type[ContainerNotFound] = ContainerNotFound

    def _open_registry(self, kind: str, with_id: str | None, project: str | None, mode: str | None,
                       flush_period: float | None, create: Any) -> bool:
        mode = resolve_mode(mode)
        what = kind.replace("_", " ")
        if mode == "offline":
            raise ConfigError(f"a {what} cannot be used in offline mode (its id comes from the store); use "
                              "mode=\"async\", or log to a run offline and register it later.")
        store, root = store_for(mode)
        if with_id:
            try:
                info = store.get_container(short_id=with_id, project=project)
            except ContainerNotFound as exc:
                raise self._not_found(str(exc)) from None
            if info.kind != kind:
                raise self._not_found(f"{with_id} is a {info.kind.replace('_', ' ')}, not a {what}.")
        elif mode == "read-only":
            raise ConfigError(f"read-only mode opens an existing {what}: pass with_id=\"...\".")
        else:
            info = create(store)
        period = SETTINGS.flush_period.get() if flush_period is None else float(flush_period)
        self._open(store, info, info.uuid, mode, period, root / "oplog", store.blobs)
        return info.is_new

    @property
    def _short_id(self) -> str:
        assert self._info is not None
        return self._info.short_id

    def _change_allowed(self) -> Store:
        if self._mode == "read-only":
            raise ConfigError(f"{self._label()} was opened read-only; open it with mode=\"async\" to change "
                              "its stage or aliases.")
        return self._store_read()

    def _set_name(self, is_new: bool, name: str | None) -> None:
        if name is not None or is_new:
            self._types.setdefault("sys/name", F.STRING)
            self._submit((O.ASSIGN, "sys/name", F.STRING, name if name is not None else "Untitled"))

    def _label(self) -> str:
        return self._info.short_id if self._info is not None else f"new {self._kind.replace('_', ' ')}"

    def _raise_inactive(self) -> None:
        raise InactiveContainerError(
            f"{self._label()} is stopped; open it again to write or read: "
            f"naiad.{'init_model' if self._kind == MODEL else 'init_model_version'}(with_id=\"{self._label()}\").")


class Model(_RegistryContainer):
    """A registered model (``DEF-CLS``): a field tree like a run's, and its versions.  Prefer
    :func:`naiad.init_model`, its alias."""

    _kind = MODEL
    _not_found = ModelNotFound

    def __init__(
        self, with_id: str | None = None, *, name: str | None = None, key: str | None = None,
        project: str | None = None, api_token: str | None = None, mode: str | None = None,
        flush_period: float | None = None, proxies: dict[str, str] | None = None,
        async_lag_callback: Any = None, async_lag_threshold: float = 1800.0,
        async_no_progress_callback: Any = None, async_no_progress_threshold: float = 300.0,
    ) -> None:
        super().__init__()
        _check_args(with_id=(with_id, str), name=(name, str), key=(key, str), project=(project, str),
                    mode=(mode, str), flush_period=(flush_period, (int, float)))
        if not with_id and not key and resolve_mode(mode) != "read-only":
            raise ConfigError("init_model needs key=\"CLS\" to create a model (its id becomes <PROJECT "
                              "KEY>-CLS), or with_id=\"DEF-CLS\" to open one.")

        def create(store: Store) -> ContainerInfo:
            return store.create_container(resolve_project(project), MODEL, new_uuid(), key=key,
                                          owner=default_owner())

        is_new = self._open_registry(MODEL, with_id, project, mode, flush_period, create)
        if self._mode != "read-only" and is_new:
            self._set_name(True, name)
            self._submit((O.ASSIGN, "sys/description", F.STRING, ""))
            self._types.setdefault("sys/description", F.STRING)

    # ------------------------------------------------------------------ versions
    def fetch_model_versions_table(
        self, *, query: str | None = None, columns: list[str] | None = None, limit: int | None = None,
        sort_by: str = "sys/creation_time", ascending: bool = False, progress_bar: Any = None,
    ) -> Table:
        """The versions of this model (not trashed) as a table, like ``fetch_runs_table``."""
        from naiad.tracking.project import Table, _quoted

        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise ValueError(f"limit must be a positive int (was {limit!r}).")
        store = self._store_read()
        clauses = [f"(`sys/model_id`:string = {_quoted(self._short_id)})", "(`sys/trashed`:bool = false)"]
        if query is not None and query.strip():
            clauses.insert(0, f"({query})")
        assert self._info is not None
        result = store.query_table(self._info.project, MODEL_VERSION, query=" AND ".join(clauses),
                                   columns=None if columns is None else list(columns), sort_by=sort_by,
                                   ascending=ascending, limit=limit)
        return Table(result)

    def version(self, *, stage: str | None = None, alias: str | None = None) -> str | None:
        """The id of the version in ``stage`` now (the newest, for ``staging`` and the others several
        versions share) or holding ``alias``; None if there is none."""
        if (stage is None) == (alias is None):
            raise InvalidValueError("give exactly one of stage= and alias=.")
        if stage is not None and stage not in STAGES:
            raise InvalidValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}.")
        if alias is not None:
            query = f'`sys/aliases`:stringSet CONTAINS "{_escape(alias)}"'
        else:
            query = f'`sys/stage`:string = "{stage}"'
        table = self.fetch_model_versions_table(query=query, columns=["sys/id"], limit=1)
        return next((row.id for row in table), None)

    # ------------------------------------------------------------------ history
    def fetch_registry_events(self) -> list[RegistryEvent]:
        """Every stage and alias change of this model's versions, oldest first."""
        assert self._info is not None
        return self._store_read().registry_events(self._info.project, self._short_id)

    def fetch_stage_history(self) -> pd.DataFrame:
        """The audit trail as a table: time (UTC), version, kind (stage/alias), name, from, to, actor, reason."""
        return history_frame(self.fetch_registry_events())

    def registry_at(self, when: Any = None) -> RegistryState:
        """The registry as it was at ``when`` (datetime, date, ISO string or epoch seconds; a time without
        a zone is local time): every version's stage and every alias' holder."""
        return state_at(self.fetch_registry_events(), when)

    def version_at(self, when: Any, *, stage: str = "production", alias: str | None = None) -> str | None:
        """Which version held ``stage`` (default production) — or ``alias`` — at ``when``."""
        return self.registry_at(when).holder(stage=None if alias else stage, alias=alias)

    # ------------------------------------------------------------------ aliases and deployment
    def set_alias(self, alias: str, version: str, *, reason: str = "") -> None:
        """Point ``alias`` (``champion``, ``shadow``…) at ``version``, taking it from the version holding it."""
        self._change_allowed().set_alias(self._short_id, alias, version, actor=default_owner(), reason=reason)

    def remove_alias(self, alias: str, *, reason: str = "") -> None:
        self._change_allowed().set_alias(self._short_id, alias, None, actor=default_owner(), reason=reason)

    def set_promotion_policy(self, *, require_gate: bool | None = None, gate_accounts: list[str] | None = None,
                             reason: str = "") -> None:
        """With ``require_gate``, no version moves to production without a passing ``naiad gate`` decision
        recorded by a maintainer, owner or admin of the project — or by one of ``gate_accounts`` (a CI
        service account) — comparing it with the version in production now.  On a server this takes the
        maintainer role.  None leaves that part of the policy as it is."""
        self._change_allowed().set_policy(self._short_id, require_gate=require_gate, gate_accounts=gate_accounts,
                                          actor=default_owner(), reason=reason)
        if require_gate is not None:
            self._types.setdefault("sys/policy/require_gate", F.BOOLEAN)
        if gate_accounts is not None:
            self._types.setdefault("sys/policy/gate_accounts", F.STRING_SET)

    def download(self, destination: str | os.PathLike[str], *, stage: str | None = None, alias: str | None = None,
                 version: str | None = None, progress_bar: Any = None) -> dict[str, Any]:
        """Write the deployment bundle of the version in ``stage`` / holding ``alias`` / named ``version``
        (default: the one in production) to ``destination``: weights, inference code and
        ``naiad-manifest.json``, every file checked against its content hash.  Returns the manifest."""
        from naiad.registry.bundle import download_bundle

        chosen = _choose_version(self, stage, alias, version)
        store = self._store_read()
        return download_bundle(store, store.get_container(short_id=chosen), Path(destination))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _choose_version(model: Model, stage: str | None, alias: str | None, version: str | None) -> str:
    given = [x for x in (stage, alias, version) if x is not None]
    if len(given) > 1:
        raise InvalidValueError("give one of stage=, alias= and version=.")
    if version is not None:
        if not version.startswith(model._short_id + "-"):
            raise InvalidValueError(f"{version} is not a version of {model._short_id}.")
        return version
    if alias is None and stage is None:
        stage = "production"
    found = model.version(stage=stage, alias=alias)
    if found is None:
        if alias:
            raise NotFoundError(f"{model._short_id} has no alias {alias!r}; set it with `naiad models alias "
                                f"{model._short_id} {alias} {model._short_id}-N` (or name a version).")
        raise NotFoundError(f"{model._short_id} has no version in {stage}; promote one with `naiad models promote "
                            f"{model._short_id}-N --stage {stage}` (or name a version).")
    return found


class ModelVersion(_RegistryContainer):
    """One version of a model (``DEF-CLS-3``): its weights, inference code, the run that trained it, the
    dataset versions it saw, and its stage.  Prefer :func:`naiad.init_model_version`, its alias."""

    _kind = MODEL_VERSION
    _not_found = ModelVersionNotFound

    def __init__(
        self, with_id: str | None = None, *, name: str | None = None, model: str | None = None,
        project: str | None = None, api_token: str | None = None, mode: str | None = None,
        flush_period: float | None = None, proxies: dict[str, str] | None = None,
        async_lag_callback: Any = None, async_lag_threshold: float = 1800.0,
        async_no_progress_callback: Any = None, async_no_progress_threshold: float = 300.0,
    ) -> None:
        super().__init__()
        _check_args(with_id=(with_id, str), name=(name, str), model=(model, str), project=(project, str),
                    mode=(mode, str), flush_period=(flush_period, (int, float)))
        if not with_id and not model:
            raise ConfigError("init_model_version needs model=\"DEF-CLS\" to create a version, or "
                              "with_id=\"DEF-CLS-3\" to open one.")

        def create(store: Store) -> ContainerInfo:
            assert model is not None
            proj = project
            if not proj:  # the model's id says which project it is in (NAIAD_PROJECT only if it has none)
                try:
                    proj = store.get_container(short_id=model).project
                except ContainerNotFound:
                    proj = SETTINGS.project.get()
                    if not proj:
                        raise ModelNotFound(f"no model {model!r}; create it with init_model(key=...) "
                                            "first.") from None
            return store.create_container(proj, MODEL_VERSION, new_uuid(), parent=model, owner=default_owner())

        is_new = self._open_registry(MODEL_VERSION, with_id, project, mode, flush_period, create)
        if self._mode != "read-only":
            self._set_name(is_new, name)

    @property
    def model_id(self) -> str:
        return self._short_id.rsplit("-", 1)[0]

    def change_stage(self, stage: str, *, reason: str = "") -> None:
        """Move this version to ``none``, ``staging``, ``production`` or ``archived`` — after every write
        made so far is stored.  Promoting to production archives the version there before; both changes
        are recorded in the model's history with who, when and ``reason``."""
        if not isinstance(stage, str) or stage.lower() not in STAGES:
            raise InvalidValueError(f"stage {stage!r} is not one of {', '.join(STAGES)}.")
        store = self._change_allowed()
        store.change_stage(self._short_id, stage.lower(), actor=default_owner(), reason=reason)
        self._types.setdefault("sys/stage", F.STRING)

    def set_alias(self, alias: str, *, reason: str = "") -> None:
        """Give this version ``alias`` (taking it from the version of the model that holds it)."""
        store = self._change_allowed()
        store.set_alias(self.model_id, alias, self._short_id, actor=default_owner(), reason=reason)

    def remove_alias(self, alias: str, *, reason: str = "") -> None:
        store = self._change_allowed()
        aliases = store.read_fields(self._uuid, ["sys/aliases"]).get("sys/aliases")
        if aliases is None or alias not in aliases.value:
            raise InvalidValueError(f"{self._short_id} does not hold alias {alias!r}.")
        store.set_alias(self.model_id, alias, None, actor=default_owner(), reason=reason)

    def download_bundle(self, destination: str | os.PathLike[str]) -> dict[str, Any]:
        """Write this version's deployment bundle (weights, inference code, ``naiad-manifest.json``) to
        ``destination`` and check every file against its content hash; returns the manifest."""
        from naiad.registry.bundle import download_bundle

        store = self._store_read()
        assert self._info is not None
        return download_bundle(store, self._info, Path(destination))


init_model = Model
init_model_version = ModelVersion


# ------------------------------------------------------------------------------------------ register
def _copy_field(src: Run, dst: ModelVersion, src_path: str, dst_path: str) -> None:
    """Copy a field by reference: files are named by their content hash, so nothing is uploaded again."""
    from naiad.store.base import FieldValue

    ftype = src._read_type(src_path)
    if ftype is None:
        raise InvalidValueError(f"'{src_path}' of {src._label()} is a namespace; name a field.")
    fv: FieldValue = src._read_values([src_path])[src_path]
    dst._check_protected(dst_path)
    if ftype == F.FILE:
        dst._define(dst_path, F.FILE)
        dst._submit((O.ASSIGN, dst_path, F.FILE, fv.value))
    elif ftype == F.FILE_SET:
        dst._define(dst_path, F.FILE_SET)
        dst._submit((O.FILES, dst_path, dict(fv.value or {}), True))
    elif ftype == F.ARTIFACT:
        dst._define(dst_path, F.ARTIFACT)
        dst._submit((O.TRACK, dst_path, list((fv.value or {}).get("files", [])), True))
    elif ftype == F.FILE_SERIES:
        import json

        if fv.value is None:
            raise InvalidValueError(f"'{src_path}' of {src._label()} has no files yet.")
        dst._define(dst_path, F.FILE)
        dst._submit((O.ASSIGN, dst_path, F.FILE, json.loads(fv.value)))
    elif ftype in F.ATOMS:
        dst._define(dst_path, ftype)
        dst._submit((O.ASSIGN, dst_path, ftype, fv.value))
    elif ftype == F.FLOAT_SERIES:
        if fv.value is None:
            raise InvalidValueError(f"'{src_path}' of {src._label()} has no values yet.")
        dst._define(dst_path, F.FLOAT)
        dst._submit((O.ASSIGN, dst_path, F.FLOAT, float(fv.value)))
    else:
        raise InvalidValueError(f"'{src_path}' of {src._label()} is a {ftype}; it cannot be copied to a version.")


def register_model_version(
    run: Run | str, *, model: str, weights: str = "model/weights", inference: str | list[str] | None = None,
    datasets: dict[str, str] | list[str] | None = None, metrics: list[str] | None = None, name: str | None = None,
    stage: str | None = None, aliases: list[str] | None = None, reason: str = "", project: str | None = None,
    training_data: Any = None,
) -> ModelVersion:
    """Make a new version of ``model`` from a finished run, in one call, and return it (open: add more,
    then ``stop()``; it is stopped at exit otherwise).

    - ``weights``: the run's field with the weights (File, FileSet, Artifact or FileSeries: the last file),
      copied to the version's ``weights`` by reference — nothing is uploaded again.
    - ``inference``: the run's FileSet with the inference/preprocessing code, or local paths / glob
      patterns to upload (named relative to their common folder); stored as the version's ``inference``.
    - ``name``: default the run's name.
    - ``datasets``: ``{role: run field}`` (or a list of run fields) of tracked datasets; default: every
      Artifact field of the run.  Stored as ``datasets/<role>``.
    - ``metrics``: run fields to copy to ``metrics/...`` (series give their last value).
    - ``training_data``: a DataFrame or CSV/Parquet path to profile as ``profiles/train`` (what drift is
      measured against); default: the CSV/Parquet files of the linked ``train`` dataset, if they are here.
    - ``stage`` / ``aliases``: applied once everything above is stored (``reason`` goes in the history).

    The version records ``run/id`` (and ``run/name``), so the run that trained it is one click away.
    """
    from naiad.tracking.run import Run

    opened = None
    if isinstance(run, Run):
        if run._info is None:
            raise ConfigError(f"{run._label()} is offline; run `naiad sync` first, then register it.")
        if run._state == "started":
            run.wait()
            run_obj = run
        else:  # stopped: read it again by its id
            run = run._info.short_id
    elif not isinstance(run, str):
        raise TypeError(f"run must be a Run or a run id like \"DEF-12\" (was {type(run).__name__})")
    if isinstance(run, str):
        opened = run_obj = Run(with_id=run, project=project, mode="read-only")
    assert run_obj._info is not None
    try:
        run_obj.sync(wait=False)
        # everything is checked before the version exists: a mistake leaves no half-made version behind
        if weights:
            wtype = run_obj._read_type(weights)
            if wtype not in (F.FILE, F.FILE_SET, F.ARTIFACT, F.FILE_SERIES):
                raise InvalidValueError(f"'{weights}' of {run_obj._label()} is "
                                        f"{'a namespace' if wtype is None else 'a ' + wtype}; name the File, "
                                        "FileSet, Artifact or FileSeries field that holds the weights.")
        artifacts = _dataset_fields(run_obj, datasets)
        for path in metrics or []:
            mtype = run_obj._read_type(path)
            if mtype not in F.ATOMS and mtype != F.FLOAT_SERIES:
                raise InvalidValueError(f"metric '{path}' of {run_obj._label()} is "
                                        f"{'a namespace' if mtype is None else 'a ' + mtype}; metrics are "
                                        "numbers, strings or float series.")
        code_files: dict[str, str] = {}
        code_field = isinstance(inference, str) and run_obj._types.get(inference) == F.FILE_SET
        if inference and not code_field:
            code_files = _code_files([inference] if isinstance(inference, str) else list(inference))
        found = run_obj._read_values(["sys/name"]).get("sys/name") if "sys/name" in run_obj._types else None
        run_name = str(found.value) if found is not None and found.value else None
        mv = ModelVersion(model=model, name=name or run_name, project=project or run_obj._info.project)
        try:
            mv["run/id"] = run_obj._info.short_id
            if run_name:
                mv["run/name"] = run_name
            if weights:
                _copy_field(run_obj, mv, weights, "weights")
            if code_field:
                assert isinstance(inference, str)
                _copy_field(run_obj, mv, inference, "inference")
            elif code_files:
                _upload_code(mv, code_files)
            for role, path in artifacts.items():
                _copy_field(run_obj, mv, path, f"datasets/{role}")
            for path in metrics or []:
                _copy_field(run_obj, mv, path, f"metrics/{path}")
            _store_training_profile(run_obj, mv, artifacts, training_data)
            mv.wait()
            for alias in aliases or []:
                mv.set_alias(alias, reason=reason)
            if stage is not None:
                mv.change_stage(stage, reason=reason)
        except BaseException:
            mv.stop()
            raise
        return mv
    finally:
        if opened is not None:
            opened.stop()


def _store_training_profile(run: Run, mv: ModelVersion, artifacts: dict[str, str], training_data: Any) -> None:
    """``profiles/train`` of the version: of ``training_data`` if given (errors raise), else of the train
    dataset's CSV/Parquet files where they are readable here (anything missing: no profile, a notice)."""
    from naiad.registry.profiles import store_profile
    from naiad.tracking.datasets import role_of

    if training_data is not None:
        store_profile(mv, training_data, role="train", merge=False)
        return
    sources = []
    for role, path in artifacts.items():
        if role_of(role) != "train":
            continue
        value = run._read_values([path])[path].value or {}
        for entry in value.get("files", []):
            local = str(entry.get("metadata", {}).get("file_path", ""))
            local = local[len("file://"):] if local.startswith("file://") else ""
            if local.lower().endswith((".csv", ".tsv", ".parquet", ".pq")) and os.path.isfile(local):
                sources.append(local)
    if not sources:
        return
    try:
        from naiad.data.profile import profile

        combined = profile(sources[0])
        for extra in sources[1:]:
            combined.merge(profile(extra))
        import json

        mv["profiles/train"].upload(File.from_content(json.dumps(combined.to_json()), extension="json"))
    except (ConfigError, FileError, ValueError, OSError) as exc:
        from naiad.core.fields import warn_once

        warn_once(f"{mv._label()}: the training data was not profiled ({exc}); drift checks need "
                  "profiles/train — pass training_data= to register_model_version.")


def _code_files(patterns: list[str]) -> dict[str, str]:
    """The local inference files, named relative to their common folder (``serve/predict.py`` →
    ``predict.py``), so a bundle has them where the serving code expects."""
    from naiad.tracking.files import expand_globs

    found = expand_globs(patterns, common_root=True)
    if not found:
        raise FileError(f"inference={patterns!r}: no file matches; give paths or glob patterns of the "
                        "inference code (or a FileSet field of the run).")
    return found


def _upload_code(mv: ModelVersion, found: dict[str, str]) -> None:
    store = mv._store_read()
    files = {}
    for name, full in found.items():
        digest, size = store.blobs.put_file(full)
        files[name] = {"hash": digest, "size": size, "mtime": os.stat(full).st_mtime}
    mv._define("inference", F.FILE_SET)
    mv._submit((O.FILES, "inference", files, True))


def _dataset_fields(run: Run, datasets: dict[str, str] | list[str] | None) -> dict[str, str]:
    """``{role: run path}`` of the datasets to link; roles are the paths without a leading ``datasets/``."""
    if datasets is None:
        paths = [p for p, t in run._types.items() if t == F.ARTIFACT]
        return {_role_name(p): p for p in sorted(paths)}
    pairs = dict(datasets) if isinstance(datasets, dict) else {_role_name(p): p for p in datasets}
    for role, path in pairs.items():
        if run._types.get(path) != F.ARTIFACT:
            raise MissingFieldError(f"'{path}' of {run._label()} is not a tracked dataset (an Artifact from "
                                    "track_files); nothing to link as datasets/" + role + ".")
    return pairs


def _role_name(path: str) -> str:
    return path[len("datasets/"):] if path.startswith("datasets/") else path
