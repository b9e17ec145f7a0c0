"""S3 fixtures: moto's S3 server on a free loopback port, and a fresh bucket per test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of an in-process moto S3 server, with fake AWS credentials set."""
    pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _FAKE_AWS_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(key, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture
def s3_url(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<fresh bucket>/prefix`` with ``CONVEYOR_S3_ENDPOINT_URL`` pointing at moto."""
    import boto3

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    monkeypatch.setenv("CONVEYOR_S3_ENDPOINT_URL", s3_server)
    return f"s3://{bucket}/prefix"
