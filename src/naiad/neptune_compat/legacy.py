"""The neptune-client 0.x session API, so that a script of 2020 runs with ``import naiad as neptune``::

    neptune.init(project_qualified_name="acme/vision")
    neptune.create_experiment(name="baseline", params={"lr": 0.01}, tags=["cnn"], upload_source_files=["*.py"])
    neptune.log_metric("loss", 0.3)            # or log_metric("loss", step, value)
    neptune.log_text("notes", "…"); neptune.log_image("preds", image); neptune.send_artifact("model.pt")
    neptune.set_property("data", "v2"); neptune.append_tag("best"); neptune.stop()

Each experiment is a naiad run, its fields laid out as neptune 1.x's own ``neptune.legacy`` lays them
out: ``parameters/<name>``, ``properties/<key>`` (strings), ``logs/<channel>`` (series),
``artifacts/<path>`` (files), ``sys/tags``, ``sys/name``, ``sys/description``, ``source_code/files``.
So what the script logs is read like any run: in the UI, in queries, with ``init_run(with_id=…)``.

What differs, and why (also in docs/neptune-compat.md): integer parameters stay integers (the 0.x
server made every number a double); ``git_info``, ``hostname``, ``abort_callback``, ``logger`` and the
notebook arguments are accepted and ignored (naiad captures git and the host itself and has no remote
abort); ``get_hardware_utilization`` reads naiad's hardware series.
"""

from __future__ import annotations

import os
import threading
import traceback as _traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from naiad.config import SETTINGS
from naiad.errors import ConfigError, FileError, InvalidValueError, MissingProjectError
from naiad.tracking.files import File
from naiad.tracking.project import init_project
from naiad.tracking.run import Run

_PLAIN = (bool, int, float, str)
_lock = threading.RLock()
project: Project | None = None
"""The project ``init`` chose (neptune 0.x's ``neptune.project``)."""
_current: list[Experiment] = []


def _channel(name: str) -> str:
    return f"logs/{name}"


def _step_value(x: Any, y: Any) -> tuple[Any, Any]:
    """0.x's two forms: ``log_metric(name, value)`` and ``log_metric(name, step, value)``."""
    return (None, x) if y is None else (x, y)


