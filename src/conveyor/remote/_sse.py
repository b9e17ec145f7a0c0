"""Server-Sent Events decoding and the reconnect policy of ``jobs.watch`` (no I/O here).

Both the blocking and the async client feed lines into ``Watch`` and sleep and
reconnect when it says so, so resuming behaves identically in both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from conveyor.models import Event, JobState
from conveyor.remote.errors import RemoteError

__all__ = ["SSEDecoder", "SSEMessage", "Watch", "event_from_json"]

_TERMINAL = {s.value for s in JobState if s.terminal}


@dataclass(frozen=True, slots=True)
class SSEMessage:
    event: str
    data: str
    id: str | None


class SSEDecoder:
    """Feed lines (without their line break); a complete message comes out at a blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, line: str) -> SSEMessage | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            message = SSEMessage(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None  # comment: keep-alive
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\x00" not in value:
            self._id = value
        elif field == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        id=int(data["id"]),
        job_id=UUID(str(data["job_id"])),
        type=str(data["type"]),
        data=dict(data.get("data") or {}),
        created_at=datetime.fromisoformat(str(data["created_at"])),
    )


class Watch:
    """State of one ``watch``: the last event id seen, and when to give up reconnecting."""

    def __init__(
        self,
        job_id: UUID | str,
        last_event_id: int | None,
        max_reconnects: int,
        delay: float | None = None,
    ) -> None:
        self.path = f"/jobs/{job_id}/events"
        self.last_id = last_event_id
        self.max_reconnects = max_reconnects
        #: The caller's delay wins; else the server's ``retry:`` hint, else half a second.
        self.fixed_delay = delay is not None
        self.delay = 0.5 if delay is None else delay
        self.failures = 0
        self.done = False
        self._decoder = SSEDecoder()

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        return headers

    def connected(self) -> None:
        self._decoder = SSEDecoder()

    def feed(self, line: str) -> Event | None:
        """The event a line completes, if any."""
        message = self._decoder.feed(line)
        if self._decoder.retry_ms is not None and not self.fixed_delay:
            self.delay = self._decoder.retry_ms / 1000
        if message is None or message.event not in ("state", "progress"):
            return None
        event = event_from_json(json.loads(message.data))
        self.last_id = event.id
        self.failures = 0
        if event.type == "state" and event.data.get("state") in _TERMINAL:
            self.done = True
        return event

    def ended(self) -> float:
        """The server closed the stream before the job ended (it recycles long streams):
        resume after the usual delay, without counting a failure."""
        return self.delay

    def interrupted(self, reason: object) -> float:
        """The stream broke before the job ended: seconds to wait before resuming, or raise
        RemoteError after ``max_reconnects`` attempts in a row without an event."""
        self.failures += 1
        if self.failures > self.max_reconnects:
            raise RemoteError(f"event stream {self.path} kept failing: {reason}")
        return min(self.delay * 2.0 ** (self.failures - 1), 10.0)
