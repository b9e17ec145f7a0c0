"""The blob store protocol: results and job cache bytes, by key.

Keys are ``/``-separated relative paths (``jobs/<id>/cache/<key>``). Stores never
see a key with ``..`` or an absolute path: ``check_key`` refuses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["BlobNotFoundError", "BlobStore", "check_key", "check_prefix"]


class BlobNotFoundError(KeyError):
    """No blob is stored under this key."""


def check_key(key: str) -> str:
    """Validate a blob key: relative, no empty, ``.`` or ``..`` segments, no NUL."""
    if not isinstance(key, str) or not key:
        raise ValueError("blob key must be a non-empty string")
    if key.startswith("/") or "\x00" in key or "\\" in key:
        raise ValueError(f"invalid blob key {key!r}")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a folder prefix: ``""`` (everything) or a key's leading segments, with or
    without slashes around them; like keys, no ``.``/``..`` segments (nothing outside)."""
    if not isinstance(prefix, str):
        raise ValueError("blob prefix must be a string")
    folder = prefix.strip("/")
    if folder:
        check_key(folder)
    return prefix


class BlobStore(Protocol):
    """Bytes by key: local directory by default, S3 in production."""

    url: str
    #: How many ``put`` calls are worth running at once (a runner writes a batch's outputs
    #: with that many threads): a network store's waits overlap, while a local disk's writes
    #: are the kernel's CPU work and more threads only add hand-offs.
    write_concurrency: int

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        same_as: str | None = None,
    ) -> None:
        """Store ``data`` under ``key``, replacing any previous value atomically.

        ``same_as`` names a blob that should hold these very bytes (a job cache entry saved
        again as a result): a store that can share stored bytes between keys checks that it
        does and shares them instead of writing them again; any other store, or a blob that
        turns out to differ, gets an ordinary write. ``key`` holds ``data`` either way.
        """
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; BlobNotFoundError if absent."""
        ...

    def get_range(self, key: str, start: int, end: int | None) -> bytes:
        """Bytes ``start..end`` (inclusive end, None = to the end) of a blob."""
        ...

    def size(self, key: str) -> int:
        """Size in bytes; BlobNotFoundError if absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a ``/``-terminated folder prefix)."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix`` (and whatever a store keeps for them there,
        such as a local directory's folders); return how many blobs."""
        ...

    def presigned_url(self, key: str, expires_in: int = 3600) -> str | None:
        """A URL a client can fetch directly, or None if the store cannot make one."""
        ...
