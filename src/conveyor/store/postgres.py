"""The PostgreSQL engine: many API servers and workers on many machines share one database.

``PostgresStore(url)`` is the shared store logic (``SqlStore``) over a psycopg 3
connection pool. What this module adds to the named queries in ``sql/postgres``:

* **Errors**: driver errors become ``conveyor.exceptions`` types. Every Store
  operation runs again (whole, as one new transaction) when it failed for a
  transient reason: a serialization failure or deadlock, a unique violation
  from a racing insert of the same key (the rerun sees the winner's row), or a
  connection that died (PostgreSQL restarted: the pool reconnects). Transient
  failures are retried with backoff for up to ``retry_seconds`` (30 s).
* **Event order**: a sequence hands out ids at insert time, not at commit time,
  so a reader tailing the event log by id could pass an id that commits later.
  The connector therefore appends a transaction's events just before COMMIT,
  under a transaction-level advisory lock: ids become visible in commit order,
  and the lock is held only for the inserts and the commit, so it cannot take
  part in a deadlock. A progress event is computed by that insert (see
  ``insert_progress_events``), so it sums every flush committed before it.
* **Lock order**: writers lock a job's row before its task rows, and several
  jobs in id order (``lock_jobs_of_tasks``), so concurrent commits from many
  workers do not deadlock.
* **Round trips**: a write transaction runs in pipeline mode. BEGIN goes out with
  the first statement, statements sent with ``Transaction.send`` (results not
  read) go out with the next one, and the deferred events go out with COMMIT, so
  a transaction costs one round trip per statement whose result the store reads,
  plus one for the commit. Reads run as plain autocommit statements (under READ
  COMMITTED a transaction gives a read nothing more), without BEGIN and COMMIT.
* **Schema**: versioned migrations are applied by ``conveyor db upgrade``
  (``_pg_schema.upgrade``); opening a store checks the version and refuses an
  older or newer schema.
* **Wake-up hints**: ``wait_for_work`` and ``listen_events`` (``_pg_notify``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolClosed

from conveyor.exceptions import ConflictError, JobNotFoundError, StoreError
from conveyor.models import Job
from conveyor.store._connector import Row
from conveyor.store._engine import SqlStore
from conveyor.store._pg_notify import Notifications
from conveyor.store._pg_schema import check_schema, redact, upgrade
from conveyor.store._sql import load_queries
from conveyor.store.base import Store
from conveyor.store.records import NewJob

__all__ = ["PostgresConnector", "PostgresStore", "upgrade"]

log = logging.getLogger("conveyor.store.postgres")

T = TypeVar("T")

#: Queries the connector runs at commit time instead of in place (see the module docstring).
_DEFERRED = frozenset({"insert_event", "insert_progress_events", "announce_started_jobs"})
#: Deferred queries that take the event-log lock themselves, only when they append events.
_SELF_LOCKING = frozenset({"announce_started_jobs"})
#: Taken before appending events, held to commit: event writers take turns (engine plumbing,
#: like the migration lock in ``_pg_schema``).
_LOCK_EVENT_LOG = "SELECT pg_advisory_xact_lock(7350212105846175043)"
#: Hot queries whose plan does not depend on their parameters' values, but whose estimated
#: cost does (LIMIT, unnest of a kinds array): PostgreSQL would plan them anew at every
#: execution (about 0.5 ms for a claim) instead of reusing their prepared plan.
_GENERIC_PLANS = frozenset({"claim_ready", "claim_batch", "insert_progress_events"})
_USE_GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"
_DEFAULT_POOL_SIZE = 10


class _TransientError(StoreError):
    """The transaction failed for a reason that running it again may fix."""


class _RacedInsert(ConflictError):
    """A unique violation: a concurrent transaction inserted the same key first."""


def _translate(exc: psycopg.Error) -> StoreError | ConflictError:
    """Map a driver error to the exception the store logic raises."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, PoolClosed):
        return StoreError("the store is closed")
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return _RacedInsert(f"conflicts with stored data: {detail}")
    if isinstance(exc, psycopg.errors.ProgramLimitExceeded):
        return StoreError(f"PostgreSQL: {detail}")
    if isinstance(exc, psycopg.OperationalError):
        return _TransientError(f"PostgreSQL: {detail}")
    return StoreError(f"PostgreSQL: {detail}")


