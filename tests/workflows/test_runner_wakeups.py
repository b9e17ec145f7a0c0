"""Idle runners and wake-up hints: the runner that lost a race for a hint lets others go first."""

from __future__ import annotations

import threading
import time
from typing import Any

from conveyor import Client
from conveyor.examples import NoOp
from conveyor.store import Store


class _AlwaysHinted:
    """A store whose waits all end at once with a hint; counts the claims."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.claims: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        return True

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        claimed = self._store.claim(*args, **kwargs)
        self.claims.append(len(claimed))
        return claimed


def test_a_runner_that_missed_a_hint_waits_before_claiming_again(client: Client) -> None:
    """Hints that keep finding nothing (another runner took the work) cost a claim every
    1-3 ms at most, not a claim as fast as the database answers."""
    store = _AlwaysHinted(client.store)
    runner = client.runner(tasks=[NoOp], poll_interval=30)
    runner.store = store
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    time.sleep(0.5)
    runner.stop(grace=0)
    thread.join(10)
    assert 0 < len(store.claims) <= 500  # 0.5 s / 1 ms
    assert not any(store.claims)


def test_a_runner_that_won_a_hint_claims_at_once(client: Client) -> None:
    store = _AlwaysHinted(client.store)
    runner = client.runner(tasks=[NoOp], poll_interval=30)
    runner.store = store
    runner._hinted = True
    runner._missed = True
    client.jobs().submit("noop", NoOp())
    assert runner._run_batch() is True
    assert runner._missed is False  # the next hint is claimed without waiting
    assert runner._run_batch() is False  # not after a hint: not a miss either
    assert runner._missed is False
