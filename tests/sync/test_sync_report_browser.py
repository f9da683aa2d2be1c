"""The report in a real browser: headless Chromium renders it, with no console errors, the grid and
tables visible, the numbers the data says, and a screenshot that is a picture, not a blank page.

Skipped where no Chromium is installed (`.ci/run` installs Debian's chromium package).
"""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from rfmsync.sync.report_png import chromium_args, find_chromium
from rfmsync.sync.score_cmd import demo_orders_path
from testkit import Cli, read_rows

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium); "
                                "the browser test needs headless Chromium")

# Appended to a copy of the report (the report itself has no script): measures what the browser laid
# out and writes it into the page, which --dump-dom then prints.
PROBE = """<script>
const box = s => { const e = document.querySelector(s); if (!e) return null; const r = e.getBoundingClientRect();
  const st = getComputedStyle(e); return {w: r.width, h: r.height, display: st.display, visibility: st.visibility}; };
const out = {viewport: innerWidth, pageWidth: document.documentElement.scrollWidth,
  boxes: Object.fromEntries(['table.grid', 'table.segments', 'table.quality', 'ul.legend', '#distributions svg',
                             '#movement'].map(s => [s, box(s)])),
  cells: [...document.querySelectorAll('table.grid td.cell')].map(td => [td.querySelector('.seg').innerText,
                                                                          td.querySelector('.n').innerText]),
  segments: Object.fromEntries([...document.querySelectorAll('table.segments tbody tr')].map(
    tr => [tr.dataset.segment, [...tr.cells].map(c => c.innerText.trim())]))};
const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([*chromium_args(CHROMIUM, profile), "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def console_errors(stderr: str) -> list[str]:
    """Chromium logs each console message of the page as INFO:CONSOLE; a page without scripts has none,
    so every one (a failed resource, an uncaught error, a CSP report) is an error."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height (from the IHDR chunk) and how many distinct byte values the image data holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


@pytest.fixture
def report(cli: Cli, tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "rfmsync.toml")
    (tmp_path / "sync" / "demo").mkdir(parents=True)
    shutil.copy(demo_orders_path(), tmp_path / "sync" / "demo" / "orders.csv")
    config = tmp_path / "rfmsync.toml"
    assert cli("sync", "--config", config, "--store", "demo")[0] == 0
    out = tmp_path / "report.html"
    code, _, err = cli("report", "--config", config, "--store", "demo", "--out", out)
    assert code == 0, err
    return out


def test_console_error_detection_works(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                    "<script>console.error('boom'); missingFunction()</script></body></html>")
    result = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    errors = console_errors(result.stderr)
    assert any("boom" in e for e in errors) and any("Uncaught ReferenceError" in e for e in errors)


def test_report_renders_with_grid_tables_and_the_data_numbers(report: Path, tmp_path: Path) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = _chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_errors(result.stderr) == []
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout[-2000:]
    probe = json.loads(htmllib.unescape(match.group(1)))
    for selector, box in probe["boxes"].items():
        assert box and box["w"] > 100 and box["h"] > 30, selector
        assert box["display"] != "none" and box["visibility"] == "visible", selector
    # Nothing wider than the window, also at this narrow (below the phone breakpoint) viewport.
    assert probe["pageWidth"] <= probe["viewport"]
    audiences = report.parent / "out" / "demo" / "audiences"
    counts = {}
    for path in audiences.glob("*.csv"):
        rows = read_rows(path)
        if rows:
            counts[rows[0]["segment"]] = len(rows)
    total = sum(counts.values())
    assert total == 1474
    assert len(probe["cells"]) == 25
    assert sum(int(n.replace(",", "")) for _, n in probe["cells"]) == total
    for segment, n in counts.items():
        row = probe["segments"][segment]
        assert row[1] == f"{n:,}" and row[2] == f"{100 * n / total:.1f}%", segment
    # A grid cell of a segment shows that segment's name as text, not only its colour.
    assert {seg for seg, _ in probe["cells"]} == set(counts)


