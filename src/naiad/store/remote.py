"""The remote store: the Store protocol over a ``naiad server``'s HTTP API (``NAIAD_URI=http(s)://…``).

The SDK uses it exactly as it uses the embedded store.  The op log on the training machine stays
the source of truth until the server acknowledges a batch: a request that cannot reach the server
raises :class:`~naiad.errors.StoreUnavailableError`, the writer keeps the batch and retries, and the
server applies each ``(writer, seq)`` once however often it arrives.  Errors the server reports come
back as the same :mod:`naiad.errors` classes the embedded store raises.

Files move in parts of ``PART_SIZE`` with bounded memory; an upload interrupted by a broken
connection (or a killed process) resumes from the parts the server already has, and downloads resume
with HTTP ranges.  Every transfer is checked against the blob's SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import httpx

from naiad import errors as E
from naiad.config import SETTINGS
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store import wire
from naiad.store.base import (
    PART_SIZE,
    ApplyResult,
    Buckets,
    ContainerInfo,
    DatasetUse,
    FieldValue,
    GateDecision,
    ProjectInfo,
    RegistryEvent,
    SeriesData,
    TableResult,
)
from naiad.store.blobs import hash_file

_ERRORS = E.all_error_classes()
_RETRIES = 3
_PROGRESS_FROM = 64 << 20  # show a progress bar for transfers at least this big (on a terminal)


def _slug(url: str) -> str:
    parts = urlsplit(url)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{parts.hostname}_{parts.port or ''}{parts.path}").strip("_")


class RemoteStore:
    """A ``naiad server`` at ``url``; ``token`` authenticates (``NAIAD_API_TOKEN``)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise E.ConfigError(f"{url!r} is not a naiad server URL; write it like https://naiad.example.com:8080")
        self.uri = url.rstrip("/")
        self.location = self.uri
        self.local_root = Path(SETTINGS.local_dir.get()) / "remote" / _slug(self.uri)
        token = token if token is not None else SETTINGS.api_token.get()
        headers = {"user-agent": "naiad-sdk"}
        if token and token != "ANONYMOUS":
            headers["authorization"] = f"Bearer {token}"
        self.client = httpx.Client(base_url=self.uri + "/api/v1", headers=headers,
                                   timeout=httpx.Timeout(timeout, connect=10.0))
        self.blobs = RemoteBlobs(self)

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, *, stream: bool = False, attempts: int = _RETRIES,
                **kwargs: Any) -> httpx.Response:
        """One API call; transport failures are retried (``attempts`` tries in all), then
        StoreUnavailableError.  Every endpoint is safe to repeat (batches are idempotent); a body that
        is an iterator can be sent once only: give ``attempts=1`` and retry with a new one."""
        for attempt in range(attempts):
            try:
                if stream:
                    req = self.client.build_request(method, path, **kwargs)
                    response = self.client.send(req, stream=True)
                else:
                    response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    raise E.StoreUnavailableError(
                        f"the naiad server {self.uri} cannot be reached ({type(exc).__name__}: {exc}); "
                        "runs keep logging to the op log and catch up when it is back.") from None
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                    response.close()
                raise self._error(response)
            return response
        raise AssertionError("unreachable")

    def _error(self, response: httpx.Response) -> E.NaiadError:
        try:
            body = response.json()["error"]
            cls = _ERRORS.get(body["code"], E.NaiadError)
            exc = cls(body["message"])
            exc.details = body.get("details") or {}
            return exc
        except (ValueError, KeyError, TypeError):
            pass
        plain = {401: E.AuthError, 403: E.PermissionDeniedError, 404: E.NotFoundError, 413: E.RequestError}
        if response.status_code in plain:  # a HEAD answer has no body to read the envelope from
            return plain[response.status_code](f"{response.request.method} {response.request.url.path}: "
                                               f"HTTP {response.status_code}")
        if response.status_code in (502, 503, 504):
            return E.StoreUnavailableError(f"the naiad server {self.uri} is unavailable "
                                           f"(HTTP {response.status_code}); retrying later.")
        return E.StoreError(f"the naiad server {self.uri} answered HTTP {response.status_code}: "
                            f"{response.text[:200]}")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ projects and containers
    def get_or_create_project(self, name: str) -> ProjectInfo:
        return wire.project_from_json(self.json("POST", "/projects", json={"name": name}))

    def get_project(self, name: str) -> ProjectInfo:
        return wire.project_from_json(self.json("GET", "/projects/lookup", params={"name": name}))

    def list_projects(self) -> list[ProjectInfo]:
        return [wire.project_from_json(p) for p in self.json("GET", "/projects")]

    def count_containers(self, project: str, kind: str) -> int:
        return int(self.json("GET", "/projects/count", params={"project": project, "kind": kind})["count"])

    def create_container(self, project: str, kind: str, uuid: str, *, custom_run_id: str | None = None,
                         created: float | None = None, owner: str = "", key: str | None = None,
                         parent: str | None = None) -> ContainerInfo:
        body = {"project": project, "kind": kind, "uuid": uuid, "custom_run_id": custom_run_id,
                "created": created, "owner": owner, "key": key, "parent": parent}
        return wire.container_from_json(self.json("POST", "/containers", json=body))

    def get_container(self, *, short_id: str | None = None, uuid: str | None = None,
                      project: str | None = None) -> ContainerInfo:
        params = {k: v for k, v in (("short_id", short_id), ("uuid", uuid), ("project", project)) if v is not None}
        return wire.container_from_json(self.json("GET", "/containers/lookup", params=params))

    # ------------------------------------------------------------------ writes
    def apply(self, batch: Batch) -> ApplyResult:
        body = O.encode_batch(batch)
        data = self.json("POST", "/batches", content=body, headers={"content-type": wire.BATCH_MEDIA_TYPE})
        return ApplyResult(int(data["seq"]), list(data["errors"]))

    def writer_seq(self, writer: str, container: str) -> int:
        try:
            return int(self.json("GET", f"/writers/{_seg(writer)}", params={"container": container})["seq"])
        except E.ContainerNotFound:  # as the store says: nothing was applied to a container that is not there
            return 0

    # ------------------------------------------------------------------ reads
    def structure(self, uuid: str) -> dict[str, str]:
        return dict(self.json("GET", f"/containers/{_seg(uuid)}/structure"))

    def series_last_steps(self, uuid: str) -> dict[str, float]:
        raw = self.json("GET", f"/containers/{_seg(uuid)}/series-last-steps")
        return {k: float(v) for k, v in raw.items()}  # float("-Infinity") reads the wire form

    def field_paths(self, project: str, kind: str = "run") -> dict[str, str]:
        return dict(self.json("GET", "/projects/fields", params={"project": project, "kind": kind}))

    def read_fields(self, uuid: str, paths: list[str] | None = None) -> dict[str, FieldValue]:
        return wire.fields_from_json(self.json("POST", f"/containers/{_seg(uuid)}/fields", json={"paths": paths}))

    def read_series(self, uuid: str, path: str) -> SeriesData:
        response = self.request("GET", f"/containers/{_seg(uuid)}/series", params={"path": path})
        return wire.series_from_bytes(response.content)

    def read_series_window(self, uuid: str, path: str, offset: int, limit: int) -> tuple[SeriesData, int]:
        data = self.read_series(uuid, path)  # the server sends a series whole; the window is cut here
        lo, hi = max(0, offset), max(0, offset) + max(0, limit)
        return SeriesData(data.steps[lo:hi], data.timestamps[lo:hi], data.values[lo:hi]), len(data.steps)

    def series_buckets(self, uuid: str, path: str, n: int = 1000, *, step_min: float | None = None,
                       step_max: float | None = None) -> Buckets:
        params: dict[str, Any] = {"path": path, "n": n}
        if step_min is not None:
            params["step_min"] = step_min
        if step_max is not None:
            params["step_max"] = step_max
        return wire.buckets_from_json(self.json("GET", f"/containers/{_seg(uuid)}/buckets", params=params))

    def query_table(self, project: str, kind: str, *, query: str | None = None, columns: list[str] | None = None,
                    sort_by: str = "sys/creation_time", ascending: bool = False,
                    limit: int | None = None) -> TableResult:
        body = {"project": project, "kind": kind, "query": query, "columns": columns, "sort_by": sort_by,
                "ascending": ascending, "limit": limit}
        return wire.table_from_json(self.json("POST", "/table", json=body))

    # ------------------------------------------------------------------ registry and datasets
    def change_stage(self, version: str, stage: str, *, actor: str = "", reason: str = "") -> list[RegistryEvent]:
        body = {"version": version, "stage": stage, "actor": actor, "reason": reason}
        return [wire.event_from_json(e) for e in self.json("POST", "/registry/stage", json=body)]

    def set_alias(self, model: str, alias: str, version: str | None, *, actor: str = "",
                  reason: str = "") -> list[RegistryEvent]:
        body = {"model": model, "alias": alias, "version": version, "actor": actor, "reason": reason}
        return [wire.event_from_json(e) for e in self.json("POST", "/registry/alias", json=body)]

    def set_policy(self, model: str, *, require_gate: bool | None = None, gate_accounts: list[str] | None = None,
                   actor: str = "", reason: str = "") -> list[RegistryEvent]:
        body = {"model": model, "require_gate": require_gate, "gate_accounts": gate_accounts, "actor": actor,
                "reason": reason}
        return [wire.event_from_json(e) for e in self.json("POST", "/registry/policy", json=body)]

    def record_gate_decision(self, model: str, candidate: str, baseline: str | None, *, dataset_hash: str, n: int,
                             verdict: str, reason: str, run: str = "", details: dict[str, Any] | None = None,
                             actor: str = "", actor_role: str = "local") -> GateDecision:
        # the server records the calling account; a claimed actor or role is not sent
        body = {"model": model, "candidate": candidate, "baseline": baseline, "dataset_hash": dataset_hash, "n": n,
                "verdict": verdict, "reason": reason, "run": run, "details": details or {}}
        return wire.decision_from_json(self.json("POST", "/registry/gate-decisions", json=body))

    def gate_decisions(self, project: str, model: str | None = None) -> list[GateDecision]:
        params = {"project": project} | ({"model": model} if model else {})
        return [wire.decision_from_json(d) for d in self.json("GET", "/registry/gate-decisions", params=params)]

    def check_monitoring(self, model: str, evaluation: str, judge: Any, *, actor: str = "",
                         actor_role: str = "local") -> list[str]:
        # the server judges the stored evaluation with its own code and records the calling account
        sent: list[str] = self.json("POST", "/models/checks", json={"model": model, "evaluation": evaluation})["sent"]
        return sent

    def add_webhook(self, project: str, url: str, secret: str, events: list[str] | str = "*", *,
                    actor: str = "") -> dict[str, Any]:
        body = {"project": project, "url": url, "secret": secret,
                "events": events if isinstance(events, str) else ",".join(events)}
        result: dict[str, Any] = self.json("POST", "/webhooks", json=body)
        return result

    def list_webhooks(self, project: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.json("GET", "/webhooks", params={"project": project} if project else {})
        return found

    def remove_webhook(self, hook_id: int) -> None:
        self.json("DELETE", f"/webhooks/{int(hook_id)}")

    def emit_event(self, project: str, event: str, payload: dict[str, Any]) -> int:
        return int(self.json("POST", "/events", json={"project": project, "event": event,
                                                      "payload": payload})["queued"])

    def list_deliveries(self, project: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit} | ({"project": project} if project else {})
        found: list[dict[str, Any]] = self.json("GET", "/webhooks/deliveries", params=params)
        return found

    def registry_events(self, project: str, model: str | None = None) -> list[RegistryEvent]:
        params = {"project": project} | ({"model": model} if model else {})
        return [wire.event_from_json(e) for e in self.json("GET", "/registry/events", params=params)]

    def dataset_uses(self, project: str, digest: str | None = None) -> list[DatasetUse]:
        params = {"project": project} | ({"digest": digest} if digest else {})
        return [wire.use_from_json(u) for u in self.json("GET", "/datasets/uses", params=params)]

    def dataset_manifest(self, project: str, digest: str) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.json("GET", "/datasets/manifest", params={"project": project,
                                                                                    "digest": digest})
        return files


def _seg(text: str) -> str:
    """One URL path segment (ids are plain, but never let one add a path level)."""
    from urllib.parse import quote

    seg = quote(text, safe="")
    return seg.replace(".", "%2E") if set(seg) <= {"."} else seg  # "." and ".." would climb the path


class RemoteBlobs:
    """The server's blob store, reached over HTTP (see the module docstring)."""

    def __init__(self, store: RemoteStore) -> None:
        self.store = store
        self._state = store.local_root / "uploads"
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ small helpers
    def exists(self, digest: str) -> bool:
        try:
            self.store.request("HEAD", f"/blobs/{_seg(digest)}")
            return True
        except E.NotFoundError:
            return False

    def missing(self, digests: list[str]) -> list[str]:
        """The digests the server does not hold, asked in one request per 10,000."""
        out: list[str] = []
        for start in range(0, len(digests), 10_000):
            found = self.store.json("POST", "/blobs/missing", json={"digests": digests[start:start + 10_000]})
            out += found["missing"]
        return out

    def size(self, digest: str) -> int:
        return int(self.store.request("HEAD", f"/blobs/{_seg(digest)}").headers["content-length"])

    def _put(self, path: str, body: Callable[[], Iterator[bytes]], length: int, tries: int) -> Any:
        """PUT ``length`` bytes that ``body()`` streams, with a new stream for each try.

        Bodies are never handed to httpx as one bytes object: httpx keeps a request's body until the
        garbage collector frees the request (a response and its stream refer to each other), so
        upload after upload, part after part, would pile up in memory."""
        for attempt in range(tries):
            try:
                return self.store.json("PUT", path, attempts=1, content=body(),
                                       headers={"content-type": "application/octet-stream",
                                                "content-length": str(length)})
            except E.StoreUnavailableError:
                if attempt == tries - 1:
                    raise
                time.sleep(min(0.25 * 2 ** attempt, 20))
        raise AssertionError("unreachable")

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        if len(data) <= PART_SIZE:
            self._put(f"/blobs/{digest}", lambda: iter([data]), len(data), _RETRIES)
            return digest, len(data)
        with tempfile.TemporaryFile() as tmp:
            tmp.write(data)
            self._upload(tmp, digest, len(data), "bytes")
        return digest, len(data)

    def put_file(self, path: str | os.PathLike[str], *, label: str | None = None) -> tuple[str, int]:
        """Upload a file (in resumable parts when it is over one part); ``label`` names it on the progress bar."""
        try:
            digest, size = hash_file(path)
            with open(path, "rb") as fh:
                if size <= PART_SIZE:  # in one request; the server checks the bytes against the hash
                    self._put(f"/blobs/{digest}", lambda: _pieces(fh, 0, size), size, _RETRIES)
                else:
                    self._upload(fh, digest, size, label or os.path.basename(os.fspath(path)))
        except OSError as exc:
            raise E.FileError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from exc
        return digest, size

    # ------------------------------------------------------------------ resumable upload
    def _upload(self, fh: BinaryIO, digest: str, size: int, label: str) -> None:
        """Send ``fh`` in parts, resuming an upload of the same content an earlier attempt (or an
        earlier process) began; each part is retried on its own."""
        state_file = self._state / f"{digest}.json"
        upload_id = None
        parts: dict[int, int] = {}
        if state_file.exists():
            try:
                upload_id = json.loads(state_file.read_text())["upload_id"]
                parts = self.uploaded_parts(upload_id)
            except (E.NaiadError, ValueError, KeyError, OSError):
                upload_id, parts = None, {}
        if upload_id is None:
            began = self.store.json("POST", "/blobs/uploads", json={"digest": digest, "size": size})
            if began.get("exists"):
                return
            upload_id = began["upload_id"]
            self._state.mkdir(parents=True, exist_ok=True)
            state_file.write_text(json.dumps({"upload_id": upload_id, "size": size}))
        count = max(1, -(-size // PART_SIZE))
        with _progress(f"upload {label}", size) as advance:
            advance(sum(parts.values()))
            for number in range(count):
                expected = min(PART_SIZE, size - number * PART_SIZE)
                if parts.get(number) == expected:
                    continue
                # a part is retried longer than a small file: what was sent before it is kept
                self._put(f"/blobs/uploads/{_seg(upload_id)}/parts/{number}",
                          functools.partial(_pieces, fh, number * PART_SIZE, expected), expected, 8)
                advance(expected)
        self.store.json("POST", f"/blobs/uploads/{_seg(upload_id)}/complete")
        try:
            state_file.unlink()
        except OSError:
            pass

    def begin_upload(self, digest: str | None, size: int) -> str:
        if digest is None:
            raise E.RequestError("a naiad server takes uploads whose SHA-256 is announced first; hash the file "
                                 "(naiad.store.blobs.hash_file) and begin again with it")
        began = self.store.json("POST", "/blobs/uploads", json={"digest": digest, "size": size})
        if began.get("exists"):
            raise E.RequestError(f"blob {digest} is already stored; there is nothing to upload.")
        return str(began["upload_id"])

    def upload_part(self, upload_id: str, number: int, chunks: Iterable[bytes]) -> int:
        data = b"".join(chunks)
        return int(self.store.json("PUT", f"/blobs/uploads/{_seg(upload_id)}/parts/{number}", content=data)["size"])

    def uploaded_parts(self, upload_id: str) -> dict[int, int]:
        raw = self.store.json("GET", f"/blobs/uploads/{_seg(upload_id)}")["parts"]
        return {int(k): int(v) for k, v in raw.items()}

    def complete_upload(self, upload_id: str) -> tuple[str, int]:
        data = self.store.json("POST", f"/blobs/uploads/{_seg(upload_id)}/complete")
        return str(data["digest"]), int(data["size"])

    def abort_upload(self, upload_id: str) -> None:
        self.store.json("DELETE", f"/blobs/uploads/{_seg(upload_id)}")

    # ------------------------------------------------------------------ downloads
    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return
        response = self.store.request("GET", f"/blobs/{_seg(digest)}", stream=True,
                                      headers={"range": f"bytes={start}-{end - 1}"})
        try:
            yield from response.iter_bytes(1 << 20)
        finally:
            response.close()

    def open(self, digest: str) -> BinaryIO:
        """The blob as a local temporary file (downloaded, hash-checked), positioned at 0."""
        tmp = tempfile.TemporaryFile()
        self._download(digest, tmp)
        tmp.seek(0)
        return tmp

    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Download a blob to ``dest``: into a temporary file beside it, renamed once the bytes are
        checked, so a broken or damaged download never leaves a file that looks right."""
        size = self.size(digest)  # a missing blob fails before the destination is touched
        folder = os.path.dirname(os.path.abspath(dest))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(dest)}.", suffix=".naiad-partial")
        try:
            with os.fdopen(fd, "wb") as out:
                self._download(digest, out, size)
            os.replace(tmp, dest)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _download(self, digest: str, out: BinaryIO, size: int | None = None) -> None:
        """Stream a blob into ``out``; a broken connection resumes with a range request; the bytes
        are checked against the hash."""
        size = self.size(digest) if size is None else size
        sha = hashlib.sha256()
        done = 0
        with _progress(f"download {digest[:12]}", size) as advance:
            for attempt in range(8):
                try:
                    for piece in self.read_range(digest, done, size):
                        out.write(piece)
                        sha.update(piece)
                        done += len(piece)
                        advance(len(piece))
                except (httpx.TransportError, E.StoreUnavailableError):
                    if attempt == 7:
                        raise E.StoreUnavailableError(f"the download of blob {digest} kept breaking off at "
                                                      f"{done} of {size} bytes; try again later.") from None
                    time.sleep(min(2 ** attempt * 0.2, 10))
                    continue
                if done >= size:
                    break
        if done != size or sha.hexdigest() != digest:
            raise E.IntegrityError(f"blob {digest} arrived damaged ({done} bytes, SHA-256 {sha.hexdigest()}); "
                                   "download it again.")


def _pieces(fh: BinaryIO, start: int, length: int, piece: int = 1 << 20) -> Iterator[bytes]:
    """``length`` bytes of ``fh`` from ``start``, in pieces; a file that got shorter is an error (the
    server would wait for the rest of the announced length)."""
    fh.seek(start)
    left = length
    while left > 0:
        block = fh.read(min(piece, left))
        if not block:
            raise E.FileError(f"the file being uploaded got shorter while it was read ({left} bytes missing); "
                              "upload it again.")
        left -= len(block)
        yield block


class _progress:
    """A rich progress bar on stderr for big transfers on a terminal; silent otherwise."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if self.total >= _PROGRESS_FROM and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            # on stderr, like every message of naiad's (rich's own default is stdout, which may be a
            # pipe or a file while stderr is the terminal)
            self.bar = Progress(TextColumn("[naiad] {task.description}", markup=False), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                                console=Console(stderr=True))
            self.bar.start()
            task = self.bar.add_task(self.label, total=self.total)
            return lambda n: self.bar.advance(task, n)
        return lambda n: None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
