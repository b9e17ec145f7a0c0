"""Latency from a task's ``progress().done()`` to SSE/WebSocket clients, with many subscribers.

A ``Stamp`` task (defined here; the server and the worker load this file as their
task module) ticks every ``--interval`` seconds and writes the wall-clock time of
each tick into its indicator's ``total`` (milliseconds), then calls ``done(1)``.
Every subscriber notes when it first sees each stamp: the latency covers the
runner's flush, the database commit, the API's event hub poll, the fan-out and
the network. Runs with 1 and with 1,000 concurrent subscribers by default.

Processes: one ``conveyor serve``, one ``conveyor worker`` and this client, all on
this machine (so the client's own CPU use is part of the figure). No assertions.

    python bench/progress_latency.py [--subscribers 1 1000] [--transport sse|ws]
"""

from __future__ import annotations

import time

from conveyor.workflows import ExecutionContext, Task


class Stamp(Task):
    """Ticks ``ticks`` times; the indicator's total is the last tick's time in ms."""

    ticks: int = 100
    interval: float = 0.1

    def execute(self, context: ExecutionContext) -> None:
        stamp = context.progress("stamp")
        for _ in range(self.ticks):
            time.sleep(self.interval)
            stamp.add(int(time.time() * 1000) - stamp.total)
            stamp.done(1)


if __name__ == "__main__":
    import argparse
    import asyncio
    import base64
    import gc
    import os
    import re
    import tempfile
    from pathlib import Path

    import httpx

    from _servers import Procs, percentile

    HERE = Path(__file__).resolve()
    TERMINAL = {"COMPLETED", "FAILED", "CANCELED"}

    STAMP = re.compile(rb'"label":"stamp","total":(\d+)')
    STATUS = re.compile(rb'"status":"(\w+)"')

    class Subscriber:
        """One client: the latency of every stamp it saw first.

        It reads stamps and statuses with regular expressions instead of parsing each
        event's JSON: a thousand subscribers share this process's CPU with the server
        and the worker, so the client must cost as little as possible.
        """

        def __init__(self) -> None:
            self.latencies: list[float] = []
            self.last_stamp = 0
            self.ready = asyncio.Event()
            self.done = False

        def on_message(self, data: bytes, received_ms: float) -> None:
            self.ready.set()
            for match in STAMP.finditer(data):
                stamp = int(match.group(1))
                if stamp > self.last_stamp:  # the first event carrying this stamp
                    self.last_stamp = stamp
                    self.latencies.append(received_ms - stamp)
            status = STATUS.search(data)
            if status and status.group(1).decode() in TERMINAL:
                self.done = True

    async def follow_sse(url: str, job_id: str, sub: Subscriber) -> None:
        """A raw HTTP/1.1 SSE client (chunked transfer): cheap enough for 1,000 at once."""
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /jobs/{job_id}/events HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"events answered {status!r}")
        while await reader.readline() != b"\r\n":
            pass
        buffer = b""
        try:
            while not sub.done:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    return
                buffer += await reader.readexactly(size)
                await reader.readexactly(2)
                received = time.time() * 1000
                end = buffer.rfind(b"\n\n")
                if end >= 0:
                    sub.on_message(buffer[:end], received)
                    buffer = buffer[end + 2 :]
        finally:
            writer.close()

    async def follow_ws(url: str, job_id: str, sub: Subscriber) -> None:
        """A raw WebSocket client (handshake, then unmasked server frames), as lean as the
        SSE one: the websockets library costs more CPU per message than the server does."""
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /jobs/{job_id}/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = await reader.readline()
        if b" 101 " not in status:
            raise RuntimeError(f"websocket answered {status!r}")
        while await reader.readline() != b"\r\n":
            pass
        try:
            while not sub.done:
                first, second = await reader.readexactly(2)
                length = second & 0x7F
                if length == 126:
                    length = int.from_bytes(await reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await reader.readexactly(8), "big")
                payload = await reader.readexactly(length)
                opcode = first & 0x0F
                if opcode == 0x8:  # close
                    return
                if opcode == 0x1:
                    sub.on_message(payload, time.time() * 1000)
        finally:
            writer.close()

    async def measure(url: str, job_id: str, n: int, transport: str, start: object) -> list:
        follow = follow_sse if transport == "sse" else follow_ws
        subs = [Subscriber() for _ in range(n)]
        gate = asyncio.Semaphore(100)

        async def run(sub: Subscriber) -> None:
            async with gate:
                task = asyncio.create_task(follow(url, job_id, sub))
                await sub.ready.wait()  # connected and replayed: let the next one connect
            await task

        tasks = [asyncio.create_task(run(s)) for s in subs]
        await asyncio.gather(*(s.ready.wait() for s in subs))
        gc.collect()
        gc.freeze()  # this client's GC pauses are not the server's latency
        start()  # every subscriber is live: start the worker
        await asyncio.wait_for(asyncio.gather(*tasks), 600)
        return [latency for s in subs for latency in s.latencies]

    def run_once(
        subscribers: int,
        transport: str,
        ticks: int,
        interval: float,
        where: str | None,
        poll: float | None,
    ) -> list:
        with tempfile.TemporaryDirectory(dir=where) as tmp, Procs(Path(tmp)) as procs:
            db_url = f"sqlite:///{tmp}/bench.db"
            env = {"CONVEYOR_EVENT_POLL_INTERVAL": str(poll)} if poll else {}
            url = procs.server(db_url, str(HERE), **env)
            body = {
                "name": "stamp",
                "task": {"identifier": "Stamp", "input": {"ticks": ticks, "interval": interval}},
            }
            job_id = httpx.post(f"{url}/jobs", json=body).json()["id"]

            def start_worker() -> None:
                procs.start("worker", "worker", str(HERE), "--database-url", db_url)

            return asyncio.run(measure(url, job_id, subscribers, transport, start_worker))

    def main() -> None:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 1000])
        parser.add_argument("--transport", choices=["sse", "ws"], default="sse")
        parser.add_argument("--ticks", type=int, default=100)
        parser.add_argument("--interval", type=float, default=0.1)
        parser.add_argument("--dir", help="where the database goes (e.g. /dev/shm)")
        parser.add_argument("--poll-interval", type=float, help="the API's event_poll_interval")
        args = parser.parse_args()
        print(
            f"progress().done() -> {args.transport.upper()} client, {args.ticks} ticks every "
            f"{args.interval * 1000:.0f} ms, SQLite, server + worker + client on this machine"
        )
        for n in args.subscribers:
            latencies = run_once(
                n, args.transport, args.ticks, args.interval, args.dir, args.poll_interval
            )
            print(
                f"  {n:>5} subscribers: {len(latencies):>7} samples  "
                f"p50 {percentile(latencies, 0.5):6.1f} ms  "
                f"p90 {percentile(latencies, 0.9):6.1f} ms  "
                f"p99 {percentile(latencies, 0.99):6.1f} ms  "
                f"max {max(latencies):6.1f} ms"
            )

    main()
