"""Webhooks as their subscribers meet them: a real HTTP receiver on loopback (``ThreadingHTTPServer`` in a
thread) that records every POST and can be told to answer 500, hang, or not be there at all.

Registry events (version created, stage / alias / policy changed) delivered once each with exact JSON
bodies, HMAC-SHA256 signatures checked with ``naiad.store.webhook_delivery.verify`` and recomputed here; event filters
and project isolation ('*' subscriptions); failures, the backoff schedule (explicit ``now`` through
``naiad.store.sql.webhooks.claim`` / ``finish`` and real retries over HTTP), the same ``X-Naiad-Delivery`` id on
every retry, "failed" after ``MAX_ATTEMPTS``; a dead subscriber never failing a promotion; removal;
validation; gate and monitoring events (``naiad.gate.promote.run_gate`` with scikit-learn models, ``naiad monitor
run`` on degraded and on drifted data); the ``naiad webhooks`` commands; the store methods on SQLite,
PostgreSQL and a remote server, with ``FOR UPDATE SKIP LOCKED`` claims on PostgreSQL; and a real ``naiad
server`` app (uvicorn on loopback, with its lifespan, so that its dispatcher thread runs) with a
contributor, maintainers and an admin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import naiad
import naiad.store
from naiad import __version__
from naiad import errors as E
from naiad.cli.main import main as cli_main
from naiad.gate.promote import run_gate
from naiad.server.app import create_app
from naiad.store.base import RUN
from naiad.store.blobs import LocalBlobs
from naiad.store.postgres import PostgresStore
from naiad.store.sql import webhooks as hooks
from naiad.store.sqlite import SqliteStore
from naiad.store.webhook_delivery import deliver_due, sign, verify
from registry_kit import controlled
from services import TeamServer, admin_token, as_user, free_port, postgres_store_dsn, serve_in_thread, team_server

PROJECT = "defects"  # key DEF
OTHER = "other"
SECRET = "correct-horse-battery-staple"  # ≥ 16 characters
CI_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_VCS_NUMBER", "GITHUB_RUN_ID", "GITHUB_REPOSITORY",
           "GITHUB_SERVER_URL", "CI_JOB_URL", "BUILD_URL", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "NAIAD_UI_URL",
           "NAIAD_API_TOKEN", "NAIAD_WEBHOOK_SECRET", "NAIAD_WEBHOOK_INTERVAL")


@pytest.fixture(autouse=True)
def _webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAIAD_OWNER", "ana")
    monkeypatch.setenv("NAIAD_PROJECT", PROJECT)
    monkeypatch.setenv("NAIAD_WEBHOOK_ALLOW", "127.0.0.1")  # the receivers listen on loopback
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)


# ------------------------------------------------------------------------------------------ the receiver
@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float
    answered: int | None  # the status it was answered with (None: it hung up)

    @property
    def event(self) -> str:
        return self.headers["x-naiad-event"]

    @property
    def delivery(self) -> str:
        return self.headers["x-naiad-delivery"]

    @property
    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


@dataclass
class Receiver:
    """A subscriber on loopback: records every request; ``fail(n, status)`` answers the next n with
    ``status``, ``hang(n, seconds)`` keeps the next n waiting (the sender times out)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _hangs: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._failures[:] = [status] * n

    def hang(self, n: int, seconds: float) -> None:
        with self._lock:
            self._hangs[:] = [seconds] * n

    def _next_answer(self) -> tuple[int, float]:
        with self._lock:
            status = self._failures.pop(0) if self._failures else 200
            delay = self._hangs.pop(0) if self._hangs else 0.0
        return status, delay

    def at(self, path: str) -> list[Received]:
        return [r for r in self.got() if r.path == path]

    def got(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.got()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.got()


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, delay = receiver._next_answer()
            entry = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time(),
                             None if delay else status)
            with receiver._lock:
                receiver.requests.append(entry)
            if delay:
                time.sleep(delay)
            try:
                answer = b'{"ok": true}' if status < 300 else b"subscriber is down"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the sender gave up (timeout)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def signature_ok(request: Received, secret: str = SECRET) -> bool:
    """Both naiad's verify and an HMAC-SHA256 computed here accept the request's signature."""
    header = request.headers["x-naiad-signature"]
    mine = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return verify(secret, request.body, header) and hmac.compare_digest(mine, header)


# ------------------------------------------------------------------------------------------ helpers
def local_store() -> Any:
    """The embedded store the SDK writes to (the same cached object)."""
    from naiad.tracking.container import store_for

    return store_for("read-only")[0]


def db_path() -> Path:
    return Path(local_store().db_path)


def make_due_now() -> None:
    """Every pending delivery due now: its next_attempt moved to the past, in SQLite directly."""
    with sqlite3.connect(db_path(), timeout=30) as conn:
        conn.execute("UPDATE webhook_deliveries SET next_attempt = 0 WHERE status = 'pending'")
    conn.close()


def delivery_rows() -> dict[int, dict[str, Any]]:
    """The delivery table itself (not the store's view of it), by id."""
    with sqlite3.connect(db_path(), timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        rows = {int(r["id"]): dict(r) for r in conn.execute("SELECT * FROM webhook_deliveries")}
    conn.close()
    return rows


def new_model(key: str, project: str = PROJECT) -> str:
    model = naiad.init_model(key=key, name=key.lower(), project=project)
    model_id = str(model["sys/id"].fetch())
    model.stop()
    return model_id


def new_version(model: str) -> str:
    mv = naiad.init_model_version(model=model)
    version = str(mv["sys/id"].fetch())
    mv.stop()
    return version


def change_stage(version: str, stage: str, reason: str = "") -> None:
    mv = naiad.init_model_version(with_id=version)
    try:
        mv.change_stage(stage, reason=reason)
    finally:
        mv.stop()


def set_alias(version: str, alias: str) -> None:
    mv = naiad.init_model_version(with_id=version)
    try:
        mv.set_alias(alias)
    finally:
        mv.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=False)


def registry_event(project: str, model: str, index: int = -1) -> Any:
    return local_store().registry_events(project, model)[index]


def registry_body(event: str, project: str, e: Any) -> dict[str, Any]:
    """The JSON a registry event is delivered as, from the store's own record of it."""
    return {"event": event, "project": project, "time": e.at, "model": e.model, "version": e.version,
            "name": e.name, "from": e.before, "to": e.after, "actor": e.actor, "reason": e.reason, "event_id": e.id}


