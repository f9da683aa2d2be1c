"""`rfmsync sync` killed with SIGKILL at random moments, again and again, over three days of orders:
the csv files, a webhook receiver and the Mailchimp audience end exactly as one uninterrupted run
per day leaves them.

This is how the Mailchimp replay bug was found (a batch replayed from the outbox cleared only the
change's old tag, so members kept two RFM tags). The kill times come from a seeded generator; the
fake Mailchimp finishes every batch a killed run had submitted before the next run starts, as real
Mailchimp goes on processing a batch whose submitter died.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import synckit
from fake_mailchimp import FakeMailchimp
from fake_webhook import FakeWebhook
from rfmsync.sync.score_cmd import demo_orders_path
from testkit import Cli, read_rows

LIST = "aud1"
KILLS_PER_DAY = 6
SEED = 20261203
HOOK_SECRET = "whsec-kills-0123456789"
CONFIG = """
state_dir = "{state}"
[stores.shop]
timezone = "UTC"
[stores.shop.rfm]
scheme = "quick-audience"
method = "ranges"
comparison = {{ r = 2, f = 2, m = 2 }}
[[stores.shop.sources]]
type = "csv"
path = "orders.csv"
[[stores.shop.sinks]]
type = "csv"
name = "files"
dir = "{out}"
batch_size = 150
"""
MAILCHIMP = """
[[stores.shop.sinks]]
type = "webhook"
url = "{hook_url}"
secret = "${{HOOK_SECRET}}"
batch_size = 120
[[stores.shop.sinks]]
type = "mailchimp"
api_key = "${{MAILCHIMP_KEY}}"
list_id = "{list_id}"
base_url = "{base_url}"
poll_seconds = 0.01
batch_size = 50
"""


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    # A little latency per request keeps a run long enough for the kills to land inside it.
    with FakeMailchimp(polls_per_state=1, latency=0.01) as mailchimp:
        mailchimp.add_list(LIST)
        # Some members carry a stale RFM tag (another tool, an older scheme): the sink must clear it.
        mailchimp.generate_members(LIST, 1200, seed=3, tag_pool=("VIP", "Newsletter", "RFM: Lost"))
        yield mailchimp


def _write_config(folder: Path, name: str, mailchimp: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(CONFIG.format(state=f"state-{name}", out=f"out-{name}") + mailchimp, encoding="utf-8")
    return path


def _new_day(orders: Path, day: int) -> None:
    """New orders for 160 customers: movers between segments, in every batch of the sinks."""
    with open(orders, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for n, key in enumerate(range(day, 1474, 9)):
            writer.writerow([f"day{day}-{n}", key, f"customer{key}@example.com", f"2026-10-{28 + day}T12:00:00Z",
                             f"{300 + 40 * n}.00", "EUR", "paid"])


def _audiences(out: Path) -> dict[str, tuple[str, str]]:
    return {row["customer_key"]: (row["segment"], row["rfm_cell"])
            for audience in sorted((out / "audiences").glob("*.csv")) for row in read_rows(audience)}


def _lose_unfinished_batches(fake: FakeMailchimp) -> None:
    with fake.lock:
        for batch_id in [b.id for b in fake.batches.values() if not b.finished]:
            del fake.batches[batch_id]


def _kill_at_random(config: Path, rng: random.Random, fake: FakeMailchimp, kills: list[float]) -> None:
    """Starts the sync and kills it at a random moment, until a run gets through untouched."""
    for _ in range(KILLS_PER_DAY):
        # The child needs ~0.5 s to import before it does anything; a day's work takes ~1-2 s more.
        delay = rng.uniform(0.5, 1.6)
        child = subprocess.Popen([str(synckit.RFMSYNC), "sync", "--config", str(config)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=60)
        if len(kills) % 2:
            fake.finish_batches()  # Mailchimp goes on processing a batch whose submitter died
        else:
            _lose_unfinished_batches(fake)  # or never got it: the connection died mid-request
        if child.returncode != -signal.SIGKILL:
            assert child.returncode == 0
            return
        kills.append(delay)


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook(HOOK_SECRET) as receiver:
        yield receiver


def test_random_kills_leave_every_sink_as_an_uninterrupted_run_would(
        cli: Cli, fake: FakeMailchimp, hook: FakeWebhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCHIMP_KEY", fake.api_key)
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    monkeypatch.chdir(tmp_path)
    shutil.copy(demo_orders_path(), tmp_path / "orders.csv")
    killed = _write_config(tmp_path, "killed", MAILCHIMP.format(list_id=LIST, base_url=fake.base_url,
                                                                 hook_url=hook.url))
    reference = _write_config(tmp_path, "reference")
    rng, kills = random.Random(SEED), list[float]()
    for day in (1, 2, 3):
        if day > 1:
            _new_day(tmp_path / "orders.csv", day)
        _kill_at_random(killed, rng, fake, kills)
        code, _, err = cli("sync", "--config", killed)
        assert code == 0, err
        assert cli("sync", "--config", reference)[0] == 0
        expected = _audiences(tmp_path / "out-reference")
        assert _audiences(tmp_path / "out-killed") == expected, f"day {day}"
        # The receiver acts once per batch id, as the webhook sink tells receivers to.
        assert hook.held == {key: segment for key, (segment, _) in expected.items()}, f"day {day}"
        for key, (segment, cell) in expected.items():
            if int(key) <= 1200:
                member = fake.member(LIST, f"customer{key}@example.com")
                tags = {t for t in member["tags"] if t.startswith("RFM: ")}
                assert tags == {f"RFM: {segment}"}, (day, key)
                assert member["merge_fields"].get("RFM_CELL") == cell, (day, key)
    # Kills that landed inside a run, not after it had finished: the test is not vacuous.
    assert len(kills) >= 6, kills
    # The changes log holds each change once, replays included.
    with open(tmp_path / "out-killed" / "changes.csv", newline="", encoding="utf-8") as handle:
        lines = [(row["batch_id"], row["customer_key"]) for row in csv.DictReader(handle)]
    assert len(lines) == len(set(lines))
    assert fake.status_changes == [] and fake.members_created == []  # consent never touched
    assert not [name for name in os.listdir(tmp_path / "out-killed" / "audiences") if name.startswith(".")]
