"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 that answers from a script, settings for
fast retries, and a helper that drives a dispatcher until a job's messages settle.

The receiver is a ``ThreadingHTTPServer``: every request is a real TCP connection, so
redirects, timeouts, oversized bodies and concurrent deliveries behave as on a network.
"""

from __future__ import annotations

import collections
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from conveyor.notify.dispatcher import Dispatcher
from conveyor.settings import Settings
from conveyor.store import Store
from conveyor.store._outbox import DeliveryStatus

__all__ = ["Hit", "Reply", "WebhookReceiver", "drain", "fast_settings"]


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    stall: float = 0.0  # seconds to wait before answering (a "timeout" for the sender)
    endless: bool = False  # stream a body that never ends (until the sender hangs up)

    @classmethod
    def timeout(cls, seconds: float = 3.0) -> Reply:
        return cls(stall=seconds)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, {"Location": location}, b"")

    @classmethod
    def endless_body(cls) -> Reply:
        return cls(endless=True)


@dataclass(frozen=True)
class Hit:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections from concurrent dispatchers
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Receivers hung up on by the dispatcher (timeouts, size cap) are expected."""


class WebhookReceiver:
    """Records every POST; answers from ``script`` (in order), then with ``default``.

    ``fail_first_per_message`` answers 500 to the first N attempts of every webhook-id;
    ``hold`` keeps each request open that long, widening the window in which a second
    dispatcher could send the same message concurrently (``overlaps`` records it).
    """

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.script: collections.deque[Reply] = collections.deque()
        self.default = Reply()
        self.fail_first_per_message = 0
        self.hold = 0.0
        self.overlaps: list[str] = []
        self.endless_bytes_sent = 0
        self.endless_done = threading.Event()
        self._inflight: collections.Counter[str] = collections.Counter()
        self._seen: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.server = _Server(("127.0.0.1", 0), self._handler_class())
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *replies: Reply | int) -> None:
        """Queue answers for the next requests (an int is a bare status)."""
        self.script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def hits_for(self, path: str = "/hook") -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _next_reply(self, hit: Hit) -> Reply:
        with self._lock:
            self.hits.append(hit)
            self._seen[hit.webhook_id] += 1
            if self._seen[hit.webhook_id] <= self.fail_first_per_message:
                return Reply(500, body=b"not yet")
            return self.script.popleft() if self.script else self.default

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                hit = Hit(self.path, headers, body, time.time())
                message_id = hit.webhook_id
                with receiver._lock:
                    receiver._inflight[message_id] += 1
                    if message_id and receiver._inflight[message_id] > 1:
                        receiver.overlaps.append(message_id)
                try:
                    reply = receiver._next_reply(hit)
                    if receiver.hold:
                        receiver._closing.wait(receiver.hold)
                    self._send(reply)
                finally:
                    with receiver._lock:
                        receiver._inflight[message_id] -= 1

            def _send(self, reply: Reply) -> None:
                if reply.stall:
                    receiver._closing.wait(reply.stall)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.endless:
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    self._stream_forever()
                    return
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def _stream_forever(self) -> None:
                chunk = b"x" * 65536
                try:
                    while not receiver._closing.is_set() and receiver.endless_bytes_sent < 2**36:
                        self.wfile.write(chunk)
                        receiver.endless_bytes_sent += len(chunk)
                except OSError:
                    pass  # the sender hung up, as it should
                finally:
                    receiver.endless_done.set()

        return Handler


def fast_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings with tiny retry delays and 127.0.0.1 allowed (the receiver lives there)."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "webhook_allowed_hosts": ["127.0.0.1"],
        "webhook_retry_schedule": [0.05, 0.05, 0.05],
        "webhook_timeout_seconds": 1.0,
        "webhook_poll_interval": 0.02,
        "webhook_concurrency": 8,
    }
    values.update(overrides)
    return Settings(**values)


def drain(dispatcher: Dispatcher, store: Store, job_id: UUID, timeout: float = 30.0) -> None:
    """Run the dispatcher until no message of the job is PENDING."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dispatcher.run_once()
        messages = store.list_webhook_messages(job_id)
        if messages and all(m.status is not DeliveryStatus.PENDING for m in messages):
            return
        time.sleep(0.01)
    raise AssertionError(f"webhooks of job {job_id} did not settle in {timeout}s")


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_dispatcher() -> Iterator[Callable[..., Dispatcher]]:
    """``make_dispatcher(store, settings)``: a Dispatcher closed after the test."""
    made: list[Dispatcher] = []

    def make(store: Store, settings: Settings, **kwargs: Any) -> Dispatcher:
        dispatcher = Dispatcher(store, settings, **kwargs)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()
