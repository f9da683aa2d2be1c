"""One sink's part of a run: replay its unfinished batches, diff against what it acknowledged, push
in batches and acknowledge each after the platform accepted it; ad audience sinks diff member
texts instead of fields (sync/audiences.py)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from rfmsync.connectors.base import AudienceSink, MemorySink, PreviewingSink, SegmentAwareSink, Sink
from rfmsync.core.diff import Change, ChangeKind, Record, diff, with_contacts
from rfmsync.core.errors import AuthError, PermanentError, TransientError
from rfmsync.core.fields import current_records
from rfmsync.sync import audiences, sink_state
from rfmsync.sync.contacts import contacts_for
from rfmsync.sync.run_model import RunOptions, RunSummary, SinkOutcome, StoreRuntime, safe_error
from rfmsync.sync.sink_memory import StateSinkMemory
from rfmsync.sync.state import Database

log = logging.getLogger("rfmsync.pipeline")


def push_sink(db: Database, store: StoreRuntime, sink: Sink, summary: RunSummary, options: RunOptions,
               keep_lease: Callable[[], None]) -> SinkOutcome:
    outcome = SinkOutcome(sink.name)
    assert summary.scored is not None and summary.ledger is not None
    fields = sink.fields
    try:
        if isinstance(sink, SegmentAwareSink):
            # Before any replay: a replayed batch must clear every tag the first attempt would have.
            sink.set_segments(summary.scored.segment_names)
        audience = sink if isinstance(sink, AudienceSink) else None
        if isinstance(sink, MemorySink):
            sink.attach_memory(StateSinkMemory(db, store.name, sink.name))
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
        current, outcome.not_sendable = current_for(db, store, sink, summary)
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
                                                          ledger=summary.ledger))
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
        outcome.error = safe_error(exc)
        log.warning("store %s sink %s: %s", store.name, sink.name, outcome.error)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # A platform answering with a body the connector did not expect (a 200 without the `id` it
        # needs): this sink fails with a clear message, the store and its other sinks carry on.
        outcome.error = f"unexpected answer from the platform ({type(exc).__name__}); the changes are kept"
        log.error("store %s sink %s: %s", store.name, sink.name, outcome.error)
    return outcome


def current_for(db: Database, store: StoreRuntime, sink: Sink, summary: RunSummary) -> tuple[dict[str, Record], int]:
    """What the sink should hold for each customer now, and (ad sinks) how many customers in a
    segment it cannot be sent: an ad sink's member texts, every other sink's pushed fields."""
    assert summary.scored is not None
    if isinstance(sink, AudienceSink):
        if summary.contacts is None:  # read once a run, for every ad sink
            summary.contacts = audiences.run_contacts(db, store.name, summary.scored, summary.ledger)
        return audiences.current_members(sink, summary.contacts)
    return current_records(summary.scored, sink.fields, summary.history), 0


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
