"""What ``serve`` and ``dev`` share: settings from flags, the bind check, running uvicorn."""

from __future__ import annotations

import gc
import logging
from types import FrameType
from typing import Annotated, Any

import typer

from conveyor.cli._app import console, escape, fail
from conveyor.settings import Settings
from conveyor.workflows import Task

__all__ = ["Host", "LogLevel", "Notifier", "Port", "PublicUrl", "build_settings", "run_server"]

Host = Annotated[
    str | None,
    typer.Option(envvar="CONVEYOR_HOST", help="address to bind \\[default: 127.0.0.1]"),
]
Port = Annotated[
    int | None,
    typer.Option(envvar="CONVEYOR_PORT", min=0, max=65535, help="port to bind \\[default: 8000]"),
]
PublicUrl = Annotated[
    str | None,
    typer.Option(envvar="CONVEYOR_PUBLIC_URL", help="base URL clients reach the API at"),
]
Notifier = Annotated[
    bool | None,
    typer.Option(
        "--notifier/--no-notifier",
        envvar="CONVEYOR_NOTIFIER",
        help="run the webhook dispatcher in this process \\[default: on]",
        show_default=False,
    ),
]
LogLevel = Annotated[str, typer.Option(help="uvicorn log level")]


def build_settings(**flags: Any) -> Settings:
    """Settings from the environment, overridden by the flags given on the command line."""
    given = {name: value for name, value in flags.items() if value is not None}
    url = given.get("database_url", "")
    if url.startswith(("http://", "https://")):
        raise fail(
            "the server needs the database itself: --database-url sqlite:///... or postgresql://..."
        )
    try:
        return Settings(**given)
    except ValueError as exc:
        raise fail(f"invalid settings: {exc}") from None


class _DenialNoise(logging.Filter):
    """uvicorn logs "ASGI callable returned without completing handshake" as an error even
    when the app refused a WebSocket with an HTTP response (401/404), as ours do on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


def run_server(settings: Settings, tasks: list[type[Task]], log_level: str = "info") -> None:
    """Serve the API with uvicorn until SIGINT/SIGTERM; refuse an unsafe bind first."""
    import uvicorn

    from conveyor.api.app import create_app
    from conveyor.api.auth import UnsafeBindError, check_bind_safety
    from conveyor.store import open_store

    store = open_store(settings.database_url)
    try:
        check_bind_safety(store, settings)
    except UnsafeBindError as exc:
        store.close()
        raise fail(str(exc), code=2) from None
    app = create_app(settings, tasks, store=store)
    logging.getLogger("uvicorn.error").addFilter(_DenialNoise())
    names = ", ".join(sorted({t.identifier()[0] for t in tasks}))
    console.print(
        "[bold]conveyor serve[/] "
        + escape(f"http://{settings.host}:{settings.port} on {settings.database_url}: {names}"),
        highlight=False,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=3,
    )
    _tune_gc()
    _server_class(uvicorn.Server)(config).run()


def _tune_gc() -> None:
    """Keep the cyclic GC from stalling live streams.

    A full collection walks every tracked object: with a thousand open event streams
    (~200 objects each, most of them framework coroutines) a pass takes 100+ ms, during
    which no event goes out. Everything built at startup lives as long as the process,
    so it is frozen out of collections; and collections are made rarer (objects are freed
    by reference counting anyway; only reference cycles wait for the collector).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _server_class(base: type[Any]) -> type[Any]:
    """uvicorn re-raises SIGTERM/SIGINT once it has shut down, which would kill this process
    before the caller's cleanup (``conveyor dev`` stopping its worker) runs; return instead."""

    class Server(base):  # type: ignore[misc]
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server
