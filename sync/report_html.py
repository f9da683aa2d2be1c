"""`rfmsync report` as one self-contained HTML page: inline CSS and inline SVG, no scripts, no fonts.

Every string that comes from data or config goes through html.escape. The page holds aggregates
only: no customer id, email or phone.
"""

from __future__ import annotations

from html import escape

from rfmsync.core.report_data import GONE, NEW, Distribution, GridCell, Movement, ReportData, SegmentRow

# Paul Tol's colour-blind-safe "muted" scheme, plus two of his "light" colours for schemes with
# more than nine segments. Cells also carry their segment's name, so colour is never the only cue.
PALETTE = ("#117733", "#44AA99", "#88CCEE", "#332288", "#AA4499", "#DDCC77", "#EE8866", "#CC6677",
           "#882255", "#999933", "#BBBBBB", "#77AADD", "#FFAABB")
NO_SEGMENT_COLOUR = "#FFFFFF"
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$",
           "AUD": "A$", "CAD": "CA$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$", "ILS": "₪",
           "PLN": "zł ", "TRY": "₺"}
NO_DECIMALS = {"JPY", "KRW", "ISK", "CLP", "VND", "HUF"}
METRIC_TITLES = {"r": "Recency", "f": "Frequency", "m": "Monetary"}


def money(value: float | None, currency: str | None) -> str:
    """"€1,234.50"; "CHF 1,234.50" for codes without a common symbol; no code: "1,234.50"."""
    if value is None:
        return "–"
    digits = 0 if currency in NO_DECIMALS else 2
    number = f"{abs(value):,.{digits}f}"
    sign = "-" if value < 0 else ""
    if currency is None:
        return sign + number
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency} {number}"


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def colours(report: ReportData) -> dict[str, str]:
    result = {row.name: PALETTE[i % len(PALETTE)] for i, row in enumerate(report.segments)
              if not row.name.startswith("(")}
    result["(no segment)"] = result[""] = NO_SEGMENT_COLOUR
    return result


def text_colour(background: str) -> str:
    r, g, b = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "#000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "#fff"


CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa;line-height:1.4;-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1180px;margin:0 auto;padding:16px}
h1{font-size:1.6rem;margin:.2em 0}h2{font-size:1.2rem;margin:0 0 .6em}
.meta{color:#555;margin:0 0 12px}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px;margin:0 0 16px;break-inside:avoid}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{flex:1 1 140px;background:#fff;border:1px solid #ddd;
border-radius:8px;padding:10px 14px}.kpi b{display:block;font-size:1.4rem}
.cols{display:flex;flex-wrap:wrap;gap:16px}.cols>*{flex:1 1 260px;min-width:0}
#distributions svg{max-height:240px}table.quality{max-width:640px}table.quality td:first-child{white-space:normal}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:4px 6px;border-bottom:1px solid #eee;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.text,th.text{text-align:left}
td{white-space:nowrap}td.text{white-space:normal;min-width:14em}
svg.bars{max-width:620px;display:block}
.scroll{overflow-x:auto}
.grid{table-layout:fixed;border-collapse:separate;border-spacing:3px}
.grid td{border:0;border-radius:4px;text-align:center;padding:6px 2px;font-size:.8rem;height:76px;
white-space:normal;overflow:hidden}
.grid td .seg{display:block;font-weight:600;font-size:.72rem;overflow-wrap:normal;word-break:keep-all;
hyphens:manual}
.grid td .n{display:block;font-size:1rem;font-weight:700}
.grid td.empty{opacity:.45}
.grid th{border:0;text-align:center;font-weight:600;color:#555}
.axis{color:#555;font-size:.85rem}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;margin:10px 0 0;padding:0;list-style:none;font-size:.85rem}
.sw{display:inline-block;width:14px;height:14px;border:1px solid #888;border-radius:3px;vertical-align:-2px;
margin-right:4px}
.note{color:#555;font-size:.85rem}
.flows li{margin:.2em 0}
.matrix td.hot{font-weight:700}
svg text{font-family:inherit}
@media (max-width:640px){main{padding:8px}section{padding:10px}.grid td{height:60px;font-size:.7rem}
.grid td .seg{font-size:.6rem}.grid td .avg{display:none}.grid{min-width:600px}h1{font-size:1.3rem}
.hide-sm{display:none}}
@media print{body{background:#fff}main{max-width:none;padding:0}section{border:0;padding:0 0 12px}
.scroll{overflow:visible}}
"""


def _grid(report: ReportData, palette: dict[str, str]) -> str:
    axis = "FM score (mean of frequency and monetary)" if report.grid == "r_fm" else "F score (frequency)"
    short = "FM" if report.grid == "r_fm" else "F"
    rows = []
    for r in range(report.levels, 0, -1):
        cells = [c for c in report.cells if c.r == r]
        rows.append(f"<tr><th scope='row'>R{r}</th>" + "".join(_cell(c, report, palette) for c in cells) + "</tr>")
    head = "".join(f"<th scope='col'>{short}{x}</th>" for x in range(1, report.levels + 1))
    mixed = any(len(c.segments) > 1 for c in report.cells)
    legend = "".join(f"<li><span class='sw' style='background:{palette[s.name]}'></span>{escape(s.name)}</li>"
                     for s in report.segments)
    note = ("<p class='note'>Some cells hold more than one segment (the scheme also looks at the third "
            "score); a cell is coloured and named by the segment most of its score combinations belong to.</p>"
            if mixed else "")
    return (f"<section id='grid'><h2>R &times; {short} grid: customers by segment</h2>"
            f"<p class='note'>Rows: R score (recency, {report.levels} = most recent). Columns: {escape(axis)}. "
            f"Each cell: segment, customers, share of customers and average spend. Scheme "
            f"<b>{escape(report.scheme)}</b>, defined on this grid.</p>"
            f"<div class='scroll'><table class='grid' aria-label='R by {short} grid'><thead><tr><th></th>{head}"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
            f"<ul class='legend' aria-label='legend'>{legend}</ul>{note}</section>")


def _cell(c: GridCell, report: ReportData, palette: dict[str, str]) -> str:
    bg = palette.get(c.segment, NO_SEGMENT_COLOUR)
    label = escape(c.segment or "(no segment)")
    title = escape(f"R{c.r} x {c.x}: {c.segment or '(no segment)'}, {c.customers:,} customers")
    return (f"<td class='cell{' empty' if not c.customers else ''}' style='background:{bg};color:{text_colour(bg)}'"
            f" title='{title}' data-r='{c.r}' data-x='{c.x}' data-customers='{c.customers}'>"
            f"<span class='seg'>{label}</span><span class='n'>{c.customers:,}</span>"
            f"<span class='share'>{pct(c.share)}</span> <span class='avg'>{money(c.average_spend, report.currency)}"
            f"</span></td>")


def _bars(items: list[tuple[str, float, float, str]], width: int = 460) -> str:
    """Horizontal paired bars (share of customers, share of revenue) per label, as inline SVG."""
    row_h, label_w = 34, 150
    bar_w = width - label_w - 60
    parts = [f"<svg class='bars' viewBox='0 0 {width} {row_h * len(items) + 24}' width='100%' role='img' "
             "aria-label='share of customers and of revenue per segment'>",
             f"<text x='{label_w}' y='12' font-size='11' fill='#333'>&#9632; customers</text>",
             f"<text x='{label_w + 90}' y='12' font-size='11' fill='#333'>&#9633; revenue</text>"]
    for i, (label, a, b, colour) in enumerate(items):
        y = 20 + i * row_h
        parts.append(f"<text x='{label_w - 6}' y='{y + 17}' font-size='12' text-anchor='end'>{escape(label)}</text>")
        parts.append(f"<rect x='{label_w}' y='{y + 3}' width='{bar_w * a:.1f}' height='12' fill='{colour}' "
                     "stroke='#444' stroke-width='.5'/>")
        parts.append(f"<rect x='{label_w}' y='{y + 17}' width='{bar_w * b:.1f}' height='12' fill='#fff' "
                     f"stroke='{colour}' stroke-width='2'/>")
        parts.append(f"<text x='{label_w + bar_w * a + 4:.1f}' y='{y + 13}' font-size='10'>{pct(a)}</text>")
        parts.append(f"<text x='{label_w + bar_w * b + 4:.1f}' y='{y + 27}' font-size='10'>{pct(b)}</text>")
    return "".join(parts) + "</svg>"


def _segments(report: ReportData, palette: dict[str, str]) -> str:
    cur = report.currency
    head = ("<tr><th>Segment</th><th>Customers</th><th>Share</th><th>Revenue</th><th>Revenue share</th>"
            "<th>Avg days since order</th><th>Avg orders</th><th>Avg spend</th>"
            "<th class='text hide-sm'>What it means</th><th class='text hide-sm'>Suggested action</th></tr>")
    body = "".join(_segment_row(s, cur, palette) for s in report.segments)
    bars = _bars([(s.name, s.share, s.revenue_share, palette[s.name]) for s in report.segments])
    return (f"<section id='segments'><h2>Segments: how big and how valuable</h2><div class='cols'>"
            f"<div>{bars}</div></div><div class='scroll'><table class='segments'><thead>{head}</thead>"
            f"<tbody>{body}</tbody></table></div></section>")


def _segment_row(s: SegmentRow, currency: str | None, palette: dict[str, str]) -> str:
    return (f"<tr data-segment='{escape(s.name)}'><td><span class='sw' style='background:{palette[s.name]}'></span>"
            f"{escape(s.name)}</td><td>{s.customers:,}</td><td>{pct(s.share)}</td><td>{money(s.revenue, currency)}"
            f"</td><td>{pct(s.revenue_share)}</td><td>{num(s.average_recency)}</td><td>{num(s.average_frequency)}"
            f"</td><td>{money(s.average_spend, currency)}</td><td class='text hide-sm'>{escape(s.meaning)}</td>"
            f"<td class='text hide-sm'>{escape(s.action)}</td></tr>")


def _columns_svg(title: str, labels: list[str], values: list[int], width: int = 340) -> str:
    height, top, bottom = 170, 18, 36
    most = max([*values, 1])
    slot = (width - 20) / max(len(values), 1)
    parts = [f"<svg viewBox='0 0 {width} {height}' width='100%' role='img' aria-label='{escape(title)}'>"]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = (height - top - bottom) * v / most
        x = 10 + i * slot
        parts.append(f"<rect x='{x + 4:.1f}' y='{height - bottom - h:.1f}' width='{slot - 8:.1f}' height='{h:.1f}' "
                     "fill='#4477AA'/>")
        parts.append(f"<text x='{x + slot / 2:.1f}' y='{height - bottom - h - 4:.1f}' font-size='11' "
                     f"text-anchor='middle'>{v:,}</text>")
        parts.append(f"<text x='{x + slot / 2:.1f}' y='{height - bottom + 14}' font-size='10' "
                     f"text-anchor='middle'>{escape(label)}</text>")
    return "".join(parts) + "</svg>"


def _distribution(d: Distribution, report: ReportData) -> str:
    title = METRIC_TITLES[d.metric]
    chart = _columns_svg(f"{title}: customers per score", [f"{title[0]}{i}" for i in range(1, len(d.by_score) + 1)],
                         list(d.by_score))
    bands = ""
    if d.bands:
        rows = "".join(f"<tr><td>{escape(_band_label(b.label, report.currency, d.metric))}</td><td>{b.score}</td>"
                       f"<td>{b.customers:,}</td><td>{pct(b.customers / report.customers if report.customers else 0)}"
                       "</td></tr>" for b in d.bands)
        bands = (f"<table class='bands'><thead><tr><th>Configured band</th><th>Score</th><th>Customers</th>"
                 f"<th>Share</th></tr></thead><tbody>{rows}</tbody></table>")
    return f"<div><h3>{title}</h3>{chart}{bands}</div>"


def _band_label(label: str, currency: str | None, metric: str) -> str:
    return f"{label} ({currency})" if metric == "m" and currency else label


def _distributions(report: ReportData) -> str:
    how = ("fixed ranges: the tables show how many customers fall in each configured band, to help tune them"
           if report.method == "ranges" else "quantiles: equal values always share a score")
    return (f"<section id='distributions'><h2>Score distributions</h2><p class='note'>Scored by {escape(how)}."
            f"</p><div class='cols'>{''.join(_distribution(d, report) for d in report.distributions)}</div></section>")


def _movement(m: Movement | None) -> str:
    if m is None:
        return ("<section id='movement'><h2>Movement since the previous run</h2>"
                "<p>No previous run to compare with: movement appears after the next run.</p></section>")
    since = f" (as of {m.previous_as_of.isoformat()})" if m.previous_as_of else ""
    flows = "".join(f"<li>{escape(f.sentence())}</li>" for f in m.top_flows) or "<li>Nobody moved.</li>"
    keep_rows = [i for i, row in enumerate(m.matrix) if any(row)]
    keep_cols = [j for j in range(len(m.columns)) if any(m.matrix[i][j] for i in range(len(m.rows)))]
    head = "".join(f"<th scope='col'>{escape(m.columns[j])}</th>" for j in keep_cols)
    body = []
    for i in keep_rows:
        tds = "".join(f"<td class='{'hot' if m.rows[i] != m.columns[j] and m.matrix[i][j] else ''}'>"
                      f"{m.matrix[i][j]:,}</td>" if m.matrix[i][j] else "<td>·</td>" for j in keep_cols)
        body.append(f"<tr><th scope='row' class='text'>{escape(m.rows[i])}</th>{tds}</tr>")
    return (f"<section id='movement'><h2>Movement since the previous run{escape(since)}</h2>"
            f"<p>{m.stayed:,} customers stayed in their segment, {m.moved:,} moved, {m.new:,} are new and "
            f"{m.gone:,} are no longer scored.</p><h3>Biggest flows</h3><ul class='flows'>{flows}</ul>"
            f"<div class='scroll'><table class='matrix'><caption class='note'>Rows: segment before "
            f"({escape(NEW)}: not scored before). Columns: segment now ({escape(GONE)}: no order left in the "
            f"window).</caption><thead><tr><th>from \\ to</th>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div></section>")


def _quality(report: ReportData) -> str:
    q = report.quality
    items = []
    if q.rows_read is not None:
        items.append(("Rows read", f"{q.rows_read:,}"))
    if q.orders_read is not None:
        items.append(("Orders read", f"{q.orders_read:,}"))
    if q.orders_counted is not None:
        items.append(("Orders counted", f"{q.orders_counted:,}"))
    items += [(f"Not counted: {reason}", f"{n:,}") for reason, n in q.not_counted.items()]
    items += [(f"Rejected: {reason}", f"{n:,}") for reason, n in q.rejected.items()]
    if not q.rejected:
        items.append(("Rejected records", "0"))
    if q.orders_without_customer is not None:
        items.append(("Orders without a customer (kept, not scored)", f"{q.orders_without_customer:,}"))
    if q.customers_without_email is not None:
        items.append(("Customers without an email", f"{q.customers_without_email:,}"))
    if q.customers_in_several_sources:
        items.append(("Customers seen in more than one source", f"{q.customers_in_several_sources:,}"))
    if q.orders_filtered_out:
        items.append(("Orders outside the store's channels and categories", f"{q.orders_filtered_out:,}"))
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in items)
    # Labels wrap between words so the table fits a phone; the scroll box is for anything longer.
    return (f"<section id='quality'><h2>Data quality</h2><div class='scroll'><table class='quality'><tbody>{rows}"
            "</tbody></table></div></section>")


def header(report: ReportData) -> str:
    kpis = [("Customers scored", f"{report.customers:,}"), ("Revenue", money(report.revenue, report.currency)),
            ("Segments in use", str(sum(1 for s in report.segments if s.customers)))]
    boxes = "".join(f"<div class='kpi'>{escape(k)}<b>{v}</b></div>" for k, v in kpis)
    return (f"<header><h1>{escape(report.title)}</h1><p class='meta'>As of {report.as_of.isoformat()}; scheme "
            f"{escape(report.scheme)}, {report.levels} levels, {escape(report.method)}"
            f"{'; amounts in ' + escape(report.currency) if report.currency else ''}.</p>"
            f"<div class='kpis'>{boxes}</div></header>")


SECTIONS = ("grid", "segments", "distributions", "movement", "quality")


def sections(report: ReportData) -> dict[str, str]:
    palette = colours(report)
    parts = {"grid": _grid(report, palette), "segments": _segments(report, palette),
             "distributions": _distributions(report), "movement": _movement(report.movement),
             "quality": _quality(report)}
    if not report.compares_runs:  # a one-off file has no previous run: no movement section at all
        del parts["movement"]
    return parts


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


def render(report: ReportData) -> str:
    parts = sections(report)
    return page(report.title, header(report) + "".join(parts[name] for name in SECTIONS if name in parts))
