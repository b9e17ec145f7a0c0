"""The narrow interface an engine gives the shared store logic: named queries in a transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["Connector", "Row", "Sent", "Transaction"]

Row = Mapping[str, Any]


class Sent(Protocol):
    """A statement sent with ``Transaction.send``."""

    def rows(self) -> list[Row]:
        """Its result rows, waiting for them if they have not arrived yet (on PostgreSQL,
        reading the result of a later statement first brings this one's along)."""
        ...


class Transaction(Protocol):
    """Runs named queries of the engine's dialect inside one open transaction."""

    def one(self, query: str, **params: Any) -> Row | None:
        """First row of the result, or None."""
        ...

    def all(self, query: str, **params: Any) -> list[Row]:
        """All rows of the result."""
        ...

    def run(self, query: str, **params: Any) -> int:
        """Execute; return the number of rows changed."""
        ...

    def send(self, query: str, **params: Any) -> Sent:
        """Execute without waiting for the result.

        An engine may hold the statement back and send it with the next one (PostgreSQL
        pipelines it: no round trip of its own). Statements still run in the order they
        were issued; an error surfaces at the latest when the transaction commits.
        """
        ...

    def send_many(self, query: str, params: Sequence[Mapping[str, Any]]) -> None:
        """``send`` once per parameter set (``executemany``), results not read."""
        ...


class Connector(Protocol):
    """A database engine: transactions, schema migrations, and its driver's error mapping."""

    dialect: str
    url: str

    def transaction(self, *, write: bool = True) -> AbstractContextManager[Transaction]:
        """Open a transaction; commit on exit, roll back on error."""
        ...

    def close(self) -> None: ...


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
