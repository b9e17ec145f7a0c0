"""Shared fixtures. Fixture plugins live in tests/plugins/ (one module per area) and are
loaded automatically, so each area adds its fixtures without editing this file."""

from __future__ import annotations

import pkgutil
from pathlib import Path

pytest_plugins = sorted(
    f"plugins.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "plugins")])
)
