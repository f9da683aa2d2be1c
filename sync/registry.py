"""Builds a runnable store (sources, sinks, engine settings) from its config."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from rfmsync.connectors.base import Source
from rfmsync.connectors.csv.sink import CsvSink, CsvSinkConfig
from rfmsync.connectors.csv.source import CsvSource, CsvSourceConfig
from rfmsync.connectors.mailchimp.sink import MailchimpSink, MailchimpSinkConfig
from rfmsync.connectors.shopify.source import ShopifySource, ShopifySourceConfig
from rfmsync.connectors.webhook.sink import WebhookSink, WebhookSinkConfig
from rfmsync.core.errors import ConfigError
from rfmsync.sync.config import Config, SinkConfig, SourceConfig, StoreConfig, rfm_settings
from rfmsync.sync.pipeline import SinkWithFields, StoreRuntime


def build_source(config: SourceConfig, store: StoreConfig, root: Config) -> Source:
    tz = ZoneInfo(store.timezone)
    if isinstance(config, CsvSourceConfig):
        return CsvSource(config, root.base_dir, tz, store.currency, store.rates)
    if isinstance(config, ShopifySourceConfig):
        return ShopifySource(config)
    raise ConfigError("sources", f"no source of type {config.type!r}")  # unreachable: the union is closed


def build_sink(config: SinkConfig, root: Config) -> SinkWithFields:
    if isinstance(config, CsvSinkConfig):
        return CsvSink(config, root.base_dir)
    if isinstance(config, WebhookSinkConfig):
        return WebhookSink(config)
    if isinstance(config, MailchimpSinkConfig):
        return MailchimpSink(config)
    raise ConfigError("sinks", f"no sink of type {config.type!r}")


def build_store(root: Config, name: str) -> StoreRuntime:
    try:
        store = root.stores[name]
    except KeyError:
        raise ConfigError("--store", f"no store named {name!r}; stores are {', '.join(root.stores)}") from None
    path = f"stores.{name}"
    sources = [build_source(s, store, root) for s in store.sources]
    lookbacks = {src.name: timedelta(minutes=cfg.lookback_minutes)
                 for src, cfg in zip(sources, store.sources, strict=True) if cfg.lookback_minutes is not None}
    return StoreRuntime(
        name=name, tz_name=store.timezone, settings=rfm_settings(store, path), sources=sources,
        sinks=[build_sink(s, root) for s in store.sinks], lookback=timedelta(minutes=store.lookback_minutes),
        lookbacks=lookbacks, window_days=store.rfm.window_days, half_life_days=store.rfm.half_life_days,
        currency=store.currency, rates=store.rates, merge_guests_by_email=store.merge_guests_by_email,
        as_of=store.as_of, returns=store.returns)
