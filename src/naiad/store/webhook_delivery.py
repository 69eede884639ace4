"""Webhooks: registry and monitoring events POSTed as signed JSON, retried with backoff, logged.

Subscribe with ``naiad webhooks add URL --project P --secret S [--events stage_changed,gate_failed]``.
Each delivery is a POST of the event as JSON with these headers:

- ``X-Naiad-Event``: the event type (``version_created``, ``stage_changed``, ``alias_changed``,
  ``policy_changed``, ``gate_passed``, ``gate_failed``, ``degradation_detected``, ``drift_detected``);
- ``X-Naiad-Delivery``: the delivery's id (the same on every retry: use it to drop duplicates);
- ``X-Naiad-Signature``: ``sha256=`` + the HMAC-SHA256 of the exact body under the webhook's secret
  (check it with :func:`verify`).

A 2xx answer delivers it; anything else (or no answer within the timeout) is retried after 10 s,
30 s, 2 min, 10 min, 1 h and 6 h, then marked failed.  ``naiad webhooks deliveries`` is the log.
Embedded, the process that made the event delivers it at once (and ``naiad webhooks deliver`` retries
what is due); a ``naiad server`` process delivers from a background thread.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import threading
from typing import Any

from naiad.version import __version__

TIMEOUT = 5.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """True if ``signature`` (the ``X-Naiad-Signature`` header) is this body's under ``secret``."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def deliver_due(store: Any, *, limit: int = 50, timeout: float = TIMEOUT) -> dict[str, int]:
    """Send the deliveries that are due; returns how many were delivered, retried later, failed.

    Each goes only to an address :mod:`naiad.store.webhook_targets` allows (checked at connect time, on
    the address connected to), with no redirect followed and no proxy."""
    import httpcore

    from naiad.store.webhook_targets import GuardedBackend

    counts = {"delivered": 0, "pending": 0, "failed": 0}
    claimed = store.claim_deliveries(limit)
    if not claimed:
        return counts
    limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    with httpcore.ConnectionPool(network_backend=GuardedBackend()) as pool:
        for d in claimed:
            body = d["payload"].encode()
            headers: list[tuple[bytes | str, bytes | str]] = [
                ("content-type", "application/json"), ("user-agent", f"naiad-webhooks/{__version__}"),
                ("x-naiad-event", d["event"]), ("x-naiad-delivery", str(d["id"])),
                ("x-naiad-signature", sign(d["secret"], body))]
            try:
                answer = pool.request("POST", d["url"], headers=headers, content=body,
                                      extensions={"timeout": limits})
                ok = 200 <= answer.status < 300
                text = answer.content.decode("utf-8", "replace")[:300]
                error = None if ok else f"HTTP {answer.status}: {text}"
                state = store.finish_delivery(d["id"], ok, answer.status, error)
            except Exception as exc:  # any failure of one subscriber is its attempt, never the others'
                state = store.finish_delivery(d["id"], False, None, f"{type(exc).__name__}: {exc}")
            counts[state] += 1
    return counts


def deliver_quietly(store: Any) -> None:
    """Deliver what is due, never raising: a subscriber that is down must not fail a promotion."""
    try:
        deliver_due(store)
    except Exception as exc:  # the deliveries stay queued and are retried
        print(f"[naiad] webhook delivery deferred: {exc}", file=sys.stderr)


class Dispatcher:
    """A daemon thread delivering due webhooks every ``interval`` seconds (one per server process;
    several processes share the work: claimed deliveries are leased)."""

    def __init__(self, store: Any, interval: float = 2.0) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="naiad-webhooks", daemon=True)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + TIMEOUT + 1)

    def _run(self) -> None:
        release = getattr(self.store, "release", None)
        while not self._stop.wait(self.interval):
            deliver_quietly(self.store)
            if release is not None:
                release()
