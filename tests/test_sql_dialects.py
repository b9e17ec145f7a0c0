"""Both SQL dialects define the same named queries, parameters and migration versions.

The shared store logic (``store/_engine.py`` and its mixins) runs the same named
queries with the same keyword parameters on every engine, so a name or a
parameter missing from one dialect is a bug that only that engine would hit.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest

from conveyor.store._sql import load_migrations, load_queries

DIALECTS = ("sqlite", "postgres")
_SQLITE_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_POSTGRES_PARAM = re.compile(r"%\((\w+)\)s")


def _code(sql: str) -> str:
    """The SQL without comment lines and string literals (which may contain colons)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return re.sub(r"'[^']*'", "''", "\n".join(lines))


def _params(dialect: str, sql: str) -> set[str]:
    pattern = _SQLITE_PARAM if dialect == "sqlite" else _POSTGRES_PARAM
    return set(pattern.findall(_code(sql)))


def test_same_query_names() -> None:
    sqlite, postgres = (set(load_queries(d)) for d in DIALECTS)
    assert sorted(sqlite - postgres) == [], "queries missing from the postgres dialect"
    assert sorted(postgres - sqlite) == [], "queries missing from the sqlite dialect"


def test_same_query_files() -> None:
    names = [
        sorted(
            f.name
            for f in (resources.files("conveyor.store") / "sql" / d).iterdir()
            if f.name.endswith(".sql")
        )
        for d in DIALECTS
    ]
    assert names[0] == names[1]


def test_same_migrations() -> None:
    sqlite, postgres = ([(m.version, m.name) for m in load_migrations(d)] for d in DIALECTS)
    assert sqlite == postgres


@pytest.mark.parametrize("name", sorted(load_queries("sqlite")))
def test_same_parameters(name: str) -> None:
    postgres = load_queries("postgres")
    if name not in postgres:
        pytest.skip("reported by test_same_query_names")
    assert _params("sqlite", load_queries("sqlite")[name]) == _params("postgres", postgres[name])


@pytest.mark.parametrize("name", sorted(load_queries("postgres")))
def test_postgres_queries_use_only_psycopg_placeholders(name: str) -> None:
    code = _code(load_queries("postgres")[name])
    assert not _SQLITE_PARAM.findall(code.replace("::", "  ")), "sqlite-style :param"
    assert "?" not in code
    assert not re.search(r"%(?!\(\w+\)s|%)", code), "a bare % must be written %%"


@pytest.mark.parametrize("name", sorted(load_queries("sqlite")))
def test_sqlite_queries_use_only_named_placeholders(name: str) -> None:
    code = _code(load_queries("sqlite")[name])
    assert "%(" not in code and "?" not in code
