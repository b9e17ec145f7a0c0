"""``conveyor notifier`` delivers from the outbox on its own and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess

import pytest

from conveyor.examples import EXAMPLE_TASKS, NoOp
from conveyor.store._outbox import DeliveryStatus
from conveyor.workflows import Client
from plugins.webhooks import WebhookReceiver


@pytest.mark.slow
def test_notifier_delivers_until_sigterm(
    client: Client,
    db_url: str,
    webhook_receiver: WebhookReceiver,
    subprocess_env: dict[str, str],
    python: str,
) -> None:
    job = client.jobs().submit("n", NoOp(), callback_url=webhook_receiver.url())
    client.runner(tasks=EXAMPLE_TASKS).run_all()
    env = {**subprocess_env, "CONVEYOR_WEBHOOK_POLL_INTERVAL": "0.05"}
    proc = subprocess.Popen(
        [python, "-c", "from conveyor.cli import main; main()", "notifier",
         "--database-url", db_url, "--webhook-allowed-hosts", "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert webhook_receiver.wait_for(lambda: len(webhook_receiver.hits) == 1, timeout=30)
        assert webhook_receiver.wait_for(
            lambda: client.store.list_webhook_messages(job.id)[0].status is DeliveryStatus.DELIVERED
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "notifier stopped" in output


def test_notifier_refuses_a_server_url(subprocess_env: dict[str, str], python: str) -> None:
    result = subprocess.run(
        [python, "-c", "from conveyor.cli import main; main()", "notifier",
         "--database-url", "http://127.0.0.1:8000"],
        env=subprocess_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "database URL" in result.stderr
