"""The run loop shared by `sync`, `backfill` and the daemon.

pull (each source, look-back, cursor with its page) -> score the whole store as of the run's start
-> for each sink: replay its unfinished batch, diff against what it acknowledged, push in batches,
acknowledge each batch after the platform accepted it. One failing sink never holds back the others.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import ValidationError
from rfmsync.connectors.base import (
    AudienceSink,
    BackfillSource,
    PreviewingSink,
    SegmentAwareSink,
    Sink,
    Source,
    SourceCursor,
)
from rfmsync.core.aggregate import OrderCounts, aggregate
from rfmsync.core.batch import OrderBatch
from rfmsync.core.clock import utc_now
from rfmsync.core.diff import Change, ChangeKind, Record, diff, with_contacts
from rfmsync.core.errors import AuthError, PermanentError, RfmsyncError, TransientError
from rfmsync.core.fields import current_records
from rfmsync.core.rfm import RfmSettings, ScoredCustomers, score
from rfmsync.core.stopping import Interrupted
from rfmsync.sync import audiences, quiet, runs, sink_state
from rfmsync.sync.ledger import Cursor, Ledger, contacts_for, get_cursor, load_ledger, set_cursor, upsert_orders
from rfmsync.sync.sink_memory import StateSinkMemory
from rfmsync.sync.state import Database

log = logging.getLogger("rfmsync.pipeline")
LEASE_SECONDS = 900.0


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


@dataclass
class RunOptions:
    kind: Literal["sync", "backfill"] = "sync"
    dry_run: bool = False
    full_resync: bool = False
    backfill_since: datetime | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str, int], None] | None = None
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
    # Read once for every ad sink of the run (sync/audiences.py).
    contacts: audiences.RunContacts | None = field(default=None, repr=False)

    def counts(self) -> dict[str, object]:
        return {"orders_pulled": self.orders_pulled, "source_rejects": self.source_rejects,
                "customers_scored": self.customers_scored,
                "sinks": {s.name: {"changes": s.changes, "accepted": s.accepted, "rejected": s.rejected,
                                   "skipped": s.skipped, "given_up": s.given_up, "error": s.error,
                                   **({"audiences": s.audiences, "not_sendable": s.not_sendable, "notes": s.notes}
                                      if s.audiences or s.notes or s.not_sendable else {})}
                          for s in self.sinks}}


def run_store(db: Database, store: StoreRuntime, options: RunOptions) -> RunSummary:
    """One run of a store; every source and sink is closed when it ends, however it ends."""
    with ExitStack() as connectors:
        for source in store.sources:
            connectors.callback(_close, source)
        for sink in store.sinks:
            connectors.callback(_close, sink)
        return _run_leased(db, store, options)


def _run_leased(db: Database, store: StoreRuntime, options: RunOptions) -> RunSummary:
    holder = f"{runs.lease_holder_id()}:{threading.get_ident()}"
    if not runs.acquire_lease(db, store.name, holder, LEASE_SECONDS):
        raise StoreBusy(f"store {store.name} is being run by another process; try again when it is done")
    try:
        runs.mark_abandoned_runs(db, store.name)
        started = options.now or utc_now()
        kind = "dry-run" if options.dry_run else options.kind
        summary = RunSummary(runs.start_run(db, store.name, kind, started), store.name)

        def keep_lease() -> None:
            if not runs.renew_lease(db, store.name, holder, LEASE_SECONDS):
                raise StoreBusy(f"store {store.name}: lost the lease to another process; stopping")
            if options.stop.is_set():
                raise Interrupted("stopped on request")

        try:
            # Taken before anything is pulled: a run that does not end clean leaves no key behind.
            last_clean = quiet.take(db, store.name)
            _pull_all(db, store, options, started, summary, keep_lease)
            key = _inputs_key(store, started)
            may_skip = options.kind == "sync" and not options.dry_run and not options.full_resync
            if (may_skip and summary.orders_pulled == 0 and last_clean is not None and last_clean.key == key
                    and not any(sink_state.pending_batches(db, store.name, sink.name) for sink in store.sinks)):
                summary.unchanged = True
                summary.customers_scored = last_clean.customers
                # Refused too often and unchanged since: held back again, as a full run would report.
                summary.sinks = [SinkOutcome(sink.name, given_up=len(sink_state.given_up(db, store.name, sink.name)))
                                 for sink in store.sinks]
            else:
                summary.scored = _score(db, store, started, summary)
                if not options.dry_run:
                    runs.save_snapshot(db, store.name, summary.run_id, _as_of(store, started), summary.scored)
                for sink in store.sinks:
                    summary.sinks.append(_push_sink(db, store, sink, summary, options, keep_lease))
            failed = [s for s in summary.sinks if s.error]
            summary.outcome = "partial" if failed else "ok"
            # Any run that pushed and left every sink clean (a backfill, a resync too) records its inputs.
            if not options.dry_run and not failed and not any(s.rejected for s in summary.sinks):
                quiet.keep(db, store.name, quiet.QuietInputs(key, summary.customers_scored))
            runs.finish_run(db, summary.run_id, summary.outcome, summary.counts(),
                            "; ".join(f"{s.name}: {s.error}" for s in failed) or None)
        except Interrupted:
            summary.outcome = "interrupted"
            runs.finish_run(db, summary.run_id, "interrupted", summary.counts(), "stopped on request")
        except BaseException as exc:
            summary.outcome = "failed"
            runs.finish_run(db, summary.run_id, "failed", summary.counts(), _safe(exc))
            raise
        return summary
    finally:
        runs.release_lease(db, store.name, holder)


def _inputs_key(store: StoreRuntime, started: datetime) -> str:
    settings = (store.settings, store.tz_name, store.window_days, store.half_life_days, store.currency,
                sorted(store.rates.items()), store.merge_guests_by_email, store.returns, store.ad_consent_required)
    # A sink's config decides what it is sent too (an ad sink's segments, a phone region); pydantic's
    # repr masks secrets.
    return quiet.inputs_key(as_of=_as_of(store, started), settings=settings,
                            sources=[source.name for source in store.sources],
                            sinks=[(sink.name, [*sink.fields, repr(getattr(sink, "config", None))])
                                   for sink in store.sinks])


def _resume_point(source: Source[Any], stored: str | None) -> SourceCursor | None:
    if stored is None:
        return None
    try:
        cursor: SourceCursor = source.cursor_model.model_validate_json(stored)
    except ValidationError:
        # Written by an older version in another form: read from the last complete pull instead.
        log.info("source %s: the saved position is of an older form; reading from the last complete pull",
                 source.name)
        return None
    return cursor


def _close(connector: Source[Any] | Sink) -> None:
    # A connection that fails to close must not turn a finished run into a failed one.
    try:
        connector.close()
    except Exception as exc:
        log.warning("%s: closing failed (%s)", connector.name, type(exc).__name__)


def _safe(exc: BaseException) -> str:
    # Our own errors are written to be safe to show; anything else is named by class only, since
    # its text may carry a payload.
    return str(exc)[:500] if isinstance(exc, RfmsyncError) else f"unexpected {type(exc).__name__}"


def _as_of(store: StoreRuntime, started: datetime) -> date:
    if store.as_of is not None:
        return store.as_of
    return started.astimezone(ZoneInfo(store.tz_name)).date()


def _pull_all(db: Database, store: StoreRuntime, options: RunOptions, started: datetime, summary: RunSummary,
              keep_lease: Callable[[], None]) -> None:
    backfill = options.kind == "backfill"
    for source in store.sources:
        # A backfill keeps its own resume point, so an interrupted one continues where it stopped.
        cursor_key = f"{source.name}#backfill" if backfill else source.name
        saved = get_cursor(db, store.name, cursor_key)
        if backfill:
            since = options.backfill_since
        else:
            since = None if saved.since is None else saved.since - store.lookbacks.get(source.name, store.lookback)
        position = saved.position
        resume = _resume_point(source, position)
        pulled = 0
        # Sources with a faster way to read the whole history (bulk operations) use it to backfill.
        read = source.backfill if backfill and isinstance(source, BackfillSource) else source.pull
        for page in read(since, started, resume):
            if page.cursor is not None:
                position = page.cursor.model_dump_json()
            # The page's refused records first: once its resume point is committed the page is never
            # read again, so rejects written after it would be lost to a crash in between. Written
            # before, a crash makes the page be read again and its rejects upserted once more.
            sink_state.record_source_rejects(db, store.name, source.name, summary.run_id,
                                             [(r.position, r.reason, r.raw) for r in page.rejects])
            # A page's resume point commits with its orders; `since` moves only once all are in.
            page_cursor = Cursor(saved.since, position) if page.cursor else None
            upsert_orders(db, store.name, source.name, page.orders, page_cursor, cursor_key=cursor_key,
                          columns=page.columns)
            pulled += page.size
            summary.orders_pulled += page.size
            summary.source_rejects += len(page.rejects)
            if options.progress:
                options.progress(source.name, pulled)
            keep_lease()
        # The cursor never passes the run's start: the next run re-reads from there, less the look-back.
        set_cursor(db, store.name, source.name, Cursor(started, position), clear=cursor_key if backfill else None)
        log.info("store %s source %s: %d orders pulled", store.name, source.name, pulled)


def _in_store_currency(ledger: Ledger, store: StoreRuntime) -> OrderBatch:
    """Converts other currencies by the store's rates; orders with no rate are left out, never summed as equal."""
    batch = ledger.batch
    if store.currency is None or not len(batch):
        return batch
    factor = np.asarray([1.0 if c in (store.currency, "XXX") else store.rates.get(c, np.nan)
                         for c in ledger.currency_names])
    per_order = factor[ledger.currency_codes]
    keep = ~np.isnan(per_order)
    if keep.all() and np.all(per_order == 1.0):
        return batch
    return OrderBatch(batch.customer_ids, batch.customer_codes[keep], batch.created_utc[keep],
                      np.rint(batch.amount_units[keep] * per_order[keep]).astype(np.int64),
                      batch.status_codes[keep])


