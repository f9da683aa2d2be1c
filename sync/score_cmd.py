"""`rfmsync score ORDERS_FILE`: one orders export in, a segments file out, no config needed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import parse_column_map, read_orders_file, read_summary_file
from rfmsync.core.aggregate import OrderCounts, aggregate
from rfmsync.core.clock import utc_now
from rfmsync.core.custom import check_scheme, scheme_from_toml
from rfmsync.core.errors import ConfigError, InputError
from rfmsync.core.models import MAX_RATE
from rfmsync.core.rfm import RfmSettings, ScoredCustomers, score
from rfmsync.core.schemes import BUILTIN_SCHEMES
from rfmsync.core.scoring import Weights
from rfmsync.sync.output import rejects_path_for, segment_columns, text_table, write_columns, write_rejects

DEMO_AS_OF = "2026-11-01"  # the demo orders end the day before


def add_parser(commands: Any) -> None:
    p: argparse.ArgumentParser = commands.add_parser(
        "score", help="score an orders file and write one row per customer with its segment",
        description="Score an orders CSV (a shop admin export is detected; other layouts take --map) "
                    "and write one row per scored customer, sorted by customer id.")
    p.add_argument("orders_file", nargs="?", type=Path, metavar="ORDERS_FILE",
                   help="CSV or CSV.gz of orders (or order lines); omit with --demo")
    p.add_argument("--demo", action="store_true", help="score the demo orders shipped with rfmsync "
                   f"(as of {DEMO_AS_OF} unless --as-of is given)")
    p.add_argument("--map", dest="column_map", metavar="FIELD=COLUMN,...",
                   help="which columns hold customer, date, amount (required), order, email, status, "
                        "currency; amount=Qty*Price multiplies two columns. A per-customer summary maps "
                        "customer, last_order, frequency, monetary instead")
    p.add_argument("--scheme", default="classic", choices=sorted(BUILTIN_SCHEMES),
                   help="built-in segment scheme (default: classic)")
    p.add_argument("--segments", type=Path, metavar="FILE.toml",
                   help="custom scheme: a TOML file with a [segments] table of rules (overrides --scheme)")
    p.add_argument("--levels", type=int, choices=(3, 4, 5), help="score levels (default: the scheme's)")
    p.add_argument("--method", choices=("quantile", "ranges"), help="quantile or the built-in fixed ranges "
                   "(default: the scheme's: quantile, or ranges for quick-audience)")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="reference date (default: today in --timezone)")
    p.add_argument("--window-days", type=days("--window-days", int, "a whole number of days, at least 1"), metavar="N",
                   help="only count orders of the last N days (N at least 1)")
    p.add_argument("--half-life-days", type=days("--half-life-days", float, "a number of days above 0"), metavar="H",
                   help="time decay: an order's weight halves every H days (H above 0)")
    p.add_argument("--returns", choices=("subtract", "ignore"), default="subtract",
                   help="negative orders (credit notes, cancellation invoices): subtract from spend in the "
                        "window, never below 0 (default), or ignore them")
    p.add_argument("--weights", metavar="WR,WF,WM", help="weights of R, F, M in rfm_score (default equal)")
    p.add_argument("--timezone", default="UTC", help="the store's time zone, e.g. Europe/Berlin (default UTC); "
                   "dates without an offset are read as local times there")
    p.add_argument("--currency", help="store currency (default: the file's most common)")
    p.add_argument("--rate", action="append", default=[], metavar="CODE=RATE",
                   help="convert another currency: store-currency units per unit of CODE (repeatable)")
    p.add_argument("--date-format", metavar="FORMAT", help="strptime format for dates the reader cannot decide, "
                   "e.g. %%d/%%m/%%Y (default: ISO 8601, DD.MM.YYYY, DD/MM/YYYY or MM/DD/YYYY from the column)")
    p.add_argument("--delimiter", choices=(",", ";", "tab", "|", "whitespace"),
                   help="field separator (default: detected from the first lines)")
    p.add_argument("--encoding", help="text encoding, e.g. utf-8, utf-16, windows-1252 (default: UTF-8 with or "
                   "without BOM, UTF-16 with BOM, else Windows-1252 with a warning)")
    p.add_argument("--decimal", choices=(".", ","), help="decimal mark of amounts (default: decided per column; "
                   "needed when a column only has values like 1,234)")
    p.add_argument("--out", default="segments.csv", metavar="FILE",
                   help="segments file to write, - for stdout (default: segments.csv)")
    p.add_argument("--rejects", type=Path, metavar="FILE",
                   help="where rejected rows go (default: next to --out, as NAME.rejects.csv)")
    p.add_argument("--report", type=Path, metavar="FILE.html", help="also write an HTML report (grid, segments, "
                   "score distributions, data quality)")
    p.add_argument("--png", type=Path, metavar="DIR", help="with --report: also each chart as a PNG file in DIR "
                   "(needs Chromium)")
    p.set_defaults(run=run)


def _timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("--timezone", f"unknown time zone {name!r}; expected an IANA name like "
                          "Europe/Berlin") from None


def _as_of(text: str | None, tz: ZoneInfo) -> date:
    if text is None:
        return utc_now().astimezone(tz).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError("--as-of", f"expected a date YYYY-MM-DD, got {text!r}") from None


def days(option: str, kind: type[int] | type[float], expected: str) -> Callable[[str], float]:
    """An argparse type for a number of days above 0 and below a billion; nan, inf and 0 are refused."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not 0 < value < 1e9:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
        return value
    parse.__name__ = option
    return parse


