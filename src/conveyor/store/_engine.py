"""Store logic shared by every engine: the domain rules, written once over named queries.

Engines (``sqlite.py``, ``postgres.py``) only provide a Connector and their SQL
files; the rules about fencing, retries, DAG promotion, job completion, events
and the webhook outbox live in the mixins composed here, so both engines behave
the same by construction:

* ``_domain``: the rules every operation shares (task insertion, job locks, the
  bookkeeping after tasks finish, job transitions with event and outbox row);
* ``_jobs``: the client side (submit, read, cancel, retry, the event log);
* ``_runner_ops``: the runner side (claims, leases, progress, attempt outcomes);
* ``_cache``: the job cache's rows (written with completions, read by tasks);
* ``_api``, ``_outbox``, ``_retention``, ``_wakeup``: tenants and keys, webhooks,
  cleanup, wake-up hints.
"""

from __future__ import annotations

from conveyor.store._api import ApiStoreMixin
from conveyor.store._cache import CacheMixin
from conveyor.store._connector import Connector
from conveyor.store._domain import DEFAULT_WEBHOOK_EVENTS
from conveyor.store._jobs import JobsMixin
from conveyor.store._outbox import OutboxMixin
from conveyor.store._retention import RetentionMixin
from conveyor.store._runner_ops import RunnerMixin
from conveyor.store._wakeup import WakeupMixin

__all__ = ["DEFAULT_WEBHOOK_EVENTS", "SqlStore"]


class SqlStore(
    JobsMixin, RunnerMixin, CacheMixin, ApiStoreMixin, OutboxMixin, RetentionMixin, WakeupMixin
):
    """The Store protocol implemented over a Connector."""

    def __init__(self, connector: Connector) -> None:
        self.db = connector
        self.url = connector.url

    def ping(self, timeout: float = 2.0) -> None:
        with self.db.transaction(write=False) as tx:
            tx.one("last_event_id")

    def close(self) -> None:
        self.db.close()