# ------------------------------------------------------------------------------------------ registry events
def test_registry_events_are_delivered_once_each_signed_with_exact_bodies(receiver: Receiver) -> None:
    model = new_model("CLS")
    store = local_store()
    before = time.time()
    hook = store.add_webhook(PROJECT, receiver.url + "/naiad", SECRET, actor="ana")
    assert set(hook) == {"id", "project", "url", "events", "created", "created_by"}
    assert (hook["project"], hook["url"], hook["events"], hook["created_by"]) == (
        PROJECT, receiver.url + "/naiad", "*", "ana")
    assert before <= hook["created"] <= time.time()
    assert store.list_webhooks(PROJECT) == [hook]  # no secret in the listing

    # a version: version_created
    t0 = time.time()
    v1 = new_version(model)
    t1 = time.time()
    [created] = receiver.got()
    body = created.json
    assert t0 <= body.pop("time") <= t1
    assert body == {"event": "version_created", "project": PROJECT, "model": model, "version": v1, "actor": "ana"}

    # stage, alias, policy: one delivery each, the body from the registry's own record
    change_stage(v1, "staging", reason="candidate")
    stage = registry_event(PROJECT, model)
    assert (stage.version, stage.kind, stage.before, stage.after, stage.actor, stage.reason) == (
        v1, "stage", "none", "staging", "ana", "candidate")
    set_alias(v1, "champion")
    alias = registry_event(PROJECT, model)
    assert (alias.kind, alias.name, alias.before, alias.after) == ("alias", "champion", None, v1)
    m = naiad.init_model(with_id=model)
    m.set_promotion_policy(require_gate=True, reason="gate first")
    m.stop()
    policy = registry_event(PROJECT, model)
    assert (policy.kind, policy.name, policy.before, policy.after, policy.reason) == (
        "policy", "require_gate", "false", "true", "gate first")

    got = receiver.got()
    assert [r.event for r in got] == ["version_created", "stage_changed", "alias_changed", "policy_changed"]
    assert [r.json for r in got[1:]] == [registry_body("stage_changed", PROJECT, stage),
                                         registry_body("alias_changed", PROJECT, alias),
                                         registry_body("policy_changed", PROJECT, policy)]
    for r in got:
        assert r.path == "/naiad"
        assert r.json["event"] == r.event
        assert signature_ok(r)
        assert not verify("another-secret-of-16+", r.body, r.headers["x-naiad-signature"])
        assert not verify(SECRET, r.body + b" ", r.headers["x-naiad-signature"])
        assert r.headers["x-naiad-signature"] == sign(SECRET, r.body)
        assert r.headers["content-type"] == "application/json"
        assert r.headers["user-agent"] == f"naiad-webhooks/{__version__}"

    # the log: every delivery delivered at the first attempt, the payload exactly the body sent
    log = store.list_deliveries(PROJECT)
    assert [d["id"] for d in log] == sorted((d["id"] for d in log), reverse=True)  # newest first
    by_id = {str(d["id"]): d for d in log}
    assert sorted(by_id) == sorted(r.delivery for r in got)  # each delivered once, under its own id
    for r in got:
        d = by_id[r.delivery]
        assert (d["webhook_id"], d["url"], d["event"], d["status"], d["attempts"], d["last_status"],
                d["last_error"]) == (hook["id"], receiver.url + "/naiad", r.event, "delivered", 1, 200, None)
        assert d["payload"].encode() == r.body
        assert d["created"] <= d["delivered"] <= time.time()

    # a promotion the policy refuses queues nothing; nothing is sent again
    with pytest.raises(E.PolicyError):
        change_stage(v1, "production")
    assert len(store.list_deliveries(PROJECT)) == 4
    assert deliver_due(store) == {"delivered": 0, "pending": 0, "failed": 0}
    assert len(receiver.got()) == 4


def test_a_promotion_that_archives_the_old_version_sends_both_changes_in_order(receiver: Receiver) -> None:
    model = new_model("ARC")
    v1, v2 = new_version(model), new_version(model)
    change_stage(v1, "production")
    local_store().add_webhook(PROJECT, receiver.url, SECRET, "stage_changed", actor="ana")
    change_stage(v2, "production", reason="better")
    got = receiver.got()
    assert [(r.json["version"], r.json["from"], r.json["to"]) for r in got] == [
        (v1, "production", "archived"), (v2, "none", "production")]
    events = local_store().registry_events(PROJECT, model)[-2:]
    assert [r.json for r in got] == [registry_body("stage_changed", PROJECT, e) for e in events]
    assert got[0].json["reason"] == f"replaced in production by {v2}"
    assert len({r.delivery for r in got}) == 2


def test_event_filters_and_project_isolation(receiver: Receiver) -> None:
    cls = new_model("CLS")
    oth = new_model("OTH", project=OTHER)
    store = local_store()
    stages = store.add_webhook(PROJECT, receiver.url + "/defects-stages", SECRET, ["stage_changed"], actor="ana")
    other = store.add_webhook(OTHER, receiver.url + "/other", SECRET, "*", actor="ana")
    every = store.add_webhook("*", receiver.url + "/all", SECRET, " version_created, alias_changed ", actor="ana")
    assert (stages["events"], other["events"], every["events"]) == (
        "stage_changed", "*", "alias_changed,version_created")
    assert every["project"] == "*"
    assert [h["id"] for h in store.list_webhooks(PROJECT)] == [stages["id"], every["id"]]
    assert [h["id"] for h in store.list_webhooks(OTHER)] == [other["id"], every["id"]]
    assert [h["id"] for h in store.list_webhooks()] == [stages["id"], other["id"], every["id"]]
    assert all("secret" not in h for h in store.list_webhooks())

    v = new_version(cls)
    change_stage(v, "staging")
    set_alias(v, "champion")
    w = new_version(oth)
    change_stage(w, "production")

    def seen(path: str) -> list[tuple[str, str, str]]:
        return [(r.event, r.json["project"], r.json["version"]) for r in receiver.at(path)]

    assert seen("/defects-stages") == [("stage_changed", PROJECT, v)]
    assert seen("/other") == [("version_created", OTHER, w), ("stage_changed", OTHER, w)]
    assert seen("/all") == [("version_created", PROJECT, v), ("alias_changed", PROJECT, v),
                            ("version_created", OTHER, w)]
    assert len(receiver.got()) == 6 and all(signature_ok(r) for r in receiver.got())
    # a test delivery reaches every subscription, whatever events it takes
    assert store.emit_event(OTHER, "test", {"model": oth}) == 2  # /other and /all
    assert store.emit_event(PROJECT, "test", {"model": cls}) == 2  # /defects-stages and /all
    assert [r.event for r in receiver.at("/other")][-1] == "test"


def test_a_projects_delivery_log_shows_only_that_projects_events(receiver: Receiver) -> None:
    """A '*' subscription delivers every project's events; listing the deliveries of one project must not
    show the others' (on a server, a maintainer of one project reads that list)."""
    cls = new_model("CLS")
    new_model("OTH", project=OTHER)
    store = local_store()
    store.add_webhook("*", receiver.url, SECRET, actor="ana")
    change_stage(new_version(cls), "staging")
    assert len(receiver.got()) == 2
    assert {json.loads(d["payload"])["project"] for d in store.list_deliveries(PROJECT)} == {PROJECT}
    leaked = [json.loads(d["payload"]) for d in store.list_deliveries(OTHER)]
    assert [(p["project"], p["event"]) for p in leaked] == [], "deliveries of project 'defects' listed for 'other'"


