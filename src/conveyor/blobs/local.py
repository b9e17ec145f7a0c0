"""Blobs as files in a local directory (the embedded default, ``file://./conveyor-data``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from conveyor.blobs.base import BlobNotFoundError, check_key

__all__ = ["LocalBlobStore"]


def _path_of(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.netloc + parsed.path))
    if parsed.scheme == "":
        return Path(url)
    raise ValueError(f"not a file URL: {url!r}")


class LocalBlobStore:
    """Files under a root directory; writes go to a temp file and are renamed into place."""

    def __init__(self, url: str) -> None:
        self.root = _path_of(url).resolve()
        self.url = self.root.as_uri()
        self.root.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
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
