"""Blobs in an S3 bucket (or any S3-compatible store): ``s3://bucket/prefix``.

Credentials come from the usual AWS environment (env vars, shared config,
instance role). The endpoint is ``CONVEYOR_S3_ENDPOINT_URL`` when set (MinIO,
moto, R2...), else boto3's own ``AWS_ENDPOINT_URL``, else AWS. Keys behave as
in ``LocalBlobStore``: ``list``/``delete_prefix`` take folder prefixes, so
``jobs/1`` never matches ``jobs/10/...``. Results can be served straight from
the bucket through ``presigned_url``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from conveyor.blobs.base import BlobNotFoundError, check_key, check_prefix

__all__ = ["S3BlobStore", "parse_s3_url"]

_MISSING = {"404", "NoSuchKey", "NotFound"}
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); the prefix may be empty."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an S3 URL (s3://bucket/prefix): {url!r}")
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


def _endpoint_url() -> str | None:
    """``CONVEYOR_S3_ENDPOINT_URL``; None lets boto3 apply ``AWS_ENDPOINT_URL`` or AWS."""
    return os.environ.get("CONVEYOR_S3_ENDPOINT_URL") or None


def _folder(prefix: str) -> str:
    """A folder prefix: no leading slash, one trailing slash (empty for the whole store)."""
    prefix = check_prefix(prefix).strip("/")
    return f"{prefix}/" if prefix else ""


class S3BlobStore:
    """Objects under ``prefix`` in one bucket; one thread-safe boto3 client per store."""

    #: Each put waits a network round trip: a batch's puts overlap on threads.
    write_concurrency = 8

    def __init__(
        self, url: str, *, endpoint_url: str | None = None, client: Any | None = None
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}"
        if client is None:
            import boto3
            from botocore.config import Config

            endpoint = endpoint_url or _endpoint_url() or os.environ.get("AWS_ENDPOINT_URL")
            config = Config(
                # Path-style addressing works with every S3-compatible endpoint.
                s3={"addressing_style": "path" if endpoint else "auto"},
                retries={"mode": "standard", "max_attempts": 5},
            )
            client = boto3.client("s3", endpoint_url=endpoint, config=config)
        self.client = client

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        *,
        same_as: str | None = None,
    ) -> None:
        """One ``PutObject``. ``same_as`` is not used: a server-side copy is a round trip
        too, so it saves nothing on the small blobs workers write most."""
        if same_as is not None:
            check_key(same_as)
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            raise self._not_found(exc, key) from None
        return bytes(response["Body"].read())

    def get_range(self, key: str, start: int, end: int | None) -> bytes:
        if start < 0:
            raise ValueError("range start must be >= 0")
        if end is not None and end < start:
            self.size(key)  # BlobNotFoundError for a missing key, like a real read
            return b""
        byte_range = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=byte_range
            )
        except self.client.exceptions.ClientError as exc:
            if _code(exc) == "InvalidRange":  # start past the end: nothing to read
                self.size(key)
                return b""
            raise self._not_found(exc, key) from None
        data = bytes(response["Body"].read())
        if "ContentRange" not in response and start > 0:  # a server that ignored Range
            data = data[start : None if end is None else end + 1]
        return data

    def size(self, key: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            raise self._not_found(exc, key) from None
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + _folder(prefix)):
            for item in page.get("Contents", ()):
                yield item["Key"][strip:]

    def delete_prefix(self, prefix: str) -> int:
        keys = [self.prefix + key for key in self.list(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
        return len(keys)

    def presigned_url(self, key: str, expires_in: int = 3600) -> str | None:
        url = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=int(expires_in),
        )
        return str(url)

    def _not_found(self, exc: Exception, key: str) -> Exception:
        return BlobNotFoundError(key) if _code(exc) in _MISSING else exc


def _code(exc: Exception) -> str:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code", ""))
