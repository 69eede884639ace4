"""Shared fixtures: every test gets its own embedded store in ``tmp_path/.naiad`` and a clean process state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import naiad
import naiad.container
import naiad.fields
import naiad.store

_ENV_TO_CLEAR = (
    "NAIAD_PROJECT", "NEPTUNE_PROJECT", "NAIAD_MODE", "NEPTUNE_MODE", "NAIAD_CUSTOM_RUN_ID",
    "NEPTUNE_CUSTOM_RUN_ID", "NAIAD_HEARTBEAT_PERIOD", "NAIAD_CRASH_AFTER", "NAIAD_STOP_TIMEOUT",
    "NAIAD_FSYNC", "NAIAD_OWNER",
)


def _stop_leftovers() -> None:
    for container in list(naiad.container._active):
        try:
            container.stop(seconds=5)
        except Exception:
            pass


def _close_stores() -> None:
    for store in list(naiad.store._stores.values()):
        try:
            store.close()
        except Exception:
            pass
    naiad.store._stores.clear()


def _forget_warnings() -> None:
    warned = getattr(naiad.fields, "_warned", None)
    if isinstance(warned, set):
        warned.clear()


@pytest.fixture(autouse=True)
def naiad_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point naiad at a fresh store under ``tmp_path``; stop leftover runs and forget cached stores."""
    uri = tmp_path / ".naiad"
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAIAD_URI", str(uri))
    monkeypatch.setenv("NAIAD_RAISE_ON_ERROR", "1")
    monkeypatch.setenv("NAIAD_FLUSH_PERIOD", "0.05")
    monkeypatch.setenv("NAIAD_AUTO_CAPTURE", "0")  # tests/test_capture.py switches capture on itself
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    _stop_leftovers()
    _close_stores()
    _forget_warnings()  # warn_once is per process; each test must see its own warnings
    yield uri
    _stop_leftovers()
    _close_stores()
    _forget_warnings()


@pytest.fixture
def store_uri(naiad_env: Path) -> str:
    """The store folder every run of the test writes to (``NAIAD_URI``)."""
    return str(naiad_env)


def run_script(code: str, *, env: dict[str, str] | None = None, timeout: float = 60,
               cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter with the test's environment; return the result."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)


def start_script(code: str, *args: str, env: dict[str, str] | None = None,
                 stdin: bool = False) -> subprocess.Popen[str]:
    """Start ``code`` (dedented) in a fresh interpreter with ``args`` as sys.argv[1:]; stdout/stderr are
    pipes (text, line-buffered)."""
    full_env = dict(os.environ)
    full_env["PYTHONUNBUFFERED"] = "1"
    if env:
        full_env.update(env)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin else None, text=True,
                            bufsize=1, env=full_env)
