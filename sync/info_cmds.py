"""`rfmsync status` and `rfmsync check-config`: what is configured, what ran, what is waiting."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rfmsync.core.clock import utc_now
from rfmsync.core.errors import ConfigError
from rfmsync.sync.cli_help import CONFIG_HELP

if TYPE_CHECKING:
    from rfmsync.sync.ledger import OrderFilter


def add_parsers(commands: Any) -> None:
    s = commands.add_parser("status", help="per store and sink: last run, outcome, pending changes, next run",
                            description="Show per store and sink the last run and its outcome, the changes "
                                        "waiting to be sent, who runs the store now and its next scheduled run.")
    s.add_argument("--config", type=Path, required=True, metavar="FILE", help=CONFIG_HELP)
    s.add_argument("--store", help="only this store")
    s.set_defaults(run=run_status)
    c = commands.add_parser("check-config", help="validate a config file and list its stores, sources and sinks",
                            description="Validate a config file (every key, value and ${VARIABLE}) and list its "
                                        "stores, sources, sinks and custom-scheme gaps. Exit 2 when it is invalid.")
    c.add_argument("config", type=Path, metavar="FILE", nargs="?", help=CONFIG_HELP)
    c.add_argument("--config", type=Path, metavar="FILE", dest="config_option", help="the same, as an option")
    c.set_defaults(run=run_check_config)


def run_check_config(args: argparse.Namespace) -> int:
    # Imported when the command runs, not at start-up: `rfmsync score` should not load every connector.
    from rfmsync.connectors.base import AudienceSink
    from rfmsync.sync.config import load_config, scheme_report
    from rfmsync.sync.registry import build_store

    if (args.config is None) == (args.config_option is None):
        raise ConfigError("check-config", "give the config file once: rfmsync check-config FILE (or --config FILE)")
    args.config = args.config or args.config_option

    config = load_config(args.config)
    print(f"{args.config}: ok; state in {config.state_path}")
    for name, store in config.stores.items():
        runtime = build_store(config, name)
        settings = runtime.settings
        scheme, levels, method = settings.resolved()
        print(f"store {name}: {store.timezone}, schedule '{store.schedule}', scheme {scheme.name} "
              f"({levels} levels, {method})")
        for source in runtime.sources:
            print(f"  source {source.name}")
        for sink in runtime.sinks:
            sent = (f"ad audiences of hashed emails and phones, {store.ad_consent.replace('_', ' ')} consent"
                    if isinstance(sink, AudienceSink) else f"fields: {', '.join(sink.fields)}")
            print(f"  sink {sink.name} ({sent}; batches of {sink.batch_size:,})")
        if not runtime.sources:
            print("  warning: no sources; runs will score only what the state already holds")
        for line in _filter_lines(config.state_path, name, runtime.order_filter):
            print(f"  {line}")
        for line in scheme_report(store, f"stores.{name}"):
            print(f"  warning: segments: {line}")
    return 0


def _filter_lines(state_path: Path, store: str, wanted: OrderFilter) -> list[str]:
    """The channels and categories the store's orders hold so far, and filters that match none."""
    from rfmsync.sync.ledger import seen_channels_and_categories
    from rfmsync.sync.state import STATE_FILE, Database

    if not (state_path / STATE_FILE).exists():
        return ["channels and categories: none seen yet (no orders pulled)"] if wanted else []
    db = Database(state_path)
    try:
        seen = seen_channels_and_categories(db, store)
    finally:
        db.close()
    lines = []
    if seen.channels:
        parts = []
        for channel, n in sorted(seen.channels.items(), key=lambda kv: (-kv[1], kv[0])):
            details = sorted(((d, m) for (c, d), m in seen.details.items() if c == channel),
                             key=lambda kv: (-kv[1], kv[0]))
            inner = ", ".join(f"{d} {m:,}" for d, m in details[:5]) + (", ..." if len(details) > 5 else "")
            parts.append(f"{channel} {n:,}" + (f" ({inner})" if inner else ""))
        lines.append("channels seen (orders): " + "; ".join(parts))
    if seen.categories:
        top = sorted(seen.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        lines.append("categories seen (orders): " + ", ".join(f"{c} {n:,}" for c, n in top[:30])
                     + (f", and {len(top) - 30:,} more" if len(top) > 30 else ""))
    known_channels = {c.lower() for c in seen.channels} | {d.lower() for _, d in seen.details}
    for channel in sorted(wanted.channels - known_channels):
        lines.append(f"warning: rfm.channels: {channel!r} matches no order seen so far")
    if wanted.categories:
        for source, n in sorted(seen.orders_by_source.items()):
            if not seen.categorized_by_source.get(source):
                lines.append(f"warning: rfm.categories: none of source {source}'s {n:,} orders carries line "
                             "categories, so none of them counts (some sources read them only when asked: "
                             "line_categories = true)")
    known_categories = {c.casefold() for c in seen.categories}
    for category in sorted(wanted.categories - known_categories):
        lines.append(f"warning: rfm.categories: {category!r} matches no order line seen so far")
    return lines


def sink_line(counts: dict[str, Any]) -> str:
    from rfmsync.sync.run_cmds import not_sent

    if counts.get("error"):
        return "last run: " + not_sent(counts["changes"], counts["accepted"], counts["rejected"],
                                       counts.get("skipped", 0), counts["error"])
    return f"last pushed {counts['accepted']:,} accepted, {counts['rejected']:,} rejected"


def run_status(args: argparse.Namespace) -> int:
    from rfmsync.connectors.base import AudienceSink
    from rfmsync.sync import audiences, runs
    from rfmsync.sync.config import load_config
    from rfmsync.sync.ledger import order_count
    from rfmsync.sync.pipeline import pending_changes
    from rfmsync.sync.registry import build_store
    from rfmsync.sync.run_cmds import audience_lines
    from rfmsync.sync.schedule import next_run
    from rfmsync.sync.state import Database

    config = load_config(args.config)
    names = [args.store] if args.store else list(config.stores)
    db = Database(config.state_path)
    try:
        for name in names:
            runtime = build_store(config, name)
            store = config.stores[name]
            history = runs.recent_runs(db, name, limit=20)
            fire = next_run(store.schedule, store.timezone)
            print(f"store {name}: {order_count(db, name):,} orders in the ledger; next scheduled run "
                  f"{fire.isoformat(timespec='minutes') if fire else 'never'}")
            lease = runs.lease_of(db, name)
            if lease and lease[1] > utc_now().timestamp():
                if runs.holder_is_gone(lease[0]):
                    print(f"  stopped: the process that ran it ({lease[0]}) is gone; the next run takes over")
                else:
                    print(f"  running now ({lease[0]})")
            if not history:
                print("  never run")
            else:
                last = history[0]
                ended = last.ended.isoformat(timespec="seconds") if last.ended else "-"
                print(f"  last run {last.id} ({last.kind}): {last.outcome}, started "
                      f"{last.started.isoformat(timespec='seconds')}, ended {ended}; "
                      f"{last.counts.get('orders_pulled', 0):,} orders pulled, "
                      f"{last.counts.get('customers_scored', 0):,} customers scored"
                      + (f" ({several:,} seen in more than one source)"
                         if (several := last.counts.get("customers_in_several_sources")) else "")
                      + (f"; error: {last.error}" if last.error else ""))
            pending = pending_changes(db, runtime) if runtime.sinks else {}
            for sink in runtime.sinks:
                last_sink = next((r.counts.get("sinks", {}).get(sink.name) for r in history
                                  if sink.name in r.counts.get("sinks", {})), None)
                done = sink_line(last_sink) if last_sink else "never pushed"
                print(f"  sink {sink.name}: {done}; {pending[sink.name]:,} changes pending")
                sink_name = sink.name
                if isinstance(sink, AudienceSink):
                    sizes = audiences.sizes(db, name, sink_name)
                    for line in audience_lines(sizes):
                        print(line)
                    for segment, size in sizes.items():
                        if size < sink.minimum_size:
                            print(f"    warning: audience {segment} has {size:,} members, below the "
                                  f"{sink.minimum_size} the platform needs to serve it")
    finally:
        db.close()
    return 0