class _Tx:
    """Named queries inside one open transaction; events are held back until commit.

    With a pipeline, a statement whose result is read costs one round trip (its
    ``sync`` also collects every statement sent before it); a sent one costs none.
    """

    __slots__ = ("conn", "deferred", "generic", "pipeline", "queries")

    def __init__(
        self,
        conn: psycopg.Connection[Row],
        queries: dict[str, str],
        pipeline: psycopg.Pipeline | None = None,
    ) -> None:
        self.conn = conn
        self.queries = queries
        self.pipeline = pipeline
        self.deferred: list[tuple[str, dict[str, Any]]] = []
        self.generic = False

    def _plan(self, query: str) -> None:
        """Before the first of the ``_GENERIC_PLANS`` queries: reuse prepared plans from here
        on in this transaction (sent, no round trip of its own)."""
        if query in _GENERIC_PLANS and not self.generic:
            self.generic = True
            self.conn.execute(_USE_GENERIC_PLANS)

    def _execute(self, query: str, params: dict[str, Any]) -> psycopg.Cursor[Row]:
        cur = self.conn.execute(self.queries[query], params)
        if self.pipeline is not None:
            self.pipeline.sync()
        return cur

    def one(self, query: str, **params: Any) -> Row | None:
        if query in _DEFERRED:
            self.deferred.append((query, params))
            return None
        cur = self._execute(query, params)
        return cur.fetchone() if cur.description else None

    def all(self, query: str, **params: Any) -> list[Row]:
        cur = self._execute(query, params)
        return cur.fetchall() if cur.description else []

    def run(self, query: str, **params: Any) -> int:
        if query in _DEFERRED:
            self.deferred.append((query, params))
            return 1
        return self._execute(query, params).rowcount

    def send(self, query: str, **params: Any) -> _Sent:
        if query in _DEFERRED:
            self.deferred.append((query, params))
            return _Sent(None, None)
        self._plan(query)
        if self.pipeline is not None:
            return _Sent(self.conn.execute(self.queries[query], params), self.pipeline)
        return _Sent(self._execute(query, params), None)

    def send_many(self, query: str, params: Sequence[Mapping[str, Any]]) -> None:
        if query in _DEFERRED:
            self.deferred.extend((query, dict(p)) for p in params)
            return
        self.conn.cursor().executemany(self.queries[query], params)

    def flush_deferred(self) -> None:
        """Append the held-back events, serialized with every other event writer."""
        if not self.deferred:
            return
        if any(query not in _SELF_LOCKING for query, _ in self.deferred):
            self.conn.execute(_LOCK_EVENT_LOG)
        for query, params in self.deferred:
            self._plan(query)
            self.conn.execute(self.queries[query], params)


class _Sent:
    """A statement sent in a pipeline; its result arrives with the next sync."""

    __slots__ = ("_rows", "cursor", "pipeline")

    def __init__(
        self, cursor: psycopg.Cursor[Row] | None, pipeline: psycopg.Pipeline | None
    ) -> None:
        self.cursor = cursor
        self.pipeline = pipeline
        self._rows: list[Row] | None = None if cursor is not None else []

    def rows(self) -> list[Row]:
        if self._rows is None:  # (None: not read yet; deferred to commit: nothing to read)
            cur = self.cursor
            assert cur is not None
            if cur.pgresult is None and self.pipeline is not None:
                self.pipeline.sync()
            self._rows = cur.fetchall() if cur.description else []
        return self._rows


def _without_comments(queries: dict[str, str]) -> dict[str, str]:
    """Drop whole-line comments: psycopg would read a placeholder quoted in one as real."""
    return {
        name: "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
        for name, sql in queries.items()
    }


@contextmanager
def _pipelined_transaction(conn: psycopg.Connection[Row]) -> Iterator[psycopg.Pipeline]:
    """BEGIN ... COMMIT in pipeline mode, written out rather than ``conn.transaction()``
    (which syncs on entry and twice on exit): BEGIN goes out with the first statement and
    COMMIT with the last, so they cost no round trip of their own."""
    try:
        with conn.pipeline() as pipeline:
            conn.execute("BEGIN")
            try:
                yield pipeline
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")  # sent, with everything still queued, as the pipeline ends
    except BaseException:
        # A failed statement makes the server skip the rest of the pipeline, COMMIT or
        # ROLLBACK included: end the transaction here rather than in the pool.
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
        raise


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Read uuid columns back as text, so rows look the same as the SQLite engine's."""
    conn.adapters.register_loader("uuid", TextLoader)


