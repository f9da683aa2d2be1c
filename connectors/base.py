"""What the run loop expects of sources and sinks.

Sources are stateless: `pull(since, until)` yields pages of validated orders and the run loop owns
the cursor. Sinks only ever see changes, computed against what that sink last acknowledged, and
report per record what the platform accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rfmsync.core.diff import Change
from rfmsync.core.models import Order


@dataclass(frozen=True)
class RejectedRecord:
    """A source record that failed validation: kept with its position and reason, never dropped."""

    position: str  # "orders.csv line 14", "page 3 item 17"
    reason: str
    raw: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[Order]
    rejects: Sequence[RejectedRecord] = ()
    # A source-specific position to resume from (a GraphQL cursor, a file fingerprint); stored
    # with the page's orders in one transaction.
    cursor: str | None = None


class Source(Protocol):
    @property
    def name(self) -> str:
        """Unique within the store; the ledger keys orders by (source name, order id)."""
        ...

    def pull(self, since: datetime | None, until: datetime, cursor: str | None) -> Iterator[OrderPage]:
        """Orders created or updated in [since, until); since None means the whole history."""
        ...


@dataclass(frozen=True)
class PushResult:
    """Customer keys the platform accepted, and those it refused with the reason."""

    accepted: Sequence[str]
    rejected: Mapping[str, str] = field(default_factory=dict)


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def batch_size(self) -> int: ...

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        """Sends one batch. Must be an idempotent upsert: a replay with the same batch_id after a
        crash must not duplicate anything. Raises TransientError to try again on the next run,
        AuthError or PermanentError to stop this sink for the run."""
        ...
