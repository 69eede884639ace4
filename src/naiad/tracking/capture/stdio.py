"""stdout / stderr mirrored into string series, the terminal left exactly as it was.

Everything written still goes to the real stream first (so tqdm and rich draw as usual).  The copy
for the run is cut into lines: a line is stored when its newline arrives, and a line redrawn with
carriage returns (a progress bar) is stored once, in its final state.  One point per line — not
per ``write()`` call as neptune did — so ``print("x")`` is one entry, not two.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

_guard = threading.local()


class StreamTee:
    """Wraps a text stream; forwards everything, and appends complete lines to a run's series."""

    def __init__(self, original: TextIO, run: Any, path: str) -> None:
        self._original = original
        self._run = run
        self._path = path
        self._pending = ""
        self._lock = threading.Lock()  # print() from several threads: one producer at a time
        self.active = True

    def write(self, text: str) -> int:
        written = self._original.write(text)
        if self.active and text and not getattr(_guard, "busy", False):
            _guard.busy = True  # naiad writing to stderr from inside the copy must not loop
            try:
                self._copy(text)
            except Exception:  # the copy must never break the program's own output
                pass
            finally:
                _guard.busy = False
        return written

    def _copy(self, text: str) -> None:
        with self._lock:
            self._pending += text
            if "\n" not in self._pending:
                if len(self._pending) > 65536:  # a huge line without newline: store it in pieces
                    self._emit([self._pending])
                    self._pending = ""
                return
            *lines, self._pending = self._pending.split("\n")
            self._emit(lines)

    def _emit(self, lines: list[str]) -> None:
        stamp = time.time()
        handle = self._run[self._path]
        for line in lines:
            line = line.rsplit("\r", 1)[-1]  # a progress bar redrawn in place: keep its last state
            handle.append(line, timestamp=stamp)

    def close_copy(self) -> None:
        """Store a last unterminated line, and stop copying."""
        with self._lock:
            rest, self._pending = self._pending, ""
        if rest.strip("\r") and self.active:
            try:
                self._emit([rest])
            except Exception:
                pass
        self.active = False

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer … of the real stream
        return getattr(self._original, name)


class StdioCapture:
    """Installs tees on sys.stdout / sys.stderr for one run; ``stop()`` puts the streams back."""

    def __init__(self, run: Any, namespace: str, stdout: bool, stderr: bool) -> None:
        self._tees: list[tuple[str, StreamTee]] = []
        for name, wanted in (("stdout", stdout), ("stderr", stderr)):
            if wanted:
                tee = StreamTee(getattr(sys, name), run, f"{namespace}/{name}")
                setattr(sys, name, tee)
                self._tees.append((name, tee))

    def stop(self) -> None:
        for name, tee in self._tees:
            tee.close_copy()
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._original)
            # another tee was installed over ours (a second run): it keeps forwarding through ours,
            # which now only forwards
