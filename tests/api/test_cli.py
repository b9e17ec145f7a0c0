"""The server and client commands: serve's bind check, dev mode, keys, submit, watch, jobs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from plugins.api import ApiEnv, Processes, Server, child_env, cli, free_port


def run(*args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a conveyor command; its stderr with rich's line wrapping undone."""
    result = subprocess.run(
        cli(*args), capture_output=True, text=True, timeout=timeout, env=child_env(**env)
    )
    result.stderr = " ".join(result.stderr.split())
    return result


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = run("serve", "--host", "0.0.0.0", "--port", str(free_port()), "--database-url", db)
    assert result.returncode not in (0, None)
    assert "refusing to serve 0.0.0.0 without API keys" in result.stderr
    assert "conveyor keys create" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

    run("keys", "create", "--tenant", "ops", "--database-url", db)
    forced_open = run(
        "serve", "--host", "0.0.0.0", "--port", "1", "--database-url", db,
        CONVEYOR_API_KEYS_REQUIRED="false",
    )  # fmt: skip
    assert forced_open.returncode != 0 and "only allowed on a loopback" in forced_open.stderr
    assert "Traceback" not in forced_open.stderr


def test_public_address_with_keys_requires_them(tmp_path: Path, processes: Processes) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    token = run("keys", "create", "--tenant", "ops", "--database-url", db).stdout.strip()
    server = processes.server(db, "--no-notifier", host="0.0.0.0")
    assert httpx.get(server.url + "/jobs").status_code == 401
    ok = httpx.get(server.url + "/jobs", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200


def test_dev_mode_then_keys(tmp_path: Path, processes: Processes) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    server = processes.server(db, "--no-notifier")
    body = {"name": "anon", "task": {"identifier": "NoOp"}}
    created = httpx.post(server.url + "/jobs", json=body)
    assert created.status_code == 202
    job = httpx.get(f"{server.url}/jobs/{created.json()['id']}").json()
    assert job["tenant"] == "default"
    assert (
        httpx.get(server.url + "/jobs", headers={"Authorization": "Bearer cvk_x"}).status_code
        == 401
    )

    created_key = run("keys", "create", "--tenant", "team", "--database-url", db)
    token = created_key.stdout.strip()
    assert token.startswith("cvk_") and "tenant team" in created_key.stderr
    deadline = time.monotonic() + 30
    while httpx.get(server.url + "/jobs").status_code != 401:  # the server notices the key
        assert time.monotonic() < deadline
        time.sleep(0.2)
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(server.url + "/jobs", headers=auth).json()["jobs"] == []

    listing = run("keys", "list", "--database-url", db)
    assert "team" in listing.stdout and token not in listing.stdout
    key_id = next(w for w in listing.stdout.split() if w.startswith("key_"))
    assert run("keys", "revoke", key_id, "--database-url", db).returncode == 0
    deadline = time.monotonic() + 10  # within auth_cache_seconds
    while httpx.get(server.url + "/jobs", headers=auth).status_code != 401:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    again = run("keys", "revoke", key_id, "--database-url", db)
    assert again.returncode == 1 and "no active API key" in again.stderr
    assert "Traceback" not in again.stderr


def test_submit_watch_and_jobs_against_a_server(api: ApiEnv) -> None:
    remote = ("--server", api.url)
    key = api.keys["alice"]
    submitted = run("submit", "Countdown", "--input", '{"n": 2, "steps": 2, "delay": 0.01}',
                    "--name", "cli", *remote, CONVEYOR_API_KEY=key)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()

    watched = run("watch", job_id, *remote, CONVEYOR_API_KEY=key)
    assert watched.returncode == 0, watched.stderr
    assert "COMPLETED" in watched.stdout and '{"ticks": 2, "steps": 4}' in watched.stdout
    assert f"/jobs/{job_id}/results/summary.json" in watched.stdout

    failed = run("submit", "Fail", "--watch", *remote, CONVEYOR_API_KEY=key)
    assert failed.returncode == 1 and "FAILED" in failed.stdout
    assert "RuntimeError: boom" in failed.stderr

    listed = run("jobs", "list", "--database-url", api.url, "--api-key", key, "--name", "cli")
    assert listed.returncode == 0 and job_id[:8] in listed.stdout
    shown = run("jobs", "show", job_id, "--database-url", api.url, "--api-key", key)
    assert "COMPLETED" in shown.stdout and "summary.json" in shown.stdout

    for args, message in [
        (("submit", "Nope", *remote), "task.identifier: unknown task 'Nope'"),
        (("submit", "Countdown", "-i", "{bad", *remote), "--input is not valid JSON"),
        (("submit", "Countdown", "-i", '{"n": "x"}', *remote), "task.input.n:"),
        (("watch", "00000000-0000-4000-8000-000000000000", *remote), "not found"),
    ]:
        bad = run(*args, CONVEYOR_API_KEY=key)
        assert bad.returncode == 1 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr
    unauthorized = run("watch", job_id, *remote, CONVEYOR_API_KEY="cvk_wrong")
    assert unauthorized.returncode == 1 and "invalid or revoked API key" in unauthorized.stderr
    unreachable = run("submit", "NoOp", "--server", "http://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_submit_and_watch_embedded(tmp_path: Path, processes: Processes) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    job_id = run("submit", "Countdown", "-i", '{"n": 1, "steps": 2}', "--database-url", db)
    assert job_id.returncode == 0, job_id.stderr
    processes.worker(db)
    watched = run("watch", job_id.stdout.strip(), "--database-url", db)
    assert watched.returncode == 0 and '{"ticks": 1, "steps": 2}' in watched.stdout
    assert "PROCESSING" in watched.stdout  # the job's state events, read from its event log
    bad = run("submit", "Countdown", "-i", '{"n": "x"}', "--database-url", db)
    assert bad.returncode == 1 and "task.input.n" in bad.stderr


def test_dev_runs_api_and_worker(tmp_path: Path) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'c.db'}"
    dev = Server(
        cli("dev", "--port", str(port), "--database-url", db, "--no-notifier"),
        tmp_path / "dev.log",
        child_env(),
        url=f"http://127.0.0.1:{port}",
    )
    dev.start().wait_ready()
    try:
        body = {"name": "dev", "task": {"identifier": "Countdown", "input": {"n": 1, "steps": 1}}}
        job_id = httpx.post(dev.url + "/jobs", json=body).json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{dev.url}/jobs/{job_id}/status").json()["status"] != "COMPLETED":
            assert time.monotonic() < deadline, dev.output()
            time.sleep(0.1)
    finally:
        assert dev.stop(timeout=30) is not None
    assert "worker" in dev.output() and "worker stopped" in dev.output()
