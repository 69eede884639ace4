"""``naiad server`` (run, migrate) and ``naiad token`` / ``naiad role`` (accounts), added to the main CLI."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import click

from naiad.config import SETTINGS
from naiad.errors import ProjectNotFound
from naiad.store.accounts import Accounts
from naiad.store.sql import SqlStore

_STORE_HELP = "the store: a folder (default NAIAD_URI or ./.naiad) or postgresql://user:password@host/db"
_BLOBS_HELP = "with PostgreSQL: where files go, s3://bucket/prefix or a folder (default NAIAD_BLOBS)"


def _accounts(store_uri: str | None, blobs: str | None) -> tuple[SqlStore, Accounts]:
    from naiad.server.main import server_store

    store = server_store(store_uri or SETTINGS.uri.get(), blobs or "", catalog_only=True)
    if not isinstance(store, SqlStore):
        raise click.UsageError("accounts live in the store's catalog: pass --store with a folder or postgresql://…")
    return store, Accounts(store)


@click.group(invoke_without_command=True)
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
@click.option("--host", help="address to listen on (default 127.0.0.1 for a folder store, 0.0.0.0 for PostgreSQL)")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="server processes (all stateless)")
@click.option("--anonymous", type=click.Choice(["viewer", "contributor", "maintainer", "owner"]),
              help="let requests without a token in, with this role in every project (off by default)")
@click.option("--max-request-mb", default=256, show_default=True, type=int, help="largest request body")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.pass_context
def server(ctx: click.Context, store_uri: str | None, blobs: str, host: str | None, port: int, workers: int,
           anonymous: str | None, max_request_mb: int, log_level: str) -> None:
    """Serve the HTTP API /api/v1 (docs at /api/v1/docs) over a store, for a team or for one machine."""
    if ctx.invoked_subcommand is not None:
        return
    from naiad.server.main import is_team_uri, serve, server_store

    uri = store_uri or SETTINGS.uri.get()
    store = server_store(uri, blobs)  # opened once here: a bad URI or schema fails before listening
    if isinstance(store, SqlStore) and not anonymous and not Accounts(store).has_accounts():
        click.echo("No accounts yet: make an admin token with\n"
                   f"  naiad token create --user admin --admin --store {store.location}\n"
                   "and pass it as NAIAD_API_TOKEN (or start with --anonymous viewer for a read-only demo).",
                   err=True)
    store.close()
    host = host or ("0.0.0.0" if is_team_uri(uri) else "127.0.0.1")
    serve(uri, blobs, host, port, workers=workers, anonymous=anonymous,
          max_request_bytes=max_request_mb << 20, log_level=log_level)


@click.command("ui")
@click.option("--store", "store_uri", help="the store folder (default NAIAD_URI or ./.naiad)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; anyone who can reach it can read and edit, so keep it local")
@click.option("--port", default=4590, show_default=True, type=int, help="0 picks a free port")
@click.option("--open/--no-open", "open_browser", default=True, show_default=True,
              help="open the UI in the default browser")
def ui(store_uri: str | None, host: str, port: int, open_browser: bool) -> None:
    """Open the web UI over the embedded store (./.naiad): runs table, run pages, compare.

    For a team, `naiad server` serves the same UI with accounts and tokens.
    """
    import socket
    import webbrowser

    try:
        import uvicorn

        from naiad.server.app import create_app
    except ImportError as exc:
        raise click.ClickException(f"the web UI needs naiad's ui extra ({exc.name} is missing): "
                                   "pip install 'naiad[ui]'") from None
    from naiad.server.main import is_team_uri, server_store
    from naiad.server.ui import ui_built

    uri = store_uri or SETTINGS.uri.get()
    if is_team_uri(uri) or uri.startswith(("http://", "https://")):
        raise click.UsageError(f"naiad ui serves a local folder; for {uri} start `naiad server` and open its address.")
    if not Path(uri).is_dir():
        raise click.UsageError(f"no naiad store at {uri}: run a tracked script here first (naiad demo makes one), "
                               "or pass --store FOLDER.")
    store = server_store(uri)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host} without accounts: anyone who reaches it can read and edit runs. "
                   "For a team use `naiad server`.", err=True)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); pass --port 0 for a free port.") \
            from None
    url = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}/"
    click.echo(f"naiad UI over {store.location}: {url}  (Ctrl+C to stop)")
    if not ui_built():
        click.echo("note: this installation has no built UI (only the API answers); run scripts/build-ui.", err=True)
    if open_browser:
        webbrowser.open(url)
    app = create_app(store, anonymous_role="owner")
    server_ = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False))
    server_.run(sockets=[sock])


@server.command("migrate")
@click.option("--store", "store_uri", required=True, help="postgresql://user:password@host/db")
def migrate_cmd(store_uri: str) -> None:
    """Bring a PostgreSQL catalog to this naiad's schema version (back it up first)."""
    from naiad.server.main import is_team_uri
    from naiad.store.postgres import SCHEMA_VERSION, migrate, redact, schema_version

    if not is_team_uri(store_uri):
        raise click.UsageError("migrations are for PostgreSQL stores; the embedded store upgrades itself.")
    before = schema_version(store_uri)
    applied = migrate(store_uri, progress=lambda m: click.echo(f"applying {m.version:04d} {m.name} …"))
    if applied:
        click.echo(f"{redact(store_uri)}: schema {before} → {SCHEMA_VERSION} ({len(applied)} migration(s)).")
    else:
        click.echo(f"{redact(store_uri)}: already at schema {SCHEMA_VERSION}; nothing to do.")


