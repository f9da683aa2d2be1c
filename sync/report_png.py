"""The report's charts as PNG files, drawn by headless Chromium from the same HTML as the report.

No new dependency: each chart section is written as a small page of its own and screenshotted.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from rfmsync.core.errors import InputError
from rfmsync.core.report_data import ReportData
from rfmsync.sync.report_html import header, page, sections

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
WIDTH = 1000
TIMEOUT_SECONDS = 60


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(chromium: str, profile: Path) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}"]


def screenshot(html: Path, png: Path, width: int, height: int, chromium: str | None = None) -> None:
    browser = chromium or find_chromium()
    if browser is None:
        raise InputError("--png needs Chromium to draw the charts (install the chromium package)")
    with tempfile.TemporaryDirectory(prefix="rfmsync-chromium-") as profile:
        cmd = [*chromium_args(browser, Path(profile)), f"--screenshot={png}", f"--window-size={width},{height}",
               html.resolve().as_uri()]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    if result.returncode != 0 or not png.is_file():
        raise InputError(f"Chromium could not draw {png.name} (exit {result.returncode})")


def _height(report: ReportData, name: str) -> int:
    """Chromium screenshots the window, so each chart gets a window tall enough for its content."""
    n_segments = len(report.segments)
    if name == "header":
        return 200
    if name == "grid":
        return 260 + 82 * report.levels + 30 * (1 + n_segments // 6)
    if name == "segments":
        return 160 + 30 * n_segments + 80 * (n_segments + 1)
    if name == "distributions":
        bands = max((len(d.bands) for d in report.distributions), default=0)
        return 480 + (30 * (bands + 1) if bands else 0)
    if name == "movement":
        rows = len(report.movement.rows) if report.movement else 0
        return 360 + 32 * rows
    return 380


def write_pngs(report: ReportData, directory: Path) -> list[Path]:
    """One PNG per chart section (grid, segments, distributions, movement, quality)."""
    directory.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    written = []
    with tempfile.TemporaryDirectory(prefix="rfmsync-report-") as tmp:
        for name, html in sections(report).items():
            source = Path(tmp) / f"{name}.html"
            source.write_text(page(f"{report.title}: {name}", html), encoding="utf-8")
            target = directory / f"{name}.png"
            screenshot(source, target, WIDTH, _height(report, name), chromium)
            written.append(target)
    return written


def full_page(report: ReportData, html: Path, png: Path, width: int = 1200, height: int | None = None) -> None:
    """A screenshot of the whole report (for the README); the height is estimated from the content."""
    if height is None:
        height = _height(report, "header") + sum(_height(report, n) for n in sections(report))
    screenshot(html, png, width, height)


__all__ = ["find_chromium", "full_page", "header", "screenshot", "write_pngs"]
