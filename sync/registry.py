"""Builds a runnable store (sources, sinks, engine settings) from its config, through the connector
specs the config was validated against."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rfmsync.connectors.base import (
    BackfillSource,
    PreviewingSink,
    SegmentAwareSink,
    Sink,
    SinkConfig,
    Source,
    SourceConfig,
)
from rfmsync.connectors.specs import BuildContext
from rfmsync.core.errors import ConfigError
from rfmsync.sync.config import Config, StoreConfig, rfm_settings
from rfmsync.sync.ledger import OrderFilter
from rfmsync.sync.pipeline import StoreRuntime


def _context(store: StoreConfig, root: Config) -> BuildContext:
    return BuildContext(base_dir=root.base_dir, tz=ZoneInfo(store.timezone), currency=store.currency,
                        rates=dict(store.rates), ad_consent_required=store.ad_consent == "required")


def build_source(config: SourceConfig, context: BuildContext, root: Config) -> Source[Any]:
    spec = root.registry.sources.get(config.type)
    if spec is None or not isinstance(config, spec.config):
        raise ConfigError("sources", f"no source of type {config.type!r} is installed")
    source = spec.build(config, context)
    if spec.backfill and not isinstance(source, BackfillSource):
        raise ConfigError(f"source type {config.type!r}", "its spec says backfill but the source has no backfill()")
    return source


def build_sink(config: SinkConfig, context: BuildContext, root: Config) -> Sink:
    spec = root.registry.sinks.get(config.type)
    if spec is None or not isinstance(config, spec.config):
        raise ConfigError("sinks", f"no sink of type {config.type!r} is installed")
    sink = spec.build(config, context)
    for declared, protocol, method in ((spec.preview, PreviewingSink, "preview"),
                                       (spec.segments, SegmentAwareSink, "set_segments")):
        if declared and not isinstance(sink, protocol):
            raise ConfigError(f"sink type {config.type!r}", f"its spec says {method} but the sink has no {method}()")
    return sink


def build_store(root: Config, name: str) -> StoreRuntime:
    try:
        store = root.stores[name]
    except KeyError:
        raise ConfigError("--store", f"no store named {name!r}; stores are {', '.join(root.stores)}") from None
    path = f"stores.{name}"
    context = _context(store, root)
    sources = [build_source(s, context, root) for s in store.sources]
    lookbacks = {src.name: timedelta(minutes=cfg.lookback_minutes)
                 for src, cfg in zip(sources, store.sources, strict=True) if cfg.lookback_minutes is not None}
    return StoreRuntime(
        name=name, tz_name=store.timezone, settings=rfm_settings(store, path), sources=sources,
        sinks=[build_sink(s, context, root) for s in store.sinks], lookback=timedelta(minutes=store.lookback_minutes),
        lookbacks=lookbacks, window_days=store.rfm.window_days, half_life_days=store.rfm.half_life_days,
        currency=store.currency, rates=store.rates, merge_guests_by_email=store.merge_guests_by_email,
        as_of=store.as_of, returns=store.returns, ad_consent_required=store.ad_consent == "required",
        phone_region=store.phone_region, order_filter=OrderFilter.of(store.rfm.channels, store.rfm.categories))