# ------------------------------------------------------------------------------------------ failures and retries
def test_backoff_schedule_with_an_explicit_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hooks.BACKOFF == (10.0, 30.0, 120.0, 600.0, 3600.0, 21600.0)
    assert hooks.MAX_ATTEMPTS == 7
    store = local_store()
    new_model("CLS")
    monkeypatch.setattr(store, "deliver_inline", False)  # queued only: this test sends nothing
    store.add_webhook(PROJECT, "http://127.0.0.1:9/never-called", SECRET, actor="ana")
    assert store.emit_event(PROJECT, "test", {"message": "m"}) == 1
    now = time.time() + 1000  # the future: the delivery is due
    [d] = hooks.claim(store, 10, now=now)
    assert (d["event"], d["attempts"], d["secret"], d["url"]) == ("test", 0, SECRET, "http://127.0.0.1:9/never-called")
    assert json.loads(d["payload"])["message"] == "m"
    # a claim is a lease: nobody else gets it for LEASE seconds, then it is due again (its sender died)
    assert hooks.claim(store, 10, now=now) == []
    assert hooks.claim(store, 10, now=now + hooks.LEASE - 0.01) == []
    [again] = hooks.claim(store, 10, now=now + hooks.LEASE)
    assert again["id"] == d["id"] and again["attempts"] == 0
    now += hooks.LEASE
    for attempt in range(1, hooks.MAX_ATTEMPTS + 1):
        state = hooks.finish(store, d["id"], False, 503, "HTTP 503: busy", now=now)
        [row] = store.list_deliveries(PROJECT)
        assert (row["attempts"], row["last_status"], row["last_error"]) == (attempt, 503, "HTTP 503: busy")
        if attempt == hooks.MAX_ATTEMPTS:
            assert state == row["status"] == "failed"
            break
        assert state == row["status"] == "pending"
        wait = hooks.BACKOFF[attempt - 1]
        assert row["next_attempt"] == pytest.approx(now + wait, abs=1e-6)
        assert hooks.claim(store, 10, now=now + wait - 0.01) == []
        now += wait
        [d] = hooks.claim(store, 10, now=now)
        assert d["attempts"] == attempt
    assert hooks.claim(store, 10, now=now + 1e9) == []  # failed: never again
    assert row["delivered"] is None

    # a success after failures: delivered, its time recorded
    store.emit_event(PROJECT, "test", {"message": "second"})
    [d2] = hooks.claim(store, 10, now=now)
    assert hooks.finish(store, d2["id"], False, None, "ConnectError: refused", now=now) == "pending"
    [d2] = hooks.claim(store, 10, now=now + 10)
    assert hooks.finish(store, d2["id"], True, 204, None, now=now + 10) == "delivered"
    newest = store.list_deliveries(PROJECT)[0]
    assert (newest["status"], newest["attempts"], newest["last_status"], newest["last_error"], newest["delivered"]) == (
        "delivered", 2, 204, None, pytest.approx(now + 10))
    with pytest.raises(E.NotFoundError):
        hooks.finish(store, 10_000, True, 200, None)


def test_a_failing_subscriber_is_retried_with_the_same_delivery_id_until_it_fails(receiver: Receiver) -> None:
    model = new_model("CLS")
    store = local_store()
    store.add_webhook(PROJECT, receiver.url, SECRET, "version_created", actor="ana")
    receiver.fail(100, 500)
    t0 = time.time()
    version = new_version(model)  # the inline attempt fails; creating the version does not
    t1 = time.time()
    [first] = receiver.got()
    assert first.answered == 500 and signature_ok(first)
    [row] = store.list_deliveries(PROJECT)
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, 500)
    assert row["last_error"] == "HTTP 500: subscriber is down"
    assert t0 + 10 - 0.5 <= row["next_attempt"] <= t1 + 10 + 0.5
    assert str(row["id"]) == first.delivery
    # not due yet: nothing is sent
    assert deliver_due(store) == {"delivered": 0, "pending": 0, "failed": 0}
    assert len(receiver.got()) == 1

    for attempt in range(2, hooks.MAX_ATTEMPTS + 1):
        make_due_now()
        before = time.time()
        counts = deliver_due(store)
        [row] = store.list_deliveries(PROJECT)
        assert row["attempts"] == attempt and row["last_status"] == 500
        if attempt < hooks.MAX_ATTEMPTS:
            assert counts == {"delivered": 0, "pending": 1, "failed": 0}
            wait = hooks.BACKOFF[attempt - 1]
            assert before + wait <= row["next_attempt"] <= time.time() + wait
        else:
            assert counts == {"delivered": 0, "pending": 0, "failed": 1}
            assert row["status"] == "failed"
    got = receiver.got()
    assert len(got) == hooks.MAX_ATTEMPTS
    assert {r.delivery for r in got} == {first.delivery}  # the same id on every retry …
    assert {r.body for r in got} == {first.body}  # … and the same body and signature
    assert {r.headers["x-naiad-signature"] for r in got} == {first.headers["x-naiad-signature"]}
    assert first.json["version"] == version
    make_due_now()  # failed deliveries are not pending: never sent again
    assert deliver_due(store) == {"delivered": 0, "pending": 0, "failed": 0}
    assert len(receiver.got()) == hooks.MAX_ATTEMPTS

    # a subscriber back after two failures: delivered at the third attempt, under one id
    receiver.fail(2, 503)
    new_version(model)
    make_due_now()
    assert deliver_due(store) == {"delivered": 0, "pending": 1, "failed": 0}
    make_due_now()
    assert deliver_due(store) == {"delivered": 1, "pending": 0, "failed": 0}
    tail = receiver.got()[hooks.MAX_ATTEMPTS:]
    assert [r.answered for r in tail] == [503, 503, 200]
    assert len({r.delivery for r in tail}) == 1 and tail[0].delivery != first.delivery
    newest = store.list_deliveries(PROJECT)[0]
    assert (newest["status"], newest["attempts"], newest["last_status"], newest["last_error"]) == (
        "delivered", 3, 200, None)


def test_a_subscriber_that_does_not_answer_in_time_is_retried(receiver: Receiver,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    new_model("CLS")
    store = local_store()
    monkeypatch.setattr(store, "deliver_inline", False)
    store.add_webhook(PROJECT, receiver.url, SECRET, actor="ana")
    store.emit_event(PROJECT, "test", {"message": "slow"})
    receiver.hang(1, 1.5)
    started = time.monotonic()
    assert deliver_due(store, timeout=0.3) == {"delivered": 0, "pending": 1, "failed": 0}
    assert time.monotonic() - started < 1.4
    [row] = store.list_deliveries(PROJECT)
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, None)
    assert row["last_error"].startswith("ReadTimeout"), row["last_error"]
    make_due_now()
    assert deliver_due(store, timeout=2) == {"delivered": 1, "pending": 0, "failed": 0}
    first, second = receiver.wait_for(2)
    assert first.delivery == second.delivery and first.body == second.body


