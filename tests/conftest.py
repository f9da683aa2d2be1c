from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import synckit
from rfmsync.connectors import discovery
from rfmsync.core.clock import ENV_NOW
from rfmsync.sync.score_cmd import demo_orders_path
from rfmsync.sync.state import Database
from testkit import Cli

ROOT = Path(__file__).resolve().parents[1]
# Every test runs with the commands' clock pinned here (RFMSYNC_NOW, inherited by child processes),
# the day after the demo orders end: no test depends on today's date. CI also runs the suite with
# the machine's clock a year ahead to prove it.
PINNED_NOW = "2026-11-01T03:00:00Z"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV_NOW, PINNED_NOW)
    return PINNED_NOW


@pytest.fixture(autouse=True)
def built_in_connectors_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """rfmsync's own suite sees its built-in connectors only, whatever plugins the environment
    holds (examples/plugin-sink has its own tests); tests of discovery patch entry points themselves."""
    monkeypatch.setattr(discovery, "entry_points", lambda group: [])
    discovery.default_registry.cache_clear()
    yield
    discovery.default_registry.cache_clear()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh state in the test's folder, closed at the end."""
    database = Database(tmp_path / "state")
    yield database
    database.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[synckit.Processes]:
    """Subprocesses a test starts, always killed at its end."""
    registry = synckit.Processes(tmp_path)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of config.example.toml with the demo orders where it expects them."""
    shutil.copy(ROOT / "config.example.toml", tmp_path / "rfmsync.toml")
    (tmp_path / "sync" / "demo").mkdir(parents=True)
    shutil.copy(demo_orders_path(), tmp_path / "sync" / "demo" / "orders.csv")
    return tmp_path
