"""What a run is given and what it reports: a built store, the run's options, per-sink outcomes."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from rfmsync.connectors.base import Sink, Source
from rfmsync.core.aggregate import OrderCounts
from rfmsync.core.errors import RfmsyncError
from rfmsync.core.rfm import RfmSettings, ScoredCustomers
from rfmsync.sync.audiences import RunContacts
from rfmsync.sync.ledger import Ledger, OrderFilter


class StoreBusy(RfmsyncError):
    """Another process holds this store's lease."""


@dataclass(frozen=True)
class StoreRuntime:
    """A store ready to run: its settings and built connectors."""

    name: str
    tz_name: str
    settings: RfmSettings
    sources: Sequence[Source[Any]]
    sinks: Sequence[Sink]
    lookback: timedelta = timedelta(minutes=60)
    lookbacks: dict[str, timedelta] = field(default_factory=dict)  # per-source overrides
    window_days: int | None = None
    half_life_days: float | None = None
    currency: str | None = None
    rates: dict[str, float] = field(default_factory=dict)
    merge_guests_by_email: bool = False
    # A fixed reference date (the demo stores); None scores as of each run's start.
    as_of: date | None = None
    returns: Literal["subtract", "ignore"] = "subtract"
    # The store's ad_consent (its sinks got it when built); part of what a quiet run compares.
    ad_consent_required: bool = True
    # Numbers without a country code are read in this region when customers are matched by phone
    # across sources (sync/identity.py).
    phone_region: str | None = None
    order_filter: OrderFilter = field(default_factory=OrderFilter)


@dataclass
class RunOptions:
    # "realtime": after webhooks, score and push the ledger as it is, reading no source.
    kind: Literal["sync", "backfill", "realtime"] = "sync"
    dry_run: bool = False
    full_resync: bool = False
    backfill_since: datetime | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int], None] | None = None
    # Pulls: (source, orders so far, orders the pull holds if the source says, the newest order
    # change reached): how far a backfill is, for a terminal.
    pull_progress: Callable[[str, int, int | None, datetime | None], None] | None = None
    now: datetime | None = None


@dataclass
class SinkOutcome:
    name: str
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: int = 0
    accepted: int = 0
    rejected: int = 0
    given_up: int = 0
    skipped: int = 0
    replayed_batches: int = 0
    waiting_in_outbox: int = 0  # dry run: changes of unfinished batches a real run resends first
    preview: list[str] = field(default_factory=list)
    error: str | None = None
    # Ad audiences: segment -> members as sent; customers in a segment with nothing to send (no
    # identifier, no consent); notes for the summary (small audiences, a lookalike created or not).
    audiences: dict[str, int] = field(default_factory=dict)
    not_sendable: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: int
    store: str
    outcome: str = "running"
    orders_pulled: int = 0
    source_rejects: int = 0
    customers_scored: int = 0
    order_counts: OrderCounts | None = None
    ledger: Ledger | None = None
    scored: ScoredCustomers | None = None
    sinks: list[SinkOutcome] = field(default_factory=list)
    # Nothing pulled and the same inputs as the last clean run: not scored again (sync/quiet.py).
    unchanged: bool = False
    # Customer key -> (previous segment, ISO date of the last change) after this run (sync/segment_history.py).
    history: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    # Read once for every ad sink of the run (sync/audiences.py).
    contacts: RunContacts | None = field(default=None, repr=False)

    def counts(self) -> dict[str, object]:
        ledger = self.ledger
        return {"orders_pulled": self.orders_pulled, "source_rejects": self.source_rejects,
                "customers_scored": self.customers_scored,
                **({"customers_in_several_sources": ledger.identity.multi_source} if ledger and
                   ledger.identity.multi_source else {}),
                **({"orders_filtered_out": ledger.orders_filtered_out} if ledger and ledger.orders_filtered_out
                   else {}),
                "sinks": {s.name: {"changes": s.changes, "accepted": s.accepted, "rejected": s.rejected,
                                   "skipped": s.skipped, "given_up": s.given_up, "error": s.error,
                                   **({"audiences": s.audiences, "not_sendable": s.not_sendable, "notes": s.notes}
                                      if s.audiences or s.notes or s.not_sendable else {})}
                          for s in self.sinks}}


def safe_error(exc: BaseException) -> str:
    """An error as a run records and shows it. Our own errors are written to be safe to show;
    anything else is named by class only, since its text may carry a payload."""
    return str(exc)[:500] if isinstance(exc, RfmsyncError) else f"unexpected {type(exc).__name__}"