@click.group()
def token() -> None:
    """API tokens for a naiad server (run where the store is reachable)."""


@token.command("create")
@click.option("--user", required=True, help="account name (made if new)")
@click.option("--project", help="grant this project …")
@click.option("--role", type=click.Choice(["viewer", "contributor", "maintainer", "owner"]), help="… with this role")
@click.option("--admin", is_flag=True, help="make the account an admin (every project, account management)")
@click.option("--service", is_flag=True, help="a service account (CI, a training cluster) rather than a person")
@click.option("--label", default="", help="what the token is for, shown by `naiad token ls`")
@click.option("--expires-days", type=float, help="the token stops working after this many days")
@click.option("--neptune", "neptune_url", metavar="URL",
              help="print it as a NEPTUNE_API_TOKEN value that sends the neptune client to the naiad server at URL")
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
def token_create(user: str, project: str | None, role: str | None, admin: bool, service: bool, label: str,
                 expires_days: float | None, neptune_url: str | None, store_uri: str | None, blobs: str) -> None:
    """Make a token; it is printed once, keep it secret (NAIAD_API_TOKEN; with --neptune, NEPTUNE_API_TOKEN)."""
    if neptune_url is not None and not neptune_url.startswith(("http://", "https://")):
        raise click.UsageError(f"--neptune takes the server's URL, e.g. https://naiad.example.com "
                               f"(got {neptune_url!r}).")
    if (project is None) != (role is None):
        raise click.UsageError("--project and --role go together.")
    store, accounts = _accounts(store_uri, blobs)
    accounts.ensure_account(user, kind="service" if service else "user", admin=admin or None)
    if project and role:
        try:
            project = store.get_project(project).name
        except ProjectNotFound:
            pass  # a project not made yet: the role waits for it
        accounts.grant(user, project, role)
    secret = accounts.create_token(user, label=label,
                                   expires_in=None if expires_days is None else expires_days * 86400)
    if neptune_url is not None:
        from naiad.server.neptune.tokens import neptune_token

        secret = neptune_token(secret, neptune_url)
    click.echo(secret)
    grant = f"; {role} of {project}" if project else ""
    kind = "NEPTUNE_API_TOKEN" if neptune_url else "token"
    click.echo(f"{kind} for {user}{' (admin)' if admin else ''}{grant}. It is shown only now.", err=True)


@token.command("ls")
@click.option("--user", help="only this account's tokens")
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
def token_ls(user: str | None, store_uri: str | None, blobs: str) -> None:
    """Tokens (ids, never secrets), their accounts and roles."""
    _, accounts = _accounts(store_uri, blobs)

    def when(t: float | None) -> str:
        return "-" if t is None else _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")

    for t in accounts.list_tokens(user):
        status = "revoked" if t.revoked else ("expired" if t.expires and t.expires < _now() else "active")
        click.echo(f"{t.id}  {t.account:<20} {status:<8} created {when(t.created)}  last used {when(t.last_used)}"
                   f"  {t.label}")
    for a in accounts.list_accounts():
        if user and a.name != user:
            continue
        roles = accounts.roles(a.name)
        shown = ", ".join(f"{p}={r}" for p, r in sorted(roles.items())) or "no roles"
        click.echo(f"account {a.name} ({a.kind}{', admin' if a.admin else ''}): {shown}", err=True)


@token.command("revoke")
@click.argument("token_id")
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
def token_revoke(token_id: str, store_uri: str | None, blobs: str) -> None:
    """Stop a token from working (servers notice within seconds)."""
    _, accounts = _accounts(store_uri, blobs)
    accounts.revoke_token(token_id)
    click.echo(f"revoked {token_id}")


@click.group()
def role() -> None:
    """Project roles of accounts: viewer < contributor < maintainer < owner."""


@role.command("set")
@click.argument("user")
@click.argument("project")
@click.argument("role_name", metavar="ROLE", type=click.Choice(["viewer", "contributor", "maintainer", "owner"]))
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
def role_set(user: str, project: str, role_name: str, store_uri: str | None, blobs: str) -> None:
    """Give USER the ROLE in PROJECT."""
    _, accounts = _accounts(store_uri, blobs)
    accounts.grant(user, project, role_name)
    click.echo(f"{user} is now {role_name} of {project}")


@role.command("rm")
@click.argument("user")
@click.argument("project")
@click.option("--store", "store_uri", help=_STORE_HELP)
@click.option("--blobs", default="", help=_BLOBS_HELP)
def role_rm(user: str, project: str, store_uri: str | None, blobs: str) -> None:
    """Take USER's role in PROJECT away."""
    _, accounts = _accounts(store_uri, blobs)
    accounts.revoke_role(user, project)
    click.echo(f"{user} has no role in {project} now")


def _now() -> float:
    import time

    return time.time()


def register(main: click.Group) -> None:
    for command in (server, ui, token, role):
        main.add_command(command)
