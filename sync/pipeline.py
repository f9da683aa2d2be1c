"""The run loop shared by `sync`, `backfill` and the daemon.

pull (each source, look-back, cursor with its page) -> score the whole store as of the run's start
-> for each sink: replay its unfinished batch, diff against what it acknowledged, push in batches,
acknowledge each batch after the platform accepted it. One failing sink never holds back the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import ValidationError
from rfmsync.connectors.base import BackfillSource, MemorySink, OrderPage, Sink, Source, SourceCursor
from rfmsync.core.aggregate import aggregate
from rfmsync.core.batch import OrderBatch
from rfmsync.core.clock import utc_now
from rfmsync.core.diff import diff
from rfmsync.core.fields import HISTORY_FIELDS, current_records
from rfmsync.core.rfm import ScoredCustomers, score
from rfmsync.core.stopping import Interrupted
from rfmsync.sync import quiet, runs, segment_history, sink_state
from rfmsync.sync.ledger import Cursor, Ledger, get_cursor, load_ledger, set_cursor, upsert_orders
from rfmsync.sync.push import current_for, push_sink
from rfmsync.sync.run_model import RunOptions, RunSummary, SinkOutcome, StoreBusy, StoreRuntime, safe_error
from rfmsync.sync.sink_memory import StateSinkMemory
from rfmsync.sync.state import Database

__all__ = ["LEASE_SECONDS", "RunOptions", "RunSummary", "SinkOutcome", "StoreBusy", "StoreRuntime", "pending_changes",
           "run_store", "score_from_ledger"]

log = logging.getLogger("rfmsync.pipeline")
LEASE_SECONDS = 900.0
# A backfill without a terminal logs how far it is this often.
PROGRESS_LOG_SECONDS = 30.0


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
            # A realtime run scores what webhooks wrote to the ledger: no source is read, and it is
            # never skipped as quiet (nothing was pulled, yet orders arrived).
            if options.kind != "realtime":
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
                summary.scored = _score(db, store, started, summary, write=not options.dry_run)
                if not options.dry_run:
                    runs.save_snapshot(db, store.name, summary.run_id, _as_of(store, started), summary.scored)
                summary.history = _history(db, store, summary, _as_of(store, started), write=not options.dry_run)
                for sink in store.sinks:
                    summary.sinks.append(push_sink(db, store, sink, summary, options, keep_lease))
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
            runs.finish_run(db, summary.run_id, "failed", summary.counts(), safe_error(exc))
            raise
        return summary
    finally:
        runs.release_lease(db, store.name, holder)


def _inputs_key(store: StoreRuntime, started: datetime) -> str:
    settings = (store.settings, store.tz_name, store.window_days, store.half_life_days, store.currency,
                sorted(store.rates.items()), store.merge_guests_by_email, store.returns, store.ad_consent_required,
                store.phone_region, sorted(store.order_filter.channels), sorted(store.order_filter.categories))
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


def _as_of(store: StoreRuntime, started: datetime) -> date:
    if store.as_of is not None:
        return store.as_of
    return started.astimezone(ZoneInfo(store.tz_name)).date()


def _pull_all(db: Database, store: StoreRuntime, options: RunOptions, started: datetime, summary: RunSummary,
              keep_lease: Callable[[], None]) -> None:
    backfill = options.kind == "backfill"
    for source in store.sources:
        if isinstance(source, MemorySink):  # a source that caches lookups (a POS's customers) in the state
            source.attach_memory(StateSinkMemory(db, store.name, f"source:{source.name}"))
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
        reached: datetime | None = None
        logged = time.monotonic()
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
            reached = _newest_change(page, reached)
            if options.progress:
                options.progress(source.name, pulled)
            if options.pull_progress:
                options.pull_progress(source.name, pulled, page.expected, reached)
            if backfill and time.monotonic() - logged >= PROGRESS_LOG_SECONDS:
                logged = time.monotonic()
                log.info("store %s source %s: backfill at %s orders%s%s", store.name, source.name, f"{pulled:,}",
                         f" of {page.expected:,}" if page.expected else "",
                         f", changes up to {reached.date().isoformat()}" if reached else "")
            keep_lease()
        # The cursor never passes the run's start: the next run re-reads from there, less the look-back.
        set_cursor(db, store.name, source.name, Cursor(started, position), clear=cursor_key if backfill else None)
        log.info("store %s source %s: %d orders pulled", store.name, source.name, pulled)


def _newest_change(page: OrderPage, reached: datetime | None) -> datetime | None:
    """The newest order change a page brought: sources read oldest change first, so this is how far
    into the history a pull has come."""
    moments = [o.updated_at or o.created_at for o in page.orders]
    if page.columns is not None and len(page.columns):
        updated = page.columns.updated_utc
        moments.append(datetime.fromtimestamp(updated if isinstance(updated, int) else int(updated.max()), UTC))
    newest = max(moments, default=None)
    return newest if reached is None or (newest is not None and newest > reached) else reached


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


def _score(db: Database, store: StoreRuntime, started: datetime, summary: RunSummary, *, write: bool = True,
           ) -> ScoredCustomers:
    # A dry run or a report matches new customers as a run would, and records none of it.
    ledger = load_ledger(db, store.name, merge_guests_by_email=store.merge_guests_by_email,
                         source_order=[source.name for source in store.sources], phone_region=store.phone_region,
                         order_filter=store.order_filter, write_identity=write)
    summary.ledger = ledger
    batch = _in_store_currency(ledger, store)
    metrics, counts = aggregate(batch, _as_of(store, started), ZoneInfo(store.tz_name), store.window_days,
                                store.half_life_days, store.returns)
    summary.order_counts = counts
    scored = score(metrics, store.settings)
    summary.customers_scored = len(scored)
    return scored


def _history(db: Database, store: StoreRuntime, summary: RunSummary, as_of: date, *, write: bool,
             ) -> dict[str, tuple[str, str]]:
    assert summary.scored is not None
    if not any(HISTORY_FIELDS.intersection(sink.fields) for sink in store.sinks):
        # Nobody pushes it: not kept (0.3-0.5 s a run at 100,000 customers). A sink that starts to
        # push it finds it seeded again from the snapshots, not stale from before.
        if write:
            segment_history.forget(db, store.name)
        return {}
    segments = {key: record[0] for key, record in current_records(summary.scored, ["segment"]).items()}
    held = segment_history.record(db, store.name, summary.run_id or None, as_of, segments, write=write)
    return {key: (h.previous, h.changed_on) for key, h in held.items()}


def pending_changes(db: Database, store: StoreRuntime, now: datetime | None = None) -> dict[str, int]:
    """Per sink, how many changes the next run would push from the orders already in the ledger
    (no pull, no run recorded), plus changes waiting in unfinished batches."""
    summary, as_of = score_from_ledger(db, store, now)
    scored = summary.scored
    assert scored is not None
    summary.history = _history(db, store, summary, as_of, write=False)
    pending: dict[str, int] = {}
    for sink in store.sinks:
        fields = sink.fields
        acknowledged = sink_state.load_acknowledged(db, store.name, sink.name, fields)
        current, _ = current_for(db, store, sink, summary)
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
    summary.scored = _score(db, store, started, summary, write=False)
    return summary, _as_of(store, started)
