"""`rfmsync sync` finds the installed sink through its entry point and syncs a store through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_crm import TOKEN, FakeCrm
from rfmsync.connectors.discovery import default_registry
from rfmsync.sync.cli import main

ORDERS = """order_id,customer_id,email,created_at,total
1001,c1,ada@example.com,2026-10-30,120.00
1002,c1,ada@example.com,2026-10-12,80.00
1003,c1,ada@example.com,2026-09-01,95.00
1004,c2,bo@example.com,2026-03-01,15.00
1005,c3,cy@blocked.example,2026-10-29,40.00
"""


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    with FakeCrm() as fake:
        yield fake


def test_the_entry_point_registers_the_sink() -> None:
    spec = default_registry().sinks["example_crm"]
    assert spec.config.__name__ == "ExampleCrmConfig"


def test_a_sync_through_the_plugin(crm: FakeCrm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (tmp_path / "rfmsync.toml").write_text(f"""
[stores.shop]
rfm.scheme = "quick-audience"
[[stores.shop.sources]]
type = "csv"
path = "orders.csv"
[[stores.shop.sinks]]
type = "example_crm"
base_url = "{crm.base_url}"
token = "${{EXAMPLE_CRM_TOKEN}}"
""", encoding="utf-8")
    monkeypatch.setenv("EXAMPLE_CRM_TOKEN", TOKEN)
    monkeypatch.setenv("RFMSYNC_NOW", "2026-11-01T04:00:00Z")
    assert main(["sync", "--config", str(tmp_path / "rfmsync.toml")]) == 0
    assert set(crm.contacts) == {"c1", "c2"}  # c3's email is refused by the CRM: rejected, not lost
    assert crm.contacts["c1"]["email"] == "ada@example.com" and crm.contacts["c1"]["rfm_segment"]
    sent = crm.received
    assert main(["sync", "--config", str(tmp_path / "rfmsync.toml")]) == 0
    assert crm.received == sent + 1  # nothing changed: only c3, refused once more, is offered again
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "ada@example.com" not in out.out + out.err
