"""Scale-out: two API servers and three workers on one PostgreSQL database and one bucket.

Jobs are submitted at server A and watched through server B. While they run, one
worker (busy with a task) and server B are killed with ``kill -9``, and PostgreSQL
is restarted. Afterwards:

* every job completed, exactly once: each task's committed attempt ran to its end in
  exactly one process, no attempt number ran twice, and every extra attempt is a lease
  the store saw lost (the killed worker's attempt was reclaimed by another worker);
* progress is exact: the job's indicators and its last progress event are done == total,
  and no event ever showed more done than total;
* each watcher saw exactly the job's event log (ids strictly increasing, no gap, no
  duplicate, ending with the terminal COMPLETED event), resuming on server A with
  ``Last-Event-ID`` when its job was still running after B died.

The watchers reach the servers through a client-side failover (``Failover``): B first,
A when B refuses connections, as a load balancer without sticky sessions would.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

import httpx
import pytest

from conveyor import Client, Job, JobState, TaskState
from conveyor.models import Event
from conveyor.remote import RemoteClient
from conveyor.testing import PostgresCluster
from scaleout.conftest import Deployment
from scaleout.tasks import Fanout, LogLine, read_log_lines

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

JOBS = 6
CHUNKS = 6  # per job, plus its Fanout and Gather tasks
STEPS = 10  # per chunk
DELAY = 0.08  # seconds per step: 36 chunks of 0.8 s, 10-15 s for three (then two) workers
DEADLINE = 180.0  # generous: this machine may be busy with other test runs


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


class Failover(httpx.BaseTransport):
    """Sends each request to the first of ``urls`` that accepts a connection."""

    def __init__(self, *urls: str) -> None:
        self.backends = [(httpx.URL(url), httpx.HTTPTransport()) for url in urls]
        #: (server, path, Last-Event-ID) of each request that reached a server
        self.sent: list[tuple[str, str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        refused: httpx.ConnectError | None = None
        for url, transport in self.backends:
            request.url = request.url.copy_with(host=url.host, port=url.port)
            try:
                response = transport.handle_request(request)
            except httpx.ConnectError as exc:
                refused = exc
                continue
            self.sent.append((str(url), request.url.path, request.headers.get("Last-Event-ID")))
            return response
        assert refused is not None
        raise refused

    def close(self) -> None:
        for _, transport in self.backends:
            transport.close()


@dataclass
class Watcher:
    """Follows one job's events in a thread with ``RemoteClient.watch``."""

    job_id: UUID
    client: RemoteClient
    transport: Failover
    events: list[Event] = field(default_factory=list)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    @classmethod
    def start(cls, job_id: UUID, *urls: str) -> Watcher:
        transport = Failover(*urls)
        client = RemoteClient(urls[0], transport=transport)
        watcher = cls(job_id, client, transport)
        watcher.thread = threading.Thread(target=watcher._run, daemon=True)
        watcher.thread.start()
        return watcher

    def _run(self) -> None:
        try:
            # PostgreSQL's restart may cost a few failed reconnects; give it room.
            for event in self.client.jobs().watch(
                self.job_id, max_reconnects=30, reconnect_delay=0.2
            ):
                self.events.append(event)
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()

    def close(self) -> None:
        self.client.close()


def open_attempts(lines: list[LogLine], pid: int) -> dict[tuple[str, int], str]:
    """The attempts a process started and did not finish: (task id, attempt) -> task name."""
    mine = [ln for ln in lines if ln.pid == pid]
    ended = {(ln.task_id, ln.attempt) for ln in mine if ln.what == "end"}
    return {
        (ln.task_id, ln.attempt): ln.name
        for ln in mine
        if ln.what == "start" and (ln.task_id, ln.attempt) not in ended
    }


