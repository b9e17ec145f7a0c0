"""Test environments Conveyor ships for its own suite, benchmarks and users' tests.

``PostgresCluster`` starts a throwaway PostgreSQL cluster from the server binaries
(``initdb``/``pg_ctl``), so nothing has to run beforehand: the data directory and
unix socket live in a temp dir, durability is switched off for speed, and
``stop()`` removes everything. PostgreSQL refuses to run as root; when this
process is root (CI containers) the cluster runs as an unprivileged OS user,
created if needed.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_postgres_bin"]

_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",
    "shared_buffers": "128MB",
    "max_wal_size": "2GB",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
}
_FALLBACK_OS_USER = "conveyor-pg"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (or the cluster cannot start)."""


def find_postgres_bin() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``CONVEYOR_PG_BIN`` wins; then ``PATH``; then Debian's ``/usr/lib/postgresql/*/bin``
    (newest first), which is where ``apt install postgresql`` puts them.
    """
    candidates = []
    if os.environ.get("CONVEYOR_PG_BIN"):
        candidates.append(Path(os.environ["CONVEYOR_PG_BIN"]))
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin"):
        candidates += sorted(
            (Path(p) for p in glob.glob(pattern)),
            key=lambda p: [int(x) for x in p.parent.name.split(".") if x.isdigit()] or [0],
            reverse=True,
        )
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; install PostgreSQL "
        "or set CONVEYOR_PG_BIN to their directory"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The OS user to run PostgreSQL as when we are root (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in (os.environ.get("CONVEYOR_PG_OS_USER"), "postgres", _FALLBACK_OS_USER):
        if name:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
    for command in (
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/false",
            _FALLBACK_OS_USER,
        ],
        ["adduser", "-S", "-D", "-H", _FALLBACK_OS_USER],  # busybox/alpine
    ):
        if shutil.which(command[0]):
            subprocess.run(command, check=False, capture_output=True)
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(_FALLBACK_OS_USER)
    raise PostgresUnavailable(
        "running as root and no unprivileged user to run PostgreSQL as: create one "
        "(e.g. `useradd postgres`) or set CONVEYOR_PG_OS_USER"
    )


class PostgresCluster:
    """A throwaway PostgreSQL cluster on a free port, with its socket in a temp dir.

    Use as a context manager, or call ``start()``/``stop()``. ``url(db)`` connects
    over the unix socket (lowest latency), ``tcp_url(db)`` over loopback TCP.
    ``restart()`` stops and starts the same cluster, for resilience tests.
    """

    def __init__(self, *, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        self.bin = find_postgres_bin()
        self.port = port or _free_port()
        self.settings = {**_FAST_SETTINGS, **(settings or {})}
        self.superuser = "postgres"
        self.os_user = _unprivileged_user()
        self.root: Path | None = None
        self._running = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> PostgresCluster:
        """initdb (first time) and start the server; returns when it accepts connections."""
        if self._running:
            return self
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="conveyor-pg-", dir=self._temp_base()))
            if self.os_user is not None:
                os.chown(self.root, self.os_user.pw_uid, self.os_user.pw_gid)
            self._initdb()
            atexit.register(self.stop)
        options = " ".join(
            [f"-p {self.port}", f"-k {self.root}"]
            + [f"-c {key}={value}" for key, value in self.settings.items()]
        )
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_path), "-o", options)
        self._running = True
        return self

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server (fast shutdown) and, unless ``remove=False``, delete its files."""
        if self.root is None:
            return
        if self._running:
            with contextlib.suppress(PostgresUnavailable):
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
            self._running = False
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            atexit.unregister(self.stop)

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (terminating every connection), wait, and start it again."""
        self.stop(remove=False)
        time.sleep(down_seconds)
        self.start()

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The unix socket directory (a libpq ``host``)."""
        assert self.root is not None, "cluster not started"
        return str(self.root)

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """A connection URL over the unix socket."""
        return f"postgresql://{self.superuser}@/{dbname}?host={self.host}&port={self.port}"

    def tcp_url(self, dbname: str = "postgres") -> str:
        """A connection URL over loopback TCP."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    # -- databases ----------------------------------------------------------------------
    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (optionally copying ``template``); return its URL."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        self._admin(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still uses it."""
        from psycopg import sql

        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: Any) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(statement)

    # -- internals ----------------------------------------------------------------------
    def _temp_base(self) -> str | None:
        """Where the cluster dir goes: a place the unprivileged user can reach when root."""
        if os.environ.get("CONVEYOR_PG_TMPDIR"):
            return os.environ["CONVEYOR_PG_TMPDIR"]
        return "/tmp" if self.os_user is not None and os.path.isdir("/tmp") else None

    def _initdb(self) -> None:
        assert self.root is not None
        self._run(
            self.bin / "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            self.superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )

    def _pg_ctl(self, *args: str) -> None:
        assert self.root is not None
        self._run(self.bin / "pg_ctl", "-D", str(self.root / "data"), *args)

    def _run(self, *command: str | Path) -> None:
        kwargs: dict[str, Any] = {}
        if self.os_user is not None:
            kwargs = {"user": self.os_user.pw_uid, "group": self.os_user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            [str(c) for c in command],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            **kwargs,
        )
        if result.returncode != 0:
            log = ""
            if self.root is not None and self.log_path.exists():
                log = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
            raise PostgresUnavailable(
                f"{Path(str(command[0])).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{log}".strip()
            )
