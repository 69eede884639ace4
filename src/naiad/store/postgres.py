"""The team catalog on PostgreSQL: the same semantics as the embedded store, for many server processes.

Several ``naiad server`` processes may share one database.  Each thread holds its own connection
(autocommit between explicit transactions).  Concurrency is made safe with row and advisory locks, not
with a global write lock: a batch locks its writer's row (so a retried batch sent to two servers at once
is applied once) and its container (so two writers of one run never race on a field), project and
run-number creation are serialized per project, and new paths are committed on a side connection at
once so no transaction ever waits on another's path.  A deadlock or serialization failure the server
still meets is retried.

The schema is versioned: ``migrations/postgres/NNNN_*.sql`` are applied in order by :func:`migrate`
(``naiad server migrate``).  An empty database is set up on first open; a database behind this
naiad's schema is refused until migrated, so an upgrade never changes a shared schema by surprise.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from naiad.core import query as Q
from naiad.core.ops import Batch
from naiad.errors import ConfigError, SchemaVersionError, StoreError, StoreUnavailableError
from naiad.store.base import ApplyResult, BlobStore
from naiad.store.sql import SqlStore, statements

_LOCK_MIGRATIONS = 0x6E616961  # "naia"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("the PostgreSQL store needs psycopg: pip install \"naiad[server]\"") from None
    return psycopg


def redact(dsn: str) -> str:
    """A connection string (or a message quoting one) safe to print: the password replaced by ``***``.

    As libpq reads a URI, the user information runs to the first ``@`` before any ``/``, and the
    password is what follows its first ``:`` (the user name may be empty: ``postgresql://:pw@host``).
    """
    dsn = re.sub(r"(://[^:/@\s\"']*:)[^/@]*@", r"\1***@", dsn)
    return re.sub(r"(password=)[^\s&\"']+", r"\1***", dsn)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every schema migration this naiad knows, in order."""
    folder = resources.files("naiad.store").joinpath("migrations/postgres")
    out = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            out.append(Migration(int(match[1]), match[2], entry.read_text()))
    return sorted(out, key=lambda m: m.version)


SCHEMA_VERSION = max(m.version for m in migrations())


def _index_blob_refs(conn: Any) -> None:
    from naiad.store.sql.blobrefs import index_blob_refs

    index_blob_refs(conn)


# migrations with a step after their SQL, in the same transaction
_PYTHON_STEPS: dict[int, Any] = {8: _index_blob_refs}


class _PgConn:
    """A psycopg connection that takes the ``?`` placeholders the shared SQL is written with."""

    _cache: ClassVar[dict[str, str]] = {}

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    @classmethod
    def _sql(cls, sql: str) -> str:
        out = cls._cache.get(sql)
        if out is None:
            out = cls._cache[sql] = sql.replace("%", "%%").replace("?", "%s").replace("%%s", "%s")
        return out

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.raw.execute(self._sql(sql), params)

    def executemany(self, sql: str, params: Any) -> Any:
        with self.raw.cursor() as cur:
            cur.executemany(self._sql(sql), params)


def connect(dsn: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot connect to PostgreSQL at {redact(dsn)}: {redact(str(exc).strip())}. Check that the server "
            "runs and that the user, password and database in the URI are right.") from None
    except psycopg.ProgrammingError as exc:  # a URI libpq cannot parse; its message quotes the URI
        raise ConfigError(f"{redact(dsn)} is not a PostgreSQL URI libpq can read: {redact(str(exc).strip())}. "
                          "Write it as postgresql://user:password@host:port/database.") from None


def schema_version(dsn: str) -> int:
    """The schema version of the database (0 for an empty one).

    A migration running in another process (``migrate`` holds its lock from the first migration to
    the last) is waited for, so a database halfway through being set up or upgraded is never read as
    one left behind at an older version.
    """
    with connect(dsn) as raw:
        raw.execute("SELECT pg_advisory_lock_shared(%s)", (_LOCK_MIGRATIONS,))
        try:
            exists = raw.execute("SELECT to_regclass('naiad_migrations')").fetchone()[0]
            if exists is None:
                return 0
            return int(raw.execute("SELECT COALESCE(max(version), 0) FROM naiad_migrations").fetchone()[0])
        finally:
            raw.execute("SELECT pg_advisory_unlock_shared(%s)", (_LOCK_MIGRATIONS,))


def migrate(dsn: str, *, progress: Any = None) -> list[Migration]:
    """Apply the migrations the database lacks, each in its own transaction; returns those applied.

    Safe to run from several processes at once: they wait for each other on an advisory lock.
    """
    applied: list[Migration] = []
    with connect(dsn) as raw:
        raw.execute("SELECT pg_advisory_lock(%s)", (_LOCK_MIGRATIONS,))
        try:
            raw.execute("CREATE TABLE IF NOT EXISTS naiad_migrations (version INTEGER PRIMARY KEY, "
                        "name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)")
            done = {r[0] for r in raw.execute("SELECT version FROM naiad_migrations")}
            newer = [v for v in done if v > SCHEMA_VERSION]
            if newer:
                raise SchemaVersionError(
                    f"the database {redact(dsn)} has schema version {max(newer)}, newer than this naiad "
                    f"knows ({SCHEMA_VERSION}); upgrade naiad on this machine.")
            for mig in migrations():
                if mig.version in done:
                    continue
                if progress is not None:
                    progress(mig)
                with raw.transaction():
                    for stmt in statements(mig.sql):
                        raw.execute(stmt)
                    if mig.version in _PYTHON_STEPS:  # what SQL cannot do (decoding series chunks)
                        _PYTHON_STEPS[mig.version](_PgConn(raw))
                    raw.execute("INSERT INTO naiad_migrations(version, name, applied) VALUES (%s, %s, %s)",
                                (mig.version, mig.name, time.time()))
                applied.append(mig)
        finally:
            raw.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_MIGRATIONS,))
    return applied


