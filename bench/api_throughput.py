"""Jobs created per second through the HTTP API (``POST /jobs`` → 202), no workers running.

One ``conveyor serve`` process on a fresh SQLite database; ``--concurrency`` clients
(asyncio, keep-alive HTTP/1.1) submit ``NoOp`` jobs as fast as the server answers.
Prints the rate and the request latency percentiles. No assertions.

    python bench/api_throughput.py --jobs 3000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _servers import Procs, percentile


async def _connection(
    url: str, key: str | None, remaining: Iterator[int], out: list[float]
) -> None:
    """One keep-alive HTTP/1.1 connection posting jobs one after another.

    Raw asyncio streams rather than httpx: on 2 cores the client must not be what limits
    the figure (httpx costs about a millisecond of CPU per request).
    """
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    try:
        for i in remaining:
            body = json.dumps({"name": f"bench-{i}", "task": {"identifier": "NoOp"}}).encode()
            started = time.perf_counter()
            writer.write(
                f"POST /jobs HTTP/1.1\r\nHost: {host}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            status = (await reader.readline()).split(b" ", 2)[1]
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out.append(time.perf_counter() - started)
            if status != b"202":
                raise RuntimeError(f"POST /jobs answered {status.decode()}")
    finally:
        writer.close()


async def submit_all(url: str, jobs: int, concurrency: int, key: str | None) -> list[float]:
    latencies: list[float] = []
    remaining = iter(range(jobs))
    await asyncio.gather(*(_connection(url, key, remaining, latencies) for _ in range(concurrency)))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Procs(Path(tmp)) as procs:
        db_url = f"sqlite:///{tmp}/bench.db"
        url = procs.server(db_url)
        asyncio.run(submit_all(url, args.warmup, args.concurrency, None))
        started = time.perf_counter()
        latencies = asyncio.run(submit_all(url, args.jobs, args.concurrency, None))
        elapsed = time.perf_counter() - started
    print(f"POST /jobs: {args.jobs} jobs, {args.concurrency} concurrent clients, SQLite")
    print(f"  {args.jobs / elapsed:,.0f} jobs/s ({elapsed:.2f} s)")
    print(
        "  latency ms: "
        f"p50 {percentile(latencies, 0.5) * 1000:.1f}  "
        f"p90 {percentile(latencies, 0.9) * 1000:.1f}  "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f}  "
        f"max {max(latencies) * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
