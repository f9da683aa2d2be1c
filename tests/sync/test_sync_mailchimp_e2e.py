"""`rfmsync sync` from a csv source to the loopback fake Mailchimp (tests/lib/fake_mailchimp.py)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_mailchimp import FakeMailchimp
from rfmsync.core.clock import utc_now
from rfmsync.sync.score_cmd import demo_orders_path
from testkit import Cli, read_rows

LIST = "aud1"
# Quick-audience with fixed bands and comparison values: a customer's segment depends only on their
# own orders, so new orders for 3 customers move exactly those 3.
CONFIG = """
state_dir = "state"
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
dir = "out"
[[stores.shop.sinks]]
type = "mailchimp"
api_key = "${{MAILCHIMP_KEY}}"
list_id = "{list_id}"
base_url = "{base_url}"
poll_seconds = 0.01
"""


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as mailchimp:
        mailchimp.add_list(LIST)
        # Customers 1..1200 of the demo data are members (a mix of statuses); the rest are not.
        mailchimp.generate_members(LIST, 1200, seed=3, tag_pool=("VIP", "Newsletter"))
        mailchimp.add_member(LIST, "customer7@example.com", status="subscribed", tags=("RFM: Lost", "Wholesale"))
        yield mailchimp


@pytest.fixture
def config(fake: FakeMailchimp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAILCHIMP_KEY", fake.api_key)
    shutil.copy(demo_orders_path(), tmp_path / "orders.csv")
    path = tmp_path / "rfmsync.toml"
    path.write_text(CONFIG.format(list_id=LIST, base_url=fake.base_url), encoding="utf-8")
    return path


def expected(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """customer id -> (segment, rfm_cell), from the csv sink fed by the same run."""
    result = {}
    for audience in (tmp_path / "out" / "audiences").glob("*.csv"):
        for row in read_rows(audience):
            result[row["customer_key"]] = (row["segment"], row["rfm_cell"])
    return result


def rfm_tags(member: dict[str, object]) -> set[str]:
    return {t for t in member["tags"] if isinstance(t, str) and t.startswith("RFM: ")}  # type: ignore[attr-defined]


def test_members_get_one_tag_and_fields_consent_untouched(cli: Cli, fake: FakeMailchimp, config: Path,
                                                          tmp_path: Path) -> None:
    statuses = {f"customer{i}@example.com": fake.member(LIST, f"customer{i}@example.com")["status"]
                for i in range(1, 1201)}
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err + out
    segments = expected(tmp_path)
    members = [key for key in segments if int(key) <= 1200]
    assert "skipped (not in the audience)" in out
    for key in members:
        member = fake.member(LIST, f"customer{key}@example.com")
        segment, cell = segments[key]
        assert rfm_tags(member) == {f"RFM: {segment}"}, key
        assert (member["merge_fields"].get("RFM_SEG"), member["merge_fields"].get("RFM_CELL")) == (segment, cell)
        assert member["status"] == statuses[f"customer{key}@example.com"]  # unsubscribed, cleaned stay so
    # The member's own tags stay; the stale RFM tag is replaced.
    assert "Wholesale" in fake.member(LIST, "customer7@example.com")["tags"]
    assert fake.status_changes == [] and fake.statuses_sent == [] and fake.consent_violations == []
    assert fake.members_created == []  # non-members are not created
    assert {"RFM_SEG", "RFM_CELL"} <= {f["tag"] for f in fake.merge_field_definitions(LIST)}
    assert fake.merge_field_creations == 2 and fake.max_concurrent <= 10
    # 1,474 changes in batches of 500 members: 3 /batches calls, not one request per member.
    assert fake.batches_started == 3

    writes = fake.write_requests
    code, out, _ = cli("sync", "--config", config)
    assert code == 0 and "sink mailchimp: 0 changes sent" in out
    assert fake.write_requests == writes  # a quiet run writes nothing


def test_new_orders_move_exactly_those_customers(cli: Cli, fake: FakeMailchimp, config: Path, tmp_path: Path) -> None:
    assert cli("sync", "--config", config)[0] == 0
    before = expected(tmp_path)
    movers = [key for key, (segment, _) in sorted(before.items(), key=lambda kv: int(kv[0]))
              if segment == "Potential" and int(key) <= 1200
              and fake.member(LIST, f"customer{key}@example.com")["status"] == "subscribed"][:3]
    assert len(movers) == 3
    now = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(tmp_path / "orders.csv", "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for n, key in enumerate(movers):
            writer.writerow([f"new-{n}", key, f"customer{key}@example.com", now, "2500.00", "EUR", "paid"])
    operations = fake.operations_applied
    code, out, err = cli("sync", "--config", config)
    assert code == 0, err
    assert "sink mailchimp: 3 changes sent, 3 accepted" in out
    assert fake.operations_applied - operations == 6  # one merge-field PATCH and one tag update each
    for key in movers:  # 0 days (R3), 2 orders (F2), over 1,000 spent (M3): high on all three
        member = fake.member(LIST, f"customer{key}@example.com")
        assert rfm_tags(member) == {"RFM: High Value"}
        assert member["merge_fields"]["RFM_SEG"] == "High Value"


@pytest.mark.parametrize("empty_body", [False, True], ids=["503-problem", "503-empty-body"])
def test_a_503_is_survived_without_duplicate_or_loss(cli: Cli, fake: FakeMailchimp, config: Path, tmp_path: Path,
                                                     empty_body: bool) -> None:
    fake.fail_next(503, count=1, empty_body=empty_body, kind="POST /batches")
    code, _out, err = cli("sync", "--config", config)
    assert code == 0, err
    assert fake.injected_failures == 1 and fake.batches_started == 3
    segments = expected(tmp_path)
    for key in (k for k in segments if int(k) <= 1200):
        assert rfm_tags(fake.member(LIST, f"customer{key}@example.com")) == {f"RFM: {segments[key][0]}"}
    # One merge-field PATCH and one tag update per scored customer, sent once despite the 503 (the
    # sink cannot know who is a member: non-members answer 404 and are skipped).
    assert fake.operations_by_kind["PATCH /lists/{id}/members/{hash}"] == len(segments) == 1474
    assert fake.operations_by_kind["POST /lists/{id}/members/{hash}/tags"] == 1474


def test_wrong_key_and_wrong_list_stop_the_sink_with_a_message(cli: Cli, fake: FakeMailchimp, config: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILCHIMP_KEY", "wrongkey-us21")
    code, out, _ = cli("sync", "--config", config)
    assert code == 1
    assert "sink mailchimp: " in out and "401 API Key Invalid: the API key was refused" in out
    assert "sink files: 1,474 changes sent" in out  # the other sink is not held back
    assert "wrongkey" not in out
    monkeypatch.setenv("MAILCHIMP_KEY", fake.api_key)
    config.write_text(config.read_text().replace(f'list_id = "{LIST}"', 'list_id = "nolist"'))
    code, out, _ = cli("sync", "--config", config)
    assert code == 1 and "no audience with list_id 'nolist' (404); check list_id" in out


def test_dry_run_shows_tag_and_field_changes(cli: Cli, fake: FakeMailchimp, config: Path) -> None:
    code, out, _ = cli("sync", "--config", config, "--dry-run")
    assert code == 0
    assert "tag - -> 'RFM: " in out and "merge fields RFM_SEG, RFM_CELL set" in out
    assert fake.write_requests == 0