def test_screenshot_is_a_real_picture(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    result = _chromium(f"--screenshot={png}", "--window-size=1200,1600", "--hide-scrollbars", report.as_uri(),
                       profile=tmp_path / "profile")
    assert result.returncode == 0 and png.is_file(), result.stderr[-2000:]
    assert console_errors(result.stderr) == []
    data = png.read_bytes()
    width, height, distinct = png_facts(data)
    assert (width, height) == (1200, 1600)
    assert len(data) > 30_000 and distinct > 50  # a blank or one-colour page compresses to almost nothing


def test_png_option_writes_each_chart(cli: Cli, report: Path) -> None:
    config = report.parent / "rfmsync.toml"
    charts = report.parent / "charts"
    code, out, err = cli("report", "--config", config, "--store", "demo", "--out", report, "--png", charts)
    assert code == 0, err
    names = sorted(p.name for p in charts.glob("*.png"))
    assert names == ["distributions.png", "grid.png", "movement.png", "quality.png", "segments.png"]
    for path in charts.glob("*.png"):
        width, height, distinct = png_facts(path.read_bytes())
        assert width == 1000 and height > 300 and distinct > 20, path.name
        assert str(path) in out


def test_score_report_with_png_draws_the_charts(cli: Cli, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    code, _out, err = cli("score", "--demo", "--out", tmp_path / "seg.csv", "--report", tmp_path / "r.html",
                         "--png", charts)
    assert code == 0, err
    # A one-off file has no movement chart.
    assert sorted(p.name for p in charts.glob("*.png")) == ["distributions.png", "grid.png", "quality.png",
                                                            "segments.png"]
    assert "id='movement'" not in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert all(png_facts(p.read_bytes())[0] == 1000 for p in charts.glob("*.png"))


# Every word of every segment name on one line box (a word broken mid-way has two client rects),
# and each table either fits or sits in a box that scrolls sideways while the page itself does not.
PHONE_PROBE = """<script>
const words = [];
const names = 'table.grid td .seg, table.segments tbody th, table.segments tbody td:first-child, ul.legend li';
for (const el of document.querySelectorAll(names)) {
  for (const node of el.childNodes) {
    if (node.nodeType !== 3) continue;
    const text = node.textContent; let at = 0;
    for (const word of text.split(/\\s+/)) {
      const start = text.indexOf(word, at); at = start + word.length;
      if (!word) continue;
      const range = document.createRange(); range.setStart(node, start); range.setEnd(node, start + word.length);
      const cell = el.closest('td,th,li').getBoundingClientRect(); const rects = [...range.getClientRects()];
      const inside = rects.every(r => r.left >= cell.left - 1 && r.right <= cell.right + 1);
      words.push({word, lines: rects.length, inside});
    }
  }
}
const tables = [...document.querySelectorAll('table')].map(t => {
  const box = t.closest('.scroll'); const style = box ? getComputedStyle(box).overflowX : null;
  return {cls: t.className, width: t.scrollWidth, fits: t.getBoundingClientRect().right <= innerWidth + 1,
          scrolls: !!box && (style === 'auto' || style === 'scroll')
                   && box.getBoundingClientRect().right <= innerWidth + 1};
});
const wide = [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll')
  && e.getBoundingClientRect().right > innerWidth + 1)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + (e.id ? '#' + e.id : ''));
parent.postMessage(JSON.stringify({viewport: innerWidth, pageWidth: document.documentElement.scrollWidth,
                                   words, tables, wide}), '*');
</script>"""
# Headless Chromium will not make its window narrower than 500 px: the report is laid out in an
# iframe of the phone's width, whose probe posts what it measured to this page for --dump-dom.
PHONE_HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:800px"></iframe>
<script>addEventListener('message', e => {{ const pre = document.createElement('pre'); pre.id = 'phone';
pre.textContent = e.data; document.body.appendChild(pre); }});</script></body></html>"""


@pytest.mark.parametrize("width", [320, 375])
def test_at_phone_width_names_keep_their_words_and_tables_scroll_in_their_box(report: Path, tmp_path: Path,
                                                                              width: int) -> None:
    probed = tmp_path / "phone-report.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", PHONE_PROBE + "</body>"),
                      encoding="utf-8")
    host = tmp_path / "phone.html"
    host.write_text(PHONE_HOST.format(src=probed.name, width=width), encoding="utf-8")
    result = _chromium("--dump-dom", "--virtual-time-budget=5000", host.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0 and console_errors(result.stderr) == [], result.stderr[-2000:]
    match = re.search(r'<pre id="phone">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout[-2000:]
    probe = json.loads(htmllib.unescape(match.group(1)))
    assert probe["viewport"] == width and probe["pageWidth"] <= width, probe["wide"]
    assert len(probe["words"]) > 40  # the grid's 25 cells, the segments table, the legend
    assert [w["word"] for w in probe["words"] if w["lines"] != 1] == []
    assert [w["word"] for w in probe["words"] if not w["inside"]] == []
    assert probe["tables"] and all(t["fits"] or t["scrolls"] for t in probe["tables"]), probe["tables"]
    assert any(not t["fits"] for t in probe["tables"])  # at 320 px something does need its scroll box
