"""How the runner stores successes: outputs to the blob store, then one commit.

Through the public Runner against a real SQLite file and a real blob directory: a result
the blob store refuses fails its attempt (and the task is retried as it allows) instead
of stopping the runner, leases stay renewed while slow blob writes are under way, and
``run_all`` returns with everything it ran committed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conveyor import Client, ExecutionContext, JobState, Task, TaskHandle
from conveyor.blobs.local import LocalBlobStore
from conveyor.workflows import Runner
from conveyor.workflows.cache import INLINE_LIMIT

RUNS: dict[str, int] = {}


class Save(Task):
    """Saves one result and counts its executions."""

    key: str

    def execute(self, context: ExecutionContext) -> None:
        RUNS[self.key] = RUNS.get(self.key, 0) + 1
        context.job_cache["seen"] = self.key.encode()
        context.save_result("out.txt", self.key.encode(), "text/plain")


class Refusing(LocalBlobStore):
    """Refuses the first ``refusals`` writes of results (not big job cache values);
    ``delay`` slows every write."""

    def __init__(self, url: str, refusals: int = 0, delay: float = 0.0) -> None:
        super().__init__(url)
        self.refusals = refusals
        self.delay = delay
        self.lock = threading.Lock()

    def put(self, key: str, data: bytes, *args: Any, **kwargs: Any) -> None:
        time.sleep(self.delay)
        if "/attempts/" not in key:  # a result
            with self.lock:
                refuse, self.refusals = self.refusals > 0, max(0, self.refusals - 1)
            if refuse:
                raise OSError(28, "No space left on device")
        super().put(key, data, *args, **kwargs)


def _runner(client: Client, blobs: LocalBlobStore, **options: object) -> Runner:
    return Runner(client.store, blobs, [Save], poll_interval=0.05, retry_backoff=0.01, **options)


def test_a_result_the_blob_store_refuses_fails_the_attempt_and_the_retry_stores_it(
    client: Client,
) -> None:
    blobs = Refusing(client.blobs.url, refusals=1)  # type: ignore[attr-defined]
    job = client.jobs().submit("save", Save("retried"), max_retries=1)
    _runner(client, blobs).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED
    assert RUNS["retried"] == 2
    (result,) = done.results
    assert client.blobs.get(result.blob_key) == b"retried"


def test_a_refused_result_without_retries_fails_the_job_and_the_runner_goes_on(
    client: Client,
) -> None:
    blobs = Refusing(client.blobs.url, refusals=1)  # type: ignore[attr-defined]
    first = client.jobs().submit("save", Save("refused"))
    runner = _runner(client, blobs)
    runner.run_all()
    failed = client.jobs().find(first.id)
    assert failed.state is JobState.FAILED
    assert failed.error is not None
    assert failed.error.type == "OSError"
    assert "No space left on device" in failed.error.message
    second = client.jobs().submit("save", Save("next"))
    runner.run_all()
    assert client.jobs().find(second.id).state is JobState.COMPLETED


def test_leases_stay_renewed_while_slow_blob_writes_are_under_way(client: Client) -> None:
    """The blob writes outlast the lease; without renewals until the commit, the task would
    lose its lease and run again."""
    blobs = Refusing(client.blobs.url, delay=1.2)  # type: ignore[attr-defined]
    job = client.jobs().submit("save", Save("slow"))
    _runner(client, blobs, lease_seconds=1.0, cancel_check_interval=0.1).run_all()
    assert client.jobs().find(job.id).state is JobState.COMPLETED
    assert RUNS["slow"] == 1


def test_run_all_returns_once_every_task_it_ran_is_committed(client: Client) -> None:
    blobs = Refusing(client.blobs.url, delay=0.05)  # type: ignore[attr-defined]
    jobs = [client.jobs().submit("save", Save(f"many-{i}")) for i in range(20)]
    executed = _runner(client, blobs).run_all()
    assert executed == 20
    assert {client.jobs().find(j.id).state for j in jobs} == {JobState.COMPLETED}


class Counting(Refusing):
    """Records how many writes are under way at once."""

    def __init__(self, url: str, write_concurrency: int) -> None:
        super().__init__(url, delay=0.003)
        self.write_concurrency = write_concurrency
        self.active = 0
        self.most = 0

    def put(self, key: str, data: bytes, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            super().put(key, data, *args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1


class SaveBatched(Save):
    """Save, batchable: a runner claims 8 at once and commits their successes together."""

    max_batch_size: ClassVar[int] = 8

    def batch_key(self) -> str:
        return "all"


def test_outputs_are_written_on_as_many_threads_as_the_blob_store_gains_from(
    client: Client,
) -> None:
    """S3 declares 8 (its writes wait on the network), a local directory 1 (threads only
    add hand-offs there); every output is stored either way."""
    for concurrency in (1, 4):
        blobs = Counting(client.blobs.url, concurrency)  # type: ignore[attr-defined]
        keys = {
            client.jobs().submit("save", SaveBatched(key)).id: key
            for key in (f"c{concurrency}-{i}" for i in range(8))
        }
        runner = Runner(client.store, blobs, [SaveBatched], poll_interval=0.05)
        assert runner.run_all() == 8
        if concurrency == 1:
            assert blobs.most == 1
        else:
            assert 1 < blobs.most <= concurrency
        for job_id, key in keys.items():
            (result,) = client.jobs().find(job_id).results
            assert client.blobs.get(result.blob_key) == key.encode()


class Publish(Task):
    """Caches ``cached`` under ``key``; saves ``saved`` as result ``name`` (both optional);
    ``big`` pads both past the inline limit, so the value goes to a blob of its own."""

    key: str
    cached: str | None = None
    saved: str | None = None
    read_first: bool = False
    name: str = "out"
    big: bool = False

    def _bytes(self, text: str) -> bytes:
        return text.encode() * (INLINE_LIMIT // len(text) + 1) if self.big else text.encode()

    def execute(self, context: ExecutionContext) -> None:
        before = context.job_cache[self.key] if self.read_first else None
        if self.cached is not None:
            context.job_cache[self.key] = self._bytes(self.cached)
        if self.saved is not None:
            data = before if self.saved == "<read>" else self._bytes(self.saved)
            assert data is not None
            context.save_result(self.name, data, "text/plain")


class PublishChain(Task):
    """Runs ``steps`` one after another in one job."""

    steps: list[Publish]

    def execute(self, context: ExecutionContext) -> None:
        previous: list[TaskHandle] = []
        for step in self.steps:
            previous = [context.submit_subtask(step, depends_on=previous)]


def _published(client: Client, *steps: Publish) -> tuple[Path, dict[str, Path]]:
    """Run the steps as one job; its folder and each result's file by name."""
    job = client.jobs().submit("publish", PublishChain(list(steps)))
    Runner(client.store, client.blobs, [PublishChain, Publish], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    root = client.blobs.root  # type: ignore[attr-defined]
    return root / "jobs" / str(job.id), {r.name: root / r.blob_key for r in done.results}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_small_entries_live_in_the_store_and_a_result_of_their_bytes_is_written_once(
    client: Client,
) -> None:
    """The entry costs no file; a later task publishing it again shares the first result's
    file (a hard link) instead of writing a second copy: a one-image job's contact sheet."""
    folder, results = _published(
        client,
        Publish("a", cached="image", saved="image", name="image.png"),
        Publish("a", saved="<read>", read_first=True, name="sheet.png"),
    )
    assert _files(folder) == ["image.png", "sheet.png"]
    assert results["sheet.png"].read_bytes() == b"image"
    assert results["sheet.png"].stat().st_ino == results["image.png"].stat().st_ino


def test_big_entries_get_a_blob_of_their_attempt_that_results_share(client: Client) -> None:
    folder, results = _published(
        client,
        Publish("a", cached="image", saved="image", name="image.png", big=True),
        Publish("a", saved="<read>", read_first=True, name="sheet.png"),
    )
    (cached,) = [f for f in _files(folder) if f.startswith("attempts/")]
    assert cached.endswith("-1/a")
    big = Publish("a", big=True)._bytes("image")
    assert (folder / cached).read_bytes() == big
    for result in results.values():
        assert result.read_bytes() == big
        assert result.stat().st_ino == (folder / cached).stat().st_ino


def test_a_result_never_shares_a_blob_replaced_after_the_entry_named_it(
    client: Client,
) -> None:
    _, results = _published(
        client,
        Publish("a", cached="first", saved="first", name="r1.txt"),
        Publish("b", saved="other", name="r1.txt"),  # replaces the result the entry named
        Publish("a", saved="<read>", read_first=True, name="r3.txt"),
    )
    assert results["r1.txt"].read_bytes() == b"other"
    assert results["r3.txt"].read_bytes() == b"first"
    assert results["r3.txt"].stat().st_nlink == 1


class LoseCacheBlobs(Task):
    """Deletes the blobs of the job's big cache values (a disk lost, a bucket emptied)."""

    def execute(self, context: ExecutionContext) -> None:
        assert context.blobs.delete_prefix(f"jobs/{context.job_id}/attempts/") == 1


class LosingChain(Task):
    def execute(self, context: ExecutionContext) -> None:
        cached = context.submit_subtask(Publish("a", cached="image", big=True))
        lost = context.submit_subtask(LoseCacheBlobs(), depends_on=[cached])
        context.submit_subtask(Publish("a", read_first=True), depends_on=[lost])


def test_an_entry_whose_blob_is_lost_fails_its_reader_instead_of_reading_as_missing(
    client: Client,
) -> None:
    job = client.jobs().submit("lost", LosingChain())
    tasks = [LosingChain, Publish, LoseCacheBlobs]
    Runner(client.store, client.blobs, tasks, poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.FAILED
    assert done.error is not None and done.error.type == "StoreError"
    assert "job cache entry 'a' is stored in blob" in done.error.message
    assert "which is missing" in done.error.message


class LegacyReader(Task):
    """Reads entries an earlier version left as blobs, next to one this version wrote."""

    def execute(self, context: ExecutionContext) -> None:
        cache = context.job_cache
        context.save_result("seen.txt", b",".join([cache["old"], cache.group("g")["older"]]))
        cache["new"] = b"3"
        context.save_result("keys.txt", ",".join(cache).encode())
        context.save_result("has.txt", str(["old" in cache, "nope" in cache]).encode())


def test_entries_an_earlier_version_left_in_blobs_are_still_read(client: Client) -> None:
    job = client.jobs().submit("legacy", LegacyReader())
    client.blobs.put(f"jobs/{job.id}/cache/old", b"1")
    client.blobs.put(f"jobs/{job.id}/cache/g/older", b"2")
    Runner(client.store, client.blobs, [LegacyReader], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    read = {r.name: client.blobs.get(r.blob_key) for r in done.results}
    assert read == {"seen.txt": b"1,2", "keys.txt": b"g/older,new,old", "has.txt": b"[True, False]"}


class Gatherer(Task):
    """Reads what its parent cached (a big value, an old blob-only entry and a small one)
    plus its own pending write, with one get_many."""

    def execute(self, context: ExecutionContext) -> None:
        cache = context.job_cache
        cache["mine"] = b"pending"
        found = cache.get_many(["small", "big", "old", "mine", "missing"])
        sizes = "|".join(f"{k}={len(v)}" for k, v in sorted(found.items()))
        context.save_result("found.txt", sizes.encode())
        context.save_result("big.bin", found["big"])
        with pytest.raises(TypeError):
            cache.get_many("small")  # one key is not a sequence of keys


class Filler(Task):
    def execute(self, context: ExecutionContext) -> None:
        context.job_cache["small"] = b"s"
        context.job_cache["big"] = b"b" * (INLINE_LIMIT + 1)
        context.submit_subtask(Gatherer())


def test_get_many_reads_entries_of_every_kind_in_one_database_read(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = client.jobs().submit("gather", Filler())
    client.blobs.put(f"jobs/{job.id}/cache/old", b"legacy")
    reads: list[Any] = []
    for name in ("get_cache_entry", "get_cache_entries"):
        real = getattr(client.store, name)
        monkeypatch.setattr(
            client.store,
            name,
            lambda *a, real=real, name=name: reads.append((name, a[1])) or real(*a),
        )
    Runner(client.store, client.blobs, [Filler, Gatherer], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    read = {r.name: client.blobs.get(r.blob_key) for r in done.results}
    assert read["found.txt"] == f"big={INLINE_LIMIT + 1}|mine=7|old=6|small=1".encode()
    assert read["big.bin"] == b"b" * (INLINE_LIMIT + 1)
    assert reads == [("get_cache_entries", ["small", "big", "old", "missing"])]


class SaveNamed(Task):
    names: list[str]

    def execute(self, context: ExecutionContext) -> None:
        for name in self.names:
            context.save_result(name, name.encode())


def test_results_with_an_extension_sit_at_the_top_of_the_job_folder(client: Client) -> None:
    """One folder fewer per job; names that could be a folder of the job, and dot names,
    go to its results folder."""
    names = ["image_0.png", "generation.json", "v1.2", "out", "cache", "attempts", ".hidden"]
    job = client.jobs().submit("save", SaveNamed(names))
    Runner(client.store, client.blobs, [SaveNamed], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    keys = {r.name: r.blob_key for r in done.results}
    top, folder = f"jobs/{job.id}/", f"jobs/{job.id}/results/"
    assert keys == {
        "image_0.png": top + "image_0.png",
        "generation.json": top + "generation.json",
        "v1.2": top + "v1.2",
        "out": folder + "out",
        "cache": folder + "cache",
        "attempts": folder + "attempts",
        ".hidden": folder + ".hidden",
    }
    assert {name: client.blobs.get(key) for name, key in keys.items()} == {
        name: name.encode() for name in names
    }


class SaveDotDot(Task):
    def execute(self, context: ExecutionContext) -> None:
        try:
            context.save_result("..", b"x")
        except ValueError as exc:  # at once, in the task, not when the runner uploads
            context.save_result("refused.txt", str(exc).encode())


def test_a_result_name_no_blob_key_can_hold_is_refused_when_saved(client: Client) -> None:
    job = client.jobs().submit("save", SaveDotDot())
    Runner(client.store, client.blobs, [SaveDotDot], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    (result,) = done.results
    assert result.name == "refused.txt"
    assert b"invalid blob key" in client.blobs.get(result.blob_key)


class PublishMany(Task):
    def execute(self, context: ExecutionContext) -> None:
        for i in range(20):
            context.job_cache[f"tile-{i}"] = _tile(i)
        # Equal bytes, other objects; one result matching no entry.
        context.save_result("r7.txt", bytes(bytearray(_tile(7))))
        context.save_result("r3.txt", bytes(bytearray(_tile(3))))
        context.save_result("new.txt", _tile(99))


def _tile(i: int) -> bytes:
    """Equal-sized values past the inline limit, alike but for their middle."""
    edge = b"-" * INLINE_LIMIT
    return edge + f"tile {i:02d}".encode() + edge


def test_each_result_shares_the_file_of_the_entry_with_its_bytes(client: Client) -> None:
    job = client.jobs().submit("publish", PublishMany())
    Runner(client.store, client.blobs, [PublishMany], poll_interval=0.05).run_all()
    done = client.jobs().find(job.id)
    assert done.state is JobState.COMPLETED, done.error
    root = client.blobs.root  # type: ignore[attr-defined]
    (attempt,) = (root / "jobs" / str(job.id) / "attempts").iterdir()
    files = {r.name: root / r.blob_key for r in done.results}
    assert files["r7.txt"].stat().st_ino == (attempt / "tile-7").stat().st_ino
    assert files["r3.txt"].stat().st_ino == (attempt / "tile-3").stat().st_ino
    assert files["new.txt"].stat().st_nlink == 1
    assert {n: f.read_bytes() for n, f in files.items()} == {
        "r7.txt": _tile(7),
        "r3.txt": _tile(3),
        "new.txt": _tile(99),
    }
