"""In CI, the optional packages the suite skips without must all be there.

Tests ``importorskip`` heavy packages so a partial install still runs the rest; but a package
the test command forgot to install then skips its tests silently, and CI stays green. That
happened: ``transformers`` was installed by hand on the machines for months, so the tiny
Stable Diffusion tests (31 of them) ran there and were skipped on a fresh one.
"""

from __future__ import annotations

import importlib
import os

import pytest

#: Every module a test skips without (``pytest.importorskip``), with the extra that brings it.
OPTIONAL = {
    "torch": "diffusion",
    "diffusers": "diffusion",
    "transformers": "diffusion",
    "PIL": "diffusion",
    "sklearn": "dev",
    "boto3": "s3",
    "standardwebhooks": "dev",
}


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true", reason="checked in CI only")
@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_installed_in_ci(module: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(
            f"{module} is missing: scripts/test.sh must install the {OPTIONAL[module]!r} "
            f"extra that brings it ({exc})"
        )


def test_every_skipped_import_is_listed() -> None:
    """A new ``importorskip`` of a package must be listed above, or CI would not notice it."""
    import re
    from pathlib import Path

    tests = Path(__file__).parent
    found = {
        name
        for path in tests.rglob("*.py")
        for name in re.findall(r"importorskip\(\s*\"([\w.]+)\"", path.read_text(encoding="utf-8"))
        if not (tests / name.split(".")[0]).exists()  # the suite's own plugins
    }
    assert found <= set(OPTIONAL), sorted(found - set(OPTIONAL))
