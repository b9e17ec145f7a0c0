"""The per-job cache: bytes shared by all tasks of a job.

Writes are buffered for the attempt and stored with its completion, in the same
transaction, so a failed attempt's cache writes are discarded along with its subtasks and
progress, and a worker that lost its lease cannot overwrite what a newer attempt cached.
Reads see the attempt's own writes first.

Where the bytes go: the store's row holds a value of up to ``INLINE_LIMIT`` bytes itself
(the small entries workflows pass around cost no file and no request), a bigger value is
written to a blob of the attempt that wrote it (``jobs/<id>/attempts/<task>-<attempt>/``)
and the row names that blob. Entries written before the rows existed are blobs at
``jobs/<id>/cache/<key>``; reads still find them there.

A cache also knows which blobs should hold given bytes (``_stage``): a result saved with
bytes the attempt wrote to or read from the cache is stored as the same blob where the
blob store can share one (a hard link on a local disk) instead of a second copy.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from conveyor.blobs import BlobNotFoundError, BlobStore, check_key
from conveyor.exceptions import StoreError
from conveyor.store.records import CacheEntry

if TYPE_CHECKING:
    from conveyor.store import Store

__all__ = ["INLINE_LIMIT", "JobCache"]

#: Values up to this many bytes are stored in the database row, bigger ones in a blob.
INLINE_LIMIT = 64 * 1024

_Fingerprint = tuple[int, bytes, bytes]


def job_prefix(job_id: UUID) -> str:
    return f"jobs/{job_id}/"


def _fingerprint(value: bytes) -> _Fingerprint:
    """Cheap to take on every read, and distinct for all but identical-looking values."""
    return len(value), value[:64], value[-64:]


class JobCache:
    """``str`` keys to ``bytes`` values; ``group(name)`` gives a sub-namespace.

    Created by the runner for each attempt (``ExecutionContext.job_cache``).
    """

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        job_id: UUID,
        *,
        task_id: UUID,
        attempt: int,
        prefix: str = "",
        pending: MutableMapping[str, bytes] | None = None,
        _reads: dict[_Fingerprint, str] | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._job_id = job_id
        self._task_id = task_id
        self._attempt = attempt
        self._prefix = prefix
        self._pending: MutableMapping[str, bytes] = {} if pending is None else pending
        #: The blobs holding values this attempt read (or named by their rows as holding the
        #: same bytes), by the value's fingerprint. Blobs are never rewritten in place (a
        #: write goes to a new attempt's blob), so a read blob keeps the bytes read. Only the
        #: fingerprint is kept, so holding on to it costs no memory.
        self._reads: dict[_Fingerprint, str] = {} if _reads is None else _reads

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError(f"job cache keys are non-empty strings, got {key!r}")
        full = self._prefix + key
        check_key(full)
        return full

    def _legacy_key(self, full: str) -> str:
        """Where versions before the store's rows kept an entry."""
        return f"{job_prefix(self._job_id)}cache/{full}"

    def _attempt_key(self, full: str) -> str:
        """The blob of a big value this attempt writes: its own, so no other attempt's
        write can replace the bytes its committed row names."""
        return f"{job_prefix(self._job_id)}attempts/{self._task_id}-{self._attempt}/{full}"

    def __setitem__(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"job cache values are bytes, got {type(value).__name__}")
        self._pending[self._key(key)] = bytes(value)

    def __getitem__(self, key: str) -> bytes:
        full = self._key(key)
        if full in self._pending:
            return self._pending[full]
        return self._read(key, full, self._store.get_cache_entry(self._job_id, full))

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The values of those of ``keys`` the cache holds, by key, from one database read
        (a final task gathering the entries of many tasks: one round trip, not one each)."""
        if isinstance(keys, str):
            raise TypeError("get_many takes a sequence of keys, not one key")
        fulls = {key: self._key(key) for key in keys}
        stored = [f for f in fulls.values() if f not in self._pending]
        entries = self._store.get_cache_entries(self._job_id, stored) if stored else {}
        found: dict[str, bytes] = {}
        for key, full in fulls.items():
            if full in self._pending:
                found[key] = self._pending[full]
                continue
            try:
                found[key] = self._read(key, full, entries.get(full))
            except KeyError:
                pass
        return found

    def _read(self, key: str, full: str, entry: CacheEntry | None) -> bytes:
        """The value of a stored entry (or of one an earlier version left as a blob)."""
        source: str | None
        if entry is None:
            source = self._legacy_key(full)
            try:
                value = self._blobs.get(source)
            except BlobNotFoundError:
                raise KeyError(key) from None
        elif entry.value is not None:
            value, source = entry.value, entry.shared_key
        else:
            assert entry.blob_key is not None  # the table's CHECK: one or the other
            source = entry.blob_key
            try:
                value = self._blobs.get(source)
            except BlobNotFoundError:  # lost data, not a missing key: get() must not say None
                raise StoreError(
                    f"job cache entry {full!r} is stored in blob {source!r}, which is missing"
                ) from None
        if source is not None:
            self._reads[_fingerprint(value)] = source
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        full = self._key(key)
        return (
            full in self._pending
            or self._store.get_cache_entry(self._job_id, full) is not None
            or self._blobs.exists(self._legacy_key(full))
        )

    def __iter__(self) -> Iterator[str]:
        start = len(self._prefix)
        seen = {k[start:] for k in self._store.list_cache_keys(self._job_id, self._prefix)}
        legacy = self._legacy_key(self._prefix)
        for blob_key in self._blobs.list(f"{job_prefix(self._job_id)}cache/"):
            if blob_key.startswith(legacy):
                seen.add(blob_key[len(legacy) :])
        for full in self._pending:
            if full.startswith(self._prefix):
                seen.add(full[start:])
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
            self._store,
            self._blobs,
            self._job_id,
            task_id=self._task_id,
            attempt=self._attempt,
            prefix=f"{self._prefix}{name}/",
            pending=self._pending,
            _reads=self._reads,
        )

    def _stage(
        self, results: Sequence[tuple[str, bytes]]
    ) -> tuple[list[CacheEntry], list[str | None]]:
        """This attempt's writes as store entries, and for each ``(blob key, bytes)`` result
        the blob that should hold the same bytes (None: none).

        Values over ``INLINE_LIMIT`` are written to the attempt's own blobs now (the
        completion that names them commits after); a result with a written value's bytes
        shares its blob. A small value saved as a result too names that result in its row
        (``shared_key``), so a later task that reads the value and publishes it again (a
        one-image contact sheet) can share the blob. Results and writes are indexed once by
        fingerprint, so many of them cost a lookup each, not a comparison per pair. A read
        is matched by fingerprint only: the blob store checks the bytes themselves before it
        shares them (``put(..., same_as=...)``).
        """
        prints = [_fingerprint(data) for _, data in results]
        saved: dict[_Fingerprint, list[tuple[str, bytes]]] = {}
        for found, result in zip(prints, results, strict=True):
            saved.setdefault(found, []).append(result)
        entries: list[CacheEntry] = []
        written: dict[_Fingerprint, list[tuple[str, bytes]]] = {}
        for full, value in self._pending.items():
            found = _fingerprint(value)
            if len(value) <= INLINE_LIMIT:
                shared = _same(saved.get(found, ()), value)
                entries.append(CacheEntry(full, len(value), value=value, shared_key=shared))
                continue
            blob_key = self._attempt_key(full)
            self._blobs.put(blob_key, value)
            entries.append(CacheEntry(full, len(value), blob_key=blob_key))
            written.setdefault(found, []).append((blob_key, value))
        sources: list[str | None] = []
        for found, (_, data) in zip(prints, results, strict=True):
            source = _same(written.get(found, ()), data)
            sources.append(source if source is not None else self._reads.get(found))
        return entries, sources


def _same(candidates: Sequence[tuple[str, bytes]], data: bytes) -> str | None:
    """The key of the first candidate holding exactly ``data``."""
    return next((k for k, v in candidates if v is data or v == data), None)