class Experiment:
    """One 0.x experiment: a naiad :class:`~naiad.Run` (``.run``), with the 0.x methods."""

    def __init__(self, run: Run, project_name: str) -> None:
        self.run = run
        self._project_name = project_name
        self._id = str(run["sys/id"].fetch())
        self._stopped: Run | None = None

    def _reader(self) -> Run:
        """The run to read: itself while it runs, a read-only opening once stopped (0.x read on)."""
        if self.run._state != "stopped":
            return self.run
        if self._stopped is None:
            self._stopped = Run(with_id=self._id, project=self._project_name, mode="read-only")
        return self._stopped

    # ------------------------------------------------------------------ identity
    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return str(self._reader()["sys/name"].fetch())

    @property
    def state(self) -> str:
        """``running`` or ``succeeded`` / ``failed`` / ``aborted`` (0.x's vocabulary)."""
        state = self._reader()["sys/state"].fetch()
        return {"running": "running", "finished": "succeeded", "failed": "failed"}.get(state, "aborted")

    def get_system_properties(self) -> dict[str, Any]:
        f = self._fields("sys")
        return {"id": f.get("id"), "name": f.get("name"), "created": f.get("creation_time"),
                "finished": f.get("modification_time") if f.get("state") != "running" else None,
                "owner": f.get("owner"), "tags": sorted(f.get("tags") or []), "notes": f.get("description"),
                "description": f.get("description"), "state": self.state}

    # ------------------------------------------------------------------ tags
    def get_tags(self) -> list[str]:
        return sorted(self._reader()["sys/tags"].fetch()) if self._reader().exists("sys/tags") else []

    def append_tag(self, tag: str | Iterable[str], *tags: str) -> None:
        values = [tag] if isinstance(tag, str) else list(tag)
        self.run["sys/tags"].add([*values, *tags])

    append_tags = append_tag

    def remove_tag(self, tag: str) -> None:
        self.run["sys/tags"].remove(tag)

    # ------------------------------------------------------------------ channels
    def log_metric(self, log_name: str, x: Any, y: Any = None, timestamp: float | None = None) -> None:
        step, value = _step_value(x, y)
        self.run[_channel(log_name)].append(value, step=step, timestamp=timestamp)

    def log_text(self, log_name: str, x: Any, y: Any = None, timestamp: float | None = None) -> None:
        step, value = _step_value(x, y)
        self.run[_channel(log_name)].append(str(value), step=step, timestamp=timestamp)

    def log_image(self, log_name: str, x: Any, y: Any = None, image_name: str | None = None,
                  description: str | None = None, timestamp: float | None = None) -> None:
        step, image = _step_value(x, y)
        if isinstance(image, (str, os.PathLike)):
            picture = File(image)
        else:
            picture = image if isinstance(image, File) else File.as_image(image)
        self.run[_channel(log_name)].append(picture, step=step, timestamp=timestamp, name=image_name,
                                            description=description)

    send_metric, send_text, send_image = log_metric, log_text, log_image

    def reset_log(self, log_name: str) -> None:
        """Empty the channel (its later points start again)."""
        if self.run.exists(_channel(log_name)):
            self.run[_channel(log_name)].clear()

    def get_logs(self) -> dict[str, Any]:
        """Each channel's last value (images: None)."""
        out: dict[str, Any] = {}
        for name, handle in self._series("logs").items():
            out[name] = None if handle.type == "FileSeries" else handle.fetch_last()
        return out

    def get_numeric_channels_values(self, *channel_names: str) -> pd.DataFrame:
        """One row per step, a column ``x`` and one per channel (missing points are NaN)."""
        frames = []
        for name in channel_names:
            values = self._reader()[_channel(name)].fetch_values(include_timestamp=False)
            frames.append(values.set_index("step")["value"].rename(name))
        if not frames:
            return pd.DataFrame({"x": []})
        table = pd.concat(frames, axis=1).sort_index()
        return table.rename_axis("x").reset_index()

    def get_hardware_utilization(self) -> pd.DataFrame:
        """naiad's hardware series of the run (``monitoring/<process>/cpu`` …), one column pair each."""
        frames = []
        for name, handle in self._series("monitoring").items():
            metric = name.rpartition("/")[2]
            if handle.type == "FloatSeries" and name.count("/") == 1:
                values = handle.fetch_values(include_timestamp=False)
                frames += [values["step"].rename(f"x_{metric}"), values["value"].rename(f"y_{metric}")]
        return pd.concat(frames, axis=1) if frames else pd.DataFrame()

    # ------------------------------------------------------------------ parameters and properties
    def get_parameters(self) -> dict[str, Any]:
        return self._fields("parameters")

    def get_properties(self) -> dict[str, Any]:
        return self._fields("properties")

    def set_property(self, key: str, value: Any) -> None:
        self.run[f"properties/{key}"] = str(value)

    def remove_property(self, key: str) -> None:
        if self.run.exists(f"properties/{key}"):
            del self.run[f"properties/{key}"]

    # ------------------------------------------------------------------ artifacts
    def log_artifact(self, artifact: Any, destination: str | None = None) -> None:
        """A file (as ``artifacts/<destination or its name>``), a folder (each file under it) or an open
        file object (``destination`` required)."""
        if isinstance(artifact, (str, os.PathLike)):
            path = Path(artifact)
            if path.is_dir():
                prefix = destination if destination is not None else path.name
                for inner in sorted(p for p in path.rglob("*") if p.is_file()):
                    self.log_artifact(inner, f"{prefix}/{inner.relative_to(path).as_posix()}")
                return
            if not path.is_file():
                raise FileError(f"send_artifact: {str(path)!r} is neither a file nor a folder")
            self.run[f"artifacts/{destination or path.name}"].upload(str(path))
        elif hasattr(artifact, "read"):
            if not destination:
                raise InvalidValueError("send_artifact of an open file needs destination= (the name to store)")
            self.run[f"artifacts/{destination}"].upload(File.from_stream(artifact))
        else:
            raise InvalidValueError(f"send_artifact takes a path or an open file, not {type(artifact).__name__}")

    send_artifact = log_artifact

    def delete_artifacts(self, path: str) -> None:
        target = f"artifacts/{path.strip('/')}"
        if not self.run.exists(target):
            raise FileError(f"{self.id} has no artifact {path!r}")
        del self.run[target]

    def download_artifact(self, path: str, destination_dir: str | None = None) -> None:
        folder = Path(destination_dir or ".")
        folder.mkdir(parents=True, exist_ok=True)
        self._reader()[f"artifacts/{path}"].download(str(folder / Path(path).name))

    def download_sources(self, path: str | None = None, destination_dir: str | None = None) -> None:
        """The recorded source files, as a zip in ``destination_dir``."""
        folder = Path(destination_dir or ".")
        folder.mkdir(parents=True, exist_ok=True)
        self._reader()["source_code/files"].download(str(folder / "source.zip"))

    # ------------------------------------------------------------------ the end
    def stop(self, exc_tb: str | None = None) -> None:
        """Finish the experiment: succeeded, or failed with ``exc_tb`` (a traceback text) recorded."""
        if exc_tb is not None:
            self.run._mark_failed(str(exc_tb).splitlines() or [""])
        self.run.stop()
        with _lock:
            if self in _current:
                _current.remove(self)

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop("".join(_traceback.format_exception(exc_type, exc, tb)) if exc_type is not None else None)

    def __repr__(self) -> str:
        return f"Experiment({self.id})"

    # ------------------------------------------------------------------ helpers
    def _fields(self, namespace: str) -> dict[str, Any]:
        found = self._reader().get_structure().get(namespace)
        if not isinstance(found, dict):
            return {}
        return {name: handle.fetch() for name, handle in _leaves(found).items()
                if handle.type not in ("FloatSeries", "StringSeries", "FileSeries", "FileSet", "File")}

    def _series(self, namespace: str) -> dict[str, Any]:
        found = self._reader().get_structure().get(namespace)
        if not isinstance(found, dict):
            return {}
        return {name: handle for name, handle in _leaves(found).items()
                if handle.type in ("FloatSeries", "StringSeries", "FileSeries")}


