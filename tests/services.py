"""Real services for the tests, started on loopback by the test session itself.

PostgreSQL: the server binaries of the machine (Debian's ``postgresql`` package; ``scripts/install-test-services``
installs it where it is missing) run a throw-away cluster in a temporary folder, owned by the
``postgres`` user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise RuntimeError(f"PostgreSQL's {name} is not installed; run scripts/install-test-services "
                       "(or apt-get install postgresql) first.")


def _as_postgres_user() -> tuple[Callable[[], None] | None, int | None]:
    if os.geteuid() != 0:
        return None, None
    user = pwd.getpwnam("postgres") if _has_user("postgres") else pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return drop, user.pw_uid


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class PostgresCluster:
    """A PostgreSQL cluster of its own on a free loopback port, which a test may stop (as a crash or an
    operator would) and start again on the same port and data."""

    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: PostgreSQL's own defaults (a commit is on disk before it is acknowledged); else the
        fast settings of a test cluster, which lose the last acknowledged commits if PostgreSQL crashes."""
        self.durable = durable
        self._drop, uid = _as_postgres_user()
        self.folder = Path(tempfile.mkdtemp(prefix="naiad-pg-"))
        self.data, self.sock = self.folder / "data", self.folder / "sock"
        self.data.mkdir()
        self.sock.mkdir()
        if uid is not None:
            for p in (self.folder, self.data, self.sock):
                os.chown(p, uid, -1)
        self.log = self.folder / "server.log"
        subprocess.run([_pg_bin("initdb"), "-D", str(self.data), "-U", "naiad", "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8" if _has_locale() else "--no-locale"],
                       check=True, capture_output=True, preexec_fn=self._drop)
        self.port = free_port()
        self.dsn = f"postgresql://naiad@127.0.0.1:{self.port}/postgres"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.sock),
                 "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=128MB",
                 *([] if self.durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                            "-c", "full_page_writes=off"])],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=self._drop)
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n" + self.log.read_text()) from None
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a smart shutdown; SIGINT: fast (sessions cut); SIGQUIT: immediate (as a crash: recovery
        runs at the next start)."""
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster on a free loopback port; yields the DSN of its ``postgres`` database."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster.dsn
    finally:
        cluster.remove()


def _has_locale() -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    return "c.utf8" in out or "c.utf-8" in out


def new_database(server_dsn: str, template: str | None = None) -> str:
    """A new empty database on the cluster (a copy of ``template`` when given); returns its DSN."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return server_dsn.rsplit("/", 1)[0] + "/" + name


def drop_database(server_dsn: str, dsn: str) -> None:
    import psycopg

    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_shared: dict[str, object] = {}


def shared_postgres() -> str:
    """The DSN of one PostgreSQL cluster shared by the whole test session (started on first use,
    stopped when the session's process exits)."""
    if "dsn" not in _shared:
        import atexit

        ctx = postgres_server()
        _shared["dsn"] = ctx.__enter__()
        atexit.register(ctx.__exit__, None, None, None)
    return str(_shared["dsn"])


def postgres_store_dsn(folder: Path) -> str:
    """A database of the shared cluster that belongs to ``folder``: made empty on first use, the same
    one again when the folder is used again (a store closed and reopened)."""
    marker = folder / "postgres-dsn"
    if marker.exists():
        return marker.read_text()
    server = shared_postgres()
    if "template" not in _shared:  # one database with the schema, copied for each test (fast)
        from naiad.store.postgres import migrate

        template = new_database(server)
        migrate(template)
        _shared["template"] = template.rsplit("/", 1)[1]
    dsn = new_database(server, template=str(_shared["template"]))
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(dsn)
    return dsn


@contextmanager
def serve_in_thread(app: object, *, lifespan: bool = False) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL.

    ``lifespan``: run the app's start-up and shut-down (as ``naiad server`` does: the webhook dispatcher
    thread); off, a naiad app delivers webhooks inside its requests instead."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",  # type: ignore[arg-type]
                                           lifespan="on" if lifespan else "off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def admin_token(store: object) -> str:
    """A new admin account's token on a SQL store."""
    from naiad.store.accounts import Accounts

    accounts = Accounts(store)  # type: ignore[arg-type]
    name = "admin-" + uuid.uuid4().hex[:8]
    accounts.ensure_account(name, admin=True)
    return accounts.create_token(name)


@dataclass
class TeamServer:
    """A real ``naiad server`` app over an embedded store, with accounts: ``tokens`` maps each account
    (and ``"admin"``) to its API token."""

    url: str
    store: Any
    tokens: dict[str, str]

    @property
    def token(self) -> str:
        return self.tokens["admin"]


@contextmanager
def team_server(folder: Path, grants: Iterable[tuple[str, str, str]] = (), *,
                lifespan: bool = False, postgres: bool = False) -> Iterator[TeamServer]:
    """Serve a store in ``folder`` on loopback with an admin and an account per ``(name, project, role)``:
    an embedded SQLite store, or (``postgres``) a database of the shared PostgreSQL cluster."""
    from naiad.server.app import create_app
    from naiad.store.accounts import Accounts
    from naiad.store.base import Store
    from naiad.store.sqlite import SqliteStore

    store: Store
    if postgres:
        from naiad.store.blobs import LocalBlobs
        from naiad.store.postgres import PostgresStore

        store = PostgresStore(postgres_store_dsn(folder), LocalBlobs(folder / "blobs"))
    else:
        store = SqliteStore(folder / "store")
    accounts = Accounts(store)
    tokens = {"admin": admin_token(store)}
    for name, project, role in grants:
        accounts.ensure_account(name)
        accounts.grant(name, project, role)
        tokens.setdefault(name, accounts.create_token(name))
    try:
        with serve_in_thread(create_app(store), lifespan=lifespan) as url:
            yield TeamServer(url, store, tokens)
    finally:
        store.close()


def as_user(server: TeamServer, who: str, monkeypatch: Any) -> None:
    """Point the SDK and the CLI at ``server`` as account ``who`` (the cached client is dropped: it holds
    the token it was opened with)."""
    import naiad.store

    naiad.store.forget_store(server.url)
    monkeypatch.setenv("NAIAD_URI", server.url)
    monkeypatch.setenv("NAIAD_API_TOKEN", server.tokens[who])


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape of the HTTP API: ``{"error": {"code", "message", "details"}}`` with ``status``
    and a ``code`` the SDK knows (one of :mod:`naiad.errors`); returns the error object."""
    from naiad import errors as E

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert error["code"] in E.all_error_classes(), f"{error['code']!r} is not a code of naiad.errors"
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return dict(error)


class CuttableProxy:
    """A TCP proxy on a free loopback port in front of ``upstream`` (``host:port``) whose link a test can
    cut — every open connection reset, new ones refused — and mend: a service becoming unreachable and
    coming back with its state (a restarted moto server would have lost its buckets)."""

    def __init__(self, upstream: str) -> None:
        import threading

        host, port = upstream.rsplit(":", 1)
        self.upstream = (host.rsplit("/", 1)[-1], int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.down = False
        self.refused = 0  # connections cut or refused while down
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                self.refused += 1
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with self._lock:
                    self._open.discard(s)
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.down = True
        with self._lock:
            cut, self._open = list(self._open), set()
        for s in cut:
            self.refused += 1
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def mend(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()