def _score(db: Database, store: StoreRuntime, started: datetime, summary: RunSummary) -> ScoredCustomers:
    ledger = load_ledger(db, store.name, merge_guests_by_email=store.merge_guests_by_email)
    summary.ledger = ledger
    batch = _in_store_currency(ledger, store)
    metrics, counts = aggregate(batch, _as_of(store, started), ZoneInfo(store.tz_name), store.window_days,
                                store.half_life_days, store.returns)
    summary.order_counts = counts
    scored = score(metrics, store.settings)
    summary.customers_scored = len(scored)
    return scored


def _push_sink(db: Database, store: StoreRuntime, sink: Sink, summary: RunSummary, options: RunOptions,
               keep_lease: Callable[[], None]) -> SinkOutcome:
    outcome = SinkOutcome(sink.name)
    assert summary.scored is not None and summary.ledger is not None
    fields = sink.fields
    try:
        if isinstance(sink, SegmentAwareSink):
            # Before any replay: a replayed batch must clear every tag the first attempt would have.
            sink.set_segments(summary.scored.segment_names)
        audience = sink if isinstance(sink, AudienceSink) else None
        if audience is not None:
            audience.attach_memory(StateSinkMemory(db, store.name, sink.name))
        if options.full_resync and not options.dry_run:
            sink_state.forget_sink(db, store.name, sink.name)
        if not options.dry_run:
            for pending in sink_state.pending_batches(db, store.name, sink.name):
                _push_batch(db, store, sink, fields, pending.run_id, pending.batch_id, pending.changes, outcome)
                outcome.replayed_batches += 1
                keep_lease()
        # A full resync still diffs against what the sink holds, so a customer who moved or left
        # since is taken out of the old segment; everyone else is sent again as they are.
        acknowledged = sink_state.load_acknowledged(db, store.name, sink.name, fields)
        if audience is not None:
            if summary.contacts is None:
                summary.contacts = audiences.run_contacts(db, store.name, summary.scored, store.merge_guests_by_email)
            current, outcome.not_sendable = audiences.current_members(audience, summary.contacts)
        else:
            current = current_records(summary.scored, fields)
        changes = diff(fields, current, acknowledged)
        if audience is not None and options.full_resync and not options.dry_run:
            _replace_audiences(db, store, audience, summary, current, outcome)
            return outcome
        if options.full_resync:
            changes = _with_everyone_again(fields, current, changes)
        given_up = sink_state.given_up(db, store.name, sink.name)
        if given_up:
            kept = [c for c in changes if given_up.get(c.customer_key) != sink_state.fingerprint(c)]
            outcome.given_up = len(changes) - len(kept)
            changes = kept
        outcome.changes = len(changes)
        outcome.transitions = Counter((c.old_segment or "-", c.new_segment or "-") for c in changes)
        if options.dry_run:
            outcome.waiting_in_outbox = sum(len(b.changes)
                                            for b in sink_state.pending_batches(db, store.name, sink.name))
            if isinstance(sink, PreviewingSink):
                outcome.preview = sink.preview(changes)
            return outcome
        if audience is not None:
            # No raw email or phone for an ad platform: its member texts are already hashed.
            changes = audiences.audience_order(changes)
        else:
            changes = with_contacts(changes, contacts_for(db, store.name, [c.customer_key for c in changes],
                                                          merge_guests_by_email=store.merge_guests_by_email))
        for seq, start in enumerate(range(0, len(changes), sink.batch_size)):
            batch = changes[start:start + sink.batch_size]
            batch_id = f"{store.name}:{sink.name}:{summary.run_id}:{seq}"
            sink_state.put_outbox(db, store.name, sink.name, batch_id, summary.run_id, seq, batch)
            _push_batch(db, store, sink, fields, summary.run_id, batch_id, batch, outcome)
            if options.progress:
                options.progress(sink.name, outcome.accepted)
            keep_lease()
        if audience is not None:
            _finish_audiences(db, store, audience, outcome)
    except (TransientError, AuthError, PermanentError) as exc:
        # The unacknowledged changes go out on the next run; other sinks carry on.
        outcome.error = _safe(exc)
        log.warning("store %s sink %s: %s", store.name, sink.name, outcome.error)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # A platform answering with a body the connector did not expect (a 200 without the `id` it
        # needs): this sink fails with a clear message, the store and its other sinks carry on.
        outcome.error = f"unexpected answer from the platform ({type(exc).__name__}); the changes are kept"
        log.error("store %s sink %s: %s", store.name, sink.name, outcome.error)
    return outcome


