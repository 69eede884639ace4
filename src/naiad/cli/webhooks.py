"""``naiad webhooks …``: subscribe URLs to registry and monitoring events, read the delivery log.

    naiad webhooks add https://hooks.internal/naiad --project defects --secret "$SECRET" \\
                       [--events stage_changed,gate_failed,degradation_detected]
    naiad webhooks ls [--project P]
    naiad webhooks rm ID
    naiad webhooks test --project P        (queue a "test" event to every subscriber and deliver it)
    naiad webhooks deliveries [--project P] [--json]
    naiad webhooks deliver                 (send what is due now; embedded stores, e.g. from cron)
"""

from __future__ import annotations

import datetime as _dt
import json

import click

from naiad.cli.common import _console, _project_name, _store
from naiad.tracking.container import default_owner

_URI = click.option("--uri", help="store location (default NAIAD_URI or ./.naiad)")


def _when(ts: float | None) -> str:
    return "" if not ts else _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def webhooks() -> None:
    """Webhooks: signed POSTs of registry and monitoring events, retried with backoff."""


@webhooks.command("add")
@click.argument("url")
@click.option("--project", "-p", help="the project whose events to send ('*': every project; admins only)")
@click.option("--secret", required=True, envvar="NAIAD_WEBHOOK_SECRET",
              help="HMAC-SHA256 key, at least 16 characters (or NAIAD_WEBHOOK_SECRET)")
@click.option("--events", default="*", show_default=True,
              help="comma-separated event types: version_created, stage_changed, alias_changed, policy_changed, "
                   "gate_passed, gate_failed, degradation_detected, drift_detected")
@_URI
def webhooks_add(url: str, project: str | None, secret: str, events: str, uri: str | None) -> None:
    """Send the project's events to URL."""
    store = _store(uri)
    name = project if project == "*" else _project_name(store, project)
    hook = store.add_webhook(name, url, secret, events, actor=default_owner())
    click.echo(f"webhook {hook['id']}: {hook['events']} events of {hook['project']} → {hook['url']}")


@webhooks.command("ls")
@click.option("--project", "-p", help="only this project's subscriptions (and the '*' ones)")
@_URI
def webhooks_ls(project: str | None, uri: str | None) -> None:
    store = _store(uri)
    for hook in store.list_webhooks(project):
        click.echo(f"{hook['id']}\t{hook['project']}\t{hook['events']}\t{hook['url']}\t(by {hook['created_by']}, "
                   f"{_when(hook['created'])})")


@webhooks.command("rm")
@click.argument("hook_id", type=int)
@_URI
def webhooks_rm(hook_id: int, uri: str | None) -> None:
    """Stop a subscription (its pending deliveries are marked failed)."""
    _store(uri).remove_webhook(hook_id)
    click.echo(f"webhook {hook_id} removed")


@webhooks.command("test")
@click.option("--project", "-p", help="project name (default: NAIAD_PROJECT, or the only project)")
@_URI
def webhooks_test(project: str | None, uri: str | None) -> None:
    """Queue a 'test' event for the project's subscribers (delivered at once embedded, by the server else)."""
    store = _store(uri)
    name = _project_name(store, project)
    queued = store.emit_event(name, "test", {"message": "a test delivery from naiad", "actor": default_owner()})
    click.echo(f"{queued} test delivery(ies) queued; see `naiad webhooks deliveries --project {name}`")


@webhooks.command("deliveries")
@click.option("--project", "-p", help="only deliveries of this project's subscriptions")
@click.option("--limit", "-n", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON lines (with the payloads)")
@_URI
def webhooks_deliveries(project: str | None, limit: int, as_json: bool, uri: str | None) -> None:
    """The delivery log, newest first: event, status, attempts, the subscriber's last answer."""
    found = _store(uri).list_deliveries(project, limit)
    if as_json:
        for d in found:
            click.echo(json.dumps(d, default=str))
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} delivery(ies)")
    for col in ("id", "hook", "event", "status", "attempts", "last answer", "created", "delivered / next"):
        table.add_column(col, overflow="fold")
    for d in found:
        answer = str(d["last_status"] or "") + (f" {d['last_error']}" if d["last_error"] else "")
        table.add_row(str(d["id"]), str(d["webhook_id"]), d["event"], d["status"], str(d["attempts"]), answer.strip(),
                      _when(d["created"]), _when(d["delivered"]) if d["status"] == "delivered" else
                      ("next " + _when(d["next_attempt"]) if d["status"] == "pending" else ""))
    _console().print(table)


@webhooks.command("deliver")
@_URI
def webhooks_deliver(uri: str | None) -> None:
    """Send the deliveries that are due now (embedded stores; a server does this itself)."""
    from naiad.store.webhook_delivery import deliver_due

    store = _store(uri)
    if not hasattr(store, "claim_deliveries"):
        raise click.UsageError("a naiad server delivers its webhooks itself; run this on an embedded store.")
    counts = deliver_due(store)
    click.echo(f"{counts['delivered']} delivered, {counts['pending']} to retry later, {counts['failed']} failed")


def register(main: click.Group) -> None:
    main.add_command(webhooks)
