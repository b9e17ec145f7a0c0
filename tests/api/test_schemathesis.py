"""Property-based fuzzing of the live OpenAPI document: no 5xx, responses match the schema.

A server of its own (no worker: fuzzed jobs stay queued), with an API key so the
auth checks see 401s, and short event streams so a stream of a queued job ends
within the request timeout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conveyor.store import open_store
from plugins.api import Processes

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "ignored_auth",
    ]
)


@pytest.mark.slow
def test_openapi_fuzzing_finds_no_server_errors(tmp_path: Path, processes: Processes) -> None:
    cli = shutil.which("schemathesis") or shutil.which("st")
    if cli is None:
        pytest.skip("schemathesis is not installed")
    db = f"sqlite:///{tmp_path / 'fuzz.db'}"
    store = open_store(db)
    _, token = store.create_api_key("fuzzer")
    store.close()
    server = processes.server(db, "--no-notifier", env={"CONVEYOR_SSE_MAX_SECONDS": "1"})
    result = subprocess.run(
        [
            cli, "run", f"{server.url}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "15",
            "--request-timeout", "10",
            "--workers", "1",
            "--no-shrink",
            "--seed", "4",
        ],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert "Server error" not in output
