"""The per-job cache: bytes shared by all tasks of a job, kept in the blob store.

Writes are buffered for the attempt and written when it succeeds, just before
its completion commits, so a failed attempt's cache writes are discarded along
with its subtasks and progress. Reads see the attempt's own writes first.

A cache also knows which of its blobs should hold given bytes (``_sources_of``): a result
saved with bytes the attempt wrote to or read from the cache is stored as the same blob
where the blob store can share one (a hard link on a local disk) instead of a second copy.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from uuid import UUID

from conveyor.blobs import BlobNotFoundError, BlobStore, check_key

__all__ = ["JobCache"]


def job_prefix(job_id: UUID) -> str:
    return f"jobs/{job_id}/"


def _fingerprint(value: bytes) -> tuple[int, bytes, bytes]:
    """Cheap to take on every read, and distinct for all but identical-looking values."""
    return len(value), value[:64], value[-64:]


class JobCache:
    """``str`` keys to ``bytes`` values; ``group(name)`` gives a sub-namespace."""

    def __init__(
        self,
        blobs: BlobStore,
        job_id: UUID,
        *,
        prefix: str = "",
        pending: MutableMapping[str, bytes] | None = None,
        _reads: dict[tuple[int, bytes, bytes], str] | None = None,
    ) -> None:
        self._blobs = blobs
        self._job_id = job_id
        self._prefix = prefix
        self._pending: MutableMapping[str, bytes] = {} if pending is None else pending
        #: Values this attempt read, by fingerprint, and the key each was read from; only
        #: the fingerprint is kept, so holding on to it costs no memory.
        self._reads: dict[tuple[int, bytes, bytes], str] = {} if _reads is None else _reads

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError(f"job cache keys are non-empty strings, got {key!r}")
        full = self._prefix + key
        check_key(full)
        return full

    def _blob_key(self, full: str) -> str:
        return f"{job_prefix(self._job_id)}cache/{full}"

    def __setitem__(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"job cache values are bytes, got {type(value).__name__}")
        self._pending[self._key(key)] = bytes(value)

    def __getitem__(self, key: str) -> bytes:
        full = self._key(key)
        if full in self._pending:
            return self._pending[full]
        try:
            value = self._blobs.get(self._blob_key(full))
        except BlobNotFoundError:
            raise KeyError(key) from None
        self._reads[_fingerprint(value)] = full
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        full = self._key(key)
        return full in self._pending or self._blobs.exists(self._blob_key(full))

    def __iter__(self) -> Iterator[str]:
        base = self._blob_key(self._prefix)
        seen = set()
        for blob_key in self._blobs.list(f"{job_prefix(self._job_id)}cache/"):
            if blob_key.startswith(base):
                seen.add(blob_key[len(base) :])
        for full in self._pending:
            if full.startswith(self._prefix):
                seen.add(full[len(self._prefix) :])
        return iter(sorted(seen))

    def keys(self) -> list[str]:
        return list(self)

    def get(self, key: str, default: bytes | None = None) -> bytes | None:
        try:
            return self[key]
        except KeyError:
            return default

    def group(self, name: str) -> JobCache:
        """A sub-namespace: ``cache.group("a")["b"]`` is ``cache["a/b"]``."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"cache group names are non-empty and contain no '/': {name!r}")
        return JobCache(
            self._blobs,
            self._job_id,
            prefix=f"{self._prefix}{name}/",
            pending=self._pending,
            _reads=self._reads,
        )

    def _sources_of(self, values: Sequence[bytes]) -> list[str | None]:
        """For each of ``values``, the blob key that will hold it once this attempt's writes
        are stored: a value it wrote, or one it read and did not overwrite; else None.

        Writes are indexed once by fingerprint, so a task saving many results next to many
        cache entries of one size costs a lookup per result, not a comparison per pair. A
        read is matched by fingerprint only: the blob store checks the bytes themselves
        before it shares them (``put(..., same_as=...)``).
        """
        if not values:
            return []
        written: dict[tuple[int, bytes, bytes], list[str]] = {}
        for full, value in self._pending.items():
            written.setdefault(_fingerprint(value), []).append(full)
        sources: list[str | None] = []
        for data in values:
            found = _fingerprint(data)
            full = next(
                (
                    f
                    for f in written.get(found, ())
                    if self._pending[f] is data or self._pending[f] == data
                ),
                None,
            )
            if full is None:
                read = self._reads.get(found)
                full = read if read is not None and read not in self._pending else None
            sources.append(None if full is None else self._blob_key(full))
        return sources

    def commit(self) -> None:
        """Write this attempt's buffered values to the blob store."""
        for full, value in self._pending.items():
            self._blobs.put(self._blob_key(full), value)
        self._pending.clear()
