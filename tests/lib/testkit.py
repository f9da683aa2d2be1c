"""Helpers shared by the test modules (tests/lib is on pytest's pythonpath)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rfmsync.sync.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = self.capsys.readouterr()
        return code, out.out, out.err
