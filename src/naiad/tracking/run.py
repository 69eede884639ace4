"""``naiad.init_run(...)``: a run, with neptune 1.x's arguments and semantics.

>>> run = naiad.init_run(project="defects", name="baseline", tags=["resnet"])
>>> run["parameters"] = {"lr": 1e-3}
>>> for loss in losses:
...     run["train/loss"].append(loss)
>>> run.stop()
"""

from __future__ import annotations

import os
import sys
import traceback
from types import TracebackType
from typing import Any

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import ConfigError, ContainerNotFound, RunNotFound
from naiad.store.base import RUN, ContainerInfo
from naiad.tracking.capture.once import Captures
from naiad.tracking.container import (
    Container,
    check_str_list,
    default_owner,
    new_uuid,
    resolve_mode,
    resolve_project,
    store_for,
)
from naiad.tracking.files import File


def _monitoring_namespace() -> str:
    import hashlib
    import platform
    import threading

    key = f"{platform.node()}{os.getpid()}{threading.get_ident()}"
    return "monitoring/" + hashlib.sha256(key.encode()).hexdigest()[-8:]


class Run(Container):
    """A tracked run.  Prefer :func:`naiad.init_run`, its alias."""

    _kind = RUN

    def __init__(
        self,
        with_id: str | None = None,
        *,
        project: str | None = None,
        api_token: str | None = None,
        custom_run_id: str | None = None,
        mode: str | None = None,
        name: str | None = None,
        description: str | None = None,
        tags: str | list[str] | set[str] | tuple[str, ...] | None = None,
        source_files: str | list[str] | None = None,
        capture_stdout: bool | None = None,
        capture_stderr: bool | None = None,
        capture_hardware_metrics: bool | None = None,
        fail_on_exception: bool = True,
        monitoring_namespace: str | None = None,
        flush_period: float | None = None,
        proxies: dict[str, str] | None = None,
        capture_traceback: bool = True,
        git_ref: Any = None,
        dependencies: str | os.PathLike[str] | None = None,
        async_lag_callback: Any = None,
        async_lag_threshold: float = 1800.0,
        async_no_progress_callback: Any = None,
        async_no_progress_threshold: float = 300.0,
        run: str | None = None,
        capture_environment: bool | None = None,
    ) -> None:
        super().__init__()
        if with_id is None and run is not None:  # accepted for Lightning's unpickling path
            with_id = run
        for pname, pvalue, ptypes in (
            ("with_id", with_id, (str,)), ("project", project, (str,)), ("name", name, (str,)),
            ("description", description, (str,)), ("custom_run_id", custom_run_id, (str,)),
            ("mode", mode, (str,)), ("flush_period", flush_period, (int, float)),
        ):
            if pvalue is not None and not isinstance(pvalue, ptypes):
                raise TypeError(f"{pname} must be a {' or '.join(t.__name__ for t in ptypes)} "
                                f"(was {type(pvalue).__name__})")
        tag_list = check_str_list("tags", tags)
        mode = resolve_mode(mode)
        if custom_run_id is None:
            custom_run_id = SETTINGS.custom_run_id.get() or None
        if with_id and custom_run_id and custom_run_id != SETTINGS.custom_run_id.get():
            raise ConfigError("give either with_id (resume a run by its id) or custom_run_id, not both.")
        if custom_run_id is not None and len(custom_run_id) > 128:
            raise ConfigError(f"custom_run_id is {len(custom_run_id)} characters; the limit is 128.")
        if mode == "read-only" and not with_id and not custom_run_id:
            raise ConfigError("read-only mode opens an existing run: pass with_id=\"KEY-N\".")
        if mode == "offline" and with_id:
            raise ConfigError("offline mode creates new runs only; it cannot resume with_id. "
                              "Use mode=\"async\" to resume.")
        self._capture: Any = None
        self._captures = Captures(self._capture_problem)
        self._capture_traceback = capture_traceback
        self._fail_on_exception = fail_on_exception
        self.monitoring_namespace = monitoring_namespace or _monitoring_namespace()
        period = SETTINGS.flush_period.get() if flush_period is None else float(flush_period)
        store, root = store_for(mode)
        info: ContainerInfo | None
        if mode == "offline":
            proj = resolve_project(project)
            uuid = new_uuid()
            info = None
            self._open(store, None, uuid, mode, period, root / "offline", store.blobs)
            self._submit((O.CREATE, "", {"project": proj, "kind": RUN, "custom_run_id": custom_run_id,
                                         "owner": default_owner(), "created": _now()}))
            is_new = True
        else:
            if with_id:
                try:
                    info = store.get_container(short_id=with_id, project=project)
                except ContainerNotFound as exc:
                    raise RunNotFound(str(exc)) from None
                if info.kind != RUN:
                    raise RunNotFound(f"{with_id} is a {info.kind}, not a run.")
            elif mode == "read-only":
                proj = resolve_project(project)
                table = store.query_table(proj, RUN, query=f'`sys/custom_run_id`:string = "{custom_run_id}"',
                                          columns=[], limit=1)
                if not table.ids:
                    raise RunNotFound(f"no run with custom_run_id {custom_run_id!r} in {proj!r}.")
                info = store.get_container(short_id=table.ids[0])
            else:
                proj = resolve_project(project)
                info = store.create_container(proj, RUN, new_uuid(), custom_run_id=custom_run_id,
                                              owner=default_owner())
            is_new = info.is_new
            self._open(store, info, info.uuid, mode, period, root / "oplog", store.blobs)
        if mode == "read-only":
            return
        self._write_initial_fields(is_new, name, description, tag_list, source_files, dependencies)
        self._start_capture(is_new, capture_stdout, capture_stderr, capture_hardware_metrics, git_ref,
                            capture_environment)

    def _start_capture(self, is_new: bool, stdout: bool | None, stderr: bool | None, hardware: bool | None,
                       git_ref: Any, environment: bool | None) -> None:
        from naiad.tracking import capture
        from naiad.tracking.capture import once, source
        from naiad.tracking.values import GitRef

        if is_new and git_ref is not False and git_ref is not GitRef.DISABLED and (
                git_ref is not None or capture.default_on(None)):
            where = git_ref.repository_path if isinstance(git_ref, GitRef) and git_ref.repository_path \
                else capture.script_folder()
            # worked out once per process, off this thread; written when ready (stop() waits for it)
            self._captures.add(once.later(("git", os.path.realpath(where)), source.git_info, where),
                               lambda info: source.write_git(self, info), "the git state")
        if is_new and capture.default_on(environment):
            source.record_environment(self)
            if not self.exists("source_code/requirements"):  # unless dependencies= gave a file
                self._upload_dependencies("infer")
        if is_new and capture.interactive():
            self.checkpoint_notebook(quiet=True)
        want = [capture.default_on(v) for v in (stdout, stderr, hardware)]
        if any(want):
            self._capture = capture.Capture(self, self.monitoring_namespace, stdout=want[0], stderr=want[1],
                                            hardware=want[2])

    def _write_initial_fields(self, is_new: bool, name: str | None, description: str | None,
                              tags: list[str], source_files: Any, dependencies: Any) -> None:
        if is_new or name is not None:
            self._internal_assign("sys/name", F.STRING, name if name is not None else "Untitled")
        if is_new or description is not None:
            self._internal_assign("sys/description", F.STRING, description or "")
        if is_new and "sys/tags" not in self._types:
            self._define("sys/tags", F.STRING_SET)
        if tags:
            self["sys/tags"].add(tags)
        self._internal_assign("sys/state", F.STRING, "running")  # also when resuming a finished run
        if self._capture_traceback:  # every process writing the run has a namespace of its own
            import platform

            ns = self.monitoring_namespace
            self[f"{ns}/hostname"] = platform.node()
            self[f"{ns}/pid"] = str(os.getpid())
        self._upload_sources(is_new, source_files)
        if dependencies is not None:
            self._upload_dependencies(dependencies)

    def _internal_assign(self, path: str, ftype: str, value: Any) -> None:
        if self._types.get(path) is None:
            self._register(path, ftype)
        self._submit((O.ASSIGN, path, ftype, value))

    def _upload_sources(self, is_new: bool, source_files: Any) -> None:
        if source_files is None:
            if not is_new:
                return
            main = getattr(sys.modules.get("__main__"), "__file__", None)
            if not main or not os.path.isfile(main):
                return
            self["source_code/entrypoint"] = os.path.basename(main)
            self["source_code/files"].upload_files(main)
            return
        patterns = [source_files] if isinstance(source_files, str) else list(source_files)
        if patterns:
            self["source_code/files"].upload_files(patterns)

    def _upload_dependencies(self, dependencies: Any) -> None:
        if dependencies == "infer":
            from naiad.tracking.capture import once, source

            self._captures.add(once.later(("requirements",), source.installed_distributions),
                               self._write_requirements, "the installed packages")
        elif os.path.isfile(os.fspath(dependencies)):
            self["source_code/requirements"].upload(os.fspath(dependencies))
        else:
            F.warn_once(f"dependencies={dependencies!r}: no such file; nothing uploaded. Pass \"infer\" "
                        "or the path of a requirements file.")

    def _capture_problem(self, message: str) -> None:
        """A capture that failed or came too late: said once, counted in ``sys/errors``."""
        F.warn_once(message)
        if self._state == "started":
            self._submit((O.ERROR, "", message))

    def _write_requirements(self, text: str) -> None:
        self["source_code/requirements"].upload(File.from_content(text, extension="txt"))

    def checkpoint_notebook(self, path: str | None = None, *, quiet: bool = False) -> bool:
        """Store the current state of the Jupyter notebook this runs in (or ``path``) as a new point
        of ``source_code/notebook_checkpoints``; True if one was stored.

        The notebook is found from ``NAIAD_NOTEBOOK_PATH`` or the ``JPY_SESSION_NAME`` that Jupyter
        sets.  Save the notebook first (Ctrl-S): what is stored is the file on disk.
        """
        from naiad.tracking.capture.source import notebook_path

        found = path or notebook_path()
        if not found or not os.path.isfile(found):
            if not quiet:
                F.warn_once("no notebook found to checkpoint: pass its path, or set NAIAD_NOTEBOOK_PATH.")
            return False
        with open(found, "rb") as fh:  # the state now: the notebook keeps changing after the call
            content = fh.read()
        self["source_code/notebook_checkpoints"].append(File(content=content, extension="ipynb"))
        self["source_code/notebook_path"] = os.path.abspath(found)
        return True

    def _before_stop(self) -> None:
        self._captures.finish(CAPTURE_WAIT)
        if self._capture is not None:
            self._capture.stop()
            self._capture = None
        if self._writer is None:
            return
        state = "failed" if self._failed else "finished"
        self._submit((O.ASSIGN, "sys/state", F.STRING, state))

    def _record_exception(self, exc_type: type[BaseException], exc: BaseException,
                          tb: TracebackType | None) -> None:
        if self._state != "started" or not self._capture_traceback or self._writer is None:
            return
        lines = ["An uncaught exception occurred; the run is marked failed.", "Traceback:"]
        lines += [ln.rstrip("\n") for ln in traceback.format_exception(exc_type, exc, tb)]
        if self._fail_on_exception:
            self._mark_failed(lines)
        else:
            self[f"{self.monitoring_namespace}/traceback"].extend(lines)

    def _mark_failed(self, lines: list[str]) -> None:
        """Record ``lines`` (a traceback) and end the run failed (``sys/failed``; ``sys/state`` at stop)."""
        if self._writer is None:
            return
        self[f"{self.monitoring_namespace}/traceback"].extend(lines)
        self._failed = True
        self._submit((O.ASSIGN, "sys/failed", F.BOOLEAN, True))


CAPTURE_WAIT = 30.0
"""Seconds ``stop()`` waits for the git state and the installed packages still being worked out (the
first run of a process that ends at once: ~0.1 s; a repository on a slow network disk: more)."""


def _now() -> float:
    import time

    return time.time()


init_run = Run

