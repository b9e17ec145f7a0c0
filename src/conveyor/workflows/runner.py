"""The runner: claims tasks from the store, executes them, commits or fails each attempt.

One task (or one batch of batchable tasks) runs at a time, on the calling thread.
Successes are committed together: those of one claim (prefetched short tasks) or
one batch write their outputs to the blob store at once and commit in one
transaction. A background keeper thread flushes live progress (coalesced: the
first update after a quiet spell goes out at once, then at most one write per
``progress_interval``), renews the leases of every task this runner holds (done
but not yet committed ones too), and notices cancellation and lost leases; so a
task stuck in native code keeps its lease, and a cancelled one is interrupted at
its next progress call.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from conveyor.blobs import BlobStore
from conveyor.exceptions import (
    LeaseLostError,
    SerializationError,
    TaskCancelledError,
    UnknownTaskError,
)
from conveyor.models import ErrorInfo
from conveyor.store import (
    CacheEntry,
    ClaimedTask,
    Completion,
    LeaseStatus,
    NewResult,
    ProgressFlush,
    Store,
)
from conveyor.workflows._serde import decode_input
from conveyor.workflows.context import ExecutionContext
from conveyor.workflows.task import Task, task_identifier

__all__ = ["Runner"]

log = logging.getLogger("conveyor.runner")

#: What an attempt's uploads give its completion: its results and its job cache entries.
_Uploaded = tuple[tuple[NewResult, ...], tuple[CacheEntry, ...]]

#: After a wake-up hint whose claim found nothing (another runner was faster), the next
#: hint waits this long (seconds, uniform) before claiming: see ``Runner._wait_for_work``.
_YIELD_AFTER_MISS = (0.001, 0.003)
#: A claim takes at most about this many seconds of short tasks (judged by the last claim's).
_PREFETCH_SECONDS = 0.05
#: A task kind is short while its last task (or batch: a runner is held for all of it) ran in
#: less than this many seconds.
_SHORT_TASK_SECONDS = 0.01


class Runner:
    """Executes registered task classes from one store until told to stop."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        tasks: Sequence[type[Task]],
        *,
        lease_seconds: float = 30.0,
        max_lease_losses: int = 5,
        worker_id: str | None = None,
        poll_interval: float = 0.2,
        retry_backoff: float = 1.0,
        max_backoff: float = 300.0,
        shutdown_grace: float = 30.0,
        progress_interval: float = 0.1,
        cancel_check_interval: float = 0.5,
        max_prefetch: int = 128,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.registry: dict[str, type[Task]] = {}
        for task_cls in tasks:
            if not (isinstance(task_cls, type) and issubclass(task_cls, Task)):
                raise TypeError(f"runners take Task subclasses, got {task_cls!r}")
            name, version = task_identifier(task_cls)
            kind = f"{name}@{version}"
            if self.registry.get(kind, task_cls) is not task_cls:
                raise ValueError(f"two task classes share the identifier {name!r} {version!r}")
            self.registry[kind] = task_cls
        self.kinds = sorted(self.registry)
        self.lease_seconds = lease_seconds
        self.max_lease_losses = max_lease_losses
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_interval = poll_interval
        self.retry_backoff = retry_backoff
        self.max_backoff = max_backoff
        self.shutdown_grace = shutdown_grace
        self.progress_interval = progress_interval
        self.cancel_check_interval = cancel_check_interval
        self.max_prefetch = max(1, max_prefetch)
        self.executed = 0
        #: Seconds of each kind's last task or batch; kinds not in it count as long.
        self._seconds: dict[str, float] = {}
        self._prefetch = 1  # how many tasks the next claim may take

        self._held: dict[uuid.UUID, ClaimedTask] = {}
        self._committing: set[uuid.UUID] = set()  # done, commit pending: keep renewing
        self._held_lock = threading.Lock()
        #: Successes not yet committed (see ``_commit_done``).
        self._done: list[tuple[ClaimedTask, ExecutionContext]] = []
        self._uploader: ThreadPoolExecutor | None = None  # a batch's blob writes, together
        self._current: list[tuple[ClaimedTask, ExecutionContext]] = []
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._keeper: threading.Thread | None = None
        self._halt_keeper = threading.Event()
        self._hinted = False  # the current claim follows a wake-up hint
        self._missed = False  # the last claim after a hint found nothing

    # -- public ---------------------------------------------------------------------------
    def run_all(self) -> int:
        """Run until no runnable task of the registered kinds is left; return tasks executed."""
        with self._keeping():
            while not self._stopping.is_set():
                if self._run_batch():
                    continue
                if not self.store.has_pending_work(self.kinds):
                    break
                self._wait_for_work()
        return self.executed

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop()``), then finish or hand back the current task."""
        restore = self._install_signal_handlers()
        try:
            with self._keeping():
                while not self._stopping.is_set():
                    if not self._run_batch():
                        self._wait_for_work()
                        self._idle.clear()
        finally:
            restore()

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming; the current task gets ``grace`` seconds before it is handed back."""
        grace = self.shutdown_grace if grace is None else grace
        self._deadline = time.monotonic() + grace
        self._stopping.set()
        self._idle.set()
        self._wake.set()

    def _wait_for_work(self) -> None:
        """Idle: wait for a wake-up hint (PostgreSQL NOTIFY, a SQLite commit), the poll
        interval (the fallback: hints may be lost), or stop() (which sets ``_idle``).

        One hint wakes every idle runner, but only the first claim gets the new task;
        the others' empty claims would compete with it for the database and the CPU. So
        a runner whose last claim after a hint found nothing lets the others go first:
        it waits 1-3 ms before claiming. The runner that won keeps claiming at once, and
        a hint costs one claim on its critical path instead of one per idle runner.
        """
        self._hinted = self.store.wait_for_work(self.poll_interval, self._idle)
        if self._hinted and self._missed:
            self._idle.wait(random.uniform(*_YIELD_AFTER_MISS))

    # -- claim and execute ----------------------------------------------------------------
    def _run_batch(self) -> bool:
        """Claim and run a run of short tasks, or one long task (with its batch), or both.

        Short tasks are prefetched: a claim takes about ``_PREFETCH_SECONDS`` of them, so
        their claims and commits are shared. A long one comes alone and last (see
        ``Store.claim``): held behind another, it would wait while an idle runner could
        start it. A kind is long until this runner has seen a task of it run short.
        """
        limit = self._prefetch
        claimed = self.store.claim(
            self.worker_id,
            self.kinds,
            limit=limit,
            lease_seconds=self.lease_seconds,
            max_lease_losses=self.max_lease_losses,
            long_kinds=[k for k in self.kinds if self._seconds.get(k, 1.0) >= _SHORT_TASK_SECONDS],
        )
        hinted, self._hinted = self._hinted, False
        self._missed = hinted and not claimed
        if not claimed:
            return False
        with self._held_lock:
            for ct in claimed:
                self._held[ct.id] = ct
        short_seconds, short_tasks = 0.0, 0
        # Prefetched tasks a batchable task took into its batch (run there, not again).
        absorbed: set[uuid.UUID] = set()
        try:
            for index, ct in enumerate(claimed):
                if ct.id in absorbed:
                    continue
                if self._stopping.is_set():
                    for rest in claimed[index:]:
                        if rest.id not in absorbed:
                            self._hand_back(rest)
                    break
                ran, seconds = self._execute(ct, claimed[index + 1 :], absorbed)
                if seconds < _SHORT_TASK_SECONDS:
                    short_seconds += seconds
                    short_tasks += ran
        finally:
            self._commit_done()  # the claim's successes, together
        if short_tasks:
            # Grow the prefetch by doubling, up to about _PREFETCH_SECONDS of such tasks, so
            # work stays spread over runners. A claim of a long task alone leaves it as it is.
            fits = int(_PREFETCH_SECONDS * short_tasks / max(short_seconds, 1e-6))
            self._prefetch = max(1, min(limit * 2, self.max_prefetch, fits))
        return True

    def _context(self, ct: ClaimedTask) -> ExecutionContext:
        return ExecutionContext(
            job_id=ct.job_id,
            task_id=ct.id,
            attempt=ct.attempt,
            blobs=self.blobs,
            store=self.store,
            logger=logging.LoggerAdapter(
                logging.getLogger(f"conveyor.task.{ct.identifier}"),
                {"job_id": str(ct.job_id), "task_id": str(ct.id), "attempt": ct.attempt},
            ),
            on_dirty=self._wake,
        )

    def _decode(self, ct: ClaimedTask) -> Task:
        task_cls = self.registry.get(ct.kind)
        if task_cls is None:
            raise UnknownTaskError(f"no task class registered for {ct.identifier!r}")
        return decode_input(task_cls, ct.input_json)

    def _execute(
        self,
        ct: ClaimedTask,
        prefetched: Sequence[ClaimedTask] = (),
        absorbed: set[uuid.UUID] | None = None,
    ) -> tuple[int, float]:
        """Run ``ct`` (with its batch, for a batchable kind): how many tasks ran, in how
        many seconds (which become the kind's last seconds)."""
        started = time.monotonic()
        task_cls = self.registry.get(ct.kind)
        if ct.batch_key is not None and task_cls is not None and task_cls.max_batch_size > 1:
            ran = self._execute_batch(
                task_cls, ct, prefetched, set() if absorbed is None else absorbed
            )
        else:
            ran = 1
            ctx = self._context(ct)
            self._current = [(ct, ctx)]
            try:
                outcome: BaseException | None = None
                try:
                    self._decode(ct).execute(ctx)
                except Exception as exc:
                    outcome = exc
                self._settle(ct, ctx, outcome)
            finally:
                self._finished([ct])
        seconds = time.monotonic() - started
        self._seconds[ct.kind] = seconds
        return ran, seconds

    def _execute_batch(
        self,
        task_cls: type[Task],
        first: ClaimedTask,
        prefetched: Sequence[ClaimedTask],
        absorbed: set[uuid.UUID],
    ) -> int:
        """Claim compatible queued tasks and run them in one ``execute_batch`` call; how
        many tasks the batch held.

        Compatible tasks this runner already prefetched join the batch first; otherwise
        they would sit claimed (unclaimable for the batch) and run alone afterwards.
        """
        assert first.batch_key is not None
        room = task_cls.max_batch_size - 1
        mates = [
            ct
            for ct in prefetched
            if ct.kind == first.kind and ct.batch_key == first.batch_key and ct.id not in absorbed
        ][:room]
        absorbed.update(ct.id for ct in mates)
        # Commit earlier tasks' successes first: they are not held up by the batch, and the
        # subtasks they add (the image tasks of the roots just run) can join it.
        self._commit_done()
        more = self._claim_mates(first, room - len(mates), task_cls.batch_wait)
        batch = [first, *mates, *more]
        pairs: list[tuple[ClaimedTask, ExecutionContext, Task]] = []
        try:
            for ct in batch:
                ctx = self._context(ct)
                try:
                    pairs.append((ct, ctx, self._decode(ct)))
                except Exception as exc:
                    self._settle(ct, ctx, exc)
            self._current = [(ct, ctx) for ct, ctx, _ in pairs]
            if pairs:
                try:
                    outcomes = list(
                        task_cls.execute_batch([t for *_, t in pairs], [c for _, c, _ in pairs])
                    )
                except Exception as exc:
                    outcomes = [exc] * len(pairs)
                if len(outcomes) != len(pairs):
                    error = RuntimeError("execute_batch returned a wrong number of outcomes")
                    outcomes = [error] * len(pairs)
                for (ct, ctx, _), outcome in zip(pairs, outcomes, strict=True):
                    self._settle(ct, ctx, outcome)
        finally:
            self._finished(batch)
        return len(batch)

    def _claim_mates(self, first: ClaimedTask, limit: int, wait: float) -> list[ClaimedTask]:
        """Up to ``limit`` more queued tasks of ``first``'s kind and batch key; while fewer
        are queued, wait up to ``wait`` seconds for more, claiming again after each commit
        elsewhere that may have queued some (or ``stop()``)."""
        assert first.batch_key is not None
        mates: list[ClaimedTask] = []
        deadline = time.monotonic() + wait
        while len(mates) < limit:
            claimed = self.store.claim_batch(
                self.worker_id,
                first.kind,
                first.batch_key,
                limit=limit - len(mates),
                lease_seconds=self.lease_seconds,
            )
            with self._held_lock:
                for ct in claimed:
                    self._held[ct.id] = ct
            mates += claimed
            left = deadline - time.monotonic()
            if len(mates) >= limit or left <= 0 or self._stopping.is_set():
                break
            self.store.wait_for_work(left, self._idle)
        return mates

    def _settle(
        self, ct: ClaimedTask, ctx: ExecutionContext, outcome: BaseException | None
    ) -> None:
        """Fail or acknowledge the cancellation of one attempt, or keep its success for the
        next ``_commit_done``."""
        try:
            if isinstance(ctx._interrupt, LeaseLostError) or isinstance(outcome, LeaseLostError):
                log.warning(
                    "task %s attempt %s lost its lease; its work is discarded", ct.id, ct.attempt
                )
            elif isinstance(outcome, TaskCancelledError):
                self.store.ack_cancel(ct.id, ct.attempt)
            elif outcome is not None:
                self._fail(ct, outcome)
            else:
                self._done.append((ct, ctx))
                with self._held_lock:
                    self._committing.add(ct.id)
        except LeaseLostError:
            log.warning("task %s attempt %s lost its lease; write rejected", ct.id, ct.attempt)

    def _finished(self, batch: list[ClaimedTask]) -> None:
        self._current = []
        with self._held_lock:
            for ct in batch:
                if ct.id not in self._committing:
                    self._held.pop(ct.id, None)
        self.executed += len(batch)

    # -- commits ----------------------------------------------------------------------------
    def _commit_done(self) -> None:
        """Write the outputs of the successes so far, then commit them in one transaction.

        An attempt whose outputs cannot be written fails (and is retried as its task allows)
        instead of stopping the runner; the others commit. Their leases are renewed by the
        keeper until the commit is over.
        """
        done, self._done = self._done, []
        if not done:
            return
        try:
            uploads = self._upload_all(done)
            flushes = []
            completions = []
            for (ct, ctx), uploaded in zip(done, uploads, strict=True):
                if isinstance(uploaded, Exception):
                    self._settle(ct, ctx, uploaded)
                    continue
                progress = tuple(ctx._snapshot())
                events = tuple(ctx._take_events())
                if events:  # published since the last flush
                    flushes.append(ProgressFlush(ct.id, ct.attempt, progress, events))
                results, cache = uploaded
                completions.append(
                    Completion(ct.id, ct.attempt, progress, tuple(ctx._subtasks), results, cache)
                )
            # Late events go out before the completions, all of them in one transaction.
            self.store.flush_progress_many(flushes, self.lease_seconds)
            for task_id in self.store.complete_tasks(completions):
                log.warning("task %s lost its lease; its result is discarded", task_id)
        finally:
            with self._held_lock:
                for ct, _ in done:
                    self._committing.discard(ct.id)
                    self._held.pop(ct.id, None)

    def _upload_all(
        self, done: Sequence[tuple[ClaimedTask, ExecutionContext]]
    ) -> list[_Uploaded | Exception]:
        """Write the attempts' outputs; on as many threads as the blob store says its writes
        gain from (``write_concurrency``: S3's network waits then overlap instead of adding
        up; a local disk's are written in a row)."""
        threads = getattr(self.blobs, "write_concurrency", 1)
        if threads <= 1 or len(done) == 1:
            return [self._upload(ctx) for _, ctx in done]
        if self._uploader is None:
            self._uploader = ThreadPoolExecutor(threads, thread_name_prefix="conveyor-put")
        futures = [self._uploader.submit(self._upload, ctx) for _, ctx in done]
        return [future.result() for future in futures]

    def _upload(self, ctx: ExecutionContext) -> _Uploaded | Exception:
        """Write a successful attempt's results (and its big job cache values) to the blob
        store; its results and cache entries for the completion, or the exception instead
        if that failed."""
        try:
            keys = [ctx.result_key(name) for name, _, _ in ctx._results]
            # A result with the bytes of a cache entry (an image saved both ways, a final
            # task publishing what an earlier one cached) may share that entry's blob.
            entries, sources = ctx.job_cache._stage(
                [(key, data) for key, (_, data, _) in zip(keys, ctx._results, strict=True)]
            )
            results = []
            for key, (name, data, content_type), source in zip(
                keys, ctx._results, sources, strict=True
            ):
                self.blobs.put(key, data, content_type, same_as=source)
                results.append(NewResult(name, content_type, len(data), key))
            return tuple(results), tuple(entries)
        except Exception as exc:
            return exc

    def _fail(self, ct: ClaimedTask, exc: BaseException) -> None:
        error = ErrorInfo(
            type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
            task_id=ct.id,
        )
        retry_at = None
        if ct.failures < ct.max_retries and not isinstance(exc, SerializationError):
            delay = min(self.retry_backoff * 2**ct.failures, self.max_backoff)
            retry_at = time.time() + delay * (0.5 + random.random() / 2)
        log.info("task %s attempt %s failed: %s: %s", ct.id, ct.attempt, error.type, exc)
        self.store.fail_task(ct.id, ct.attempt, error, retry_at)

    def _hand_back(self, ct: ClaimedTask) -> None:
        self.store.release_task(ct.id, ct.attempt)
        with self._held_lock:
            self._held.pop(ct.id, None)

    # -- keeper thread --------------------------------------------------------------------
    def _keeping(self) -> _Keeping:
        return _Keeping(self)

    def _keeper_loop(self) -> None:
        last_flush = 0.0
        last_beat = time.monotonic()
        renew_every = self.lease_seconds / 3
        while not self._halt_keeper.is_set():
            self._wake.wait(self.cancel_check_interval / 2)
            self._wake.clear()
            try:
                now = time.monotonic()
                dirty = [(ct, ctx) for ct, ctx in self._current if ctx._dirty]
                flushed: set[tuple[uuid.UUID, int]] = set()
                if dirty:
                    wait = last_flush + self.progress_interval - now
                    if wait > 0:
                        # Coalesce updates that arrive in a burst (a stop cuts the wait short).
                        self._halt_keeper.wait(wait)
                    # A batch's tasks in one transaction, with one progress event per job.
                    flushes = [
                        ProgressFlush(
                            ct.id, ct.attempt, tuple(ctx._changes()), tuple(ctx._take_events())
                        )
                        for ct, ctx in dirty
                    ]
                    try:
                        status = self.store.flush_progress_many(flushes, self.lease_seconds)
                    except Exception:
                        for _, ctx in dirty:
                            ctx._unflushed()
                        raise
                    self._apply(status)
                    last_flush = time.monotonic()
                    flushed = {(ct.id, ct.attempt) for ct, _ in dirty}
                now = time.monotonic()
                with self._held_lock:
                    leases = [(ct.id, ct.attempt) for ct in self._held.values()]
                if flushed and flushed.issuperset(leases):
                    # That flush renewed every lease and read their jobs' states: a heartbeat.
                    last_beat = now
                due = now - last_beat >= min(renew_every, self.cancel_check_interval)
                if leases and due:
                    self._apply(self.store.heartbeat(leases, self.lease_seconds))
                    last_beat = now
                self._check_deadline()
            except Exception:  # keep heartbeating through transient database errors
                log.exception("runner keeper failed; retrying")
                time.sleep(0.1)

    def _apply(self, status: LeaseStatus) -> None:
        for ct, ctx in self._current:
            if ct.id in status.lost:
                ctx._interrupt_with(
                    LeaseLostError(f"task {ct.id} attempt {ct.attempt} lost its lease")
                )
            elif ct.id in status.cancelled:
                ctx._interrupt_with(
                    TaskCancelledError(f"job {ct.job_id} was cancelled"), cancelled=True
                )

    def _check_deadline(self) -> None:
        """Past the shutdown grace period: hand the running task back and exit the process."""
        if self._deadline is None or time.monotonic() < self._deadline:
            return
        if not self._current:
            return
        log.warning("grace period over: handing the running task back and exiting")
        with self._held_lock:
            held = list(self._held.values())
        for claimed in held:
            try:
                self.store.release_task(claimed.id, claimed.attempt)
            except Exception:
                log.exception("could not hand task %s back", claimed.id)
        logging.shutdown()
        os._exit(0)

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stopping.is_set():
                self._deadline = time.monotonic()  # second signal: hand back now
                self._wake.set()
                return
            log.info("signal %s: stopping after the current task", signum)
            self.stop()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore


class _Keeping:
    """Runs the keeper thread for the duration of a ``with`` block."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def __enter__(self) -> None:
        r = self.runner
        r._halt_keeper.clear()
        r._keeper = threading.Thread(target=r._keeper_loop, name="conveyor-keeper", daemon=True)
        r._keeper.start()

    def __exit__(self, *exc: object) -> None:
        r = self.runner
        r._halt_keeper.set()
        r._wake.set()
        if r._keeper is not None:
            r._keeper.join(timeout=5)
        if r._uploader is not None:
            r._uploader.shutdown()
            r._uploader = None
