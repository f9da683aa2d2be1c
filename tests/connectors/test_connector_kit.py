"""The connector kit: connectors are found through their specs, and nothing outside a connector's
package names its platform."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Literal

import pytest
from pipelinekit import NOW, order
from pydantic import BaseModel
from rfmsync.connectors import discovery
from rfmsync.connectors.base import ConfiguredSink, FieldsSinkConfig, OrderPage, PageToken, PushResult, SourceConfig
from rfmsync.connectors.discovery import build_registry, default_registry
from rfmsync.connectors.specs import BuildContext, SinkSpec, SourceSpec
from rfmsync.core.diff import Change
from rfmsync.core.errors import ConfigError
from rfmsync.sync.config import parse_config
from rfmsync.sync.pipeline import RunOptions, run_store
from rfmsync.sync.registry import build_store
from rfmsync.sync.state import Database
from rfmsync.testing.common import nothing_private_logged

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ("shopify", "mailchimp", "klaviyo", "hubspot", "activecampaign", "woocommerce", "square")


def test_no_platform_is_named_in_core_or_sync() -> None:
    pattern = re.compile("|".join(PLATFORMS), re.IGNORECASE)
    hits = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for folder in ("core", "sync") for path in sorted((ROOT / folder).rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_every_connector_package_has_the_same_files_and_registers_itself() -> None:
    packages = sorted(p.parent.name for p in (ROOT / "connectors").glob("*/__init__.py"))
    assert packages == ["activecampaign", "csv", "google", "hubspot", "klaviyo", "mailchimp", "meta", "orderfiles",
                        "shopify", "square", "webhook", "woocommerce"]
    for name in ("activecampaign", "csv", "google", "hubspot", "klaviyo", "mailchimp", "meta", "shopify", "square",
                 "webhook", "woocommerce"):
        files = {p.name for p in (ROOT / "connectors" / name).glob("*.py")}
        assert {"__init__.py", "config.py"} <= files, name
        assert files & {"source.py", "sink.py"}, name
    registry = build_registry(plugins=False)
    assert sorted(registry.sources) == ["csv", "shopify", "square", "woocommerce"]
    assert sorted(registry.sinks) == ["activecampaign", "csv", "google", "hubspot", "klaviyo", "mailchimp", "meta",
                                      "webhook"]
    assert registry.sources["shopify"].backfill and not registry.sources["csv"].backfill
    assert (registry.sinks["mailchimp"].preview, registry.sinks["mailchimp"].segments) == (True, True)
    assert all((registry.sinks[ad].preview, registry.sinks[ad].segments) == (True, True) for ad in ("meta", "google"))


# A source and a sink defined here, as a third-party package would define them.

class ListSourceConfig(SourceConfig):
    type: Literal["list"]
    customers: int


class ListSource:
    cursor_model = PageToken

    def __init__(self, config: ListSourceConfig) -> None:
        self.config, self.closed = config, 0

    @property
    def name(self) -> str:
        return self.config.name or "list"

    def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
        yield OrderPage([order(f"o{i}", f"c{i}", days_ago=10 * i + 1, amount=f"{10 * (i + 1)}.00")
                         for i in range(self.config.customers)])

    def close(self) -> None:
        self.closed += 1


class MemorySinkConfig(FieldsSinkConfig):
    type: Literal["memory"]
    label: str = "crm"


PUSHED: list[tuple[str, str, list[Change]]] = []


class MemorySink(ConfiguredSink):
    config: MemorySinkConfig

    def __init__(self, config: MemorySinkConfig) -> None:
        self.config = config

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        PUSHED.append((self.config.label, batch_id, list(changes)))
        return PushResult(accepted=[c.customer_key for c in changes])


def _source(config: ListSourceConfig, context: BuildContext) -> ListSource:
    return ListSource(config)


def _sink(config: MemorySinkConfig, context: BuildContext) -> MemorySink:
    return MemorySink(config)


LIST = SourceSpec("list", ListSourceConfig, _source)
MEMORY = SinkSpec("memory", MemorySinkConfig, _sink)


def _config(tmp_path: Path, sink: str) -> dict[str, object]:
    sinks = [{"type": "csv", "dir": str(tmp_path / "out")}, {"type": sink, "label": "x"}]
    return {"state_dir": str(tmp_path / "state"),
            "stores": {"shop": {"sources": [{"type": "list", "customers": 6}], "sinks": sinks}}}


def test_a_connector_defined_in_a_test_is_configured_built_and_synced_through(tmp_path: Path) -> None:
    PUSHED.clear()
    registry = default_registry().plus(LIST, MEMORY)
    config = parse_config(_config(tmp_path, "memory"), registry=registry)
    store = build_store(config, "shop")
    summary = run_store(Database(config.state_path), store, RunOptions(now=NOW))
    assert summary.outcome == "ok"
    assert [(s.name, s.accepted) for s in summary.sinks] == [("csv", 6), ("memory", 6)]
    assert [(label, batch_id, len(changes)) for label, batch_id, changes in PUSHED] == [("x", "shop:memory:1:0", 6)]
    assert sorted(c.customer_key for c in PUSHED[0][2]) == [f"c{i}" for i in range(6)]
    assert (tmp_path / "out" / "changes.csv").is_file()  # the built-in sink ran beside it
    assert store.sources[0].closed == 1  # type: ignore[attr-defined]
    again = run_store(Database(config.state_path), build_store(config, "shop"), RunOptions(now=NOW))
    assert [(s.name, s.accepted) for s in again.sinks] == [("csv", 0), ("memory", 0)]


def test_a_type_nobody_registered_lists_what_is_installed(tmp_path: Path) -> None:
    registry = build_registry(plugins=False).plus(LIST, MEMORY)  # installed plugins would join the list
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(tmp_path, "memroy"), registry=registry)
    assert str(caught.value) == ("config: stores.shop.sinks[1]: unknown sink type 'memroy'; "
                                 "known: activecampaign, csv, google, hubspot, klaviyo, mailchimp, memory, meta, "
                                 "webhook")
    with pytest.raises(ConfigError,
                       match=r"sources\[0\]: unknown source type 'list'; known: csv, shopify, square, woocommerce \("):
        parse_config(_config(tmp_path, "webhook"), registry=build_registry(plugins=False))


def test_a_type_registered_twice_or_a_mismatched_spec_is_an_error() -> None:
    with pytest.raises(ConfigError, match="a second sink of type 'memory'"):
        default_registry().plus(MEMORY, MEMORY)
    with pytest.raises(ConfigError, match="a second source of type 'csv'"):
        default_registry().plus(build_registry(plugins=False).sources["csv"])
    with pytest.raises(ConfigError, match=r"MemorySinkConfig must declare type: Literal\['crm'\]"):
        default_registry().plus(SinkSpec("crm", MemorySinkConfig, _sink))

    class Loose(BaseModel):  # a plugin's model that skipped the base class
        type: Literal["loose"]

    with pytest.raises(ConfigError, match=r"'loose': its config model must subclass rfmsync\.connectors\.base\."
                                          r"SinkConfig"):
        default_registry().plus(SinkSpec("loose", Loose, _sink))  # type: ignore[type-var]


def test_plugins_come_from_entry_points_and_a_broken_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    points = {"rfmsync.sinks": [EntryPoint("memory", f"{__name__}:MEMORY", "rfmsync.sinks")],
              "rfmsync.sources": [EntryPoint("list", f"{__name__}:LIST", "rfmsync.sources")]}
    monkeypatch.setattr(discovery, "entry_points", lambda group: points[group])
    registry = build_registry()
    assert registry.sinks["memory"] is MEMORY and registry.sources["list"] is LIST

    points["rfmsync.sinks"] = [EntryPoint("crm", "rfmsync_no_such_package:SINK", "rfmsync.sinks")]
    with pytest.raises(ConfigError) as caught:
        build_registry()
    assert str(caught.value) == ("entry point rfmsync.sinks:crm (rfmsync_no_such_package:SINK): cannot be loaded "
                                 "(ModuleNotFoundError: No module named 'rfmsync_no_such_package')")
    points["rfmsync.sinks"] = [EntryPoint("list", f"{__name__}:LIST", "rfmsync.sinks")]
    with pytest.raises(ConfigError, match="expected a SinkSpec, got SourceSpec"):
        build_registry()


def test_the_contracts_log_check_fails_on_a_leak_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    check = nothing_private_logged(caplog, lambda: ["tok-0123456789", "ada@example.com"])
    check.__enter__()
    logging.getLogger("rfmsync.connectors.x").debug("sending with tok-0123456789")
    logging.getLogger("urllib3.connectionpool").debug("GET /?email=ada@example.com")  # hidden, as the CLI does
    with pytest.raises(AssertionError, match=r"\['tok…'\]$"):
        check.__exit__(None, None, None)
