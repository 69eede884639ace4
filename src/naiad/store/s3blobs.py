"""Blobs in an S3-compatible bucket (AWS, MinIO, Ceph…): ``s3://bucket/prefix``.

Layout under the prefix::

    blobs/ab/cdef…              every blob, named by its SHA-256 (as in a local store's blobs/ folder)
    uploads/<digest>-<random>   staging objects of resumable uploads, joined but not yet checked

A resumable upload is an S3 multipart upload on the staging key ``uploads/<digest>-<random>``.  Its id
(what ``begin_upload`` returns) is base64url, without padding, of the JSON object ``{"v": 1, "d": digest,
"s": size, "r": random (16 hex digits), "u": S3 UploadId}``: it carries all of the upload's state, so any
server process can continue an upload another one began.  The staging key is rebuilt from ``d`` and
``r`` under this store's prefix, so an id cannot name any other object of the bucket; an id that does
not decode to exactly that shape raises NotFoundError.

``complete_upload`` joins the parts, reads the joined object back through SHA-256 (one piece at a time),
and only then copies it (server side) to ``blobs/``.

boto3 is imported when an ``S3Blobs`` is made (the ``naiad[s3]`` extra).  The endpoint is the
``endpoint_url`` argument, else ``NAIAD_S3_ENDPOINT_URL`` (or ``S3_ENDPOINT_URL``), else AWS; credentials
come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, roles…).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, NoReturn, cast

from naiad.config import SETTINGS
from naiad.errors import (
    ConfigError,
    FileError,
    IntegrityError,
    NaiadError,
    NotFoundError,
    RequestError,
    StoreError,
    StoreUnavailableError,
)
from naiad.store.base import PART_SIZE
from naiad.store.blobs import (
    BlobPieces,
    check_digest,
    check_new_upload,
    check_part_number,
    check_parts_complete,
    check_range,
    hash_file,
    hash_mismatch,
    part_layout_error,
    too_large_part,
)

_BUF = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_PARTS = 10_000  # S3's limit on the parts of a multipart upload
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{1,4096}")
_RANDOM = re.compile(r"[0-9a-f]{16}")
_CREDENTIAL_VARS = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE"
_DENIED = frozenset({"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                     "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "403", "401"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_BUSY = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"})


def parse_store_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (no slashes at either end of the prefix)."""
    rest = uri[len("s3://"):] if isinstance(uri, str) and uri.startswith("s3://") else ""
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"{uri!r} is not an S3 blob store location; write it as s3://bucket or s3://bucket/prefix.")
    return bucket, prefix.strip("/")


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise ConfigError('an s3:// blob store needs boto3, which is not installed: pip install "naiad[s3]"') from None
    return boto3


@dataclass(frozen=True)
class _Upload:
    key: str  # the staging object; also how messages name the upload (the id itself is long and opaque)
    s3_id: str
    digest: str | None  # None: announced without a hash, named by what arrives
    size: int


