"""What a process captures once for all of its runs, off the calling thread.

The git state of a folder (six ``git`` commands, ~25 ms) and the list of installed distributions (the
metadata of every one of them, ~100 ms in an environment of a few hundred) cost more than the rest
of a run's start together.  Each is worked out on a thread of its own the first time a run asks for
it; the runs of the process share the result: a sweep of 1,000 trials pays once, and the first run
does not wait for it either — it writes the fields when they are ready, and ``stop()`` waits for
what is still being worked out (:class:`Captures`).

The git state is read when the process first asks: a later run of the same process reports the
commit and dirty flag of that moment.  A forked child starts afresh (its parent's threads do not
exist in it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_all
from typing import Any

_lock = threading.Lock()
_cache: dict[tuple[str, ...], Future[Any]] = {}


def later(key: tuple[str, ...], fn: Callable[..., Any], *args: Any) -> Future[Any]:
    """The result of ``fn(*args)``, worked out once per process for ``key`` on a daemon thread."""
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = Future()
            threading.Thread(target=_work, args=(found, fn, args), name="naiad-capture", daemon=True).start()
    return found


def _work(future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:  # said by the run that writes it
        future.set_exception(exc)
    else:
        future.set_result(result)


def forget() -> None:
    """Work everything out again on the next request (tests)."""
    with _lock:
        _cache.clear()


def _forked() -> None:
    """In a forked child: the parent's capture threads do not exist here, and its lock may have been
    held by one of them at the fork — start afresh without touching either."""
    global _lock, _cache
    _lock = threading.Lock()
    _cache = {}


os.register_at_fork(after_in_child=_forked)


class Captures:
    """One run's writes of process-wide captures: each written once, by whichever comes first — the
    capture thread as soon as its result is ready, or ``finish()`` (``stop()``), which waits for those
    still being worked out, at most ``timeout`` seconds, and says which it gave up on.  ``report``
    says a problem (the run warns and counts it in ``sys/errors``)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._items: list[list[Any]] = []  # [future, write, what, written]
        self._closed = False

    def add(self, future: Future[Any], write: Callable[[Any], None], what: str) -> None:
        item = [future, write, what, False]
        with self._lock:
            self._items.append(item)
        future.add_done_callback(lambda _f: self._write(item))  # runs now when it is done already

    def _write(self, item: list[Any]) -> None:
        with self._lock:
            if item[3] or self._closed:
                return
            item[3] = True
            future, write, what = item[0], item[1], item[2]
            try:
                write(future.result())
            except Exception as exc:  # logging never crashes training: said, and the run goes on
                self._report(f"could not record {what}: {exc}")

    def finish(self, timeout: float) -> None:
        with self._lock:
            waiting = [item[0] for item in self._items if not item[3]]
        done, _ = wait_all(waiting, timeout=timeout) if waiting else (set(), set())
        for item in list(self._items):
            if item[0] in done:
                self._write(item)
        with self._lock:
            self._closed = True
            late = [item[2] for item in self._items if not item[3]]
        if late:
            self._report(f"{', '.join(late)} took more than {timeout:g} s to work out; not recorded for this run")
