"""Containers — runs (and the project object) — with the neptune 1.x lifecycle and field tree.

A container keeps a local view of its field tree (path → type) so that type mistakes raise at the
call site, and hands every write to its :class:`~naiad.tracking.writer.Writer`.
"""

from __future__ import annotations

import atexit
import sys
import time
import uuid as _uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from naiad.config import SETTINGS
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.errors import (
    InvalidModeError,
    MissingProjectError,
)
from naiad.store import open_store
from naiad.store.base import ContainerInfo, Store
from naiad.tracking.fieldtree import FieldTree
from naiad.tracking.handler import Handler
from naiad.tracking.writer import Writer

MODES = ("async", "sync", "offline", "read-only", "debug")
_C = TypeVar("_C", bound="Container")


_active: weakref.WeakSet[Container] = weakref.WeakSet()
_hooks_installed = False


def _stop_all_at_exit() -> None:
    for container in list(_active):
        try:
            container.stop(seconds=SETTINGS.stop_timeout.get())
        except Exception as exc:  # an exit hook must never raise
            print(f"[naiad] error while stopping {container}: {exc}", file=sys.stderr)


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    for container in list(_active):
        try:
            container._record_exception(exc_type, exc, tb)
        except Exception:
            pass
    _previous_excepthook(exc_type, exc, tb)


_previous_excepthook = sys.excepthook


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_all_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook


