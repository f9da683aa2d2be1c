"""Finds every connector: the built-in packages and third-party entry points.

Third-party packages register in their pyproject.toml:

    [project.entry-points."rfmsync.sinks"]
    crm = "rfmsync_crm:SINK"

where `SINK` is a `SinkSpec` (or `SOURCE` a `SourceSpec` in `rfmsync.sources`). A type name
registered twice, an entry point that does not load, or a spec whose type differs from its config
model's `type` stops the config load with an error naming the entry point: silently picking one of
two connectors would send a store's customers somewhere its owner did not choose.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import get_args

from pydantic import BaseModel
from rfmsync.connectors.base import SinkConfig, SourceConfig
from rfmsync.connectors.specs import AnySinkSpec, AnySourceSpec, SinkSpec, SourceSpec
from rfmsync.core.errors import ConfigError

# Each holds SOURCE and/or SINK in its __init__.py.
BUILTIN_PACKAGES = ("rfmsync.connectors.csv", "rfmsync.connectors.shopify", "rfmsync.connectors.mailchimp",
                    "rfmsync.connectors.webhook", "rfmsync.connectors.meta", "rfmsync.connectors.google",
                    "rfmsync.connectors.klaviyo", "rfmsync.connectors.hubspot", "rfmsync.connectors.activecampaign",
                    "rfmsync.connectors.woocommerce", "rfmsync.connectors.square")
SOURCE_GROUP = "rfmsync.sources"
SINK_GROUP = "rfmsync.sinks"


@dataclass(frozen=True, eq=False)
class Registry:
    """Source and sink specs by type name; hashed by identity (the config loader caches its models per registry)."""

    sources: Mapping[str, AnySourceSpec]
    sinks: Mapping[str, AnySinkSpec]

    def plus(self, *specs: AnySourceSpec | AnySinkSpec, origin: str = "a test") -> Registry:
        """This registry and `specs` (a connector defined in a test, say)."""
        sources, sinks = dict(self.sources), dict(self.sinks)
        for spec in specs:
            _add(sources, sinks, spec, origin)
        return Registry(sources, sinks)


def _add(sources: dict[str, AnySourceSpec], sinks: dict[str, AnySinkSpec], spec: object, origin: str) -> None:
    if isinstance(spec, SourceSpec):
        _check(spec.type, spec.config, SourceConfig, sources, origin)
        sources[spec.type] = spec
    elif isinstance(spec, SinkSpec):
        _check(spec.type, spec.config, SinkConfig, sinks, origin)
        sinks[spec.type] = spec
    else:
        raise ConfigError(origin, f"expected a SourceSpec or SinkSpec (rfmsync.connectors.specs), got "
                          f"{type(spec).__name__}")


def _check(name: str, model: type[BaseModel], base: type[BaseModel], known: Mapping[str, object],
           origin: str) -> None:
    kind = "source" if base is SourceConfig else "sink"
    if not (isinstance(model, type) and issubclass(model, base)):
        # The config loader relies on the base's fields (name, lookback or batch size) and checks.
        raise ConfigError(origin, f"{kind} spec {name!r}: its config model must subclass "
                          f"rfmsync.connectors.base.{base.__name__}")
    declared = get_args(model.model_fields["type"].annotation) if "type" in model.model_fields else ()
    if declared != (name,):
        raise ConfigError(origin, f"{kind} spec {name!r}: its config model {model.__name__} must declare "
                          f"type: Literal[{name!r}]")
    if name in known:
        raise ConfigError(origin, f"a second {kind} of type {name!r}; uninstall one of the two packages")


def build_registry(packages: Iterable[str] = BUILTIN_PACKAGES, *, plugins: bool = True) -> Registry:
    sources: dict[str, AnySourceSpec] = {}
    sinks: dict[str, AnySinkSpec] = {}
    for package in packages:
        module = importlib.import_module(package)
        for attribute in ("SOURCE", "SINK"):
            if hasattr(module, attribute):
                _add(sources, sinks, getattr(module, attribute), f"{package}.{attribute}")
    if plugins:
        for group in (SOURCE_GROUP, SINK_GROUP):
            for point in entry_points(group=group):
                origin = f"entry point {group}:{point.name} ({point.value})"
                try:
                    spec = point.load()
                except Exception as exc:
                    raise ConfigError(origin, f"cannot be loaded ({type(exc).__name__}: {exc})") from None
                expected = SourceSpec if group == SOURCE_GROUP else SinkSpec
                if not isinstance(spec, expected):
                    raise ConfigError(origin, f"expected a {expected.__name__}, got {type(spec).__name__}")
                _add(sources, sinks, spec, origin)
    return Registry(sources, sinks)


@functools.cache
def default_registry() -> Registry:
    """The built-in connectors and every installed plugin, found once per process."""
    return build_registry()
