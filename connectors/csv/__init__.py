"""Order files in (the formats `rfmsync score` reads) and audience files out; no platform, no SDK."""

from __future__ import annotations

from typing import Any

from rfmsync.connectors.base import Sink, Source
from rfmsync.connectors.csv.config import CsvSinkConfig, CsvSourceConfig
from rfmsync.connectors.specs import BuildContext, SinkSpec, SourceSpec


def _source(config: CsvSourceConfig, context: BuildContext) -> Source[Any]:
    from rfmsync.connectors.csv.source import CsvSource

    return CsvSource(config, context.base_dir, context.tz, context.currency, dict(context.rates))


def _sink(config: CsvSinkConfig, context: BuildContext) -> Sink:
    from rfmsync.connectors.csv.sink import CsvSink

    return CsvSink(config, context.base_dir)


SOURCE = SourceSpec("csv", CsvSourceConfig, _source)
SINK = SinkSpec("csv", CsvSinkConfig, _sink)
