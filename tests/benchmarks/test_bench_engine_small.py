"""The engine benchmark's checks at a tiny size: rfmsync and the pandas reference must agree.

Runs in a few seconds; the full-size benchmark is `python benchmarks/engine.py`.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas", reason="pandas is the benchmark's reference; install rfmsync[bench] to run this")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the benchmark scripts import each other as top-level modules

import datagen  # noqa: E402
import engine  # noqa: E402
import engine_steps  # noqa: E402
import pandas_reference  # noqa: E402
from rfmsync.core.aggregate import aggregate  # noqa: E402
from rfmsync.core.rfm import score  # noqa: E402
from rfmsync.sync.cli import main as rfmsync_main  # noqa: E402

AS_OF = date(2026, 11, 1)
ORDERS, CUSTOMERS = 20_000, 3_000


@pytest.fixture(scope="module")
def orders() -> datagen.Orders:
    return datagen.generate(ORDERS, CUSTOMERS)


@pytest.mark.parametrize("window_days", [None, 90])
def test_in_memory_rfmsync_and_pandas_agree(orders: datagen.Orders, window_days: int | None) -> None:
    metrics, _ = aggregate(engine_steps.build_batch(orders), AS_OF, engine_steps.UTC, window_days)
    scored = score(metrics, engine_steps.CLASSIC)
    reference = pandas_reference.rfm_segments(engine_steps.build_frame(orders), AS_OF, window_days=window_days)
    assert len(scored) > 1000
    assert engine_steps.compare_in_memory(scored, reference) == []
    # Every classic segment is reached, so the grid is really being compared.
    assert set(reference["segment"]) == set(scored.segment_names)


def test_in_memory_comparison_reports_a_difference(orders: datagen.Orders) -> None:
    scored = engine_steps.run_rfmsync(engine_steps.build_batch(orders), AS_OF)
    reference = engine_steps.run_pandas(engine_steps.build_frame(orders), AS_OF)
    reference.iloc[5, reference.columns.get_loc("segment")] = "Nobody"
    reference.iloc[7, reference.columns.get_loc("m_score")] += 1
    problems = engine_steps.compare_in_memory(scored, reference)
    assert [p.split(":")[0] for p in problems] == ["m_score", "segment"]


def test_fast_csv_writer_matches_the_row_writer(orders: datagen.Orders, tmp_path: Path) -> None:
    sample = datagen.by_created(datagen.take(orders, slice(0, 3001)))
    datagen.write_csv(sample, tmp_path / "fast.csv")
    datagen.write_csv_rows(sample, tmp_path / "rows.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()


def test_csv_outputs_agree(orders: datagen.Orders, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "orders.csv"
    datagen.write_csv(datagen.by_created(orders), path)
    ours, theirs = tmp_path / "rfmsync.csv", tmp_path / "pandas.csv"
    assert rfmsync_main(["score", str(path), "--as-of", AS_OF.isoformat(), "--timezone", "UTC",
                         "--out", str(ours)]) == 0
    assert pandas_reference.main([str(path), "--as-of", AS_OF.isoformat(), "--out", str(theirs)]) == 0
    capsys.readouterr()
    assert engine_steps.compare_csv_outputs(ours, theirs) == []
    # A changed score is caught.
    lines = theirs.read_text().splitlines()
    fields = lines[1].split(",")
    fields[4] = str(int(fields[4]) % 5 + 1)  # r_score
    theirs.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    assert [p.split(":")[0] for p in engine_steps.compare_csv_outputs(ours, theirs)] == ["r_score"]


def test_benchmark_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = engine.main(["--orders", "5000", "--customers", "800", "--csv-rows", "2000", "--repeat", "1",
                        "--csv-repeat", "1", "--no-memory", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "(a) >= 2x faster than (b)" in out and "(c) rfmsync score no slower than pandas" in out
    assert np.isfinite(float(out.split("(b) pandas, same rules")[1].split()[0]))