class PostgresStore(SqlStore):
    """Catalog in PostgreSQL (``postgresql://user:password@host:port/db``), blobs in ``blobs``."""

    dialect = Q.POSTGRES
    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE OF d SKIP LOCKED"

    def __init__(self, dsn: str, blobs: BlobStore) -> None:
        super().__init__()
        self.dsn = dsn
        self.uri = redact(dsn)
        self.location = self.uri
        self.blobs = blobs
        self._errors = _psycopg().errors
        version = schema_version(dsn)  # first: a URI libpq cannot read is reported as such, redacted
        if version == 0:
            migrate(dsn)
        elif version < SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database {self.uri} has schema version {version}; this naiad needs {SCHEMA_VERSION}. "
                f"Back it up, then run `naiad server migrate --store {self.uri}`.")
        elif version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database {self.uri} has schema version {version}, newer than this naiad knows "
                f"({SCHEMA_VERSION}); upgrade naiad on this machine.")
        from naiad.config import SETTINGS
        from naiad.store.remote import _slug

        self.local_root = Path(SETTINGS.local_dir.get()) / "remote" / _slug(self.uri)
        self._conns: list[Any] = []
        self._idle: list[Any] = []
        self._idle_status = _psycopg().pq.TransactionStatus.IDLE
        self._conns_lock = threading.Lock()

    # ------------------------------------------------------------------ connections
    _IDLE_MAX = 16

    def _raw(self, attr: str = "conn") -> Any:
        raw = getattr(self._local, attr, None)
        if raw is None or raw.closed or raw.broken:
            raw = None
            with self._conns_lock:
                while self._idle and raw is None:
                    candidate = self._idle.pop()
                    if not (candidate.closed or candidate.broken):
                        raw = candidate
            if raw is None:
                raw = connect(self.dsn)
                with self._conns_lock:
                    self._conns.append(raw)
            setattr(self._local, attr, raw)
        return raw

    def release(self) -> None:
        """This thread's unit of work is over: its connections go back to the idle pool, so a server's
        many worker threads share a few connections instead of holding one each."""
        for attr in ("conn", "side"):
            raw = getattr(self._local, attr, None)
            if raw is None:
                continue
            setattr(self._local, attr, None)
            idle = not (raw.closed or raw.broken) and raw.info.transaction_status == self._idle_status
            with self._conns_lock:
                if idle and len(self._idle) < self._IDLE_MAX:
                    self._idle.append(raw)
                    continue
                if raw in self._conns:
                    self._conns.remove(raw)
            raw.close()

    def conn(self) -> _PgConn:
        return _PgConn(self._raw())

    def durability_problems(self) -> list[str]:
        """The database's settings that let a crash of PostgreSQL lose commits already acknowledged —
        batches a client then dropped from its op log (said by ``naiad server`` when it starts)."""
        try:
            settings = {name: str(self.conn().execute(f"SHOW {name}").fetchone()[0])
                        for name in ("fsync", "synchronous_commit")}
        finally:
            self.release()
        return [f"PostgreSQL runs with {name}={value}: if the database crashes, batches this server has "
                f"acknowledged can be lost (their clients no longer keep them). Set {name}=on, the default."
                for name, value in settings.items() if value == "off"]

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns, self._idle = self._conns, [], []
        for raw in conns:
            try:
                raw.close()
            except Exception:  # closing a connection another thread uses: nothing to save
                pass
        self._local = threading.local()

    @contextmanager
    def _transaction(self) -> Iterator[_PgConn]:
        raw = self._raw()
        # pipeline mode: statements whose result is not read go out without waiting for a round trip
        with raw.pipeline(), raw.transaction():
            yield _PgConn(raw)

    def _in(self, expr: str, values: list[Any]) -> tuple[str, list[Any]]:
        if not values:
            return "1 = 0", []
        return f"{expr} = ANY(?)", [list(values)]

    def _lock(self, conn: Any, space: int, key: int) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?::int, ?::int)", (space, int(key) & 0x7FFFFFFF))

    def _create_paths(self, conn: Any, paths: list[str]) -> None:
        """Paths are a global dictionary: new ones are committed at once on a side connection, so
        transactions of different runs never wait on each other's new paths (nor deadlock)."""
        side = _PgConn(self._raw("side"))
        side.executemany("INSERT INTO paths(path) VALUES (?) ON CONFLICT DO NOTHING", [(p,) for p in sorted(paths)])
        in_sql, in_params = self._in("path", paths)
        for path, pid in side.execute(f"SELECT path, pid FROM paths WHERE {in_sql}", in_params).fetchall():
            self._pids[path] = int(pid)

    # ------------------------------------------------------------------ retries
    def apply(self, batch: Batch) -> ApplyResult:
        transient = (self._errors.DeadlockDetected, self._errors.SerializationFailure,
                     self._errors.UniqueViolation)
        for attempt in range(8):
            try:
                return super().apply(batch)
            except transient:
                time.sleep(0.01 * 2 ** attempt)
            except _psycopg().OperationalError as exc:
                if attempt >= 2:
                    raise StoreUnavailableError(
                        f"PostgreSQL at {self.uri} failed: {redact(str(exc).strip())}") from None
                time.sleep(0.2 * (attempt + 1))
        raise StoreError(f"a batch for {batch.container} kept conflicting with concurrent writes; it stays "
                         "in the op log and is retried.")

    def query_table(self, *args: Any, **kwargs: Any) -> Any:
        with self._regex_errors():
            return super().query_table(*args, **kwargs)

    def table_columns(self, *args: Any, **kwargs: Any) -> Any:
        with self._regex_errors():
            return super().table_columns(*args, **kwargs)

    @contextmanager
    def _regex_errors(self) -> Iterator[None]:
        """A MATCHES pattern Python accepts but PostgreSQL's regex engine refuses is the query's fault."""
        try:
            yield
        except self._errors.InvalidRegularExpression as exc:
            from naiad.errors import QueryError

            raise QueryError(f"invalid regular expression in the query: {str(exc).strip()}") from None