def _rates(items: list[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in items:
        code, _, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if len(code.strip()) != 3 or not 0 < rate <= MAX_RATE:
            raise ConfigError("--rate", f"expected CODE=RATE with a rate above 0 and at most {MAX_RATE:,}, "
                              f"e.g. USD=0.92, got {item!r}")
        rates[code.strip().upper()] = rate
    return rates


def _weights(text: str | None) -> Weights:
    if text is None:
        return Weights()
    try:
        r, f, m = (float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError("--weights", f"expected three numbers WR,WF,WM summing to 1, got {text!r}") from None
    weights = Weights(r, f, m)
    weights.validate("--weights")
    return weights


def load_segments_file(path: Path) -> Any:
    from rfmsync.sync.config import read_toml  # pydantic models: loaded only when a file is given

    data = read_toml(path)
    if "segments" not in data:
        raise ConfigError(str(path), "expected a [segments] table with [[segments.rules]]")
    return scheme_from_toml(data["segments"], f"{path}: segments")


def demo_orders_path() -> Path:
    return Path(str(resources.files("rfmsync.sync").joinpath("demo/orders.csv")))


def run(args: argparse.Namespace) -> int:
    if args.demo == (args.orders_file is not None):
        raise InputError("score: give exactly one of ORDERS_FILE or --demo")
    path: Path = demo_orders_path() if args.demo else args.orders_file
    tz = _timezone(args.timezone)
    as_of = _as_of(args.as_of or (DEMO_AS_OF if args.demo else None), tz)
    scheme = load_segments_file(args.segments) if args.segments else args.scheme
    settings = RfmSettings(scheme=scheme, levels=args.levels, method=args.method, weights=_weights(args.weights))
    settings.resolved()  # bad combinations fail before the file is read
    if args.png and not args.report:
        raise InputError("score: --png draws the report's charts; give --report FILE.html too")
    if not isinstance(scheme, str):
        check = check_scheme(scheme, settings.resolved()[1])
        for line in check.lines():
            print(f"rfmsync: warning: {args.segments}: {line}", file=sys.stderr)
    options = ReadOptions(tz=tz, currency=args.currency, rates=_rates(args.rate), date_format=args.date_format,
                          delimiter=args.delimiter, encoding=args.encoding, decimal=args.decimal)
    colmap = parse_column_map(args.column_map) if args.column_map else None
    out = None if args.out == "-" else Path(args.out)
    counts: OrderCounts | None = None
    if colmap is not None and colmap.is_summary:
        summary = read_summary_file(path, colmap, options, as_of)
        metrics, rejects, rows_read, emails, header = (summary.metrics, summary.rejects, summary.rows_read,
                                                       summary.emails, summary.header)
        file_format, currency, orders = "customer summary", args.currency, None
    else:
        read = read_orders_file(path, colmap, options)
        for warning in read.warnings:
            print(f"rfmsync: warning: {warning}", file=sys.stderr)
        metrics, counts = aggregate(read.batch, as_of, tz, args.window_days, args.half_life_days, args.returns)
        rejects, rows_read, emails, header = read.rejects, read.rows_read, read.emails, read.header
        file_format, currency, orders = read.file_format, read.currency, read.orders
    good_rows = rows_read - len(rejects)
    if good_rows <= 0:
        raise InputError(f"{path}: no row could be read ({rows_read} rows, all rejected); first reason: "
                         f"line {rejects[0].line}: {rejects[0].reason}" if rejects else f"{path}: no data rows")
    scored = score(metrics, settings)
    header_row, columns = segment_columns(scored, emails)
    write_columns(out, header_row, columns)
    rejects_file = None
    if rejects:
        rejects_file = args.rejects or rejects_path_for(out)
        write_rejects(rejects_file, header, rejects)
    report = sys.stderr if out is None else sys.stdout
    print(summary_text(path, file_format, rows_read, rejects, rejects_file, orders, counts, scored, as_of,
                       args.timezone, currency, out), file=report, end="")
    if args.report:
        from rfmsync.sync.report_cmd import report_for_file
        report_for_file(args.report, args.png, scored, as_of, currency, rows_read, rejects, counts, emails,
                        f"RFM report: {path.name}")
        print(f"wrote {args.report}", file=report)
    return 0


def summary_text(path: Path, file_format: str, rows_read: int, rejects: list[Any], rejects_file: Path | None,
                 orders: int | None, counts: OrderCounts | None, scored: ScoredCustomers, as_of: date,
                 tz_name: str, currency: str | None, out: Path | None) -> str:
    lines = [f"{path.name}: {rows_read:,} rows read ({file_format}), {len(rejects):,} rejected"
             + (f" -> {rejects_file}" if rejects_file else "")]
    by_reason: dict[str, int] = {}
    for r in rejects:
        key = f"{r.column}: {r.reason}" if r.column else r.reason
        by_reason[key] = by_reason.get(key, 0) + 1
    for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1]):
        first = next(r.line for r in rejects if (f"{r.column}: {r.reason}" if r.column else r.reason) == reason)
        lines.append(f"  {n:,} x {reason} (first at line {first})")
    if counts is not None and orders is not None:
        lines.append(f"orders: {orders:,}; counted {counts.counted:,}; not counted: {counts.excluded_status:,} "
                     f"cancelled/voided/test, {counts.not_positive:,} with net amount <= 0, "
                     f"{counts.outside_window:,} outside the window"
                     + (f"; {counts.returns:,} returns (negative orders) subtracted from spend" if counts.returns
                        else ""))
    scheme = scored.scheme
    lines.append(f"customers scored: {len(scored):,} as of {as_of} ({tz_name}); scheme {scheme.name}, "
                 f"{scored.levels} levels, {scored.method}" + (f"; amounts in {currency}" if currency else ""))
    total = max(len(scored), 1)
    table = [["segment", "customers", "share", "avg days", "avg orders", "avg spend"]]
    codes = scored.segment_codes
    m = scored.metrics
    for index, name in [*enumerate(scored.segment_names), (-1, "(no segment)")]:
        mask = codes == index
        n = int(mask.sum())
        if n == 0 and index == -1:
            continue
        means = [f"{float(np.mean(v[mask])):.{p}f}" if n else "-"
                 for v, p in ((m.recency_days, 1), (m.frequency, 1), (m.monetary, 2))]
        table.append([name, f"{n:,}", f"{100 * n / total:.1f}%", *means])
    lines.append(text_table(table, right=(1, 2, 3, 4, 5)).rstrip("\n"))
    lines.append(f"wrote {len(scored):,} customers to {'stdout' if out is None else out}")
    return "\n".join(lines) + "\n"
