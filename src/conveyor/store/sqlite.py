"""The embedded engine: one SQLite file in WAL mode, shared by any number of processes.

Writes take the database lock up front (``BEGIN IMMEDIATE``) so a claim's
read-then-update is atomic across processes; readers never block in WAL mode.
Each thread gets its own connection because sqlite3 connections are not
thread-safe. The write transactions of one process take turns on a lock of
their own before they ask SQLite: a thread waiting there wakes as soon as the
lock is free, whereas SQLite's busy handler sleeps 1, 2, 5, 10 ... ms between
tries (a runner's claim waiting behind its own progress flush lost ~18 ms at
the median that way). Between processes, ``_begin`` retries with short jittered
sleeps instead of that handler.

Wake-up hints: an idle runner reads ``PRAGMA data_version`` (no table read, no
lock wait), which changes when another connection commits, every 5 ms for a
second after the last change it saw and every 10 ms after that: a submit wakes
idle runners within that interval instead of their poll interval, for about 1%
of a core while idle.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from conveyor.exceptions import ConflictError, SchemaVersionError, StoreError
from conveyor.store._connector import Row
from conveyor.store._engine import SqlStore
from conveyor.store._sql import load_migrations, load_queries
from conveyor.store._wakeup import poll_for_change

__all__ = ["SQLiteStore", "sqlite_path"]

_LOCK_TIMEOUT = 60.0
#: How often an idle runner looks for commits by other connections (wait_for_work): every
#: _WATCH_FAST seconds for _WATCH_WARM seconds after the last one it saw, then _WATCH_SLOW.
_WATCH_FAST = 0.005
_WATCH_SLOW = 0.01
_WATCH_WARM = 1.0


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: str) -> threading.RLock:
    """The lock the write transactions of this process on database ``path`` take turns on."""
    with _WRITERS_LOCK:
        lock = _WRITERS.get(path)
        if lock is None:
            lock = _WRITERS[path] = threading.RLock()
        return lock


# A forked child starts with no thread inside a transaction: fresh locks.
os.register_at_fork(after_in_child=_WRITERS.clear)


def sqlite_path(url: str) -> str:
    """The file path of a SQLite URL.

    ``sqlite:///abs/path/x.db`` and ``sqlite:////abs/path/x.db`` are absolute,
    ``sqlite://./x.db`` or ``sqlite:x.db`` relative, ``sqlite://:memory:`` in memory.
    """
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        raise ValueError(f"not a sqlite URL: {url!r}")
    path = unquote(parsed.netloc + parsed.path)
    if path in (":memory:", "/:memory:"):
        return ":memory:"
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    if not path:
        raise ValueError(f"sqlite URL names no file: {url!r}")
    return path


class _Tx:
    __slots__ = ("conn", "queries")

    def __init__(self, conn: sqlite3.Connection, queries: dict[str, str]) -> None:
        self.conn = conn
        self.queries = queries

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: json.dumps(v) if isinstance(v, list | tuple) else v for k, v in params.items()}

    def one(self, query: str, **params: Any) -> Row | None:
        cur = self.conn.execute(self.queries[query], self._params(params))
        row = cur.fetchone()
        cur.fetchall()  # finish the statement (RETURNING with several rows)
        return row  # type: ignore[no-any-return]

    def all(self, query: str, **params: Any) -> list[Row]:
        return self.conn.execute(self.queries[query], self._params(params)).fetchall()

    def run(self, query: str, **params: Any) -> int:
        return self.conn.execute(self.queries[query], self._params(params)).rowcount

    def send(self, query: str, **params: Any) -> _Sent:
        return _Sent(self.conn.execute(self.queries[query], self._params(params)).fetchall())

    def send_many(self, query: str, params: Sequence[Mapping[str, Any]]) -> None:
        self.conn.executemany(self.queries[query], [self._params(dict(p)) for p in params])


class _Sent:
    """A statement already run (SQLite runs each at once): its rows."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def rows(self) -> list[Row]:
        return self._rows