def _replace_audiences(db: Database, store: StoreRuntime, sink: AudienceSink, summary: RunSummary,
                       current: Mapping[str, Record], outcome: SinkOutcome) -> None:
    """--full-resync of an ad sink: every audience replaced by exactly its members now (an audience
    may have drifted from what the state says it was sent), then the state set to match."""
    batch_id = f"{store.name}:{outcome.name}:{summary.run_id}:replace"
    sink.replace(batch_id, audiences.by_segment(current))
    audiences.acknowledge_replace(db, store.name, outcome.name, summary.run_id, current)
    outcome.changes = outcome.accepted = len(current)
    _finish_audiences(db, store, sink, outcome)


def _finish_audiences(db: Database, store: StoreRuntime, sink: AudienceSink, outcome: SinkOutcome) -> None:
    outcome.audiences = audiences.sizes(db, store.name, outcome.name)
    outcome.notes = sink.finish(outcome.audiences)
    minimum = sink.minimum_size
    outcome.notes += [f"audience {segment!r} has {size} members, below the {minimum} the platform needs to serve it"
                      for segment, size in outcome.audiences.items() if size < minimum]


def _with_everyone_again(fields: Sequence[str], current: Mapping[str, Record], changes: list[Change]) -> list[Change]:
    """For --full-resync: the changes, plus every other customer in a segment, unchanged ("updated"
    to the record the sink should already hold), so the sink gets everyone again."""
    changed = {c.customer_key for c in changes}
    again = [Change(key, ChangeKind.UPDATED, record[0], record[0], dict(zip(fields, record, strict=True)))
             for key, record in current.items() if record[0] and key not in changed]
    return sorted([*changes, *again], key=lambda c: c.customer_key)


