"""The webhook dispatcher: drains the outbox, POSTs each message, records every attempt.

Delivery is at least once. A message leaves the outbox only after an attempt's
outcome is committed; a dispatcher that dies mid-attempt leaves the message
leased until its lease runs out, and then another dispatcher (or this one,
restarted) sends it again with the same ``webhook-id``, which is the receiver's
key to drop duplicates. Any number of dispatchers (one per API server, or
``conveyor notifier``) can share a database: the store leases each message to
one of them at a time.

Threads and loops: the dispatcher runs on one background thread that owns an
asyncio loop, so one slow receiver holds one of ``webhook_concurrency`` slots
rather than the whole dispatcher. HTTP is async (httpx, under one deadline per
attempt); the store stays synchronous and is called from that loop directly:
its calls are short single-row transactions, and one code path per operation
beats a second, async store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from types import TracebackType

import httpx

from conveyor.exceptions import JobNotFoundError
from conveyor.models import Job
from conveyor.notify._metrics import count_outcome
from conveyor.notify.payload import webhook_body
from conveyor.notify.retry import RetryPolicy, Verdict, classify
from conveyor.notify.sender import AttemptResult, new_http_client, send_webhook
from conveyor.notify.signing import signature_headers
from conveyor.notify.ssrf import AllowList
from conveyor.settings import Settings
from conveyor.store import Store
from conveyor.store._outbox import AttemptOutcome, DeliveryStatus, OutboxMessage

__all__ = ["Dispatcher"]

log = logging.getLogger("conveyor.notify")

#: How long a tenant's secret is cached: a rotated secret is used within this time.
_SECRET_TTL = 60.0


class Dispatcher:
    """Delivers the webhook outbox of one store; ``start()``/``stop()`` or ``run_once()``."""

    def __init__(
        self, store: Store, settings: Settings | None = None, *, worker_id: str | None = None
    ) -> None:
        s = settings if settings is not None else Settings()
        self.store = store
        self.settings = s
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.allowed = AllowList(s.webhook_allowed_hosts)
        self.policy = RetryPolicy.of(s.webhook_retry_schedule, s.webhook_retry_jitter)
        self.timeout = s.webhook_timeout_seconds
        self.max_response_bytes = s.webhook_max_response_bytes
        self.poll_interval = s.webhook_poll_interval
        self.concurrency = s.webhook_concurrency
        self.public_url: str | None = getattr(s, "public_url", None)
        # Outlives an attempt (capped at timeout) plus preparing and recording it.
        self.lease_seconds = 2 * self.timeout + 30.0
        self._resolver: ThreadPoolExecutor | None = None  # DNS lookups, created on demand
        self._secrets: dict[str, tuple[float, str]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a background thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._main, name="conveyor-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, wait for attempts in flight (each capped by the timeout), and
        release the DNS threads (a lookup stuck past its deadline is abandoned)."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(self.timeout + 5.0 if timeout is None else timeout)
            self._thread = None
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            resolver.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Same as ``stop()``; for ``with Dispatcher(...)``."""
        self.stop()

    def wake(self) -> None:
        """Look for due messages now instead of at the next poll (thread-safe)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Dispatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def run_once(self) -> int:
        """Claim the messages due now, deliver them concurrently, record each outcome.

        Returns how many messages were attempted. For tests and one-shot use; call it
        from a thread without a running event loop.
        """
        return asyncio.run(self._run_once())

    # -- loop ----------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:
            log.exception("webhook dispatcher %s crashed", self.worker_id)

    async def _run_once(self) -> int:
        messages = self._claim(self.concurrency)
        if messages:
            async with new_http_client(self.timeout) as client:
                await asyncio.gather(*(self._deliver(client, m) for m in messages))
        return len(messages)

    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        inflight: set[asyncio.Task[None]] = set()
        log.info("webhook dispatcher %s started", self.worker_id)
        try:
            async with new_http_client(self.timeout) as client:
                while not self._stopping.is_set():
                    free = self.concurrency - len(inflight)
                    messages = self._claim(free) if free > 0 else []
                    for message in messages:
                        task = asyncio.create_task(self._deliver(client, message))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    if messages and len(messages) == free:
                        continue  # more may be due; the next round waits for a free slot
                    await self._idle(inflight)
                if inflight:
                    await asyncio.gather(*inflight, return_exceptions=True)
        finally:
            self._loop = None
            log.info("webhook dispatcher %s stopped", self.worker_id)

    async def _idle(self, inflight: set[asyncio.Task[None]]) -> None:
        """Wait for the poll interval, a finished attempt (it may unblock the job's next
        message, or free a slot) or ``wake()``."""
        assert self._wake is not None
        self._wake.clear()
        if self._stopping.is_set():
            return
        woken = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait(
                {woken, *inflight},
                timeout=self.poll_interval,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            woken.cancel()

    def _claim(self, limit: int) -> list[OutboxMessage]:
        try:
            return self.store.claim_webhooks(
                self.worker_id, limit=limit, lease_seconds=self.lease_seconds
            )
        except Exception:
            log.exception("could not claim webhook messages")
            return []

    # -- one message ---------------------------------------------------------------------------
    async def _deliver(self, client: httpx.AsyncClient, message: OutboxMessage) -> None:
        try:
            body, headers = self._prepare(message)
        except Exception as exc:
            log.exception("could not prepare webhook %s", message.id)
            result = AttemptResult(None, f"could not prepare the message: {exc}", 0.0)
        else:
            result = await send_webhook(
                client,
                message.url,
                body,
                headers,
                allowed=self.allowed,
                timeout=self.timeout,
                max_response_bytes=self.max_response_bytes,
                resolver=self._resolver_pool(),
            )
        outcome = self._outcome(message, result)
        try:
            owned = self.store.record_webhook_attempt(message, outcome)
        except Exception:
            log.exception("could not record attempt %d of webhook %s", message.attempts, message.id)
            return
        count_outcome(outcome.status.value.lower(), result.duration_ms / 1000)
        if not owned:
            log.warning("webhook %s attempt %d outlived its lease", message.id, message.attempts)
        log.log(
            logging.INFO if outcome.status is DeliveryStatus.DELIVERED else logging.WARNING,
            "webhook %s %s attempt %d to %s: %s%s",
            message.id,
            message.event_type,
            message.attempts,
            message.url,
            outcome.status.value,
            f" ({outcome.error})" if outcome.error else "",
        )

    def _resolver_pool(self) -> ThreadPoolExecutor:
        if self._resolver is None:
            self._resolver = ThreadPoolExecutor(self.concurrency, "conveyor-webhook-dns")
        return self._resolver

    def _prepare(self, message: OutboxMessage) -> tuple[bytes, dict[str, str]]:
        """The signed body; the timestamp is this attempt's, so retries stay fresh."""
        job: Job | None
        try:
            job = self.store.get_job(message.job_id)
        except JobNotFoundError:
            job = None
        body = webhook_body(message.payload, job, self.public_url)
        return body, signature_headers(self._secret(message.tenant), message.id, body)

    def _secret(self, tenant: str) -> str:
        cached = self._secrets.get(tenant)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        # The API's tenant operations when present, else the outbox's own fallback.
        lookup = getattr(self.store, "get_tenant_secret", None) or self.store._webhook_secret  # type: ignore[attr-defined]
        secret = str(lookup(tenant))
        self._secrets[tenant] = (now + _SECRET_TTL, secret)
        return secret

    def _outcome(self, message: OutboxMessage, result: AttemptResult) -> AttemptOutcome:
        verdict = classify(result.status_code, retryable_error=result.retryable)
        status, error, retry_at = DeliveryStatus.FAILED, result.error, None
        if verdict is Verdict.DELIVERED:
            status = DeliveryStatus.DELIVERED
        elif verdict is Verdict.RETRY:
            delay = self.policy.delay(
                message.series_attempt,
                status_code=result.status_code,
                retry_after=result.retry_after,
            )
            if delay is None:
                error = f"{result.error}; gave up after {message.series_attempt} attempts"
            else:
                status, retry_at = DeliveryStatus.RETRYING, time.time() + delay
        return AttemptOutcome(status, result.status_code, error, result.duration_ms, retry_at)
