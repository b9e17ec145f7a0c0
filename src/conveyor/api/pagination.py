"""Opaque cursors for ``GET /jobs``: the (submitted_at, id) of the last job of a page.

Keyset pagination stays correct while new jobs arrive (they sort before the
cursor) and costs one index range scan per page, however deep.
"""

from __future__ import annotations

import base64
import binascii
import json
from uuid import UUID

from conveyor.api.errors import RequestError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(position: tuple[float, UUID]) -> str:
    """A cursor for the page after the job at ``position`` (``Store.job_cursor``)."""
    raw = json.dumps([position[0], str(position[1])], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, UUID]:
    """The position a cursor names; RequestError (422, ``cursor``) if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, job_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(ts), UUID(job_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise RequestError(
            422, ("query", "cursor"), "invalid cursor: pass next_cursor unchanged", "value_error"
        ) from exc
