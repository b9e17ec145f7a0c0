"""``conveyor keys create|list|revoke``: API keys of the HTTP API, per tenant.

Keys are managed on the database (not through the API): whoever can reach the
database can already do anything, so no API endpoint hands out keys.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from conveyor.cli._app import app, console, err_console, escape, fail
from conveyor.cli._options import DatabaseUrl
from conveyor.cli._target import is_remote
from conveyor.store import Store

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _store(database_url: str | None) -> Store:
    from conveyor.settings import env_database_url
    from conveyor.store import open_store

    if is_remote(database_url):
        raise fail("API keys are managed on the database: pass --database-url sqlite:///...")
    return open_store(database_url or env_database_url())


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="the tenant the key acts for (created if new)")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it (shown only this once)."""
    store = _store(database_url)
    key, token = store.create_api_key(tenant)
    err_console.print(
        f"created {key.id} for tenant [bold]{escape(key.tenant)}[/]; store it now, it is not "
        "shown again:",
        highlight=False,
    )
    console.print(token, highlight=False, soft_wrap=True, markup=False)


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None,
    all: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys (their ids and prefixes, never the keys)."""
    keys = _store(database_url).list_api_keys(tenant, include_revoked=all)
    table = Table()
    table.add_column("id", no_wrap=True, min_width=20)  # copy-pasted into `keys revoke`
    table.add_column("tenant")
    table.add_column("prefix", no_wrap=True)
    for title in ("created", "last used", "revoked"):
        table.add_column(title)
    fmt = "%Y-%m-%d %H:%M:%S"
    for k in keys:
        table.add_row(
            k.id,
            escape(k.tenant),
            k.prefix + "…",
            k.created_at.strftime(fmt),
            k.last_used_at.strftime(fmt) if k.last_used_at else "-",
            k.revoked_at.strftime(fmt) if k.revoked_at else "-",
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="the key's id (key_...) or the key itself")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    revoked = _store(database_url).revoke_api_key(key)
    console.print(f"revoked {revoked.id} (tenant {revoked.tenant})", highlight=False, markup=False)