class PostgresConnector:
    """A psycopg connection pool running named queries of the ``postgres`` dialect."""

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = _DEFAULT_POOL_SIZE,
        retry_seconds: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.queries = _without_comments(load_queries("postgres"))
        self.retry_seconds = retry_seconds
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self._pipelines = psycopg.Pipeline.is_supported()
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": max(1, int(connect_timeout)),
                "application_name": "conveyor",
            },
            configure=_configure,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=connect_timeout,
            # Give up a reconnect series early: its backoff doubles without bound, and a fresh
            # series (started when a caller waits) tries again within a second.
            reconnect_timeout=5.0,
            name="conveyor",
            open=True,
        )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Tx]:
        """One transaction on a pooled connection; commit on exit, roll back on error.

        ``write=False``: autocommit statements (reads need no transaction under READ
        COMMITTED, and skip the BEGIN and COMMIT round trips).
        """
        try:
            with self.pool.connection() as conn:
                if not write:
                    yield _Tx(conn, self.queries)
                elif self._pipelines:
                    with _pipelined_transaction(conn) as pipeline:
                        tx = _Tx(conn, self.queries, pipeline)
                        yield tx
                        tx.flush_deferred()
                else:  # libpq older than 14: no pipeline mode
                    with conn.transaction():
                        tx = _Tx(conn, self.queries)
                        yield tx
                        tx.flush_deferred()
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def retry(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (one whole Store operation), again on a transient failure.

        Nested calls (an operation calling another) retry only at the outermost level.
        """
        if getattr(self._local, "active", False):
            return operation()
        self._local.active = True
        try:
            return self._retry(operation)
        finally:
            self._local.active = False

    def _retry(self, operation: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.002
        races = 0
        while True:
            try:
                return operation()
            except _RacedInsert as exc:
                races += 1
                if races > 2:
                    raise ConflictError(str(exc)) from exc.__cause__
            except _TransientError as exc:
                cause = exc.__cause__
                if time.monotonic() + delay > deadline:
                    raise StoreError(
                        f"database {redact(self.url)} still failing after "
                        f"{self.retry_seconds:.0f}s: {exc}"
                    ) from cause
                if not isinstance(
                    cause, psycopg.errors.TransactionRollback | psycopg.errors.DeadlockDetected
                ):
                    log.warning("database operation failed (%s); retrying in %.2fs", exc, delay)
                    self.pool.check()  # drop every broken idle connection at once
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)

    def close(self) -> None:
        self.pool.close()


def _retrying(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(self: PostgresStore, *args: Any, **kwargs: Any) -> T:
        return self.db.retry(lambda: method(self, *args, **kwargs))

    return wrapper


class PostgresStore(SqlStore):
    """The Store protocol on PostgreSQL: ``PostgresStore("postgresql://...")``.

    Refuses a database whose schema is older or newer than this Conveyor
    (SchemaVersionError: run ``conveyor db upgrade``).
    """

    db: PostgresConnector

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        retry_seconds: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if pool_size is None:
            from conveyor.settings import Settings

            pool_size = Settings().db_pool_size
        connector = PostgresConnector(
            url,
            pool_size=pool_size,
            retry_seconds=retry_seconds,
            connect_timeout=connect_timeout,
        )
        try:
            with connector.transaction(write=False) as tx:
                check_schema(tx.conn, url)
        except BaseException as exc:
            connector.close()
            if isinstance(exc, _TransientError):
                raise StoreError(f"cannot use database {redact(url)}: {exc}") from exc
            raise
        super().__init__(connector)
        self._notifications = Notifications(url)

    def create_job(self, job: NewJob) -> Job:
        """As SqlStore's, plus: a job whose commit was acknowledged too late (the connection
        died after COMMIT was sent) is found by its id on the retry, not reported as a
        conflict, so a submit during a PostgreSQL restart creates exactly one job."""
        try:
            return self.db.retry(lambda: SqlStore.create_job(self, job))
        except ConflictError:
            if job.idempotency_key is not None:
                raise
            try:
                existing = self.get_job(job.id, job.tenant)
            except JobNotFoundError:
                raise ConflictError(f"job {job.id} conflicts with stored data") from None
            tasks = self.list_tasks(job.id)
            if not tasks or tasks[0].id != job.root.id:  # another submission with this id
                raise
            return existing

    def ping(self, timeout: float = 2.0) -> None:
        """A pooled connection within ``timeout`` and ``SELECT 1`` on it, bounded by a
        statement timeout; no retries (see ``Store.ping``)."""
        try:
            with self.db.pool.connection(timeout=timeout) as conn:
                conn.execute(f"SET statement_timeout = {max(1, int(timeout * 1000))}")
                try:
                    conn.execute("SELECT 1")
                finally:
                    conn.execute("RESET statement_timeout")
        except psycopg.Error as exc:  # PoolTimeout included
            raise StoreError(f"database {redact(self.url)} is not answering: {exc}") from exc

    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        return self._notifications.wait_for_work(timeout, stop)

    def listen_events(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self._notifications.subscribe_events(callback)

    def close(self) -> None:
        self._notifications.close()
        super().close()


# Every Store operation is one transaction; run it again, whole, on a transient failure.
# (Operations PostgresStore defines itself retry on their own.)
for _name in dir(Store):
    if _name.startswith("_") or _name in vars(PostgresStore):
        continue
    _method = getattr(SqlStore, _name, None)
    if callable(_method):
        setattr(PostgresStore, _name, _retrying(_method))