def _leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _parameter(value: Any) -> Any:
    """A 0.x parameter: numbers, booleans and text as they are, anything else as its text (as 0.x did)."""
    return value if isinstance(value, _PLAIN) else str(value)


class Project:
    """A 0.x project: ``create_experiment``, ``get_experiments``, ``get_leaderboard``."""

    def __init__(self, name: str) -> None:
        self.full_id = name
        self.namespace, _, self.name = name.rpartition("/")

    def create_experiment(self, name: str | None = None, description: str | None = None,
                          params: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
                          tags: list[str] | None = None, upload_source_files: str | list[str] | None = None,
                          abort_callback: Any = None, logger: Any = None, upload_stdout: bool = True,
                          upload_stderr: bool = True, send_hardware_metrics: bool = True,
                          run_monitoring_thread: bool = True, handle_uncaught_exceptions: bool = True,
                          git_info: Any = None, hostname: str | None = None, notebook_id: Any = None,
                          notebook_path: Any = None) -> Experiment:
        for label, value in (("params", params), ("properties", properties)):
            if value is not None and not isinstance(value, dict):
                raise InvalidValueError(f"create_experiment({label}=…) takes a dict, not {type(value).__name__}")
        run = Run(project=self.full_id, name=name or "Untitled", description=description or "",
                  tags=list(tags or []), source_files=upload_source_files, capture_stdout=upload_stdout,
                  capture_stderr=upload_stderr, capture_hardware_metrics=send_hardware_metrics,
                  fail_on_exception=handle_uncaught_exceptions)
        if params:
            run["parameters"] = {str(k): _parameter(v) for k, v in params.items()}
        for key, value in (properties or {}).items():
            run[f"properties/{key}"] = str(value)
        experiment = Experiment(run, self.full_id)
        with _lock:
            _current.append(experiment)
        return experiment

    def _matching(self, id: Any, state: Any, owner: Any, tag: Any, min_running_time: float | None) -> list[str]:
        """Ids of the runs matching every criterion given, oldest first."""
        states = None if state is None else [
            "running" if s == "running" else "inactive" for s in ([state] if isinstance(state, str) else state)]
        table = init_project(self.full_id, mode="read-only").fetch_runs_table(
            id=id, state=states, owner=owner, tag=tag, columns=["sys/creation_time", "sys/modification_time"],
            sort_by="sys/creation_time", ascending=True)
        found = []
        for entry in table:
            if min_running_time is not None:
                started, last = entry["sys/creation_time"].get(), entry["sys/modification_time"].get()
                if started is None or last is None or (last - started).total_seconds() < min_running_time:
                    continue
            found.append(str(entry["sys/id"].get()))
        return found

    def get_experiments(self, id: str | list[str] | None = None, state: str | list[str] | None = None,
                        owner: str | list[str] | None = None, tag: str | list[str] | None = None,
                        min_running_time: float | None = None) -> list[Experiment]:
        """Experiments matching every criterion given (``state``: ``running`` or ``succeeded``)."""
        return [Experiment(Run(with_id=short_id, project=self.full_id, mode="read-only"), self.full_id)
                for short_id in self._matching(id, state, owner, tag, min_running_time)]

    def get_leaderboard(self, id: str | list[str] | None = None, state: str | list[str] | None = None,
                        owner: str | list[str] | None = None, tag: str | list[str] | None = None,
                        min_running_time: float | None = None) -> pd.DataFrame:
        """0.x's leaderboard: ``id``, ``name``, ``created``, ``owner``, ``notes``, ``tags`` and a column
        per ``channel_…`` (last value), ``parameter_…`` and ``property_…``."""
        wanted = self._matching(id, state, owner, tag, min_running_time)  # no run opened for its ids
        frame = init_project(self.full_id, mode="read-only").fetch_runs_table(
            id=wanted or ["-"], sort_by="sys/creation_time", ascending=True).to_pandas()
        names = {"sys/id": "id", "sys/name": "name", "sys/creation_time": "created", "sys/owner": "owner",
                 "sys/description": "notes", "sys/tags": "tags"}
        renamed = {}
        for column in frame.columns:
            for space, prefix in (("logs/", "channel_"), ("parameters/", "parameter_"), ("properties/", "property_")):
                if column.startswith(space):
                    renamed[column] = prefix + column[len(space):]
        renamed.update({k: v for k, v in names.items() if k in frame.columns})
        return frame[list(renamed)].rename(columns=renamed).reset_index(drop=True)

    def __repr__(self) -> str:
        return f"Project({self.full_id})"


