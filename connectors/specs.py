"""What a connector package declares to be found: one spec per source or sink type.

A built-in connector package exposes `SOURCE` and/or `SINK` in its `__init__.py`; a third-party
package points an entry point of the group `rfmsync.sources` or `rfmsync.sinks` at its spec
(connectors/discovery.py). The config model is the only thing the config loader needs, so a
package's `__init__` imports its `config.py` and leaves the implementation (and any vendor SDK)
to `build`, which runs only for stores that use the connector.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from rfmsync.connectors.base import Sink, SinkConfig, Source, SourceConfig

SourceConfigT = TypeVar("SourceConfigT", bound=SourceConfig)
SinkConfigT = TypeVar("SinkConfigT", bound=SinkConfig)


@dataclass(frozen=True)
class BuildContext:
    """What a connector may take from its store and config file besides its own table."""

    # The config file's folder: relative paths in a connector's config are relative to it.
    base_dir: Path
    # The store's time zone, currency and rates (order files without a zone or currency need them).
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    currency: str | None = None
    rates: Mapping[str, float] = field(default_factory=dict)
    # The store's `ad_consent`: ad sinks send only identifiers with recorded consent unless False.
    ad_consent_required: bool = True


@dataclass(frozen=True)
class SourceSpec(Generic[SourceConfigT]):
    # The `type = "..."` of its config tables; must equal the config model's `type` Literal.
    type: str
    config: builtins.type[SourceConfigT]
    build: Callable[[SourceConfigT, BuildContext], Source[Any]]
    # Has a faster whole-history read (connectors.base.BackfillSource).
    backfill: bool = False


@dataclass(frozen=True)
class SinkSpec(Generic[SinkConfigT]):
    type: str
    config: builtins.type[SinkConfigT]
    build: Callable[[SinkConfigT, BuildContext], Sink]
    # Answers a dry run with what it would do (connectors.base.PreviewingSink).
    preview: bool = False
    # Needs the scheme's segment names (connectors.base.SegmentAwareSink).
    segments: bool = False


AnySourceSpec = SourceSpec[Any]
AnySinkSpec = SinkSpec[Any]
