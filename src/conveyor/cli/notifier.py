"""``conveyor notifier``: deliver webhooks from the outbox on their own, until SIGTERM.

``conveyor serve`` already runs a dispatcher; this is for deployments that keep
webhooks off the API servers (or have none: workers plus a notifier). Any number
of notifiers and API servers can share a database; each message is leased to one
of them at a time.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer

from conveyor.cli._app import app, console, escape, fail
from conveyor.cli._options import DatabaseUrl
from conveyor.settings import Settings, env_database_url

__all__ = ["notifier"]


@app.command()
def notifier(
    database_url: DatabaseUrl = None,
    webhook_allowed_hosts: Annotated[
        str | None,
        typer.Option(
            help="hosts, IPs or CIDRs exempt from the SSRF guard, comma-separated "
            "\\[env: CONVEYOR_WEBHOOK_ALLOWED_HOSTS]",
            show_default=False,
        ),
    ] = None,
    webhook_poll_interval: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="seconds between looks at the outbox when idle "
            "\\[env: CONVEYOR_WEBHOOK_POLL_INTERVAL]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Deliver webhooks from the outbox until SIGTERM/SIGINT (without an API server)."""
    from conveyor.notify.dispatcher import Dispatcher
    from conveyor.store import open_store

    url = database_url or env_database_url()
    if url.startswith(("http://", "https://")):
        raise fail("the notifier reads the outbox directly: give it a database URL, not a server")
    overrides: dict[str, Any] = {"database_url": url}
    if webhook_allowed_hosts is not None:
        overrides["webhook_allowed_hosts"] = webhook_allowed_hosts
    if webhook_poll_interval is not None:
        overrides["webhook_poll_interval"] = webhook_poll_interval
    settings = Settings(**overrides)  # the rest comes from CONVEYOR_* variables
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    store = open_store(url)
    dispatcher = Dispatcher(store, settings)
    try:
        dispatcher.start()
        console.print(
            "[bold]notifier[/] " + escape(f"{dispatcher.worker_id} on {url}"), highlight=False
        )
        while not stop.wait(1.0):
            if not dispatcher.running:
                raise fail("the webhook dispatcher stopped unexpectedly (see the log)")
    finally:
        dispatcher.close()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("notifier stopped")
