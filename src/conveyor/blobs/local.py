"""Blobs as files in a local directory (the embedded default, ``file://./conveyor-data``)."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from conveyor.blobs.base import BlobNotFoundError, check_key

__all__ = ["LocalBlobStore"]

_CREATE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
_temp_names = itertools.count()
_process_tag = os.urandom(6).hex()


def _new_process_tag() -> None:
    global _process_tag
    _process_tag = os.urandom(6).hex()


# A forked child must not draw the temp names its parent draws.
os.register_at_fork(after_in_child=_new_process_tag)


def _path_of(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.netloc + parsed.path))
    if parsed.scheme == "":
        return Path(url)
    raise ValueError(f"not a file URL: {url!r}")


class LocalBlobStore:
    """Files under a root directory; writes go to a temp file and are renamed into place."""

    #: One at a time: 8 tasks' outputs written by 8 threads took 2.6 ms against 1.7 ms
    #: in a row on ext4, 1.7 against 0.8 ms on tmpfs (2 cores).
    write_concurrency = 1

    def __init__(self, url: str) -> None:
        self.root = _path_of(url).resolve()
        self.url = self.root.as_uri()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)

    def _file(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write a temp file next to the blob and rename it into place (readers see the old
        bytes or the new, never part). Few system calls: a worker writes several blobs per
        image, and the directories exist already for all but a job's first few."""
        path = os.path.join(self._root, *check_key(key).split("/"))
        parent = os.path.dirname(path)
        # Unique without a retry loop: a per-process random tag and a counter.
        tmp = os.path.join(parent, f".tmp-{_process_tag}-{next(_temp_names)}")
        try:
            fd = os.open(tmp, _CREATE, 0o600)
        except FileNotFoundError:
            os.makedirs(parent, exist_ok=True)
            fd = os.open(tmp, _CREATE, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._file(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def get_range(self, key: str, start: int, end: int | None) -> bytes:
        try:
            with self._file(key).open("rb") as f:
                f.seek(start)
                return f.read(-1 if end is None else max(0, end - start + 1))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def size(self, key: str) -> int:
        try:
            return self._file(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root.joinpath(*[p for p in prefix.split("/") if p])
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for name in sorted(files):
                if name.startswith(".tmp-"):
                    continue
                yield Path(dirpath, name).relative_to(self.root).as_posix()

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in list(self.list(prefix)):
            self._file(key).unlink(missing_ok=True)
            count += 1
        return count

    def presigned_url(self, key: str, expires_in: int = 3600) -> str | None:
        return None
