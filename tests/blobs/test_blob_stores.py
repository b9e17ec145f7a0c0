"""One suite for every BlobStore: the local directory and S3 (moto's server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conveyor.blobs import BlobNotFoundError, BlobStore, open_blobs


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield open_blobs((tmp_path / "blobs").as_uri())
    else:
        yield open_blobs(request.getfixturevalue("s3_url"))


def test_put_get_replace(blobs: BlobStore) -> None:
    blobs.put("jobs/1/results/a.bin", b"one")
    assert blobs.get("jobs/1/results/a.bin") == b"one"
    blobs.put("jobs/1/results/a.bin", b"two", "text/plain")
    assert blobs.get("jobs/1/results/a.bin") == b"two"
    assert blobs.size("jobs/1/results/a.bin") == 3
    assert blobs.exists("jobs/1/results/a.bin")


def test_empty_and_binary_blobs(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 1000
    blobs.put("bin", data)
    blobs.put("empty", b"")
    assert blobs.get("bin") == data
    assert blobs.get("empty") == b""
    assert blobs.size("empty") == 0


def test_missing_keys(blobs: BlobStore) -> None:
    assert not blobs.exists("nope")
    with pytest.raises(BlobNotFoundError):
        blobs.get("nope")
    with pytest.raises(BlobNotFoundError):
        blobs.size("nope")
    with pytest.raises(BlobNotFoundError):
        blobs.get_range("nope", 0, 3)
    with pytest.raises(BlobNotFoundError):
        blobs.get_range("nope", 5, 2)


def test_a_folder_is_not_a_blob(blobs: BlobStore) -> None:
    blobs.put("dir/file", b"x")
    assert not blobs.exists("dir")
    with pytest.raises(BlobNotFoundError):
        blobs.get("dir")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, None, b"0123456789"),
        (0, 0, b"0"),
        (2, 5, b"2345"),
        (7, None, b"789"),
        (8, 100, b"89"),
        (9, 9, b"9"),
        (10, None, b""),
        (12, 20, b""),
        (5, 4, b""),
    ],
)
def test_get_range(blobs: BlobStore, start: int, end: int | None, expected: bytes) -> None:
    blobs.put("digits", b"0123456789")
    assert blobs.get_range("digits", start, end) == expected


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "..", "./a", "a/", "a\\b", "a\x00"])
def test_invalid_keys_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        blobs.put(key, b"x")
    with pytest.raises(ValueError):
        blobs.get(key)


def test_list_is_by_folder(blobs: BlobStore) -> None:
    for key in ["jobs/1/a", "jobs/1/sub/b", "jobs/10/c", "jobs/2/d", "other/e"]:
        blobs.put(key, key.encode())
    assert sorted(blobs.list("jobs/1/")) == ["jobs/1/a", "jobs/1/sub/b"]
    assert sorted(blobs.list("jobs/1")) == ["jobs/1/a", "jobs/1/sub/b"]
    assert sorted(blobs.list("jobs/")) == ["jobs/1/a", "jobs/1/sub/b", "jobs/10/c", "jobs/2/d"]
    assert sorted(blobs.list("")) == [
        "jobs/1/a",
        "jobs/1/sub/b",
        "jobs/10/c",
        "jobs/2/d",
        "other/e",
    ]
    assert list(blobs.list("missing/")) == []


def test_delete_prefix(blobs: BlobStore) -> None:
    for key in ["jobs/1/a", "jobs/1/sub/b", "jobs/10/c"]:
        blobs.put(key, b"x")
    assert blobs.delete_prefix("jobs/1/") == 2
    assert sorted(blobs.list("jobs/")) == ["jobs/10/c"]
    assert blobs.delete_prefix("jobs/1/") == 0
    assert blobs.get("jobs/10/c") == b"x"


@pytest.mark.parametrize("prefix", ["..", "../", "jobs/../..", "./jobs", "a//b/", "a\\b"])
def test_prefixes_reaching_outside_are_refused(blobs: BlobStore, prefix: str) -> None:
    blobs.put("jobs/1/a", b"x")
    with pytest.raises(ValueError):
        list(blobs.list(prefix))
    with pytest.raises(ValueError):
        blobs.delete_prefix(prefix)
    assert blobs.get("jobs/1/a") == b"x"


def test_a_local_delete_prefix_leaves_no_folders_or_temp_files(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    blobs = open_blobs(root.as_uri())
    for key in ["jobs/1/a.png", "jobs/1/cache/b", "jobs/1/previews/0/5.png", "jobs/10/c"]:
        blobs.put(key, b"x")
    (root / "jobs" / "1" / "cache" / ".tmp-0123456789ab-7").write_bytes(b"half")  # a crash's
    assert blobs.delete_prefix("jobs/1/") == 3
    assert not (root / "jobs" / "1").exists()
    assert blobs.get("jobs/10/c") == b"x"
    assert blobs.delete_prefix("") == 1
    assert root.is_dir() and not any(root.iterdir())  # the store's own folder stays
    blobs.put("jobs/2/d", b"y")
    assert blobs.get("jobs/2/d") == b"y"


def test_delete_prefix_in_batches(blobs: BlobStore) -> None:
    for i in range(1005):
        blobs.put(f"many/{i:04d}", b"")
    assert blobs.delete_prefix("many/") == 1005
    assert list(blobs.list("many/")) == []


def test_concurrent_writers(blobs: BlobStore) -> None:
    def write(n: int) -> None:
        for i in range(20):
            blobs.put(f"c/{n}/{i}", f"{n}-{i}".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(blobs.list("c/"))) == 80
    assert blobs.get("c/3/19") == b"3-19"


def test_presigned_url(blobs: BlobStore) -> None:
    blobs.put("jobs/9/results/out.png", b"\x89PNG...", "image/png")
    url = blobs.presigned_url("jobs/9/results/out.png", expires_in=60)
    if blobs.url.startswith("file:"):
        assert url is None  # a local directory has no URL to hand out
        return
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"\x89PNG..."
    assert response.headers["content-type"] == "image/png"


def test_put_same_as_stores_the_data_whatever_the_source_holds(blobs: BlobStore) -> None:
    blobs.put("jobs/1/cache/a", b"same bytes")
    blobs.put("jobs/1/results/a", b"same bytes", "text/plain", same_as="jobs/1/cache/a")
    blobs.put("jobs/1/results/b", b"other bytes", same_as="jobs/1/cache/a")
    blobs.put("jobs/1/results/c", b"no source", same_as="jobs/1/cache/missing")
    blobs.put("jobs/2/results/d", b"same bytes", same_as="jobs/1/cache/a")  # new folder
    assert blobs.get("jobs/1/results/a") == b"same bytes"
    assert blobs.get("jobs/1/results/b") == b"other bytes"
    assert blobs.get("jobs/1/results/c") == b"no source"
    assert blobs.get("jobs/2/results/d") == b"same bytes"
    assert blobs.get("jobs/1/cache/a") == b"same bytes"
    # The keys stay independent: replacing one leaves the other as it was.
    blobs.put("jobs/1/cache/a", b"replaced")
    assert blobs.get("jobs/1/results/a") == b"same bytes"
    blobs.put("jobs/2/results/d", b"replaced too")
    assert blobs.get("jobs/1/results/a") == b"same bytes"
    assert sorted(blobs.list("jobs/")) == [
        "jobs/1/cache/a",
        "jobs/1/results/a",
        "jobs/1/results/b",
        "jobs/1/results/c",
        "jobs/2/results/d",
    ]
    with pytest.raises(ValueError):
        blobs.put("jobs/1/results/e", b"x", same_as="../escape")


def test_a_local_put_same_as_a_blob_with_those_bytes_is_a_hard_link(tmp_path: Path) -> None:
    """No new file (inode) and no bytes written: creating files is what local writes cost."""
    blobs = open_blobs((tmp_path / "blobs").as_uri())
    blobs.put("jobs/1/cache/a", b"same bytes")
    blobs.put("jobs/1/results/a", b"same bytes", same_as="jobs/1/cache/a")
    blobs.put("jobs/1/results/b", b"same bytez", same_as="jobs/1/cache/a")
    root = tmp_path / "blobs" / "jobs" / "1"
    source = (root / "cache" / "a").stat()
    assert (root / "results" / "a").stat().st_ino == source.st_ino
    assert source.st_nlink == 2
    assert (root / "results" / "b").stat().st_ino != source.st_ino
    # Linked again (a retried attempt), or to itself: still one file, no temp name left.
    blobs.put("jobs/1/results/a", b"same bytes", same_as="jobs/1/cache/a")
    blobs.put("jobs/1/cache/a", b"same bytes", same_as="jobs/1/cache/a")
    assert (root / "cache" / "a").stat().st_nlink == 2
    assert blobs.get("jobs/1/results/a") == b"same bytes"
    # Nothing left behind by the link checked and dropped, or by the ones already in place.
    assert sorted(p.name for p in (root / "results").iterdir()) == ["a", "b"]
    assert sorted(p.name for p in (root / "cache").iterdir()) == ["a"]


def test_a_local_put_same_as_writes_where_hard_links_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    blobs = open_blobs((tmp_path / "blobs").as_uri())
    blobs.put("jobs/1/cache/a", b"same bytes")
    monkeypatch.setattr(os, "link", refuse)
    blobs.put("jobs/1/results/a", b"same bytes", same_as="jobs/1/cache/a")
    assert blobs.get("jobs/1/results/a") == b"same bytes"
    results = tmp_path / "blobs" / "jobs" / "1" / "results"
    assert (results / "a").stat().st_nlink == 1
    assert [p.name for p in results.iterdir()] == ["a"]
