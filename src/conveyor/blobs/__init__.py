"""Blob stores for results and job caches: a local directory by default, S3 in production."""

from __future__ import annotations

from conveyor.blobs.base import BlobNotFoundError, BlobStore, check_key, check_prefix

__all__ = ["BlobNotFoundError", "BlobStore", "check_key", "check_prefix", "open_blobs"]


def open_blobs(url: str) -> BlobStore:
    """Open the blob store named by a URL: ``file:///dir``, a plain path, or ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        from conveyor.blobs.s3 import S3BlobStore

        return S3BlobStore(url)
    from conveyor.blobs.local import LocalBlobStore

    return LocalBlobStore(url)