def _push_batch(db: Database, store: StoreRuntime, sink: Sink, fields: Sequence[str], run_id: int,
                batch_id: str, changes: Sequence[Change], outcome: SinkOutcome) -> None:
    result = sink.push(batch_id, changes)
    sink_state.acknowledge(db, store.name, sink.name, fields, run_id, batch_id, changes, result.accepted,
                           result.rejected, result.skipped)
    outcome.accepted += len(result.accepted)
    outcome.rejected += len(result.rejected)
    outcome.skipped += len(result.skipped)
    log.info("store %s sink %s batch %s: %d accepted, %d rejected", store.name, sink.name, batch_id,
             len(result.accepted), len(result.rejected))


def pending_changes(db: Database, store: StoreRuntime, now: datetime | None = None) -> dict[str, int]:
    """Per sink, how many changes the next run would push from the orders already in the ledger
    (no pull, no run recorded), plus changes waiting in unfinished batches."""
    summary, _ = score_from_ledger(db, store, now)
    scored = summary.scored
    assert scored is not None
    pending: dict[str, int] = {}
    for sink in store.sinks:
        fields = sink.fields
        acknowledged = sink_state.load_acknowledged(db, store.name, sink.name, fields)
        if isinstance(sink, AudienceSink):
            if summary.contacts is None:
                summary.contacts = audiences.run_contacts(db, store.name, scored, store.merge_guests_by_email)
            current, _ = audiences.current_members(sink, summary.contacts)
        else:
            current = current_records(scored, fields)
        changes = diff(fields, current, acknowledged)
        # A change still in an unfinished batch is usually in the diff too (the sink never
        # acknowledged it): each customer counts once.
        keys = {c.customer_key for c in changes}
        keys.update(c.customer_key for b in sink_state.pending_batches(db, store.name, sink.name) for c in b.changes)
        pending[sink.name] = len(keys)
    return pending


def score_from_ledger(db: Database, store: StoreRuntime, now: datetime | None = None) -> tuple[RunSummary, date]:
    """Scores the store from the orders already in the ledger as of `now` (no pull, no run recorded,
    nothing pushed), for reports; the summary holds the scores, the ledger and the order counts."""
    started = now or utc_now()
    summary = RunSummary(run_id=0, store=store.name)
    summary.scored = _score(db, store, started, summary)
    return summary, _as_of(store, started)
