from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import synckit
from testkit import Cli


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[synckit.Processes]:
    """Subprocesses a test starts, always killed at its end."""
    registry = synckit.Processes(tmp_path)
    try:
        yield registry
    finally:
        registry.close()
