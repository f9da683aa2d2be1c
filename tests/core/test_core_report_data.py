"""The report's numbers (core/report_data.py) on small customer bases worked out by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.report_data import GONE, NEW, DataQuality, PreviousRun, build_report, movement
from rfmsync.core.rfm import RfmSettings, ScoredCustomers, score
from rfmsync.core.schemes import BUILTIN_SCHEMES
from rfmsync.core.segment_notes import GENERIC, NOTES

AS_OF = date(2026, 11, 1)


def _metrics(rows: list[tuple[str, int, float, float]]) -> CustomerMetrics:
    return CustomerMetrics(
        customer_ids=[r[0] for r in rows],
        customer_index=np.arange(len(rows), dtype=np.int64),
        recency_days=np.asarray([r[1] for r in rows], dtype=np.int64),
        frequency=np.asarray([r[2] for r in rows], dtype=np.float64),
        monetary=np.asarray([r[3] for r in rows], dtype=np.float64),
    )


# Classic with the spreadsheet ranges (R and F bands, M quintiles), worked out by hand:
#   id  days orders spend   R  F  M(rank of 5)  FM=(F+M+1)//2  segment
#   a   10   10     500     5  5  5             5              Champions
#   b   10   1      20      5  1  2             2              Potential Loyalists
#   c   400  1      10      1  1  1             1              Lost
#   d   200  5      300     2  4  4             4              At Risk
#   e   10   1      50      5  1  3             2              Potential Loyalists
ROWS = [("a", 10, 10, 500.0), ("b", 10, 1, 20.0), ("c", 400, 1, 10.0), ("d", 200, 5, 300.0), ("e", 10, 1, 50.0)]


@pytest.fixture
def scored() -> ScoredCustomers:
    s = score(_metrics(ROWS), RfmSettings(scheme="classic", method="ranges"))
    assert s.segment_labels() == ["Champions", "Potential Loyalists", "Lost", "At Risk", "Potential Loyalists"]
    return s


def test_grid_cells_count_share_and_average_spend(scored: ScoredCustomers) -> None:
    report = build_report(scored, AS_OF, currency="EUR")
    assert report.grid == "r_fm" and len(report.cells) == 25
    cells = {(c.r, c.x): c for c in report.cells}
    assert [(c.r, c.x) for c in report.cells[:6]] == [(5, 1), (5, 2), (5, 3), (5, 4), (5, 5), (4, 1)]
    assert cells[(5, 2)].customers == 2 and cells[(5, 2)].share == pytest.approx(0.4)
    assert cells[(5, 2)].average_spend == pytest.approx(35.0)  # (20 + 50) / 2
    assert cells[(5, 2)].segment == "Potential Loyalists"
    assert (cells[(5, 5)].customers, cells[(5, 5)].average_spend) == (1, 500.0)
    assert (cells[(2, 4)].customers, cells[(2, 4)].segment) == (1, "At Risk")
    assert (cells[(1, 1)].customers, cells[(1, 1)].segment) == (1, "Lost")
    assert cells[(3, 3)].customers == 0 and cells[(3, 3)].average_spend is None
    assert cells[(3, 3)].segment == "Need Attention"
    assert sum(c.customers for c in report.cells) == 5
    # The classic grid labels every cell as docs/scoring.md's table does.
    assert cells[(1, 5)].segment == "Can't Lose Them" and cells[(4, 1)].segment == "Promising"


def test_segment_table_revenue_and_shares(scored: ScoredCustomers) -> None:
    report = build_report(scored, AS_OF)
    assert report.customers == 5 and report.revenue == pytest.approx(880.0)
    rows = {r.name: r for r in report.segments}
    assert [r.name for r in report.segments] == list(scored.segment_names)  # all 11, in scheme order
    pl = rows["Potential Loyalists"]
    assert (pl.customers, pl.share, pl.revenue) == (2, 0.4, 70.0)
    assert pl.revenue_share == pytest.approx(70 / 880)
    assert (pl.average_recency, pl.average_frequency, pl.average_spend) == (10.0, 1.0, 35.0)
    assert rows["Champions"].revenue_share == pytest.approx(500 / 880)
    assert rows["Hibernating"].customers == 0 and rows["Hibernating"].average_spend is None
    assert rows["At Risk"].meaning == NOTES["classic"]["At Risk"].meaning
    assert sum(r.revenue_share for r in report.segments) == pytest.approx(1.0)


def test_score_and_band_distributions(scored: ScoredCustomers) -> None:
    from rfmsync.core.rfm import RfmSettings as S
    bands = S(scheme="classic", method="ranges").bands_for(5)
    report = build_report(scored, AS_OF, bands=bands)
    r, f, m = report.distributions
    assert r.by_score == (1, 1, 0, 0, 3) and f.by_score == (3, 0, 0, 1, 1) and m.by_score == (1, 1, 1, 1, 1)
    assert [(b.label, b.score, b.customers) for b in r.bands] == [
        ("0-30 days", 5, 3), ("31-90 days", 4, 0), ("91-180 days", 3, 0), ("181-365 days", 2, 1),
        ("366+ days", 1, 1)]
    assert [(b.label, b.customers) for b in f.bands] == [
        ("1 orders", 3), ("2 orders", 0), ("3-4 orders", 0), ("5-9 orders", 1), ("10+ orders", 1)]
    assert m.bands == ()  # the spreadsheet set scores M by quintiles


def test_movement_matrix_and_flow_sentences(scored: ScoredCustomers) -> None:
    # Before: a Loyal, b and e New Customers, c Lost, x Hibernating (not scored now); d is new.
    previous = PreviousRun(["a", "b", "c", "x", "e"], ["Loyal Customers", "New Customers", "Lost",
                                                       "Hibernating", "New Customers"], date(2026, 10, 1), 7)
    mv = movement(scored, previous)
    assert (mv.stayed, mv.moved, mv.new, mv.gone) == (1, 3, 1, 1)
    assert mv.rows[-1] == NEW and mv.columns[-1] == GONE and len(mv.rows) == 12

    def cell(a: str, b: str) -> int:
        return mv.matrix[mv.rows.index(a)][mv.columns.index(b)]
    assert cell("New Customers", "Potential Loyalists") == 2
    assert cell("Loyal Customers", "Champions") == 1
    assert cell("Lost", "Lost") == 1
    assert cell(NEW, "At Risk") == 1 and cell("Hibernating", GONE) == 1
    assert sum(map(sum, mv.matrix)) == 6
    assert [f.sentence() for f in mv.top_flows] == [
        "2 New Customers became Potential Loyalists", "1 Loyal Customers became Champions",
        "1 Hibernating are no longer scored", "1 new customers joined At Risk"]
    report = build_report(scored, AS_OF, previous=previous)
    assert report.movement == mv


def test_quick_audience_grid_is_3_by_3_and_quality_passes_through() -> None:
    rows = [("a", 5, 6, 2000.0), ("b", 100, 1, 50.0), ("c", 40, 3, 500.0)]
    s = score(_metrics(rows), RfmSettings(scheme="quick-audience"))
    quality = DataQuality(orders_read=12, orders_counted=10, rejected={"bad date": 2}, customers_without_email=1)
    report = build_report(s, AS_OF, bands=RfmSettings(scheme="quick-audience").bands_for(3), quality=quality)
    assert report.grid == "r_f" and len(report.cells) == 9
    assert [c.customers for c in report.cells] == [0, 0, 1, 0, 1, 0, 1, 0, 0]  # R3F3 a, R2F2 c, R1F1 b
    assert report.quality.rejected == {"bad date": 2}
    m = report.distributions[2]
    assert [(b.label, b.customers) for b in m.bands] == [
        ("0 to under 100", 1), ("100 to under 1000", 1), ("1000 and over", 1)]


def test_every_builtin_segment_has_a_note_and_custom_ones_a_generic_line() -> None:
    for name, scheme in BUILTIN_SCHEMES.items():
        assert set(NOTES[name]) == set(scheme.segment_names)
    from rfmsync.core.segment_notes import note_for
    assert note_for("custom", "VIP") == GENERIC


def test_custom_scheme_cells_and_customers_no_rule_reaches() -> None:
    from rfmsync.core.custom import scheme_from_toml
    scheme = scheme_from_toml({"name": "mine", "rules": [{"name": "Best", "r": [4, 5], "fm": [4, 5]},
                                                         {"name": "Recent", "r": [4, 5]}]})
    s = score(_metrics(ROWS), RfmSettings(scheme=scheme, method="ranges"))
    report = build_report(s, AS_OF)
    rows = {r.name: r for r in report.segments}
    # a R5 FM5 -> Best; b, e R5 -> Recent; c (R1) and d (R2) match no rule.
    assert (rows["Best"].customers, rows["Recent"].customers, rows["(no segment)"].customers) == (1, 2, 2)
    assert rows["Best"].meaning == GENERIC.meaning
    cells = {(c.r, c.x): c for c in report.cells}
    assert cells[(5, 5)].segment == "Best" and cells[(1, 1)].segment == ""
