"""What only the S3 store has: URL parsing, prefixes, endpoint configuration."""

from __future__ import annotations

import boto3
import pytest

from conveyor.blobs import open_blobs
from conveyor.blobs.s3 import S3BlobStore, parse_s3_url


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/p", "b", "p/"),
        ("s3://b/p/q/", "b", "p/q/"),
    ],
)
def test_parse_s3_url(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["s3://", "http://b/p", "b/p"])
def test_parse_s3_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_url(url)


def test_open_blobs_routes_s3(s3_url: str) -> None:
    store = open_blobs(s3_url)
    assert isinstance(store, S3BlobStore)
    assert store.url == s3_url + "/"


def test_keys_live_under_the_prefix(s3_url: str, s3_server: str) -> None:
    store = S3BlobStore(s3_url)
    store.put("a/b", b"x")
    bucket, _ = parse_s3_url(s3_url)
    raw = boto3.client("s3", endpoint_url=s3_server)
    keys = [o["Key"] for o in raw.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["prefix/a/b"]
    # A sibling prefix in the same bucket is another store.
    other = S3BlobStore(s3_url.replace("/prefix", "/other"))
    assert not other.exists("a/b")
    assert list(other.list("")) == []
    assert other.delete_prefix("") == 0
    assert store.get("a/b") == b"x"


def test_endpoint_from_aws_endpoint_url(
    s3_url: str, s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVEYOR_S3_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    store = S3BlobStore(s3_url)
    store.put("k", b"v")
    assert store.get("k") == b"v"


def test_explicit_endpoint_wins(
    s3_url: str, s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing there
    store = S3BlobStore(s3_url, endpoint_url=s3_server)
    store.put("k", b"v")
    assert store.get("k") == b"v"