def test_a_dead_subscriber_never_fails_a_promotion_and_is_retried_by_the_cli() -> None:
    model = new_model("CLS")
    version = new_version(model)
    store = local_store()
    port = free_port()  # nobody listens there
    store.add_webhook(PROJECT, f"http://127.0.0.1:{port}/hook", SECRET, actor="ana")
    change_stage(version, "production", reason="ship it")  # does not raise
    mv = naiad.init_model_version(with_id=version, mode="read-only")
    assert mv["sys/stage"].fetch() == "production"
    mv.stop()
    [row] = store.list_deliveries(PROJECT)
    assert (row["event"], row["status"], row["attempts"], row["last_status"]) == ("stage_changed", "pending", 1, None)
    assert row["last_error"].startswith("ConnectError"), row["last_error"]
    # not due yet
    assert cli("webhooks", "deliver").stdout == "0 delivered, 0 to retry later, 0 failed\n"
    # down again at the retry
    make_due_now()
    assert cli("webhooks", "deliver").stdout == "0 delivered, 1 to retry later, 0 failed\n"
    assert store.list_deliveries(PROJECT)[0]["attempts"] == 2
    # the subscriber comes up on its port; `naiad webhooks deliver` (cron) sends what is due
    with receiving(port) as back:
        make_due_now()
        delivered = cli("webhooks", "deliver")
        assert delivered.stdout == "1 delivered, 0 to retry later, 0 failed\n"
        [r] = back.got()
    assert r.path == "/hook" and r.delivery == str(row["id"]) and signature_ok(r)
    assert r.json == registry_body("stage_changed", PROJECT, registry_event(PROJECT, model))
    assert r.json["reason"] == "ship it"
    assert store.list_deliveries(PROJECT)[0]["status"] == "delivered"


def test_a_malformed_subscriber_url_does_not_hold_back_the_others(receiver: Receiver) -> None:
    """A URL the validation lets through but the HTTP client cannot use (a port that is not a number) is
    either refused when added, or a failed attempt of its own delivery: the other subscriber gets the
    event at once, and the bad delivery counts attempts towards "failed"."""
    new_model("CLS")
    store = local_store()
    bad = "http://127.0.0.1:notaport/hook"
    try:
        store.add_webhook(PROJECT, bad, SECRET, actor="ana")
    except E.InvalidValueError:
        return  # refused up front: fine
    store.add_webhook(PROJECT, receiver.url + "/good", SECRET, actor="ana")
    store.emit_event(PROJECT, "test", {"message": "hello"})
    assert [r.path for r in receiver.got()] == ["/good"], "the good subscriber waits behind the malformed URL"
    by_url = {d["url"]: d for d in store.list_deliveries(PROJECT)}
    assert by_url[bad]["attempts"] == 1 and by_url[bad]["last_error"]


def test_removing_a_webhook_fails_its_pending_deliveries(receiver: Receiver) -> None:
    new_model("CLS")
    store = local_store()
    hook = store.add_webhook(PROJECT, receiver.url, SECRET, actor="ana")
    keep = store.add_webhook(PROJECT, receiver.url + "/keep", SECRET, actor="ana")
    receiver.fail(2, 500)
    store.emit_event(PROJECT, "test", {"message": "x"})
    assert [r.answered for r in receiver.got()] == [500, 500]
    rows = delivery_rows()
    assert {r["status"] for r in rows.values()} == {"pending"}
    store.remove_webhook(hook["id"])
    rows = delivery_rows()
    mine = [r for r in rows.values() if r["webhook_id"] == hook["id"]]
    assert [(r["status"], r["last_error"], r["attempts"]) for r in mine] == [("failed", "webhook removed", 1)]
    assert [r["status"] for r in rows.values() if r["webhook_id"] == keep["id"]] == ["pending"]
    assert [h["id"] for h in store.list_webhooks()] == [keep["id"]]
    make_due_now()
    assert deliver_due(store) == {"delivered": 1, "pending": 0, "failed": 0}  # only the kept one
    assert [r.path for r in receiver.got()][-1] == "/keep" and len(receiver.got()) == 3
    with pytest.raises(E.NotFoundError, match=f"no webhook {hook['id']}"):
        store.remove_webhook(hook["id"])


def test_the_delivery_log_keeps_the_deliveries_of_a_removed_webhook(receiver: Receiver) -> None:
    """remove_webhook marks pending deliveries failed ("webhook removed"); the log must still show them."""
    new_model("CLS")
    store = local_store()
    hook = store.add_webhook(PROJECT, receiver.url, SECRET, actor="ana")
    store.emit_event(PROJECT, "test", {"message": "delivered"})
    receiver.fail(1, 500)
    store.emit_event(PROJECT, "test", {"message": "pending"})
    assert len(store.list_deliveries(PROJECT)) == 2
    store.remove_webhook(hook["id"])
    log = store.list_deliveries()
    assert [(d["status"], d["last_error"]) for d in log] == [("failed", "webhook removed"), ("delivered", None)]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"url": "ftp://hooks.example/x"}, E.InvalidValueError, "must be an http:// or https:// URL"),
    ({"url": "hooks.example/x"}, E.InvalidValueError, "must be an http:// or https:// URL"),
    ({"url": ""}, E.InvalidValueError, "must be an http:// or https:// URL"),
    ({"url": "http:// spaces"}, E.InvalidValueError, "must be an http:// or https:// URL"),
    ({"secret": "short-secret"}, E.InvalidValueError, "at least 16 characters"),
    ({"secret": ""}, E.InvalidValueError, "at least 16 characters"),
    ({"events": "stage_changed,nope"}, E.InvalidValueError, "unknown event type(s) nope; known: version_created"),
    ({"events": ["gate_passed", "Stage_Changed"]}, E.InvalidValueError, "unknown event type(s) Stage_Changed"),
    ({"project": "no-such-project"}, E.ProjectNotFound, "no-such-project"),
], ids=["ftp", "no-scheme", "empty-url", "space", "short-secret", "no-secret", "unknown-event", "case",
        "unknown-project"])
def test_invalid_subscriptions_are_refused_with_a_clear_message(kwargs: dict[str, Any], error: type[Exception],
                                                                 message: str) -> None:
    new_model("CLS")
    store = local_store()
    args = {"project": PROJECT, "url": "https://hooks.example/naiad", "secret": SECRET, "events": "*"} | kwargs
    with pytest.raises(error) as refused:
        store.add_webhook(args["project"], args["url"], args["secret"], args["events"], actor="ana")
    assert message in str(refused.value)
    assert store.list_webhooks() == []


def test_unknown_events_are_refused_and_an_empty_event_list_means_every_event() -> None:
    new_model("CLS")
    store = local_store()
    with pytest.raises(E.InvalidValueError, match="unknown event type 'nope'"):
        store.emit_event(PROJECT, "nope", {})
    with pytest.raises(E.ProjectNotFound):
        store.emit_event("no-such-project", "test", {})
    assert store.add_webhook(PROJECT, "https://hooks.example/a", SECRET, "", actor="ana")["events"] == "*"
    assert store.add_webhook(PROJECT, "https://hooks.example/b", SECRET, [], actor="ana")["events"] == "*"
    assert store.add_webhook(PROJECT, "https://hooks.example/c", SECRET, "test,test", actor="ana")["events"] == "test"


