"""`rfmsync report`: the store's RFM picture as one HTML file (and, with --png, the charts as PNGs).

Scores the store from the orders already in its ledger as of now (nothing is pulled or pushed) and
compares with the latest snapshot a run saved, for movement.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rfmsync.core.aggregate import OrderCounts
from rfmsync.core.errors import InputError
from rfmsync.core.report_data import DataQuality, PreviousRun, ReportData, build_report
from rfmsync.core.rfm import ScoredCustomers
from rfmsync.core.scoring import BUILTIN_BANDS
from rfmsync.sync.cli_help import CONFIG_HELP
from rfmsync.sync.ledger import Ledger
from rfmsync.sync.report_html import render
from rfmsync.sync.report_png import write_pngs


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "report", help="write an HTML report of a store: R x F grid, segments, score distributions, movement",
        description="Score a store from the orders already in its state (nothing is pulled or pushed) and write "
                    "one self-contained HTML file: the R x F grid coloured by segment, a table per segment, "
                    "the score distributions, movement since the previous run and data quality.")
    p.add_argument("--config", type=Path, required=True, metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--store", required=True, help="the store, as named in the config ([stores.NAME])")
    p.add_argument("--out", type=Path, default=Path("report.html"), metavar="FILE",
                   help="HTML file to write (default: report.html)")
    p.add_argument("--png", type=Path, metavar="DIR", help="also write each chart as a PNG file in DIR "
                   "(needs Chromium)")
    p.set_defaults(run=run_report)


def _not_counted(counts: OrderCounts | None) -> dict[str, int]:
    if counts is None:
        return {}
    return {"cancelled, voided or test": counts.excluded_status, "net amount 0 or less": counts.not_positive,
            "outside the window": counts.outside_window}


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\S*@\S*")


def safe_reason(reason: str) -> str:
    """A reject reason without the values it quotes (they may be an email or a name)."""
    return _QUOTED.sub("…", reason)[:120]


def _grouped(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for reason, n in pairs:
        total[safe_reason(reason)] += n
    return dict(total.most_common())


def write_report(report: ReportData, out: Path, png_dir: Path | None) -> list[Path]:
    """Writes the HTML (and the PNGs, which need Chromium: InputError without it, before any file)."""
    if png_dir is not None:
        from rfmsync.sync.report_png import find_chromium
        if find_chromium() is None:
            raise InputError("--png needs Chromium to draw the charts (install the chromium package, or put "
                             "chromium on PATH); the HTML report needs nothing")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report), encoding="utf-8")
    return write_pngs(report, png_dir) if png_dir is not None else []


def run_report(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: `rfmsync score` should not load every connector.
    from rfmsync.sync import runs, sink_state
    from rfmsync.sync.config import load_config
    from rfmsync.sync.contacts import customers_without_email
    from rfmsync.sync.pipeline import score_from_ledger
    from rfmsync.sync.registry import build_store
    from rfmsync.sync.state import Database

    config = load_config(args.config)
    store = build_store(config, args.store)
    db = Database(config.state_path)
    try:
        summary, as_of = score_from_ledger(db, store)
        assert summary.scored is not None and summary.ledger is not None
        previous = runs.load_snapshot(db, store.name)
        if previous is not None and previous.as_of >= as_of:  # today's run: compare with the one before
            previous = runs.load_snapshot(db, store.name, before_run=previous.run_id)
        currency = store.currency or _most_common(summary.ledger)
        rejected = _grouped((f"{origin}: {reason}", n)
                            for (origin, reason), n in sink_state.reject_reasons(db, store.name).items())
        quality = DataQuality(
            orders_read=summary.ledger.orders_total,
            orders_counted=summary.order_counts.counted if summary.order_counts else None,
            not_counted=_not_counted(summary.order_counts), rejected=rejected,
            orders_without_customer=summary.ledger.orders_without_customer,
            customers_without_email=customers_without_email(db, store.name, summary.ledger),
            customers_in_several_sources=summary.ledger.identity.multi_source,
            orders_filtered_out=summary.ledger.orders_filtered_out)
        settings = store.settings
        report = build_report(
            summary.scored, as_of, title=f"RFM report: {store.name}", currency=currency,
            previous=PreviousRun(previous.customer_keys, previous.segments, previous.as_of, previous.run_id)
            if previous is not None else None,
            quality=quality, bands=settings.bands_for(summary.scored.levels) if summary.scored.method == "ranges"
            else None)
    finally:
        db.close()
    pngs = write_report(report, args.out, args.png)
    print(f"store {store.name}: {report.customers:,} customers as of {as_of}; "
          + (f"movement since {report.movement.previous_as_of}" if report.movement else "no previous run")
          + f"; wrote {args.out}" + "".join(f", {p}" for p in pngs))
    return 0


def _most_common(ledger: Ledger) -> str | None:
    if not len(ledger.currency_codes):
        return None
    return ledger.currency_names[int(np.bincount(ledger.currency_codes).argmax())]


class _Reject(Protocol):
    @property
    def column(self) -> str | None: ...
    @property
    def reason(self) -> str: ...


def report_for_file(out: Path, png_dir: Path | None, scored: ScoredCustomers, as_of: date, currency: str | None,
                    rows_read: int, rejects: list[Any], counts: OrderCounts | None, emails: dict[str, str],
                    title: str) -> list[Path]:
    """`rfmsync score ... --report FILE`: the same report for a one-off file (no movement)."""
    typed: list[_Reject] = rejects
    keys = [scored.metrics.customer_ids[i] for i in scored.metrics.customer_index.tolist()]
    quality = DataQuality(
        rows_read=rows_read, orders_read=counts.orders if counts else None,
        orders_counted=counts.counted if counts else None, not_counted=_not_counted(counts),
        rejected=_grouped(((f"{r.column}: {r.reason}" if r.column else r.reason), 1) for r in typed),
        customers_without_email=sum(1 for k in keys if not emails.get(k)))
    bands = BUILTIN_BANDS.get(scored.levels) if scored.method == "ranges" else None  # score has no custom bands
    report = build_report(scored, as_of, title=title, currency=currency, quality=quality, bands=bands,
                          compares_runs=False)
    return write_report(report, out, png_dir)