def test_every_job_completes_once_through_kills_and_a_postgres_restart(
    deployment: Deployment, postgres_server: PostgresCluster
) -> None:
    server_a, server_b = deployment.servers
    executions = deployment.executions
    a = RemoteClient(server_a.url, timeout=60)
    store = Client(deployment.db_url, blobs_url=deployment.blobs_url)  # the ground truth
    watchers: list[Watcher] = []
    try:
        # -- submit at A, watch through B --------------------------------------------------
        jobs = [
            a.jobs().submit(f"scaleout-{i}", Fanout(CHUNKS, STEPS, DELAY, str(executions)))
            for i in range(JOBS)
        ]
        watchers = [Watcher.start(job.id, server_b.url, server_a.url) for job in jobs]
        wait_until("every watcher's first event", lambda: all(w.events for w in watchers))

        # -- kill -9 a worker in the middle of a chunk -------------------------------------
        workers = {p.pid: p for w in deployment.workers if (p := w.popen) is not None}

        def busy_worker() -> int | None:
            lines = read_log_lines(executions)
            for pid in workers:
                if any(name == "chunk" for name in open_attempts(lines, pid).values()):
                    return pid
            return None

        wait_until("a worker running a chunk", lambda: busy_worker() is not None)
        victim = busy_worker()
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        workers[victim].wait(30)
        # What it had started and not finished (empty only if the chunk ended in between).
        cut_short = open_attempts(read_log_lines(executions), victim)

        # -- kill -9 server B while the watchers stream from it ----------------------------
        assert server_b.popen is not None
        server_b.popen.send_signal(signal.SIGKILL)
        server_b.popen.wait(30)
        # The jobs still running now end after B died: their watchers must finish on A.
        running = {j.id for j in a.jobs().query(limit=JOBS) if not j.state.terminal}

        # -- restart PostgreSQL, before the killed worker's lease has run out ----------------
        postgres_server.restart(down_seconds=1.0)

        # -- everything completes --------------------------------------------------------
        wait_until(
            "every job to end", lambda: all(a.jobs().find(job.id).state.terminal for job in jobs)
        )
        wait_until("every watcher to end", lambda: all(w.done for w in watchers), 60)

        assert running, "every job ended before server B was killed and PostgreSQL restarted"
        lines = read_log_lines(executions)
        for job in jobs:
            check_job(a, store, job, lines)

        # The killed worker's unfinished attempts were taken over once their leases expired,
        # and completed by another worker.
        tasks = {t.id: t for job in jobs for t in store.jobs().tasks(job.id)}
        for (task_id, attempt), _ in cut_short.items():
            task = tasks[UUID(task_id)]
            assert task.attempt > attempt and task.lease_losses >= 1, task
            [final] = [
                ln
                for ln in lines
                if ln.task_id == task_id and ln.what == "end" and ln.attempt == task.attempt
            ]
            assert final.pid != victim, final

        for watcher in watchers:
            check_watcher(
                watcher, store, server_a.url, server_b.url, resumed=watcher.job_id in running
            )

        # The surviving processes rode out PostgreSQL's restart.
        assert server_a.popen is not None and server_a.popen.poll() is None
        assert httpx.get(f"{server_a.url}/healthz", timeout=30).json()["status"] == "ok"
        assert all(p.poll() is None for pid, p in workers.items() if pid != victim)
    finally:
        for w in watchers:
            w.close()
        a.close()
        store.close()


def check_job(a: RemoteClient, store: Client, job: Job, lines: list[LogLine]) -> None:
    """The job completed with exact progress, each task's committed attempt ran once."""
    done = a.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    assert [(p.label, p.done, p.total) for p in done.progress] == [
        ("steps", CHUNKS * STEPS, CHUNKS * STEPS),
        ("chunks", CHUNKS, CHUNKS),
    ]
    summary = json.loads(a.jobs().download(job.id, "summary.json"))  # from S3, through A
    assert summary == {"chunks": CHUNKS, "steps": CHUNKS * STEPS}

    tasks = store.jobs().tasks(job.id)
    assert Counter(t.identifier for t in tasks) == {"Fanout": 1, "Chunk": CHUNKS, "Gather": 1}
    for task in tasks:
        assert task.state is TaskState.COMPUTED and task.failures == 0, task
        # Every attempt after the first is a lease the store saw lost (nothing failed, nothing
        # was handed back): a killed worker's, or one that PostgreSQL's restart outlasted.
        assert task.attempt == 1 + task.lease_losses, task
        mine = [ln for ln in lines if ln.task_id == str(task.id)]
        starts = Counter(ln.attempt for ln in mine if ln.what == "start")
        ends = Counter(ln.attempt for ln in mine if ln.what == "end")
        # An attempt number runs in one process at most (a claim hands out each one once)...
        assert set(starts.values()) <= {1} and set(ends.values()) <= {1}, mine
        assert set(ends) <= set(starts) <= set(range(1, task.attempt + 1)), mine
        # ... and the committed one ran to its end.
        assert task.attempt in ends, mine

    events = store.store.events_after(job.id)
    states = [e.data["state"] for e in events if e.type == "state"]
    assert states.count("COMPLETED") == 1 and states[-1] == "COMPLETED", states
    assert not {"FAILED", "CANCELED"} & set(states), states


def check_watcher(
    watcher: Watcher, store: Client, url_a: str, url_b: str, *, resumed: bool
) -> None:
    """The watcher saw the job's whole event log once, in order, across both servers."""
    assert watcher.error is None, repr(watcher.error)
    ids = [e.id for e in watcher.events]
    assert ids == sorted(set(ids)), "event ids must strictly increase"
    log = [e for e in store.store.events_after(watcher.job_id) if e.type in ("state", "progress")]
    assert ids == [e.id for e in log], "the stream must hold every event of the log, once"
    last = watcher.events[-1]
    assert last.type == "state" and last.data["state"] == "COMPLETED", last
    progress = [e for e in watcher.events if e.type == "progress"]
    for event in progress:
        assert all(0 <= p["done"] <= p["total"] for p in event.data["progress"]), event
    assert [(p["label"], p["done"], p["total"]) for p in progress[-1].data["progress"]] == [
        ("steps", CHUNKS * STEPS, CHUNKS * STEPS),
        ("chunks", CHUNKS, CHUNKS),
    ]
    sent = watcher.transport.sent
    assert sent[0] == (url_b, f"/jobs/{watcher.job_id}/events", None), sent
    if resumed:  # B died mid-stream: the watch went on at A, after the last event it had
        assert any(server == url_a and last_id is not None for server, _, last_id in sent), sent
