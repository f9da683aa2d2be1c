"""What an operator meets: clear messages instead of tracebacks, secrets never echoed, private state files."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import synckit
from rfmsync.core.errors import ConfigError
from rfmsync.sync.cli import main
from rfmsync.sync.config import load_config
from testkit import Cli

MINIMAL = """state_dir = "state"
[stores.acme]
timezone = "${ACME_TZ}"
[[stores.acme.sources]]
type = "csv"
path = "orders.csv"
"""


def test_a_value_from_the_environment_is_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "rfmsync.toml"
    config.write_text(MINIMAL)
    monkeypatch.setenv("ACME_TZ", "shpat_0123456789abcdef")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "shpat_" not in str(caught.value)
    assert "stores.acme.timezone" in str(caught.value) and "${ACME_TZ}" in str(caught.value)


def test_misspelt_keys_and_unknown_types_say_what_was_meant(tmp_path: Path, cli: Cli) -> None:
    config = tmp_path / "rfmsync.toml"
    config.write_text('[stores.acme]\nscheduel = "0 4 * * *"\n')
    code, _, err = cli("check-config", "--config", config)
    assert code == 2 and "stores.acme.scheduel: unknown key; did you mean 'schedule'?" in err
    config.write_text('[stores.acme]\n[[stores.acme.sources]]\ntype = "bigcommerce"\n')
    code, _, err = cli("check-config", config)
    assert code == 2 and "unknown source type 'bigcommerce'; known: csv, shopify, square, woocommerce" in err


def test_config_files_that_are_not_utf8_get_a_message(tmp_path: Path, cli: Cli) -> None:
    config = tmp_path / "rfmsync.toml"
    config.write_bytes('[stores.caf\xe9]\ntimezone = "UTC"\n'.encode("latin-1"))
    for args in (("check-config", config), ("sync", "--config", config), ("status", "--config", config)):
        code, _, err = cli(*args)
        assert code == 2 and "not UTF-8 text" in err and "Traceback" not in err, args
    segments = tmp_path / "seg.toml"
    segments.write_bytes(b"[segments]\n# caf\xe9\n")
    code, _, err = cli("score", "--demo", "--segments", segments, "--out", tmp_path / "s.csv")
    assert code == 2 and "not UTF-8 text" in err


@pytest.mark.parametrize("args", [("--window-days", "0"), ("--window-days", "-3"), ("--half-life-days", "0"),
                                  ("--half-life-days", "-1"), ("--half-life-days", "nan"), ("--rate", "EUR=inf"),
                                  ("--rate", "EUR=nan"), ("--rate", "EUR=1e300")])
def test_nonsense_numbers_are_refused(tmp_path: Path, cli: Cli, capsys: pytest.CaptureFixture[str],
                                      args: tuple[str, str]) -> None:
    try:
        code = main(["score", "--demo", *args, "--out", str(tmp_path / "s.csv")])
    except SystemExit as exc:  # argparse refuses the option's value itself
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert not (tmp_path / "s.csv").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_state_and_rejects_files_are_private(tmp_path: Path, cli: Cli, workdir: Path) -> None:
    assert cli("sync", "--config", workdir / "rfmsync.toml", "--store", "demo")[0] == 0
    state = workdir / ".rfmsync"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in state.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    orders = tmp_path / "o.csv"
    orders.write_text("order_id,customer_id,created_at,total\nA,1,2026-10-01,1\nB,,2026-10-01,1\n")
    assert cli("score", orders, "--out", tmp_path / "seg.csv")[0] == 0
    assert stat.S_IMODE((tmp_path / "seg.rejects.csv").stat().st_mode) == 0o600


def test_a_read_only_state_is_named_not_a_sqlite_traceback(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    state = workdir / ".rfmsync"
    for path in state.iterdir():
        path.chmod(0o400)
    state.chmod(0o500)
    try:
        if os.geteuid() == 0:
            # Root passes file modes by CAP_DAC_OVERRIDE: run the sync with it dropped, so the modes
            # stop it as they stop the unprivileged user a shop runs rfmsync as.
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
            done = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--",
                                   str(synckit.RFMSYNC), "sync", "--config", str(config), "--store", "demo"],
                                  capture_output=True, text=True, timeout=120, check=False)
            code, err = done.returncode, done.stderr
        else:
            code, _, err = cli("sync", "--config", config, "--store", "demo")
    finally:
        state.chmod(0o700)
    assert code == 1 and str(state) in err and "OperationalError" not in err and "Traceback" not in err, err


def test_a_state_that_cannot_be_opened_is_named(tmp_path: Path, cli: Cli) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    config = tmp_path / "rfmsync.toml"
    config.write_text(f'state_dir = "{blocker / "state"}"\n[stores.acme]\n')
    code, _, err = cli("sync", "--config", config)
    assert code == 1 and f"{blocker / 'state'}" in err and "cannot open the state" in err
    assert "Traceback" not in err and "OSError" not in err


def test_global_options_after_the_command_and_no_urls_in_debug_logs(tmp_path: Path, cli: Cli,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    # A webhook URL with a token and an email in its query: urllib3 would log both at DEBUG.
    synckit.write_orders_csv(tmp_path / "orders.csv")
    with synckit.WebhookServer("whsec-x", delay=0.0) as server:
        server.gate.set()
        config = synckit.write_config(tmp_path / "rfmsync.toml", f'''[[stores.shop.sinks]]
type = "webhook"
url = "{server.url}?token=tok_secret_123&user=ada@example.com"
secret = "whsec-x"
''')
        caplog.set_level(logging.DEBUG)
        code, _, err = cli("sync", "--log-level", "DEBUG", "--config", config)
    assert code == 0, err
    assert server.requests()  # the sink really made HTTP requests while DEBUG was on
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG  # the option after the command took
    assert "tok_secret_123" not in caplog.text and "ada@example.com" not in caplog.text


def test_every_command_and_option_has_help() -> None:
    from rfmsync.sync.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        assert sub.description, f"{name} has no description"
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def _store_with_two_csv_sinks(workdir: Path, second_dir: str) -> Path:
    config = workdir / "rfmsync.toml"
    text = config.read_text()
    text = text.replace('''[[stores.demo.sinks]]
type = "csv"
name = "files"
dir = "out/demo"''', f'''[[stores.demo.sinks]]
type = "csv"
name = "files"
dir = "out/demo"

[[stores.demo.sinks]]
type = "csv"
name = "more-files"
dir = "{second_dir}"''')
    config.write_text(text)
    return config


def test_two_csv_sinks_on_one_folder_is_a_config_error(cli: Cli, workdir: Path) -> None:
    config = _store_with_two_csv_sinks(workdir, "out/demo/")
    code, _, err = cli("check-config", config)
    assert code == 2 and "stores.demo.sinks[1].dir" in err and "stores.demo.sinks[0].dir" in err
    config.write_text(config.read_text().replace('dir = "out/demo/"', 'dir = "out/demo"')
                      .replace('dir = "out/gift-shop"', 'dir = "out/demo"'))
    code, _, err = cli("check-config", config)
    assert code == 2 and "the same folder as" in err


def test_changing_a_source_setting_reads_the_file_again(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    assert "6,000 orders pulled" in cli("sync", "--config", config, "--store", "demo")[1]
    assert "0 orders pulled" in cli("sync", "--config", config, "--store", "demo")[1]
    config.write_text(config.read_text().replace('path = "sync/demo/orders.csv"\n# Column',
                                                 'path = "sync/demo/orders.csv"\ndecimal = "."\n# Column', 1))
    code, out, err = cli("sync", "--config", config, "--store", "demo")
    assert code == 0 and "6,000 orders pulled" in out, err


def test_leftover_temp_files_of_a_killed_csv_sink_are_removed(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    leftover = workdir / "out" / "demo" / "audiences" / ".champions.csv.waw_j2gw"
    leftover.write_text("half a file")
    orders = workdir / "sync" / "demo" / "orders.csv"
    with open(orders, "a", encoding="utf-8") as handle:
        handle.write("990001,999999,new@example.com,2026-10-31T10:00:00Z,5.00,EUR,paid\n")  # one change
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    assert not leftover.exists()


def test_a_sink_that_breaks_unexpectedly_fails_alone_and_other_stores_run(cli: Cli, workdir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rfmsync.connectors.csv.sink import CsvSink

    real_push = CsvSink.push

    def push(self: CsvSink, batch_id: str, changes: object) -> object:
        if self.name == "files":
            raise KeyError("id")  # a 200 without the id the connector needs
        return real_push(self, batch_id, changes)  # type: ignore[arg-type]

    monkeypatch.setattr(CsvSink, "push", push)
    code, out, err = cli("sync", "--config", workdir / "rfmsync.toml")
    assert code == 1
    assert "sink files: 0 changes sent" not in out
    assert "failed: unexpected answer from the platform (KeyError)" in out
    assert "store gift-shop: run 2 ok" in out and "Traceback" not in err
    # What the operator then reads: the changes not sent, each pending customer counted once, and
    # a dry run saying what waits to be resent.
    code, status, _ = cli("status", "--config", workdir / "rfmsync.toml", "--store", "demo")
    assert "sink files: last run: 1,474 changes not sent (sink failed: unexpected answer" in status
    assert "1,474 changes pending" in status
    monkeypatch.setattr(CsvSink, "push", real_push)
    code, out, _ = cli("sync", "--dry-run", "--config", workdir / "rfmsync.toml", "--store", "demo")
    assert code == 0 and "1,474 in unfinished batches a real run resends first" in out
