"""The commands on a copy of config.example.toml: check-config, sync, status, backfill."""

from __future__ import annotations

from pathlib import Path

from testkit import Cli, read_rows

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_runs_as_is(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    code, out, _ = cli("check-config", config)
    assert code == 0
    assert "store demo: Europe/Berlin, schedule '0 4 * * *', scheme classic (5 levels, quantile)" in out
    assert "  sink files (fields: segment, rfm_cell; batches of 50,000)" in out
    code, out, _ = cli("sync", "--config", config)
    assert code == 0, out
    assert "store demo: run 1 ok; 6,000 orders pulled, 0 rejected" in out
    champions = read_rows(workdir / "out" / "demo" / "audiences" / "champions.csv")
    assert champions and all(r["segment"] == "Champions" for r in champions)
    log = read_rows(workdir / "out" / "demo" / "changes.csv")
    assert len(log) == len({r["customer_key"] for r in log}) > 1000
    code, out, _ = cli("sync", "--config", config, "--store", "demo")
    assert code == 0 and "0 orders pulled" in out and "sink files: 0 changes sent" in out
    code, out, _ = cli("status", "--config", config)
    assert code == 0
    assert "store demo: 6,000 orders in the ledger; next scheduled run" in out
    assert "sink files: last pushed 0 accepted, 0 rejected; 0 changes pending" in out
    assert (workdir / ".rfmsync" / "state.sqlite3").is_file()


def test_dry_run_lists_transitions_and_writes_no_sink_files(cli: Cli, workdir: Path) -> None:
    code, out, _ = cli("sync", "--config", workdir / "rfmsync.toml", "--store", "demo", "--dry-run")
    assert code == 0
    assert "changes would send" in out and "- -> Champions" in out
    assert not (workdir / "out").exists()


def test_unknown_store_and_bad_config_exit_2(cli: Cli, workdir: Path) -> None:
    code, _, err = cli("sync", "--config", workdir / "rfmsync.toml", "--store", "nope")
    assert code == 2 and "--store: no store named 'nope'" in err
    (workdir / "bad.toml").write_text("[stores.x]\ntimezone = 'Mars/Base'\n")
    code, _, err = cli("check-config", workdir / "bad.toml")
    assert code == 2 and "bad.toml: stores.x.timezone: unknown time zone 'Mars/Base'" in err


def test_backfill_then_sync_pulls_nothing_new(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    code, out, _ = cli("backfill", "--config", config, "--store", "demo", "--since", "2025-01-01")
    # --since is honoured: the 122 demo orders of 2024 stay out.
    assert code == 0 and "5,878 orders pulled" in out
    code, out, _ = cli("sync", "--config", config, "--store", "demo")
    assert code == 0 and "0 orders pulled" in out and "sink files: 0 changes sent" in out
    code, _, err = cli("backfill", "--config", config, "--store", "demo", "--since", "last year")
    assert code == 2 and "--since: expected a date YYYY-MM-DD" in err