class Container(FieldTree):
    """Base of :class:`Run` and :class:`Project`: the field tree's handles (``run["a/b"]``) and the
    lifecycle (open, wait, sync, stop, the exit hooks) over :class:`FieldTree`'s writes and reads."""

    _kind = "run"

    def __init__(self) -> None:
        # subclasses call _open(); attributes declared here for readers of the code
        super().__init__()
        self._handlers: dict[str, Handler] = {}
        self._capture_traceback = False
        self._fail_on_exception = True
        self._failed = False

    # ------------------------------------------------------------------ set-up
    def _open(self, store: Store | None, info: ContainerInfo | None, uuid: str, mode: str,
              flush_period: float, oplog_dir: Path, blobs: Any) -> None:
        self._store = store
        self._info = info
        self._uuid = uuid
        self._mode = mode
        if mode != "read-only":
            self._writer = Writer(
                None if mode == "offline" else store, uuid, blobs=blobs, oplog_dir=oplog_dir,
                flush_period=flush_period, heartbeat_period=SETTINGS.heartbeat_period.get(),
                fsync=SETTINGS.fsync.get(), threaded=mode != "sync",
                raise_errors=SETTINGS.raise_on_error.get() or mode in ("sync", "debug"))
        if info is not None and store is not None:
            self._load_structure()
        self._state = "started"
        if self._writer is not None and mode in ("async", "offline"):
            self._fast_writer = self._writer
        _install_hooks()
        _active.add(self)

    # ------------------------------------------------------------------ public API
    def __getitem__(self, key: str) -> Handler:
        h = self._handlers.get(key)
        if h is None:
            if self._state == "stopped":
                self._raise_inactive()
            h = Handler(self, F.normalize_path(key))
            if len(self._handlers) < 100_000:
                self._handlers[key] = h
        return h

    def __setitem__(self, key: str, value: Any) -> None:
        self[key].assign(value)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None and exc is not None:
            self._record_exception(exc_type, exc, tb)
        self.stop()

    def assign(self, value: Any, *, wait: bool = False) -> None:
        """Assign a dict of values at the root (merging into existing fields)."""
        self[""].assign(value, wait=wait)

    def pop(self, path: str, *, wait: bool = False) -> None:
        self._delete(F.normalize_path(path))
        if wait:
            self.wait()

    def exists(self, path: str) -> bool:
        """True if ``path`` is a field or a namespace (known to this process; call sync() to refresh)."""
        norm = F.normalize_path(path)
        return norm in self._types or norm in self._namespaces

    def get_structure(self) -> dict[str, Any]:
        """The field tree as nested dicts; leaves are field handles (``.type`` names the type)."""
        tree: dict[str, Any] = {}
        for path in sorted(self._types):
            node = tree
            parts = path.split("/")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = self[path]
        return tree

    def print_structure(self) -> None:
        def show(node: dict[str, Any], indent: int) -> None:
            for key in sorted(node):
                value = node[key]
                if isinstance(value, dict):
                    print(" " * indent + f"'{key}':")
                    show(value, indent + 4)
                else:
                    print(" " * indent + f"'{key}': {value.type}")

        show(self.get_structure(), 0)

    def get_state(self) -> str:
        return self._state

    def get_url(self) -> str:
        store = self._store.uri if self._store is not None else ""
        ident = self._info.short_id if self._info is not None else f"offline/{self._uuid}"
        return f"{store}#{ident}"

    def get_root_object(self) -> Container:
        return self

    def ping(self) -> None:
        self._submit((O.ASSIGN, "sys/ping_time", F.DATETIME, time.time()))

    def stop(self, *, seconds: float | None = None) -> None:
        """Flush and close.  Waits at most ``seconds`` (default ``NAIAD_STOP_TIMEOUT``); what is not in
        the store by then stays in the op log for ``naiad sync``.  Calling it again does nothing."""
        if self._state != "started":
            return
        if seconds is not None and not isinstance(seconds, (int, float)):
            raise TypeError(f"seconds must be an int, float or None (was {type(seconds).__name__})")
        self._before_stop()  # still started: capture may store its last lines
        self._state = "stopping"
        self._fast_writer = None
        self._series = {}  # a write from another thread from here on is refused, not journaled and lost
        ok = True
        if self._writer is not None:
            timeout = SETTINGS.stop_timeout.get() if seconds is None else float(seconds)
            progress = _Progress(self._writer)
            ok = self._writer.close(timeout, progress.show)
            progress.done()
            if self._writer.error_count:
                print(f"[naiad] {self._writer.error_count} write error(s) in {self._label()}; "
                      "see sys/errors and sys/last_error.", file=sys.stderr)
            if not ok and self._mode != "offline":
                print(f"[naiad] {self._label()}: some writes are not in the store yet; they are kept in "
                      f"{self._writer.oplog.path.parent} — run `naiad sync` to finish.", file=sys.stderr)
        self._series = {}
        self._handlers = {}
        self._state = "stopped"
        _active.discard(self)
        if self._mode == "debug" and self._store is not None:
            import shutil

            from naiad.store import forget_store

            forget_store(self._store.uri)
            shutil.rmtree(self._store.uri, ignore_errors=True)

    def _before_stop(self) -> None:
        """Subclass hook: last writes before the writer closes (run state)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._label()} ({self._mode}, {self._state})>"

    def fetch(self) -> dict[str, Any]:
        """Every atom of the container as a nested dict (series, files and sets are left out)."""
        return self._fetch_namespace("")

    def _record_exception(self, exc_type: type[BaseException], exc: BaseException,
                          tb: TracebackType | None) -> None:
        """Uncaught exception: traceback lines into the monitoring namespace, run marked failed."""


class _Progress:
    """Progress of a stop() that drains for more than a second: a live line on a terminal, otherwise
    one line every ten seconds (logs of batch jobs stay readable)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.tty = sys.stderr.isatty()
        self.next_line = 0.0
        self.shown = False

    def show(self, elapsed: float) -> None:
        self.shown = True
        pending = self.writer.pending()
        msg = f"[naiad] saving the last writes… {elapsed:4.1f}s ({pending} batch(es) waiting for the store)"
        if self.tty:
            print("\r" + msg, end="", file=sys.stderr, flush=True)
        elif elapsed >= self.next_line:
            print(msg, file=sys.stderr, flush=True)
            self.next_line = elapsed + 10.0

    def done(self) -> None:
        if self.tty and self.shown:
            print(file=sys.stderr)


def resolve_mode(mode: str | None) -> str:
    chosen = mode if mode is not None else SETTINGS.mode.get()
    if chosen not in MODES:
        raise InvalidModeError(f"mode {chosen!r} is not one of {', '.join(MODES)}.")
    return chosen


def resolve_project(project: str | None) -> str:
    name = project or SETTINGS.project.get()
    if not name:
        raise MissingProjectError(
            "no project given: pass project=\"name\" (or \"workspace/name\") or set NAIAD_PROJECT.")
    return name.strip()


def store_for(mode: str) -> tuple[Store, Path]:
    """The store a container of ``mode`` talks to, and its folder for op logs."""
    if mode == "debug":
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="naiad-debug-"))
        return open_store(str(root), recover=False), root
    store = open_store(SETTINGS.uri.get())
    return store, Path(store.local_root)


def default_owner() -> str:
    owner = SETTINGS.owner.get()
    if owner:
        return owner
    import getpass

    try:
        return getpass.getuser()  # reads LOGNAME / USER / the password database
    except Exception:
        return ""


def new_uuid() -> str:
    return _uuid.uuid4().hex


def check_str_list(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError(f"{name} must be a str or a list/set/tuple of str (was {type(value).__name__})")