class S3Blobs:
    """Content-addressed blobs under ``s3://bucket/prefix``; see the module docstring for the layout."""

    def __init__(self, uri: str, *, endpoint_url: str | None = None) -> None:
        self.bucket, self.prefix = parse_store_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self._base = f"{self.prefix}/" if self.prefix else ""
        self.endpoint_url = endpoint_url or SETTINGS.s3_endpoint_url.get() or None
        boto3 = _import_boto3()
        from boto3.exceptions import Boto3Error
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        self._boto_errors: tuple[type[BaseException], ...] = (BotoCoreError, ClientError, Boto3Error)
        self._transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                                        max_concurrency=4)
        try:
            self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url)
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(f"cannot use the S3 blob store {self.uri}: {exc}. Check the endpoint "
                              "(NAIAD_S3_ENDPOINT_URL) and AWS_DEFAULT_REGION / AWS_PROFILE.") from None
        self._bucket_ok = False

    def __repr__(self) -> str:
        return f"S3Blobs({self.uri!r}, endpoint_url={self.endpoint_url!r})"

    # ------------------------------------------------------------------ errors
    def _where(self) -> str:
        if self.endpoint_url:
            return f"S3 endpoint {self.endpoint_url}"
        return "AWS S3 (no endpoint set; set NAIAD_S3_ENDPOINT_URL for MinIO, Ceph or another S3-compatible store)"

    @staticmethod
    def _code(exc: BaseException) -> str:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
        return ""

    def _error(self, exc: BaseException, what: str) -> NaiadError:
        """A boto3 / botocore failure as a naiad error that says what to check."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            ClientError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__  # upload_file hides the S3 answer in the message
        where = self._where()
        if isinstance(exc, (BotoConnectionError, HTTPClientError)):
            return StoreUnavailableError(f"{what}: the {where} cannot be reached ({exc}). Check the endpoint "
                                         "(NAIAD_S3_ENDPOINT_URL) and the network, then try again.")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return ConfigError(f"{what}: no usable S3 credentials ({exc}). Set {_CREDENTIAL_VARS}; store: {where}.")
        if isinstance(exc, ClientError):
            code = self._code(exc)
            detail = exc.response.get("Error", {}).get("Message") or code
            if code == "NoSuchBucket":
                return ConfigError(f"{what}: bucket {self.bucket!r} does not exist at the {where}. Create it, or "
                                   f"fix the blob store location {self.uri} or the endpoint.")
            if code in _DENIED:
                return ConfigError(f"{what}: access denied ({code}: {detail}). Check {_CREDENTIAL_VARS}, the "
                                   f"permissions they grant on bucket {self.bucket!r}, and the store: {where}.")
            if code in _MISSING:
                return NotFoundError(f"{what}: no such object in {self.uri} ({where}).")
            if code == "NoSuchUpload":
                return NotFoundError(f"{what}: S3 does not know this multipart upload (completed, aborted or "
                                     "expired); begin a new upload.")
            if code in _BUSY:
                return StoreUnavailableError(f"{what}: the {where} is unavailable now ({code}: {detail}); try again.")
            return StoreError(f"{what}: {code}: {detail} ({where}).")
        return StoreError(f"{what}: {exc} ({where}).")

    def _fail(self, exc: BaseException, what: str) -> NoReturn:
        raise self._error(exc, what) from None

    def _ready(self) -> None:
        """Check once that the bucket exists, so a wrong name is reported as such (a HEAD of a missing
        object cannot tell a missing bucket from a missing key)."""
        if self._bucket_ok:
            return
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except self._boto_errors as exc:
            code = self._code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise ConfigError(f"bucket {self.bucket!r} does not exist at the {self._where()}. Create it, or "
                                  f"fix the blob store location {self.uri} or the endpoint.") from None
            if code not in ("403", "AccessDenied"):  # rights on objects only: the object calls will tell
                self._fail(exc, f"cannot use the blob store {self.uri}")
        self._bucket_ok = True

    # ------------------------------------------------------------------ keys
    def key_of(self, digest: str) -> str:
        check_digest(digest)
        return f"{self._base}blobs/{digest[:2]}/{digest[2:]}"

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(f"blob {digest} is missing from {self.uri} ({self._where()}); it was never stored "
                             "there or was deleted.")

    # ------------------------------------------------------------------ blobs
    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self._client.head_object(Bucket=self.bucket, Key=key))
        except self._boto_errors as exc:
            if self._code(exc) in _MISSING:
                return None
            self._fail(exc, f"cannot look up {key} in {self.uri}")

    def exists(self, digest: str) -> bool:
        key = self.key_of(digest)
        self._ready()
        return self._head(key) is not None

    def size(self, digest: str) -> int:
        key = self.key_of(digest)
        self._ready()
        head = self._head(key)
        if head is None:
            raise self._missing(digest)
        return int(head["ContentLength"])

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            try:
                self._client.put_object(Bucket=self.bucket, Key=self.key_of(digest), Body=data)
            except self._boto_errors as exc:
                self._fail(exc, f"cannot store blob {digest} in {self.uri}")
        return digest, len(data)

    def put_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Hash the file, then upload it (boto3's managed transfer: multipart, bounded memory) unless the
        blob is there already.  A file that changes while it is stored is refused (and not kept)."""
        name = os.fspath(path)
        try:
            before = os.stat(name)
            digest, size = hash_file(name)
        except OSError as exc:
            raise FileError(f"cannot read {name!r}: {exc.strerror or exc}") from exc
        if self.exists(digest):
            return digest, size
        key = self.key_of(digest)
        try:
            self._client.upload_file(name, self.bucket, key, Config=self._transfer)
        except OSError as exc:
            raise FileError(f"cannot read {name!r}: {exc.strerror or exc}") from exc
        except self._boto_errors as exc:
            self._fail(exc, f"cannot store {name!r} in {self.uri}")
        try:
            after = os.stat(name)
        except OSError:
            after = None
        if after is None or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            self._delete(key)
            raise FileError(f"{name!r} changed while it was being stored, so its hash is not known; it was not "
                            "stored. Store it again once nothing writes to it.")
        return digest, size

    def open(self, digest: str) -> BinaryIO:
        """A readable stream of the blob (boto3's StreamingBody: ``read``, ``iter_chunks``, ``close``)."""
        key = self.key_of(digest)
        self._ready()
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self._boto_errors as exc:
            if self._code(exc) in _MISSING:
                raise self._missing(digest) from None
            self._fail(exc, f"cannot read blob {digest} from {self.uri}")
        return cast(BinaryIO, body)

    def read_range(self, digest: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; cut at the blob's end) in pieces of at most 1 MiB, by one
        ranged GET.  The request is made at once, so a missing blob raises NotFoundError before any piece."""
        check_range(start, end)
        key = self.key_of(digest)
        self._ready()
        if start == end:
            self.size(digest)  # nothing to read, but the blob must exist
            return iter(())
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"]
        except self._boto_errors as exc:
            code = self._code(exc)
            if code in _MISSING:
                raise self._missing(digest) from None
            if code in ("InvalidRange", "416"):  # start at or past the end of the blob
                return iter(())
            self._fail(exc, f"cannot read blob {digest} from {self.uri}")
        return self._pieces(body, end - start, f"cannot read blob {digest} from {self.uri}")

    def _pieces(self, body: Any, limit: int, what: str) -> BlobPieces:
        return BlobPieces(body, limit, errors=self._boto_errors, on_error=lambda exc: self._fail(exc, what))

    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Download a blob to ``dest`` (boto3's managed transfer; written to a temporary name, then renamed)."""
        key = self.key_of(digest)
        self._ready()
        try:
            self._client.download_file(self.bucket, key, os.fspath(dest), Config=self._transfer)
        except self._boto_errors as exc:
            if self._code(exc) in _MISSING:
                raise self._missing(digest) from None
            self._fail(exc, f"cannot download blob {digest} from {self.uri} to {os.fspath(dest)!r}")

    def _delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except self._boto_errors as exc:
            self._fail(exc, f"cannot delete {key} from {self.uri}")

    # ------------------------------------------------------------------ resumable uploads
    def _staging_key(self, digest: str | None, random: str) -> str:
        return f"{self._base}uploads/{digest or 'unhashed'}-{random}"

    @staticmethod
    def _encode(digest: str | None, size: int, random: str, s3_id: str) -> str:
        text = json.dumps({"v": 1, "d": digest, "s": size, "r": random, "u": s3_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")

    def _decode(self, upload_id: str) -> _Upload:
        shown = repr(upload_id) if len(repr(upload_id)) <= 80 else repr(upload_id)[:77] + "..."
        bad = NotFoundError(f"{shown} is not an upload id of {self.uri} (begin_upload returns them); begin a new "
                            "upload.")
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise bad
        try:
            meta = json.loads(base64.urlsafe_b64decode(upload_id + "=" * (-len(upload_id) % 4)))
        except (ValueError, binascii.Error):
            raise bad from None
        if not isinstance(meta, dict) or meta.get("v") != 1:
            raise bad
        digest, size, random, s3_id = meta.get("d"), meta.get("s"), meta.get("r"), meta.get("u")
        if not ((digest is None or (isinstance(digest, str) and _HEX64.fullmatch(digest))) and isinstance(random, str)
                and _RANDOM.fullmatch(random) and isinstance(s3_id, str) and s3_id and s3_id.isprintable()
                and isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise bad
        return _Upload(self._staging_key(digest, random), s3_id, digest, size)

    def _unknown_upload(self, up: _Upload) -> NotFoundError:
        return NotFoundError(f"upload {up.key} does not exist in {self.uri}: it was completed or aborted, or S3 "
                             "expired it. Begin a new upload.")

    def begin_upload(self, digest: str | None, size: int) -> str:
        """Start a multipart upload on a staging key; returns the upload id (see the module docstring)."""
        check_new_upload(digest, size)
        if size > _MAX_PARTS * PART_SIZE:
            raise RequestError(f"cannot upload {size} bytes in parts to {self.uri}: S3 takes at most {_MAX_PARTS} "
                               f"parts of {PART_SIZE} bytes ({_MAX_PARTS * PART_SIZE} bytes).")
        self._ready()
        random = secrets.token_hex(8)
        try:
            s3_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=self._staging_key(digest, random))
        except self._boto_errors as exc:
            self._fail(exc, f"cannot begin an upload of blob {digest} in {self.uri}")
        return self._encode(digest, size, random, str(s3_id["UploadId"]))

    def upload_part(self, upload_id: str, number: int, chunks: Iterable[bytes]) -> int:
        """Send part ``number`` (0-based; S3 part ``number + 1``); returns its size.

        The pieces are spooled to a temporary file (never more than one piece in memory) and then sent in
        one request, which boto3 can rewind and retry.  A stream that breaks midway sends nothing, so an
        earlier copy of the part stays until the part is sent again, which replaces it."""
        up = self._decode(upload_id)
        check_part_number(up.key, up.size, number)
        self._list_parts(up, probe=True)  # an unknown upload is refused before its part is read
        with tempfile.TemporaryFile(prefix="naiad-part-") as spool:
            written = self._spool(chunks, spool, up.key, number)
            spool.seek(0)
            try:
                self._client.upload_part(Bucket=self.bucket, Key=up.key, UploadId=up.s3_id, PartNumber=number + 1,
                                         Body=spool, ContentLength=written)
            except self._boto_errors as exc:
                if self._code(exc) == "NoSuchUpload":
                    raise self._unknown_upload(up) from None
                self._fail(exc, f"cannot store part {number} of upload {up.key} in {self.uri}")
        return written

    @staticmethod
    def _spool(chunks: Iterable[bytes], spool: IO[bytes], label: str, number: int) -> int:
        written = 0
        for chunk in chunks:
            written += len(chunk)
            if written > PART_SIZE:
                raise too_large_part(label, number)
            spool.write(chunk)
        return written

    def _list_parts(self, up: _Upload, *, probe: bool = False) -> dict[int, tuple[int, str]]:
        """``{part number (0-based): (size, ETag)}``; NotFoundError when S3 no longer knows the upload.
        ``probe``: only check that it does (one request, at most one part listed)."""
        out: dict[int, tuple[int, str]] = {}
        try:
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=up.key, UploadId=up.s3_id,
                PaginationConfig={"MaxItems": 1, "PageSize": 1} if probe else {})
            for page in pages:
                for part in page.get("Parts", []):
                    out[int(part["PartNumber"]) - 1] = (int(part["Size"]), str(part["ETag"]))
        except self._boto_errors as exc:
            if self._code(exc) in ("NoSuchUpload", *_MISSING):
                raise self._unknown_upload(up) from None
            self._fail(exc, f"cannot list the parts of upload {up.key} in {self.uri}")
        return out

    def uploaded_parts(self, upload_id: str) -> dict[int, int]:
        """``{part number: size}`` of the parts S3 holds for this upload."""
        return {n: size for n, (size, _) in self._list_parts(self._decode(upload_id)).items()}

    def _abort_quietly(self, up: _Upload) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=up.key, UploadId=up.s3_id)
        except self._boto_errors:
            pass  # S3 expires abandoned multipart uploads by the bucket's lifecycle rules

    def complete_upload(self, upload_id: str) -> tuple[str, int]:
        """Join the parts (complete the multipart upload), read the joined object back through SHA-256 and
        check its size, then copy it to ``blobs/`` server side and delete the staging object.

        Missing parts raise RequestError and keep the upload; a size or hash mismatch raises IntegrityError
        and discards it.  Completing again after a lost answer (or after a process died halfway) finishes
        the job, or reports the blob that is already there."""
        up = self._decode(upload_id)
        self._ready()
        try:
            parts = self._list_parts(up)
        except NotFoundError:
            return self._finish_after_join(up)
        sizes = {n: size for n, (size, _) in parts.items()}
        check_parts_complete(up.key, up.size, sizes)
        error = part_layout_error(up.key, up.digest or "(hash unannounced)", up.size, sizes)
        if error is not None:
            self._abort_quietly(up)
            raise error
        joined = [{"PartNumber": n + 1, "ETag": etag} for n, (_, etag) in sorted(parts.items())]
        try:
            self._client.complete_multipart_upload(Bucket=self.bucket, Key=up.key, UploadId=up.s3_id,
                                                   MultipartUpload={"Parts": joined})
        except self._boto_errors as exc:
            code = self._code(exc)
            if code == "NoSuchUpload":  # another process completed it this instant
                return self._finish_after_join(up)
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                self._abort_quietly(up)
                raise IntegrityError(f"S3 refused to join the parts of upload {up.key} ({code}); the upload is "
                                     "discarded. Begin a new upload.") from None
            self._fail(exc, f"cannot complete upload {up.key} in {self.uri}")
        return self._verify_and_publish(up)

    def _finish_after_join(self, up: _Upload) -> tuple[str, int]:
        """The multipart upload is gone: publish its staging object if it is still there, else report the
        blob if it exists (the upload was completed), else the upload is unknown."""
        if self._head(up.key) is not None:
            return self._verify_and_publish(up)
        if up.digest is None:  # announced without a hash: which blob it became is not known any more
            raise self._unknown_upload(up)
        head = self._head(self.key_of(up.digest))
        if head is not None and int(head["ContentLength"]) == up.size:
            return up.digest, up.size
        raise self._unknown_upload(up)

    def _verify_and_publish(self, up: _Upload) -> tuple[str, int]:
        what = f"cannot check the joined upload {up.key} in {self.uri}"
        hasher = hashlib.sha256()
        total = 0
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=up.key)["Body"]
        except self._boto_errors as exc:
            if self._code(exc) in _MISSING:  # another process published it and deleted the staging object
                return self._finish_after_join(up)
            self._fail(exc, what)
        for block in self._pieces(body, up.size + 1, what):  # one byte more than announced reveals a longer object
            hasher.update(block)
            total += len(block)
        if total != up.size or (up.digest is not None and hasher.hexdigest() != up.digest):
            self._delete(up.key)
            if total != up.size:
                raise IntegrityError(f"upload {up.key} of blob {up.digest} was announced as {up.size} bytes "
                                     f"but its parts hold {'more' if total > up.size else total}; the upload is "
                                     "discarded. Begin a new upload with the file's real size.")
            raise hash_mismatch(up.key, str(up.digest), hasher.hexdigest())
        digest = hasher.hexdigest()
        final = self.key_of(digest)
        if self._head(final) is None:
            try:
                self._client.copy({"Bucket": self.bucket, "Key": up.key}, self.bucket, final, Config=self._transfer)
            except self._boto_errors as exc:
                self._fail(exc, f"cannot publish blob {digest} in {self.uri}")
        self._delete(up.key)
        return digest, up.size

    def abort_upload(self, upload_id: str) -> None:
        """Drop an upload: its parts, and its staging object if it was already joined."""
        up = self._decode(upload_id)
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=up.key, UploadId=up.s3_id)
        except self._boto_errors as exc:
            if self._code(exc) not in ("NoSuchUpload", *_MISSING):
                self._fail(exc, f"cannot abort upload {up.key} in {self.uri}")
            if self._head(up.key) is None:
                raise self._unknown_upload(up) from None
            self._delete(up.key)
