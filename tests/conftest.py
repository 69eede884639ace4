"""Shared fixtures: every test gets its own embedded store in ``tmp_path/.naiad`` and a clean process state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import naiad
import naiad.core.fields
import naiad.store
import naiad.tracking.container
from services import free_port  # re-exported: tests import it from here too

_ENV_TO_CLEAR = (
    "NAIAD_PROJECT", "NEPTUNE_PROJECT", "NAIAD_MODE", "NEPTUNE_MODE", "NAIAD_CUSTOM_RUN_ID",
    "NEPTUNE_CUSTOM_RUN_ID", "NAIAD_HEARTBEAT_PERIOD", "NAIAD_CRASH_AFTER", "NAIAD_STOP_TIMEOUT",
    "NAIAD_FSYNC", "NAIAD_OWNER",
)


def _stop_leftovers() -> None:
    for container in list(naiad.tracking.container._active):
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
    warned = getattr(naiad.core.fields, "_warned", None)
    if isinstance(warned, set):
        warned.clear()


@pytest.fixture(autouse=True)
def naiad_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point naiad at a fresh store under ``tmp_path``; stop leftover runs and forget cached stores."""
    uri = tmp_path / ".naiad"
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NAIAD_HASH_CACHE", str(tmp_path / "hashes.db"))
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


# ---------------------------------------------------------------- a real S3 server (moto_server) on loopback

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
            "S3_ENDPOINT_URL", "NAIAD_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")




def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, profile or endpoint of this machine leaks into a test; no metadata-service probes."""
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-protocol HTTP server (moto's ``moto_server``) on a free loopback port, for the whole session.

    It runs in its own process, so that it does not compete with the test and naiad's writer for the GIL.
    Tests reach it over HTTP through boto3 with an endpoint URL, as they would reach MinIO or AWS; each
    test makes its own bucket.
    """
    log = tmp_path_factory.mktemp("s3") / "moto_server.log"
    for _attempt in range(3):
        port = free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None and time.monotonic() < deadline:
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"moto_server did not start; its output:\n{log.read_text()}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """This test talks to ``s3_endpoint`` only: AWS settings isolated, test credentials and
    ``NAIAD_S3_ENDPOINT_URL`` set in the environment.  Returns the endpoint."""
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "naiad-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "naiad-test-secret")
    monkeypatch.setenv("NAIAD_S3_ENDPOINT_URL", s3_endpoint)
    return s3_endpoint


# ---------------------------------------------------------------- a disk that really fills

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that really fills (mounting needs root, as on the project's machines)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` with one file; returns it (unlink it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    return filler
