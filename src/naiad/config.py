"""Every setting of naiad, declared once: environment variable, type, default and meaning.

Read a setting with ``SETTINGS.flush_period.get()``; nothing else in the package calls ``os.getenv``.
``naiad status --settings`` prints this table.  Neptune's variables (``NEPTUNE_MODE``,
``NEPTUNE_PROJECT``, ``NEPTUNE_CUSTOM_RUN_ID``) are honoured as fallbacks so migrated jobs keep
their configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from naiad.errors import ConfigError

T = TypeVar("T")


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on", "t", "y"):
        return True
    if low in ("0", "false", "no", "off", "f", "n", ""):
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


@dataclass(frozen=True)
class Setting(Generic[T]):
    env: str
    parse: Callable[[str], T]
    default: T
    doc: str
    fallbacks: tuple[str, ...] = ()

    def raw(self) -> str | None:
        for name in (self.env, *self.fallbacks):
            value = os.environ.get(name)
            if value is not None and value != "":
                return value
        return None

    def get(self) -> T:
        text = self.raw()
        if text is None:
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ConfigError(
                f"environment variable {self.env}={text!r} is invalid: {exc}. "
                f"Unset it or give a valid value ({self.doc})."
            ) from None


class Settings:
    uri = Setting(
        "NAIAD_URI", str, ".naiad",
        "where runs are stored: a folder (embedded store, default ./.naiad), a naiad server "
        "(http(s)://host:port), or a PostgreSQL catalog (postgresql://…, with NAIAD_BLOBS)",
    )
    api_token = Setting(
        "NAIAD_API_TOKEN", str, "",
        "API token for a naiad server (made by `naiad token create`); never logged",
    )
    blobs = Setting(
        "NAIAD_BLOBS", str, "",
        "where a PostgreSQL-backed store keeps files: s3://bucket/prefix or a folder",
    )
    local_dir = Setting(
        "NAIAD_LOCAL_DIR", str, ".naiad",
        "folder for op logs and offline runs when NAIAD_URI is a server or PostgreSQL",
    )
    project = Setting(
        "NAIAD_PROJECT", str, "",
        "default project for init_run/init_project", fallbacks=("NEPTUNE_PROJECT",),
    )
    mode = Setting(
        "NAIAD_MODE", str, "async",
        "default mode: async, sync, offline, read-only or debug", fallbacks=("NEPTUNE_MODE",),
    )
    custom_run_id = Setting(
        "NAIAD_CUSTOM_RUN_ID", str, "",
        "custom run id used when init_run gets none", fallbacks=("NEPTUNE_CUSTOM_RUN_ID",),
    )
    flush_period = Setting(
        "NAIAD_FLUSH_PERIOD", float, 1.0,
        "seconds between writer flushes to the op log and the store; a SIGKILL loses at most this much",
    )
    heartbeat_period = Setting(
        "NAIAD_HEARTBEAT_PERIOD", float, 5.0, "seconds between updates of sys/ping_time",
    )
    neptune_single_part = Setting(
        "NAIAD_NEPTUNE_SINGLE_PART", int, 256 << 20,
        "bytes of the largest file the neptune client sends to naiad server in one request; bigger ones "
        "come in parts of 8 MiB",
    )
    crash_after = Setting(
        "NAIAD_CRASH_AFTER", float, 60.0,
        "a running run whose sys/ping_time is older than this many seconds is shown as crashed",
    )
    stop_timeout = Setting(
        "NAIAD_STOP_TIMEOUT", float, 60.0,
        "longest stop() waits for the writer to drain; the rest stays in the op log for `naiad sync`",
    )
    fsync = Setting(
        "NAIAD_FSYNC", _bool, False,
        "fsync the op log at every flush (survives power loss, not only process death)",
    )
    raise_on_error = Setting(
        "NAIAD_RAISE_ON_ERROR", _bool, False,
        "raise background (writer) errors at the next call instead of counting them; for tests",
    )
    strict = Setting(
        "NAIAD_STRICT", _bool, False,
        "raise at the call for a logging problem a run can go past (a step that does not increase) instead of "
        "warning once per series, dropping the point and counting it in sys/errors",
    )
    auto_capture = Setting(
        "NAIAD_AUTO_CAPTURE", _bool, True,
        "capture stdout/stderr, hardware, git and environment by default in scripts "
        "(init_run arguments override)",
    )
    hardware_period = Setting(
        "NAIAD_HARDWARE_PERIOD", float, 10.0, "seconds between hardware samples (CPU, memory, I/O, GPUs)",
    )
    notebook_path = Setting(
        "NAIAD_NOTEBOOK_PATH", str, "",
        "the .ipynb file checkpointed by run.checkpoint_notebook() (Jupyter's JPY_SESSION_NAME otherwise)",
        fallbacks=("JPY_SESSION_NAME",),
    )
    hash_cache = Setting(
        "NAIAD_HASH_CACHE", str, "",
        "file remembering SHA-256 of tracked local files by inode, size, mtime and ctime "
        "(default ~/.cache/naiad/hashes.db; off: hash every time)",
    )
    owner = Setting(
        "NAIAD_OWNER", str, "", "value of sys/owner for new runs (default: the OS user name)",
    )
    s3_endpoint_url = Setting(
        "NAIAD_S3_ENDPOINT_URL", str, "",
        "endpoint of the S3-compatible store behind s3:// artifacts (MinIO, Ceph…; empty: AWS); "
        "credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID, AWS_PROFILE…)",
        fallbacks=("S3_ENDPOINT_URL",),
    )
    webhook_interval = Setting(
        "NAIAD_WEBHOOK_INTERVAL", float, 2.0, "seconds between a server's passes over due webhook deliveries",
    )
    webhook_allow = Setting(
        "NAIAD_WEBHOOK_ALLOW", str, "",
        "networks, addresses or host names webhooks may reach although they are not public "
        "(comma-separated: 10.0.0.0/8,127.0.0.1,hooks.internal; empty: public addresses only)",
    )
    gate_max_age = Setting(
        "NAIAD_GATE_MAX_AGE", float, 30 * 86400.0,
        "seconds a passing gate decision stays evidence for a promotion policy (older ones: run the gate again)",
    )
    upload_ttl = Setting(
        "NAIAD_UPLOAD_TTL", float, 2 * 86400.0,
        "seconds a server keeps a resumable upload that was begun and not completed (then its parts are removed)",
    )
    ui_url = Setting(
        "NAIAD_UI_URL", str, "",
        "base URL of the naiad web UI (https://naiad.internal), for links in gate reports (empty: ids only)",
    )


SETTINGS = Settings()


def all_settings() -> list[tuple[str, Setting[object]]]:
    """Every declared setting, in declaration order, as ``(attribute name, setting)`` pairs."""
    return [(k, v) for k, v in vars(Settings).items() if isinstance(v, Setting)]
