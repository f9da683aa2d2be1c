"""`rfmsync sync` and `status` from a csv with phones and an accepts_marketing column to the fake
Meta and Google APIs: consent read from the file, bad consent cells rejected and kept, sizes shown."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from adkit import sha
from fake_google import FakeGoogle
from fake_meta import FakeMeta
from synckit import query
from testkit import Cli

CONFIG = """
state_dir = "state"
[stores.shop]
timezone = "UTC"
as_of = 2026-11-01
{ad_consent}
[stores.shop.rfm]
scheme = "quick-audience"
method = "ranges"
comparison = {{ r = 2, f = 2, m = 2 }}
[[stores.shop.sources]]
type = "csv"
path = "orders.csv"
[[stores.shop.sinks]]
type = "meta"
access_token = "${{META_TOKEN}}"
ad_account_id = "act_100"
base_url = "{meta}"
default_phone_region = "DE"
[[stores.shop.sinks]]
type = "google"
access_token = "${{GOOGLE_TOKEN}}"
operating_account_id = "1234567890"
user_lists = {{ "High Value" = "555", "General Keep" = "556" }}
base_url = "{google}"
default_phone_region = "DE"
poll_seconds = 0
"""
CONSENT = ["yes", "no", "", "1", "0", "true", "FALSE", "Yes"]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeMeta, FakeGoogle]]:
    with FakeMeta() as meta, FakeGoogle(polls_per_request=0) as google:
        yield meta, google


def write_store(tmp_path: Path, meta: FakeMeta, google: FakeGoogle, ad_consent: str = "") -> Path:
    with open(tmp_path / "orders.csv", "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["order_id", "customer_id", "created_at", "amount", "email", "phone", "accepts_marketing"])
        for n in range(1, 241):
            for i in range(1 + n % 3):
                day = 1 + (n * 7 + i * 31) % 300
                out.writerow([f"o{n}-{i}", f"c{n}", f"2026-{1 + day // 31 % 10:02d}-{1 + day % 28:02d}T10:00:00Z",
                              f"{20 + n % 50}.00", f"buyer{n}@example.com", f"0151 {n:08d}" if n % 2 else "",
                              CONSENT[n % len(CONSENT)]])
        out.writerow(["bad1", "c999", "2026-05-01T10:00:00Z", "10.00", "x@example.com", "", "maybe"])
    path = tmp_path / "rfmsync.toml"
    path.write_text(CONFIG.format(meta=meta.base_url, google=google.base_url, ad_consent=ad_consent),
                    encoding="utf-8")
    return path


def consented(n: int) -> bool:
    return CONSENT[n % len(CONSENT)].lower() in ("yes", "1", "true")


def test_sync_sends_only_consenting_customers_and_status_shows_sizes(
        cli: Cli, fakes: tuple[FakeMeta, FakeGoogle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta, google = fakes
    monkeypatch.setenv("META_TOKEN", meta.token)
    monkeypatch.setenv("GOOGLE_TOKEN", "ya29.fake")
    config = write_store(tmp_path, meta, google)
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err + out
    assert "1 rejected" in out
    members = {row for a in meta.audiences.values() for row in a.members}
    wanted = {(sha(f"buyer{n}@example.com"), sha(f"49151{n:08d}") if n % 2 else "")
              for n in range(1, 241) if consented(n)}
    assert members == wanted
    google_members = google.members("1234567890", "555") | google.members("1234567890", "556")
    assert google_members and all(dict(m)["emailAddress"] in {sha(f"buyer{n}@example.com")
                                                              for n in range(1, 241) if consented(n)}
                                  for m in google_members)
    for text in (out, err):
        assert "@example.com" not in text and "0151" not in text
        assert not any(h and h in text for row in wanted for h in row)
    assert "audience High Value" in out and "customers in a segment not sent" in out
    code, checked, err = cli("check-config", "--config", config)
    assert code == 0 and "sink meta (ad audiences of hashed emails and phones, required consent;" in checked
    code, status, err = cli("status", "--config", config)
    assert code == 0, err
    sizes = {a.name.removeprefix("RFM: "): len(a.members) for a in meta.audiences.values()}
    for segment, size in sizes.items():
        assert f"{size:>8,}  audience {segment}" in status
    # The refused consent cell is kept with its reason and its row, not lost.
    rows = query(tmp_path / "state" / "state.sqlite3", "SELECT origin, reason, raw FROM rejects")
    assert [(o, r) for o, r, _ in rows] == [
        ("source", "accepts_marketing: marketing consent: expected true/false, yes/no or 1/0 (or blank)")]
    assert '"maybe"' in rows[0][2]


def test_ad_consent_not_required_sends_every_customer(cli: Cli, fakes: tuple[FakeMeta, FakeGoogle],
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta, google = fakes
    monkeypatch.setenv("META_TOKEN", meta.token)
    monkeypatch.setenv("GOOGLE_TOKEN", "ya29.fake")
    config = write_store(tmp_path, meta, google, ad_consent='ad_consent = "not_required"')
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err + out
    members = {row for a in meta.audiences.values() for row in a.members}
    assert len(members) == 240
    assert set(google.consents.values()) == {("GRANTED", "GRANTED"), ("DENIED", "DENIED"), (None, None)}


def test_a_changed_consent_setting_is_not_skipped_as_a_quiet_run(
        cli: Cli, fakes: tuple[FakeMeta, FakeGoogle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta, google = fakes
    monkeypatch.setenv("META_TOKEN", meta.token)
    monkeypatch.setenv("GOOGLE_TOKEN", "ya29.fake")
    config = write_store(tmp_path, meta, google)
    assert cli("sync", "--config", config)[0] == 0
    consenting = sum(len(a.members) for a in meta.audiences.values())
    code, out, _ = cli("sync", "--config", config)
    assert code == 0 and "nothing changed since the last run" in out
    # Only the config changes: the orders file is as it was.
    config.write_text(CONFIG.format(meta=meta.base_url, google=google.base_url,
                                    ad_consent='ad_consent = "not_required"'), encoding="utf-8")
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err + out
    assert "0 orders pulled" in out and "nothing changed" not in out
    assert sum(len(a.members) for a in meta.audiences.values()) == 240 > consenting
