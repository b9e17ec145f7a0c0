"""The event hub in-process: one poller, fan-out by job, replay + live without gaps."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from conveyor.api.events import EventHub, HubEvent, job_events
from conveyor.examples import NoOp
from conveyor.store.records import ProgressValue
from conveyor.workflows import Client


def _write_progress(client: Client, job_id: uuid.UUID, steps: int) -> None:
    """Progress events the way a runner writes them (claim, then flushes)."""
    [claimed] = client.store.claim("w", ["NoOp@v0"])
    assert claimed.job_id == job_id
    for done in range(1, steps + 1):
        client.store.flush_progress(
            claimed.id, claimed.attempt, [ProgressValue("p", steps, done)], 30
        )
    client.store.complete_task(claimed.id, claimed.attempt)


def test_replay_then_live_without_gaps_or_duplicates(client: Client) -> None:
    async def main() -> tuple[list[int], list[int]]:
        hub = EventHub(client.store, interval=0.005)
        await hub.start()
        try:
            job = client.jobs().submit("hub", NoOp())
            other = client.jobs().submit("other", NoOp())
            seen: list[int] = []

            async def follow() -> None:
                async for batch in job_events(hub, job.id, 0, keepalive=0.05):
                    for event in batch:
                        assert event.job_id == job.id
                        seen.append(event.id)

            task = asyncio.create_task(follow())
            await asyncio.sleep(0.05)
            await asyncio.to_thread(_write_progress, client, job.id, 20)
            await asyncio.wait_for(task, 10)
            assert hub.subscribers == 0
            client.jobs().cancel(other)
            return seen, [e.id for e in client.store.events_after(job.id)]
        finally:
            await hub.stop()

    seen, logged = asyncio.run(main())
    assert seen == logged and len(seen) == 1 + 1 + 20 + 1  # queued, started, 20 x p, done


def test_overflowing_subscriber_catches_up_from_the_log(client: Client) -> None:
    async def main() -> tuple[list[int], list[int]]:
        hub = EventHub(client.store, interval=0.005, buffer_size=2)
        await hub.start()
        try:
            job = client.jobs().submit("slow reader", NoOp())
            seen: list[int] = []
            stream = job_events(hub, job.id, 0, keepalive=0.05)
            seen += [e.id for e in await anext(stream)]  # QUEUED, from the log
            await asyncio.to_thread(_write_progress, client, job.id, 30)
            await asyncio.sleep(0.2)  # the hub fills the 2-slot buffer and drops the rest
            async for batch in stream:
                seen += [e.id for e in batch]
            return seen, [e.id for e in client.store.events_after(job.id)]
        finally:
            await hub.stop()

    seen, logged = asyncio.run(main())
    assert seen == logged


def test_stream_resumes_after_an_id_and_stops_at_max_seconds(client: Client) -> None:
    async def main() -> list[Any]:
        hub = EventHub(client.store, interval=0.005)
        await hub.start()
        try:
            job = client.jobs().submit("idle", NoOp())
            ids = [e.id for e in client.store.events_after(job.id)]
            return [
                e async for e in job_events(hub, job.id, ids[-1], keepalive=0.02, max_seconds=0.1)
            ]
        finally:
            await hub.stop()

    batches = asyncio.run(main())
    assert batches and all(b == [] for b in batches)  # only keep-alives, then the end


def test_notify_wakes_the_hub_from_another_thread(client: Client) -> None:
    async def main() -> int:
        hub = EventHub(client.store, interval=30)  # would never poll by itself in this test
        await hub.start()
        try:
            job = client.jobs().submit("hint", NoOp())
            stream = job_events(hub, job.id, 0, keepalive=5)
            assert len(await anext(stream)) == 1  # QUEUED, from the log
            await asyncio.sleep(0.05)
            await asyncio.to_thread(client.jobs().cancel, job)
            await asyncio.to_thread(hub.notify)
            [event] = await asyncio.wait_for(anext(stream), 5)
            assert isinstance(event, HubEvent) and event.terminal
            return event.id
        finally:
            await hub.stop()

    assert asyncio.run(main()) > 0


def test_hub_event_shapes(client: Client) -> None:
    job = client.jobs().submit("shape", NoOp())
    client.jobs().cancel(job)
    queued, canceled = (HubEvent(e) for e in client.store.events_after(job.id))
    assert queued.payload["data"] == {"state": "QUEUED", "status": "PENDING"}
    assert canceled.terminal and not queued.terminal
    assert canceled.sse.startswith(f"id: {canceled.id}\nevent: state\ndata: {{".encode())
    assert canceled.sse.endswith(b"}\n\n")
