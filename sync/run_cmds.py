"""`rfmsync sync` and `rfmsync backfill`: one run now, with a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rfmsync.core.errors import ConfigError, RfmsyncError
from rfmsync.core.stopping import STOP
from rfmsync.sync.cli_help import CONFIG_HELP

if TYPE_CHECKING:
    from rfmsync.sync.pipeline import RunOptions, RunSummary

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def add_parsers(commands: Any) -> None:
    p = commands.add_parser("sync", help="run one store (or all) now: pull, score, push changes",
                            description="Pull new orders, score the whole store as of now and push what changed "
                                        "to each sink.")
    p.add_argument("--config", type=Path, required=True, metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--store", help="only this store (default: all stores, one after another)")
    p.add_argument("--dry-run", action="store_true", help="show the changes per sink, counted by segment "
                   "transition; send nothing to any sink")
    p.add_argument("--full-resync", action="store_true", help="push every customer again as if each sink "
                   "were new (pushes are idempotent upserts)")
    p.set_defaults(run=run_sync)

    b = commands.add_parser("backfill", help="pull a store's whole history, then score and push",
                            description="Pull the whole order history (or from --since), showing progress; "
                                        "Ctrl-C stops after the current page and a later backfill resumes there.")
    b.add_argument("--config", type=Path, required=True, metavar="FILE", help=CONFIG_HELP)
    b.add_argument("--store", required=True, help="the store, as named in the config ([stores.NAME])")
    b.add_argument("--since", metavar="YYYY-MM-DD", help="only orders updated on or after this date")
    b.set_defaults(run=run_backfill)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM set an event the run loop checks between pages and batches, so the
    current batch finishes and commits before the process exits."""
    stop = STOP
    stop.clear()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in handled}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        stop.set()
        print("\nrfmsync: stopping after the current batch (Ctrl-C again to abort)", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        for s in handled:
            signal.signal(s, request_stop)
    try:
        yield stop
    finally:
        if threading.current_thread() is threading.main_thread():
            for s, handler in previous.items():
                signal.signal(s, handler)


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return None  # logs stay quiet; a terminal gets a live count

    def show(what: str, count: int) -> None:
        print(f"\r  {what}: {count:,}", end="", file=sys.stderr, flush=True)
    return show


def _pull_printer() -> Any:
    """A backfill's live line: orders so far, of how many when the source says, and the date of
    the newest change reached (sources read oldest first)."""
    if not sys.stderr.isatty():
        return None

    def show(source: str, count: int, expected: int | None, reached: datetime | None) -> None:
        print(f"\r\033[K  {pull_progress_text(source, count, expected, reached)}", end="", file=sys.stderr, flush=True)
    return show


def pull_progress_text(source: str, count: int, expected: int | None, reached: datetime | None) -> str:
    share = f" of {expected:,} ({min(count / expected, 1):.0%})" if expected else ""
    return f"{source}: {count:,} orders{share}" + (f", up to {reached.date().isoformat()}" if reached else "")


def not_sent(changes: int, accepted: int, rejected: int, skipped: int, error: str) -> str:
    """What a failed sink left undone, in the words `sync` and `status` both use."""
    done = f"{accepted:,} accepted, " if accepted else ""
    return f"{done}{changes - accepted - rejected - skipped:,} changes not sent (sink failed: {error})"


def describe(summary: RunSummary, dry_run: bool) -> str:
    lines = [f"store {summary.store}: run {summary.run_id} {summary.outcome}; {summary.orders_pulled:,} orders "
             f"pulled, {summary.source_rejects:,} rejected; {summary.customers_scored:,} customers scored"
             + ("; nothing changed since the last run, so not scored again" if summary.unchanged else "")]
    ledger = summary.ledger
    if ledger is not None and ledger.orders_without_customer:
        lines.append(f"  {ledger.orders_without_customer:,} orders without a customer id or email: kept in the "
                     "ledger, not scored")
    if ledger is not None and ledger.identity.multi_source:
        lines.append(f"  {ledger.identity.multi_source:,} customers seen in more than one source (matched by email "
                     "or phone)")
    if ledger is not None and ledger.orders_filtered_out:
        lines.append(f"  {ledger.orders_filtered_out:,} orders outside the store's rfm.channels / rfm.categories: "
                     "not scored")
    for sink in summary.sinks:
        verb = "would send" if dry_run else "sent"
        if sink.error and not dry_run:
            lines.append(f"  sink {sink.name}: "
                         + not_sent(sink.changes, sink.accepted, sink.rejected, sink.skipped, sink.error))
            continue
        status = f"failed: {sink.error}" if sink.error else "ok"
        lines.append(f"  sink {sink.name}: {sink.changes:,} changes {verb}"
                     + ("" if dry_run else f", {sink.accepted:,} accepted, {sink.rejected:,} rejected")
                     + (f"; {sink.waiting_in_outbox:,} in unfinished batches a real run resends first"
                        if sink.waiting_in_outbox else "")
                     + (f", {sink.skipped:,} skipped (not in the audience)" if sink.skipped else "")
                     + (f", {sink.given_up:,} held back after repeated rejection" if sink.given_up else "")
                     + (f", {sink.replayed_batches} unfinished batches replayed" if sink.replayed_batches else "")
                     + f" ({status})")
        if sink.not_sendable:
            lines.append(f"    {sink.not_sendable:,} customers in a segment not sent: no email or phone with "
                         "recorded marketing consent (ad_consent) or none the platform can match")
        lines.extend(audience_lines(sink.audiences))
        lines.extend(f"    note: {note}" for note in sink.notes)
        if dry_run:
            for (old, new), n in sorted(sink.transitions.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {n:>8,}  {old} -> {new}")
            lines.extend(f"    {line}" for line in sink.preview)
    return "\n".join(lines)


def audience_lines(sizes: dict[str, int]) -> list[str]:
    """Each ad audience's size as rfmsync sent it."""
    return [f"    {size:>8,}  audience {segment}" for segment, size in sizes.items()]


def _run(args: argparse.Namespace, stores: list[str], options: RunOptions) -> int:
    # Imported when the command runs, not at start-up: `rfmsync score` should not load every connector.
    from rfmsync.sync.config import load_config
    from rfmsync.sync.pipeline import StoreBusy, run_store
    from rfmsync.sync.registry import build_store
    from rfmsync.sync.state import Database

    config = load_config(args.config)
    names = stores or list(config.stores)
    db = Database(config.state_path)
    code = EXIT_OK
    try:
        with stop_on_signals() as stop:
            options.stop = stop
            for name in names:
                runtime = build_store(config, name)
                try:
                    summary = run_store(db, runtime, options)
                except StoreBusy as exc:
                    print(f"rfmsync: {exc}", file=sys.stderr)
                    code = EXIT_FAILED
                    continue
                except Exception as exc:
                    # The run is recorded failed; the other stores still run. Our errors are safe to
                    # print; anything else is named by class (its text may hold a payload).
                    shown = str(exc) if isinstance(exc, RfmsyncError) else f"unexpected {type(exc).__name__}"
                    print(f"rfmsync: store {name}: run failed: {shown}", file=sys.stderr)
                    code = EXIT_FAILED
                    continue
                if options.progress or options.pull_progress:
                    print(file=sys.stderr)
                print(describe(summary, options.dry_run))
                if summary.outcome == "interrupted":
                    return EXIT_INTERRUPTED
                if summary.outcome != "ok":
                    code = EXIT_FAILED
    finally:
        db.close()
    return code


def run_sync(args: argparse.Namespace) -> int:
    from rfmsync.sync.pipeline import RunOptions

    options = RunOptions(kind="sync", dry_run=args.dry_run, full_resync=args.full_resync,
                         progress=_progress_printer())
    return _run(args, [args.store] if args.store else [], options)


def run_backfill(args: argparse.Namespace) -> int:
    from rfmsync.sync.pipeline import RunOptions

    since = None
    if args.since:
        try:
            since = datetime.combine(date.fromisoformat(args.since), datetime.min.time(), UTC)
        except ValueError:
            raise ConfigError("--since", f"expected a date YYYY-MM-DD, got {args.since!r}") from None
    options = RunOptions(kind="backfill", backfill_since=since, progress=_progress_printer(),
                         pull_progress=_pull_printer())
    return _run(args, [args.store], options)