# ---------------------------------------------------------------------- the module-level session
def init(project_qualified_name: str | None = None, api_token: str | None = None, backend: Any = None,
         proxies: Any = None, **kwargs: Any) -> Project:
    """Choose the project later calls log to (``NEPTUNE_PROJECT`` / ``NAIAD_PROJECT`` when not given).
    ``api_token``, ``backend`` and ``proxies`` are accepted; the embedded store needs none of them."""
    global project
    name = project_qualified_name or SETTINGS.project.get()
    if not name:
        raise MissingProjectError("neptune.init() needs project_qualified_name='workspace/project' "
                                  "(or set NEPTUNE_PROJECT)")
    with _lock:
        project = Project(str(name))
        return project


def set_project(project_qualified_name: str) -> Project:
    return init(project_qualified_name)


def _project() -> Project:
    if project is None:
        raise ConfigError("call neptune.init(project_qualified_name=...) before create_experiment()")
    return project


def create_experiment(*args: Any, **kwargs: Any) -> Experiment:
    """Start an experiment in the project ``init`` chose (arguments as ``Project.create_experiment``)."""
    return _project().create_experiment(*args, **kwargs)


def get_experiment() -> Experiment:
    """The experiment started last and not stopped yet."""
    with _lock:
        if not _current:
            raise ConfigError("no experiment is running: call neptune.create_experiment() first")
        return _current[-1]


def _on_current(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(get_experiment(), name)(*args, **kwargs)
    call.__name__ = name
    call.__doc__ = f"``get_experiment().{name}(…)``."
    return call


append_tag = _on_current("append_tag")
append_tags = _on_current("append_tags")
remove_tag = _on_current("remove_tag")
set_property = _on_current("set_property")
remove_property = _on_current("remove_property")
send_metric = log_metric = _on_current("log_metric")
send_text = log_text = _on_current("log_text")
send_image = log_image = _on_current("log_image")
send_artifact = log_artifact = _on_current("log_artifact")
delete_artifacts = _on_current("delete_artifacts")


def stop(traceback: str | None = None) -> None:
    """Stop the current experiment (failed, with ``traceback`` recorded, when one is given)."""
    get_experiment().stop(traceback)


__all__ = ["Experiment", "Project", "append_tag", "append_tags", "create_experiment", "delete_artifacts",
           "get_experiment", "init", "log_artifact", "log_image", "log_metric", "log_text", "project",
           "remove_property", "remove_tag", "send_artifact", "send_image", "send_metric", "send_text",
           "set_project", "set_property", "stop"]
