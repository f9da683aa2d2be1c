"""The commands' clock: pinned by RFMSYNC_NOW, and a store's fixed `as_of` wins over it."""

from __future__ import annotations

from pathlib import Path

import pytest
from rfmsync.core.clock import ENV_NOW, utc_now
from testkit import Cli


def test_the_demo_stores_show_the_same_numbers_on_any_day(cli: Cli, workdir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_NOW, "2031-06-15T12:00:00Z")  # years after the demo orders end
    code, out, err = cli("sync", "--config", workdir / "rfmsync.toml", "--store", "demo")
    assert code == 0, err
    assert "1,474 customers scored" in out
    about_to_sleep = (workdir / "out" / "demo" / "audiences" / "about-to-sleep.csv").read_text().splitlines()
    assert len(about_to_sleep) - 1 == 122


def test_without_a_fixed_as_of_the_window_moves_with_the_clock(cli: Cli, workdir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = workdir / "rfmsync.toml"
    config.write_text(config.read_text().replace("as_of = 2026-11-01\n", ""))
    monkeypatch.setenv(ENV_NOW, "2028-06-01T12:00:00Z")  # most demo orders are outside 730 days now
    code, out, err = cli("sync", "--config", config, "--store", "demo")
    assert code == 0, err
    scored = int(out.split(" customers scored")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert 0 < scored < 1474


def test_a_pinned_instant_without_offset_is_utc_and_a_bad_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_NOW, "2026-11-01T03:00:00")
    assert utc_now().isoformat() == "2026-11-01T03:00:00+00:00"
    monkeypatch.setenv(ENV_NOW, "2026-11-01T04:00:00+01:00")
    assert utc_now().isoformat() == "2026-11-01T03:00:00+00:00"
    monkeypatch.setenv(ENV_NOW, "next tuesday")
    with pytest.raises(Exception, match="RFMSYNC_NOW: expected an ISO 8601 instant"):
        utc_now()