class SQLiteConnector:
    """Connections, transactions and migrations for one SQLite database file."""

    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.queries = load_queries("sqlite")
        self._local = threading.local()
        self._memory: sqlite3.Connection | None = None
        self._memory_lock = threading.RLock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock_key = os.path.realpath(self.path)  # one writer lock per file
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory is None:
                self._memory = self._open()
            return self._memory
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._open()
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_LOCK_TIMEOUT
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-16000")
        return conn

    def data_version(self) -> int:
        """``PRAGMA data_version`` of this thread's connection: it changes whenever another
        connection commits (this connection's own commits leave it as it was)."""
        return int(self._connect().execute("PRAGMA data_version").fetchone()[0])

    def wait_for_change(self, timeout: float, stop: threading.Event | None) -> bool:
        """Block until another connection committed, ``stop`` is set, or ``timeout`` passed.

        The version seen last is kept per thread, so a commit that landed between two
        waits (while the runner claimed) ends the next wait at once.
        """
        local = self._local
        if getattr(local, "seen_version", None) is None or local.pid != os.getpid():
            local.seen_version = self.data_version()  # (connects: sets local.pid)
            local.changed_at = time.monotonic()

        def interval() -> float:
            warm = time.monotonic() - local.changed_at < _WATCH_WARM
            return _WATCH_FAST if warm else _WATCH_SLOW

        changed, local.seen_version = poll_for_change(
            self.data_version, local.seen_version, timeout, stop, interval
        )
        if changed:
            local.changed_at = time.monotonic()
        return changed

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_Tx]:
        if self.path == ":memory:":
            lock: Any = self._memory_lock
        else:
            lock = _writer_lock(self._lock_key) if write else nullcontext()
        with lock:
            conn = self._connect()
            self._begin(conn, write)
            try:
                yield _Tx(conn, self.queries)
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise ConflictError(f"conflicts with stored data: {exc}") from exc
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"SQLite: {exc}") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"commit failed: {exc}") from exc

    @staticmethod
    def _begin(conn: sqlite3.Connection, write: bool) -> None:
        """Start a transaction, retrying on a busy database with short random sleeps.

        SQLite's own busy handler sleeps in coarse steps (milliseconds); short
        jittered retries keep many runner processes claiming without stalls. So the
        handler is off while a write transaction asks for the lock (other statements
        keep the connection's timeout).
        """
        if not write:
            conn.execute("BEGIN")
            return
        deadline = time.monotonic() + _LOCK_TIMEOUT
        delay = 0.0001
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise StoreError(str(exc)) from exc
                    if time.monotonic() > deadline:
                        raise StoreError(
                            f"database stayed locked for {_LOCK_TIMEOUT:.0f}s"
                        ) from exc
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.01)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(_LOCK_TIMEOUT * 1000)}")

    def migrate(self) -> None:
        """Apply missing migrations; refuse a database newer than this code."""
        migrations = load_migrations("sqlite")
        latest = migrations[-1].version
        conn = self._connect()
        conn.execute("CREATE TABLE IF NOT EXISTS conveyor_schema (version INTEGER NOT NULL)")
        self._begin(conn, True)
        try:
            row = conn.execute("SELECT MAX(version) FROM conveyor_schema").fetchone()
            current = row[0] or 0
            if current > latest:
                raise SchemaVersionError(
                    f"database {self.path} has schema version {current}, newer than this "
                    f"Conveyor's {latest}: upgrade Conveyor"
                )
            for migration in migrations:
                if migration.version > current:
                    for statement in _statements(migration.sql):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO conveyor_schema (version) VALUES (?)", (migration.version,)
                    )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._memory is not None:
            self._memory.close()
            self._memory = None


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.execute runs one at a time)."""
    statements, buffer = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") and not buffer:
            continue
        buffer.append(line)
        candidate = "\n".join(buffer)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            buffer = []
    if "".join(buffer).strip():
        statements.append("\n".join(buffer).strip())
    return statements


class SQLiteStore(SqlStore):
    """The Store protocol on a SQLite file (the embedded default)."""

    db: SQLiteConnector

    def __init__(self, url: str) -> None:
        super().__init__(SQLiteConnector(url))

    def wait_for_work(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Returns True when another connection committed meanwhile (a submit, a retry, a
        completion that made dependents runnable...): a hint to claim again. An in-memory
        database has no other connections: it just waits."""
        if self.db.path == ":memory:":
            return super().wait_for_work(timeout, stop)
        return self.db.wait_for_change(timeout, stop)
