"""Automatic capture for a run: stdout/stderr, hardware, git state and environment.

On by default for scripts, off in interactive shells and notebooks (as neptune did), and off
everywhere with ``NAIAD_AUTO_CAPTURE=0``; each part can be switched by its ``init_run`` argument.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from naiad.config import SETTINGS


def interactive() -> bool:
    """A Python shell or a Jupyter/IPython kernel (capture defaults to off there)."""
    return hasattr(sys, "ps1") or bool(sys.flags.interactive) or "ipykernel" in sys.modules


def default_on(value: bool | None) -> bool:
    if value is not None:
        return bool(value)
    return SETTINGS.auto_capture.get() and not interactive()


def script_folder() -> str:
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.dirname(os.path.abspath(main)) if main else os.getcwd()


class Capture:
    """The running capture of one run; ``stop()`` undoes it (streams restored, sampler stopped)."""

    def __init__(self, run: Any, namespace: str, *, stdout: bool, stderr: bool, hardware: bool) -> None:
        from naiad.tracking.capture.stdio import StdioCapture

        self.stdio = StdioCapture(run, namespace, stdout, stderr) if (stdout or stderr) else None
        self.hardware = None
        if hardware:
            from naiad.tracking.capture.hardware import HardwareMonitor

            self.hardware = HardwareMonitor(run, namespace, SETTINGS.hardware_period.get())
            self.hardware.start()

    def stop(self) -> None:
        if self.hardware is not None:
            self.hardware.stop()
        if self.stdio is not None:
            self.stdio.stop()


__all__ = ["Capture", "default_on", "interactive", "script_folder"]
