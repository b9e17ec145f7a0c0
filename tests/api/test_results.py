"""Result downloads: content type, byte ranges, 416, unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.api.errors import RequestError
from conveyor.api.routers.results import _chunks, parse_range
from conveyor.blobs import open_blobs
from plugins.api import ApiEnv, wait_status


@pytest.fixture(scope="module")
def result_url(api: ApiEnv) -> str:
    with api.http() as http:
        body = {"name": "r", "task": {"identifier": "Countdown", "input": {"n": 3, "steps": 1}}}
        job_id = http.post("/jobs", json=body).json()["id"]
        url: str = wait_status(http, job_id, {"COMPLETED"})["result"]["files"][0]["url"]
        return url


def test_ranges(api: ApiEnv, result_url: str) -> None:
    with api.http() as http:
        whole = http.get(result_url)
        assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-type"].startswith("application/json")
        data = whole.content
        size = len(data)
        for header, expected, span in [
            ("bytes=0-4", data[:5], f"0-4/{size}"),
            ("bytes=5-", data[5:], f"5-{size - 1}/{size}"),
            ("bytes=-3", data[-3:], f"{size - 3}-{size - 1}/{size}"),
            (f"bytes=2-{size + 50}", data[2:], f"2-{size - 1}/{size}"),
        ]:
            part = http.get(result_url, headers={"Range": header})
            assert part.status_code == 206, header
            assert part.content == expected
            assert part.headers["content-range"] == f"bytes {span}"
            assert int(part.headers["content-length"]) == len(expected)
        beyond = http.get(result_url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"
        assert beyond.json()["detail"][0]["loc"] == ["header", "Range"]
        several = http.get(result_url, headers={"Range": "bytes=0-1,4-5"})
        assert several.status_code == 200 and several.content == data
        missing = http.get(result_url.rsplit("/", 1)[0] + "/nope.png")
        assert missing.status_code == 404
        assert missing.json()["detail"][0]["loc"] == ["path", "name"]


def test_parse_range_edge_cases() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("items=0-1", 10) is None
    assert parse_range("bytes=-", 10) is None
    assert parse_range("bytes=-20", 10) == (0, 9)
    with pytest.raises(RequestError):
        parse_range("bytes=-0", 10)
    with pytest.raises(RequestError):
        parse_range("bytes=5-2", 10)


def test_large_blobs_stream_in_chunks(tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path))
    data = bytes(range(256)) * 10_000  # 2.5 MB: three chunks
    blobs.put("big", data)
    chunks = list(_chunks(blobs, "big", 0, len(data) - 1))
    assert len(chunks) == 3 and b"".join(chunks) == data
    assert b"".join(_chunks(blobs, "big", 100, 1_500_000)) == data[100:1_500_001]
