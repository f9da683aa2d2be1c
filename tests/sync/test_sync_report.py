"""`rfmsync report` and `rfmsync score --report` on a copy of config.example.toml and the demo orders."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from rfmsync.core.clock import utc_now
from rfmsync.sync import report_cmd
from rfmsync.sync.report_html import money
from testkit import Cli, read_rows

ROOT = Path(__file__).resolve().parents[2]
MOVERS = 10


def _body(html: str) -> str:
    """The page without its style sheet (whose @media rules hold the only "@")."""
    return html.split("</style>", 1)[1]


def _segment_row(html: str, name: str) -> list[str]:
    match = re.search(rf"<tr data-segment='{re.escape(name)}'>(.*?)</tr>", html)
    assert match, name
    return re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))


def _moved_lost_customers(workdir: Path) -> list[str]:
    """Gives ten Lost customers twelve big orders two hours ago: they become Champions."""
    lost = [r["customer_key"] for r in read_rows(workdir / "out" / "demo" / "audiences" / "lost.csv")][:MOVERS]
    when = (utc_now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(workdir / "sync" / "demo" / "orders.csv", "a", encoding="utf-8") as handle:
        for i, key in enumerate(lost):
            for j in range(12):
                handle.write(f"{900000 + 100 * i + j},{key},customer{key}@example.com,{when},500.00,EUR,paid\n")
    return lost


def test_report_after_two_syncs_shows_grid_segments_and_movement(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    out = workdir / "report.html"
    code, text, err = cli("report", "--config", config, "--store", "demo", "--out", out)
    assert code == 0, err
    assert "no previous run" in text
    first = out.read_text(encoding="utf-8")
    assert "No previous run to compare with" in first
    _moved_lost_customers(workdir)
    code, text, _ = cli("sync", "--config", config, "--store", "demo")
    assert code == 0 and "120 orders pulled" in text

    code, text, err = cli("report", "--config", config, "--store", "demo", "--out", out)
    assert code == 0, err
    assert "wrote" in text and "movement since" in text
    html = out.read_text(encoding="utf-8")
    assert "@" not in _body(html) and "<script" not in html.lower() and "http" not in html
    audiences = workdir / "out" / "demo" / "audiences"
    champions = read_rows(audiences / "champions.csv")
    total = sum(len(read_rows(p)) for p in audiences.glob("*.csv"))
    assert total == 1474
    row = _segment_row(html, "Champions")
    assert row[1] == f"{len(champions):,}" and row[2] == f"{100 * len(champions) / total:.1f}%"
    assert row[3].startswith("€") and row[3] == money(float(row[3][1:].replace(",", "")), "EUR")
    # The 25 grid cells add up to every scored customer.
    cells = [int(n) for n in re.findall(r"data-customers='(\d+)'", html)]
    assert len(cells) == 25 and sum(cells) == total
    # Movement: the ten Lost customers who just bought a lot are Champions now.
    assert f"{MOVERS} Lost became Champions" in html
    assert "Orders read</td><td>6,120</td>" in html
    assert "Customers without an email</td><td>0</td>" in html


def test_report_on_a_custom_scheme_store_and_unknown_store(cli: Cli, workdir: Path) -> None:
    config = workdir / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "gift-shop")[0] == 0
    out = workdir / "gift.html"
    code, _, err = cli("report", "--config", config, "--store", "gift-shop", "--out", out)
    assert code == 0, err
    html = out.read_text(encoding="utf-8")
    assert "A segment defined in this store&#x27;s configuration." in html
    code, _, err = cli("report", "--config", config, "--store", "nope", "--out", out)
    assert code == 2 and "no store named 'nope'" in err


def test_score_report_option_writes_the_same_report_for_a_file(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "segments.csv"
    report = tmp_path / "one-off.html"
    code, text, err = cli("score", "--demo", "--out", out, "--report", report)
    assert code == 0, err
    html = report.read_text(encoding="utf-8")
    rows = read_rows(out)
    lost = sum(1 for r in rows if r["segment"] == "Lost")
    assert _segment_row(html, "Lost")[1] == f"{lost:,}"
    # A one-off file has no previous run: no movement section, not even a placeholder.
    assert "@" not in _body(html) and "id='movement'" not in html and "No previous run" not in html
    # Rows and orders counted apart: the demo file has one row per order.
    assert "Rows read</td><td>6,000</td>" in html and "Orders read</td><td>6,000</td>" in html
    assert f"wrote {report}" in text


def test_png_without_chromium_exits_2_before_writing(cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.setattr("rfmsync.sync.report_png.find_chromium", lambda: None)
    config = workdir / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    code, _, err = cli("report", "--config", config, "--store", "demo", "--out", workdir / "r.html",
                       "--png", workdir / "png")
    assert code == 2 and "--png needs Chromium" in err
    assert not (workdir / "r.html").exists()


def test_reject_reasons_lose_quoted_values() -> None:
    assert report_cmd.safe_reason("email: not an address 'bob@example.com'") == "email: not an address …"
    assert report_cmd.safe_reason("bad value x@y.z here") == "bad value … here"


def test_every_string_is_escaped() -> None:
    import numpy as np
    from rfmsync.core.aggregate import CustomerMetrics
    from rfmsync.core.custom import scheme_from_toml
    from rfmsync.core.report_data import build_report
    from rfmsync.core.rfm import RfmSettings, score
    from rfmsync.sync.report_html import render
    evil = "<script>alert('x')</script>"
    scheme = scheme_from_toml({"name": evil, "rules": [{"name": evil}]})
    metrics = CustomerMetrics(["a", "b"], np.arange(2), np.asarray([1, 50]), np.asarray([1.0, 3.0]),
                              np.asarray([10.0, 99.5]))
    html = render(build_report(score(metrics, RfmSettings(scheme=scheme)), date(2026, 11, 1), title=evil,
                               currency="CHF"))
    assert "<script" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "CHF 109.50" in html  # revenue, for a currency without a symbol here


def test_money_formats() -> None:
    assert money(1234.5, "EUR") == "€1,234.50" and money(1234.5, "JPY") == "¥1,234"
    assert money(-3, "SEK") == "-SEK 3.00" and money(None, "EUR") == "–" and money(7, None) == "7.00"
