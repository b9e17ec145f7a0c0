"""Live job events for SSE and WebSocket clients: one poller per API process, many listeners.

The durable event log in the database is the source of truth. ``EventHub`` runs a
single background task that reads new events (``events_since``) every
``event_poll_interval`` and hands each to the in-memory buffers of the clients
watching that job, so a thousand watchers cost one query per poll, not a thousand.
``notify()`` makes it poll at once (a PostgreSQL LISTEN/NOTIFY hint can call it).

``job_events`` is what a client stream reads: it subscribes first, then replays
the job's log after the client's last seen id, then follows the hub, dropping
ids it has already sent, so there is no gap and no duplicate, and a subscriber
whose buffer overflowed simply replays from the log again.

This relies on the engines' promise that event ids become visible in increasing
order (SQLite serialises writers; PostgreSQL appends events under an advisory
lock at commit). Engines with wake-up hints (``Store.listen_events``: PostgreSQL
LISTEN/NOTIFY) call ``notify()``, so the hub reads new events at once; polling
stays the fallback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

from anyio import to_thread

from conveyor.api.views import event_payload
from conveyor.models import Event, JobState
from conveyor.store import Store

__all__ = ["EventHub", "HubEvent", "Subscription", "job_events"]

log = logging.getLogger("conveyor.api.events")

_TERMINAL = {s.value for s in JobState if s.terminal}


class HubEvent:
    """An event with its public JSON, encoded once and shared by every subscriber."""

    __slots__ = ("_sse", "id", "job_id", "payload", "terminal", "text", "type")

    def __init__(self, event: Event) -> None:
        self.id = event.id
        self.job_id = event.job_id
        self.type = event.type
        self.payload: dict[str, Any] = event_payload(event)
        self.terminal = event.type == "state" and event.data.get("state") in _TERMINAL
        self.text = json.dumps(self.payload, separators=(",", ":"))
        self._sse: bytes | None = None

    @property
    def sse(self) -> bytes:
        """The event as one Server-Sent Events message."""
        if self._sse is None:
            self._sse = f"id: {self.id}\nevent: {self.type}\ndata: {self.text}\n\n".encode()
        return self._sse


class Subscription:
    """One client's buffer of a job's live events.

    Overflow sets ``lagged`` instead of blocking the hub (the reader then catches up
    from the durable log). Waiting costs one future and one timer, not a task: with a
    thousand watchers, every microsecond per event shows in the fan-out latency.
    """

    __slots__ = ("_waiter", "buffer", "hub", "job_id", "lagged", "maxsize")

    def __init__(self, hub: EventHub, job_id: UUID, maxsize: int) -> None:
        self.hub = hub
        self.job_id = job_id
        self.maxsize = maxsize
        self.buffer: deque[HubEvent] = deque()
        self.lagged = False
        self._waiter: asyncio.Future[None] | None = None

    def push(self, event: HubEvent) -> None:
        if len(self.buffer) >= self.maxsize:
            self.lagged = True
        else:
            self.buffer.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get_batch(self, timeout: float) -> list[HubEvent]:
        """Every buffered event, waiting up to ``timeout`` seconds for one ([] if none came)."""
        if not self.buffer and not self.lagged:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        batch = list(self.buffer)
        self.buffer.clear()
        return batch

    def close(self) -> None:
        self.hub._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    """Polls the store's event log and fans events out to subscribers by job id."""

    def __init__(
        self, store: Store, *, interval: float = 0.02, batch: int = 1000, buffer_size: int = 1000
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self.buffer_size = buffer_size
        self.last_id = 0
        self._subs: dict[UUID, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._unlisten: Callable[[], None] | None = None

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subs.values())

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.last_id = await to_thread.run_sync(self.store.last_event_id)
        self._task = asyncio.create_task(self._run(), name="conveyor-event-hub")
        self._unlisten = self.store.listen_events(self.notify)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def notify(self) -> None:
        """Poll now instead of at the next interval; safe to call from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    def subscribe(self, job_id: UUID) -> Subscription:
        """Start receiving the job's live events; use as a context manager."""
        sub = Subscription(self, job_id, self.buffer_size)
        self._subs.setdefault(job_id, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.job_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.job_id]

    async def poll_once(self) -> int:
        """Read and dispatch new events; return how many were read."""
        if not self._subs:
            # Nobody listens: only keep the cursor current (a new stream replays from the log).
            newest = await to_thread.run_sync(self.store.last_event_id)
            if not self._subs:  # else someone subscribed meanwhile: read from the old cursor
                self.last_id = max(self.last_id, newest)
            return 0
        events = await to_thread.run_sync(self.store.events_since, self.last_id, self.batch)
        for event in events:
            self.last_id = event.id
            subs = self._subs.get(event.job_id)
            if subs:
                shared = HubEvent(event)
                for sub in list(subs):
                    sub.push(shared)
        return len(events)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                if await self.poll_once() >= self.batch:
                    continue  # a backlog: read on without waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event hub poll failed; retrying")
                await asyncio.sleep(min(1.0, self.interval * 10))
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()


async def job_events(
    hub: EventHub,
    job_id: UUID,
    after_id: int = 0,
    *,
    keepalive: float = 15.0,
    max_seconds: float | None = None,
    ended: bool = False,
) -> AsyncIterator[list[HubEvent]]:
    """Batches of a job's events after ``after_id`` in id order: the log first, then live
    ones; ends after the terminal state event (or after ``max_seconds``: the client resumes
    from its last id). An empty batch means ``keepalive`` seconds passed without an event.
    ``ended``: the job had finished when the client came; if the log holds nothing after
    ``after_id`` the client has seen it all, and the stream ends at once.

    Batches (rather than single events) let a stream send everything that piled up in one
    write when the server is busy.
    """
    last = after_id
    loop = asyncio.get_running_loop()
    deadline = None if max_seconds is None else loop.time() + max_seconds
    with hub.subscribe(job_id) as sub:
        catch_up = True
        while True:
            if catch_up or sub.lagged:
                sub.lagged = False
                catch_up = False
                sub.buffer.clear()  # whatever it holds, the log has too
                while True:
                    rows = await to_thread.run_sync(hub.store.events_after, job_id, last, 500)
                    replayed = [HubEvent(e) for e in rows]
                    if replayed:
                        last = replayed[-1].id
                        end = _terminal_index(replayed)
                        yield replayed[: end + 1] if end is not None else replayed
                        if end is not None:
                            return
                    if len(rows) < 500:
                        break
                if ended and last == after_id:
                    return
                ended = False  # the job was retried meanwhile: follow it
                continue
            wait = keepalive
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    return
            received = await sub.get_batch(wait)
            if sub.lagged:
                continue  # some were dropped: read them from the log
            if not received:
                if deadline is None or loop.time() < deadline:
                    yield []  # a quiet spell: time for a keep-alive
                continue
            batch = [e for e in received if e.id > last]  # drop what the log replay sent
            if not batch:
                continue
            last = batch[-1].id
            end = _terminal_index(batch)
            yield batch[: end + 1] if end is not None else batch
            if end is not None:
                return


def _terminal_index(batch: list[HubEvent]) -> int | None:
    for index, event in enumerate(batch):
        if event.terminal:
            return index
    return None
