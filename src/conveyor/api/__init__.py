"""The HTTP API (FastAPI): ``create_app`` builds what ``conveyor serve`` runs.

Imported lazily so that ``conveyor.api.catalog``/``errors`` stay usable (by the CLI)
without building an app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from conveyor.api.app import create_app

        return create_app
    raise AttributeError(f"module 'conveyor.api' has no attribute {name!r}")