# ------------------------------------------------------------------------------------------ gate and monitoring
@dataclass
class Cancer:
    frame: pd.DataFrame
    features: list[str]
    models: dict[str, Any]


@pytest.fixture(scope="module")
def cancer() -> Cancer:
    data = load_breast_cancer(as_frame=True)
    x_tr, x_te, y_tr, y_te = train_test_split(data.data, data.target, test_size=0.4, random_state=0)
    models = {"stump": DecisionTreeClassifier(max_depth=1, random_state=0).fit(x_tr, y_tr),
              "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_tr, y_tr)}
    frame = x_te.reset_index(drop=True).copy()
    frame["label"] = y_te.to_numpy()
    return Cancer(frame, list(data.data.columns), models)


def test_gate_decisions_are_delivered_with_the_decision_run(cancer: Cancer, receiver: Receiver) -> None:
    model = new_model("GATE")
    stump, lr = new_version(model), new_version(model)
    local_store().add_webhook(PROJECT, receiver.url, SECRET, "gate_passed,gate_failed,stage_changed", actor="ana")
    by_version = {stump: "stump", lr: "lr"}

    def predict(features: pd.DataFrame, version: str) -> np.ndarray:
        return np.asarray(cancer.models[by_version[version]].predict_proba(features[cancer.features]))

    superior = {"rules": [{"metric": "accuracy", "test": "superiority", "method": "mcnemar"}]}
    passed = run_gate(model, lr, stump, cancer.frame, "label", superior, predictions=predict, promote="production")
    assert passed.verdict == "pass" and passed.promoted == "production" and passed.run
    strict = {"rules": [{"metric": "accuracy", "value": {"lower": 0.999}}]}
    failed = run_gate(model, stump, lr, cancer.frame, "label", strict, predictions=predict, promote="production")
    assert failed.verdict == "fail" and failed.run and failed.promoted is None

    got = receiver.got()
    # the store announces a decision as it records it, then the promotion it allows
    assert [r.event for r in got] == ["gate_passed", "stage_changed", "gate_failed"]
    assert got[1].json["version"] == lr and got[1].json["to"] == "production"
    assert passed.run in got[1].json["reason"]
    for r, result in ((got[0], passed), (got[2], failed)):
        assert signature_ok(r)
        body = r.json
        assert isinstance(body.pop("time"), float)
        assert body == {"event": r.event, "project": PROJECT, "model": model, "candidate": result.candidate,
                        "baseline": result.baseline, "verdict": result.verdict, "reason": result.reason,
                        "decision": result.run, "decision_id": result.decision_id,
                        "dataset_hash": result.dataset_hash, "n": len(cancer.frame),
                        "commit": result.context.get("commit"), "ci_url": result.context.get("ci_url"),
                        "actor": "ana"}
    assert got[2].json["reason"].startswith("1 of 1 rule(s) failed")
    # the decision named in the event is the gate's decision run
    decisions = naiad.fetch_gate_decisions(model)
    assert list(decisions["run"]) == [passed.run, failed.run]


def two_features(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    r = np.random.default_rng(seed)
    df = pd.DataFrame({"f1": r.normal(shift, 1, n), "f2": r.normal(5 + shift, 1, n), "f3": r.normal(0, 1, n)})
    df["label"] = (df["f3"] > 0).astype(int)
    df["served"] = df["label"]  # right every time: never degraded
    return df


def test_monitor_run_sends_degradation_detected(receiver: Receiver, tmp_path: Path) -> None:
    model = new_model("CRON")
    version = new_version(model)
    change_stage(version, "production")
    local_store().add_webhook(PROJECT, receiver.url, SECRET, "degradation_detected,drift_detected", actor="ana")
    base = ["monitor", "run", "--model", model, "--target", "label", "--predictions", "served", "--json"]
    for name, acc, seed in (("oct", 0.95, 1), ("dec", 0.80, 2)):
        controlled(800, acc, seed).to_parquet(tmp_path / f"{name}.parquet", index=False)
    ok = cli(*base, "--data", str(tmp_path / "oct.parquet"))
    assert ok.exit_code == 0, ok.output
    assert receiver.got() == []  # ok: no event
    degraded = cli(*base, "--data", str(tmp_path / "dec.parquet"))
    assert degraded.exit_code == 1, degraded.output
    out = json.loads(degraded.stdout)
    assert out["status"] == "degraded" and out["value"] == 0.8 and out["reference"] == 0.95
    [r] = receiver.got()
    assert r.event == "degradation_detected" and signature_ok(r)
    body = r.json
    assert isinstance(body.pop("time"), float)
    assert body == {"event": "degradation_detected", "project": PROJECT, "model": model, "version": version,
                    "evaluation": out["run"], "metric": "accuracy", "value": 0.8, "reference": 0.95,
                    "reason": out["reason"], "dataset_hash": out["dataset_hash"], "n": 800, "actor": "ana"}
    assert "below the reference 0.95" in body["reason"]


def test_monitor_run_sends_drift_detected(receiver: Receiver, tmp_path: Path) -> None:
    model = new_model("DRIFT")
    weights = tmp_path / "w.pkl"
    weights.write_bytes(pickle.dumps({"w": 1}))
    run = naiad.init_run(project=PROJECT, name="train")
    run["model/weights"].upload(str(weights))
    run.wait()
    mv = naiad.register_model_version(run, model=model, training_data=two_features(2_000, 1).drop(columns="served"))
    version = str(mv["sys/id"].fetch())
    mv.stop()
    run.stop()
    local_store().add_webhook(PROJECT, receiver.url, SECRET, ["drift_detected", "degradation_detected"], actor="ana")
    base = ["monitor", "run", "--model", model, "--version", version, "--target", "label", "--predictions",
            "served", "--json"]
    two_features(600, 5).to_parquet(tmp_path / "calm.parquet", index=False)
    calm = cli(*base, "--data", str(tmp_path / "calm.parquet"))
    assert calm.exit_code == 0, calm.output
    assert json.loads(calm.stdout)["drift"]["verdict"] == "no drift"
    assert receiver.got() == []
    two_features(600, 4, shift=1.5).to_parquet(tmp_path / "drifted.parquet", index=False)
    drifted = cli(*base, "--data", str(tmp_path / "drifted.parquet"))
    assert drifted.exit_code == 0, drifted.output  # drifted but not degraded
    out = json.loads(drifted.stdout)
    assert out["drift"]["verdict"] == "drift"
    [r] = receiver.got()
    assert r.event == "drift_detected" and signature_ok(r)
    body = r.json
    assert isinstance(body.pop("time"), float)
    assert body == {"event": "drift_detected", "project": PROJECT, "model": model, "version": version,
                    "evaluation": out["run"], "share_drifted": 0.5, "drifted": out["drift"]["drifted"],
                    "dataset_hash": out["dataset_hash"], "n": 600, "actor": "ana"}
    assert sorted(body["drifted"]) == ["f1", "f2"]


# ------------------------------------------------------------------------------------------ the CLI
def test_cli_add_ls_test_deliveries_deliver_rm(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    model = new_model("CLS")
    added = cli("webhooks", "add", receiver.url + "/a", "--project", PROJECT, "--secret", SECRET,
                "--events", "stage_changed,gate_failed")
    assert added.exit_code == 0, added.output
    assert added.stdout == f"webhook 1: gate_failed,stage_changed events of {PROJECT} → {receiver.url}/a\n"
    # the secret from the environment, the project from NAIAD_PROJECT
    second = cli("webhooks", "add", receiver.url + "/b", env={"NAIAD_WEBHOOK_SECRET": "s" * 16})
    assert second.stdout == f"webhook 2: * events of {PROJECT} → {receiver.url}/b\n"
    short = cli("webhooks", "add", receiver.url, "--secret", "x" * 15)
    assert short.exit_code == 1 and "at least 16 characters" in short.output
    unknown = cli("webhooks", "add", receiver.url, "--secret", SECRET, "--events", "stage_change")
    assert unknown.exit_code == 1 and "unknown event type(s) stage_change" in unknown.output
    bad_url = cli("webhooks", "add", "hooks.example", "--secret", SECRET)
    assert bad_url.exit_code == 1 and "must be an http:// or https:// URL" in bad_url.output
    no_secret = cli("webhooks", "add", receiver.url)
    assert no_secret.exit_code == 2 and "--secret" in no_secret.output

    hooks_now = local_store().list_webhooks()
    listed = cli("webhooks", "ls").stdout.splitlines()
    assert [line.split("\t")[:4] for line in listed] == [
        ["1", PROJECT, "gate_failed,stage_changed", receiver.url + "/a"], ["2", PROJECT, "*", receiver.url + "/b"]]
    assert all(line.split("\t")[4].startswith("(by ana, 20") for line in listed)
    assert len(hooks_now) == 2
    assert cli("webhooks", "ls", "--project", PROJECT).stdout.splitlines() == listed

    # test: a "test" event delivered to the subscriber that takes every event
    tested = cli("webhooks", "test", "--project", PROJECT)
    assert tested.exit_code == 0, tested.output
    assert tested.stdout.endswith(f"test delivery(ies) queued; see `naiad webhooks deliveries --project {PROJECT}`\n")
    got = [r for r in receiver.got() if r.event == "test"]
    assert got and got[-1].path == "/b" and signature_ok(got[-1], "s" * 16)
    body = got[-1].json
    assert {k: body[k] for k in ("event", "project", "message", "actor")} == {
        "event": "test", "project": PROJECT, "message": "a test delivery from naiad", "actor": "ana"}

    # a stage change to both, one failing at first
    version = new_version(model)
    receiver.fail(1, 502)
    change_stage(version, "staging")
    log = [json.loads(line) for line in cli("webhooks", "deliveries", "--json").stdout.splitlines()]
    assert [d["id"] for d in log] == sorted((d["id"] for d in log), reverse=True)
    assert set(log[0]) == {"id", "webhook_id", "url", "event", "status", "attempts", "next_attempt", "last_status",
                           "last_error", "created", "delivered", "payload"}
    stage_rows = [d for d in log if d["event"] == "stage_changed"]
    assert sorted((d["webhook_id"], d["status"], d["last_status"]) for d in stage_rows) == [
        (1, "pending", 502), (2, "delivered", 200)] or sorted(
        (d["webhook_id"], d["status"], d["last_status"]) for d in stage_rows) == [(1, "delivered", 200),
                                                                                 (2, "pending", 502)]
    assert all(json.loads(d["payload"])["event"] == d["event"] for d in log)
    assert [json.loads(line)["id"] for line in cli("webhooks", "deliveries", "--json", "--limit", "1").stdout
            .splitlines()] == [log[0]["id"]]

    table = cli("webhooks", "deliveries", "--project", PROJECT)
    assert table.exit_code == 0
    text = table.stdout
    assert f"{len(log)} delivery(ies)" in text
    for col in ("id", "hook", "event", "status", "attempts", "last answer", "created"):
        assert col in text
    assert "stage_changed" in text and "pending" in text and "502 HTTP 502" in text and "delivered" in text
    assert "next 20" in text  # the pending one shows when it is tried next

    make_due_now()
    assert cli("webhooks", "deliver").stdout == "1 delivered, 0 to retry later, 0 failed\n"
    assert {d["status"] for d in local_store().list_deliveries()} == {"delivered"}

    removed = cli("webhooks", "rm", "1")
    assert removed.stdout == "webhook 1 removed\n"
    assert [line.split("\t")[0] for line in cli("webhooks", "ls").stdout.splitlines()] == ["2"]
    again = cli("webhooks", "rm", "1")
    assert again.exit_code == 1 and "no webhook 1" in again.output


def test_cli_test_reaches_every_subscriber(receiver: Receiver) -> None:
    """`naiad webhooks test` is "a test event to every subscriber" (its docstring): one subscribed to some
    event types only is a subscriber too, and the test is how its owner checks the URL and the secret."""
    new_model("CLS")
    stages = cli("webhooks", "add", receiver.url + "/stages", "--secret", SECRET, "--events", "stage_changed")
    assert stages.exit_code == 0
    assert cli("webhooks", "add", receiver.url + "/all", "--secret", SECRET).exit_code == 0
    tested = cli("webhooks", "test")
    assert sorted(r.path for r in receiver.got()) == ["/all", "/stages"], tested.stdout
    assert tested.stdout.startswith("2 test delivery(ies) queued")


def test_cli_deliveries_when_there_are_none() -> None:
    new_model("CLS")
    assert cli("webhooks", "deliveries", "--json").stdout == ""
    assert "0 delivery(ies)" in cli("webhooks", "deliveries").stdout
    assert cli("webhooks", "ls").stdout == ""
    assert cli("webhooks", "deliver").stdout == "0 delivered, 0 to retry later, 0 failed\n"
    assert cli("webhooks", "test").stdout.startswith("0 test delivery(ies) queued")


# ------------------------------------------------------------------------------------------ store implementations
@contextmanager
def sqlite_store(folder: Path) -> Iterator[Any]:
    store = SqliteStore(folder / "s")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def postgres_store(folder: Path) -> Iterator[Any]:
    store = PostgresStore(postgres_store_dsn(folder), LocalBlobs(folder / "blobs"))
    try:
        yield store
    finally:
        store.close()


@contextmanager
def remote_store(folder: Path) -> Iterator[Any]:
    """A real server app over an embedded store (uvicorn on loopback, no lifespan: it delivers in its
    request threads), reached over HTTP with an admin token."""
    from naiad.store.remote import RemoteStore

    backing = SqliteStore(folder / "s")
    with serve_in_thread(create_app(backing)) as url:
        store = RemoteStore(url, admin_token(backing))
        try:
            yield store
        finally:
            store.close()
            backing.close()


@pytest.fixture(params=[sqlite_store, postgres_store, remote_store], ids=["sqlite", "postgres", "remote"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    with request.param(tmp_path / "impl") as opened:
        yield opened


def test_store_webhook_methods(any_store: Any, receiver: Receiver) -> None:
    store = any_store
    for project in ("proj", "side"):
        store.create_container(project, RUN, "u-" + project)
    hook = store.add_webhook("proj", receiver.url + "/p", SECRET, "test,gate_failed", actor="ana")
    every = store.add_webhook("*", receiver.url + "/all", SECRET, ["test"], actor="ana")
    assert (hook["project"], hook["events"], every["project"], every["events"]) == ("proj", "gate_failed,test", "*",
                                                                                    "test")
    assert [h["id"] for h in store.list_webhooks("proj")] == [hook["id"], every["id"]]
    assert [h["id"] for h in store.list_webhooks("side")] == [every["id"]]
    assert all("secret" not in h for h in store.list_webhooks())
    assert store.emit_event("proj", "test", {"n": 1, "actor": "ana"}) == 2
    assert store.emit_event("side", "test", {"n": 2}) == 1
    with pytest.raises(E.PermissionDeniedError, match="drift_detected is sent by naiad itself"):
        store.emit_event("proj", "drift_detected", {"n": 3})
    got = receiver.wait_for(3)
    assert sorted((r.path, r.json["project"], r.json["n"]) for r in got) == [
        ("/all", "proj", 1), ("/all", "side", 2), ("/p", "proj", 1)]
    assert all(signature_ok(r) for r in got)
    log = store.list_deliveries()
    assert len(log) == 3 and {d["status"] for d in log} == {"delivered"}
    assert sorted(str(d["id"]) for d in log) == sorted(r.delivery for r in got)
    assert [d["id"] for d in store.list_deliveries(limit=2)] == [d["id"] for d in log[:2]]
    with pytest.raises(E.InvalidValueError, match="at least 16 characters"):
        store.add_webhook("proj", receiver.url, "short", actor="ana")
    with pytest.raises(E.InvalidValueError, match="unknown event type"):
        store.emit_event("proj", "nope", {})
    store.remove_webhook(hook["id"])
    assert [h["id"] for h in store.list_webhooks()] == [every["id"]]
    with pytest.raises(E.NotFoundError):
        store.remove_webhook(hook["id"])


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_store_dsn(tmp_path / "pg"), LocalBlobs(tmp_path / "pg-blobs"))
    try:
        yield store
    finally:
        store.close()


def test_postgres_claims_skip_rows_another_process_holds(pg: PostgresStore) -> None:
    import psycopg

    pg.deliver_inline = False
    pg.create_container("proj", RUN, "u-1")
    pg.add_webhook("proj", "http://127.0.0.1:9/", SECRET, actor="ana")
    for i in range(6):
        pg.emit_event("proj", "test", {"i": i})
    ids = sorted(d["id"] for d in pg.list_deliveries("proj"))
    # another process holds the first three (a claim in progress)
    with psycopg.connect(pg.dsn) as other:
        other.execute("SELECT id FROM webhook_deliveries WHERE id = ANY(%s) FOR UPDATE", (ids[:3],))
        result: dict[str, Any] = {}

        def claim() -> None:
            result["claimed"] = hooks.claim(pg, 50)

        worker = threading.Thread(target=claim, daemon=True)
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "the claim waited for the locked rows instead of skipping them"
        other.rollback()
    assert sorted(d["id"] for d in result["claimed"]) == ids[3:]
    # the skipped ones are claimed by the next pass; the leased ones are not claimed again
    assert sorted(d["id"] for d in hooks.claim(pg, 50)) == ids[:3]
    assert hooks.claim(pg, 50) == []


def test_postgres_concurrent_claims_never_share_a_delivery(pg: PostgresStore) -> None:
    pg.deliver_inline = False
    pg.create_container("proj", RUN, "u-1")
    for n in range(4):
        pg.add_webhook("proj", f"http://127.0.0.1:9/{n}", SECRET, actor="ana")
    for i in range(40):
        pg.emit_event("proj", "test", {"i": i})
    total = 160
    claimed: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def claimer(slot: int) -> None:
        try:
            start.wait()
            while True:
                batch = pg.claim_deliveries(7)
                if not batch:
                    return
                claimed[slot] += [d["id"] for d in batch]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            pg.release()

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    flat = [i for c in claimed for i in c]
    assert len(flat) == len(set(flat)) == total  # every delivery exactly once


# ------------------------------------------------------------------------------------------ on a server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """carl: contributor, mona: maintainer (the project); olga: maintainer (another); and an admin — served
    with the app's lifespan on, as `naiad server` runs it, so the webhook dispatcher thread delivers."""
    grants = [("carl", PROJECT, "contributor"), ("mona", PROJECT, "maintainer"), ("olga", OTHER, "maintainer")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAIAD_WEBHOOK_INTERVAL", "0.2")  # read when the app starts
        folder = tmp_path_factory.mktemp("webhooks-server")
        with team_server(folder, grants, lifespan=True) as found:
            found.store.get_or_create_project(OTHER)
            mp.delenv("NAIAD_WEBHOOK_INTERVAL")
            yield found


def user_store(server: TeamServer, who: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    as_user(server, who, monkeypatch)
    return naiad.store.open_store(server.url)


def api(server: TeamServer, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {server.tokens[who]}"}
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def remove_all_hooks(server: TeamServer) -> None:
    for hook in server.store.list_webhooks():
        server.store.remove_webhook(hook["id"])


def test_server_subscriptions_need_a_maintainer(server: TeamServer, receiver: Receiver,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    carl = user_store(server, "carl", monkeypatch)
    naiad.init_model(key="PERM", project=PROJECT).stop()
    with pytest.raises(E.PermissionDeniedError, match="maintainer"):
        carl.add_webhook(PROJECT, receiver.url, SECRET)
    by_cli = cli("webhooks", "add", receiver.url, "--project", PROJECT, "--secret", SECRET, "--uri", server.url)
    assert by_cli.exit_code == 1 and "maintainer" in by_cli.output
    with pytest.raises(E.PermissionDeniedError):
        carl.list_webhooks(PROJECT)
    assert server.store.list_webhooks() == []

    mona = user_store(server, "mona", monkeypatch)
    hook = mona.add_webhook(PROJECT, receiver.url + "/mona", SECRET, "stage_changed", actor="someone-else")
    assert (hook["project"], hook["events"], hook["created_by"]) == (PROJECT, "stage_changed", "mona")
    assert [h["id"] for h in mona.list_webhooks(PROJECT)] == [hook["id"]]
    with pytest.raises(E.PermissionDeniedError, match="name a project"):
        mona.list_webhooks()
    with pytest.raises(E.PermissionDeniedError, match="only an admin"):
        mona.add_webhook("*", receiver.url, SECRET)
    with pytest.raises(E.InvalidValueError, match="at least 16 characters"):
        mona.add_webhook(PROJECT, receiver.url, "short")
    listed = cli("webhooks", "ls", "--project", PROJECT, "--uri", server.url)
    assert listed.stdout.split("\t")[:4] == [str(hook["id"]), PROJECT, "stage_changed", receiver.url + "/mona"]
    # olga maintains another project: she neither sees nor removes it
    olga = user_store(server, "olga", monkeypatch)
    with pytest.raises(E.ProjectNotFound, match="does not exist or you have no role in it"):
        olga.list_webhooks(PROJECT)
    with pytest.raises(E.NotFoundError):
        olga.remove_webhook(hook["id"])
    mona = user_store(server, "mona", monkeypatch)
    assert cli("webhooks", "rm", str(hook["id"]), "--uri", server.url).stdout == f"webhook {hook['id']} removed\n"
    assert server.store.list_webhooks() == []
    # `naiad webhooks deliver` is for embedded stores: the server delivers itself
    deliver = CliRunner().invoke(cli_main, ["webhooks", "deliver", "--uri", server.url])
    assert deliver.exit_code == 2
    assert "a naiad server delivers its webhooks itself" in deliver.output


def test_a_contributors_promotion_is_delivered_by_the_servers_dispatcher(
        server: TeamServer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    remove_all_hooks(server)
    assert server.store.deliver_inline is False  # the app's lifespan switched inline delivery off
    user_store(server, "carl", monkeypatch)
    naiad.init_model(key="DISP", project=PROJECT).stop()
    version = new_version("DEF-DISP")
    mona = user_store(server, "mona", monkeypatch)
    mona.add_webhook(PROJECT, receiver.url + "/srv", SECRET, "stage_changed,alias_changed")
    user_store(server, "carl", monkeypatch)
    receiver.hang(1, 1.0)  # the subscriber is slow: the promotion must not wait for it
    mv = naiad.init_model_version(with_id=version)
    started = time.monotonic()
    mv.change_stage("production", reason="through the server")
    took = time.monotonic() - started
    mv.stop()
    assert took < 0.9, f"the promotion waited {took:.2f} s for the subscriber"
    [r] = receiver.wait_for(1, timeout=5)
    assert r.event == "stage_changed" and r.path == "/srv" and signature_ok(r)
    [event] = [e for e in server.store.registry_events(PROJECT, "DEF-DISP") if e.kind == "stage"]
    assert r.json == registry_body("stage_changed", PROJECT, event)
    assert r.json["actor"] == "carl" and r.json["reason"] == "through the server"
    deadline = time.monotonic() + 5
    while server.store.list_deliveries(PROJECT)[0]["status"] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = server.store.list_deliveries(PROJECT)
    assert (row["status"], row["attempts"], row["last_status"], str(row["id"])) == ("delivered", 1, 200, r.delivery)
    # the maintainer reads the log over HTTP; the contributor may not
    assert [d["id"] for d in user_store(server, "mona", monkeypatch).list_deliveries(PROJECT)] == [row["id"]]
    with pytest.raises(E.PermissionDeniedError):
        user_store(server, "carl", monkeypatch).list_deliveries(PROJECT)
    # a failing subscriber is retried by the dispatcher (after the backoff: moved to now here)
    receiver.fail(1, 500)
    user_store(server, "carl", monkeypatch)
    set_alias(version, "champion")
    receiver.wait_for(2, timeout=5)
    deadline = time.monotonic() + 5
    while server.store.list_deliveries(PROJECT)[0]["attempts"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    newest = server.store.list_deliveries(PROJECT)[0]
    assert (newest["event"], newest["status"], newest["last_status"]) == ("alias_changed", "pending", 500)
    with sqlite3.connect(Path(server.store.db_path), timeout=30) as conn:
        conn.execute("UPDATE webhook_deliveries SET next_attempt = 0 WHERE status = 'pending'")
    conn.close()
    third = receiver.wait_for(3, timeout=5)
    assert len(third) == 3 and third[2].delivery == third[1].delivery and third[2].answered == 200
    remove_all_hooks(server)


def test_events_posted_to_the_server_carry_the_accounts_name(server: TeamServer, receiver: Receiver,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    remove_all_hooks(server)
    user_store(server, "carl", monkeypatch)
    naiad.init_model(key="EVT", project=PROJECT).stop()
    server.store.add_webhook(PROJECT, receiver.url + "/ev", SECRET, "test", actor="t")
    answer = api(server, "carl", "POST", "/events", json={
        "project": PROJECT, "event": "test", "payload": {"actor": "mallory", "model": "DEF-EVT", "n": 3}})
    assert answer.status_code == 200 and answer.json() == {"queued": 1}
    [r] = receiver.wait_for(1)
    body = r.json
    assert isinstance(body.pop("time"), float)
    assert body == {"event": "test", "project": PROJECT, "actor": "carl", "model": "DEF-EVT", "n": 3}
    # what naiad sends itself (a gate decision, a stage change, a monitoring alert) cannot be posted, by anyone
    for event in ("gate_failed", "drift_detected", "degradation_detected"):
        forged = api(server, "carl", "POST", "/events", json={"project": PROJECT, "event": event, "payload": {}})
        assert forged.status_code == 403 and "is sent by naiad itself" in forged.json()["error"]["message"]
    # no actor given: the account's name all the same; the SDK's remote store goes the same way
    remote = user_store(server, "carl", monkeypatch)
    assert remote.emit_event(PROJECT, "test", {"model": "DEF-EVT"}) == 1
    second = receiver.wait_for(2)[1]
    assert second.event == "test" and second.json["actor"] == "carl"
    # unknown events and projects without a role are refused
    bad = api(server, "carl", "POST", "/events", json={"project": PROJECT, "event": "nope", "payload": {}})
    assert bad.status_code in (400, 422) and "unknown event type 'nope'" in bad.json()["error"]["message"]
    elsewhere = api(server, "carl", "POST", "/events", json={"project": OTHER, "event": "test", "payload": {}})
    assert elsewhere.status_code in (403, 404)
    remove_all_hooks(server)


def test_a_maintainer_of_one_project_does_not_read_anothers_deliveries(server: TeamServer, receiver: Receiver,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin's '*' subscription delivers every project's events; olga (maintainer of 'other' only) lists
    the deliveries of 'other' and must not see the payloads of 'defects' events."""
    remove_all_hooks(server)
    admin = user_store(server, "admin", monkeypatch)
    admin.add_webhook("*", receiver.url + "/all", SECRET, "test")
    assert admin.emit_event(PROJECT, "test", {"secret_plan": "defects only"}) == 1
    receiver.wait_for(1)
    olga = user_store(server, "olga", monkeypatch)
    seen = [json.loads(d["payload"]) for d in olga.list_deliveries(OTHER)]
    remove_all_hooks(server)
    assert [p["project"] for p in seen] == [], "olga reads a 'defects' payload through the '*' subscription"
