"""The spend dashboard: one self-contained HTML page with server-side SVG charts.

Why SVG written here rather than a chart library: the page must open with no network, in a
browser and in a VS Code webview under a strict Content-Security-Policy. Plain SVG needs no
script at all (the policy forbids every script), no bundled library to keep up to date, and
costs nothing to install; the charts are simple bars and lines. Every mark carries its figure in
`data-*` attributes and a `<title>` (the browser's tooltip), and each chart has its table beside
it, so a test — or a screen reader — reads the same numbers the bars show.

Pure: takes a `spend_report.Summary`, returns text.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from html import escape

from routerls.money import money
from routerls.spend_report import Summary

TIER_COLOURS = {  # Okabe–Ito: tells apart with the common colour-vision deficiencies
    "tools": "#009E73", "local": "#56B4E9", "cheap": "#0072B2", "mid": "#E69F00",
    "frontier": "#CC79A7",
}
OTHER_COLOUR = "#999999"
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36


def _cls(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", name.lower())


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


def _num(x: float) -> str:
    """Full precision for data-* attributes: tests compare them to `--json` to the cent."""
    return repr(float(x))


def _nice(top: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `top`, so axis ticks read well."""
    if top <= 0:
        return 1.0
    from math import floor, log10

    scale = 10 ** floor(log10(top))
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= top * 0.9999999:
            return step * scale
    return 10 * scale


def _axis(top: float, plot_h: float, plot_w: float) -> list[str]:
    out = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{money(value)}</text>')
    return out


def _period_label(period: str) -> str:
    return period[5:] if len(period) == 10 else period.split("-", 1)[-1]  # 11-20, W47


def stacked_bars(summary: Summary, field: str, chart: str, budget: float | None = None) -> str:
    """Per period, one bar per tier stacked cheapest at the bottom; the daily budget as a line."""
    periods = summary.periods
    values = summary.per_period(field)
    if not periods:
        return '<p class="empty">no calls in this period</p>'
    totals = {p: sum(max(values.get((p, t), 0.0), 0.0) for t in summary.tiers) for p in periods}
    peak = max(totals.values())
    # a budget far above the bars would flatten them: then it is named, not drawn to scale
    draw_budget = budget is not None and budget > 0 and (peak == 0 or budget <= 3 * peak)
    top = _nice(max(peak, budget if draw_budget and budget else 0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(periods)
    bar_w = max(min(slot * 0.7, 48), 1.0)
    parts = [(f'<svg class="chart" data-chart="{chart}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{_attr(chart)} per {summary.by}">'), *_axis(top, plot_h, plot_w)]
    for i, period in enumerate(periods):
        x = LEFT + slot * i + (slot - bar_w) / 2
        y = TOP + plot_h
        parts.append(f'<g class="period" data-period="{_attr(period)}" data-usd="{_num(totals[period])}">')
        for tier in summary.tiers:
            value = values.get((period, tier), 0.0)
            if (period, tier) not in values:
                continue
            h = plot_h * max(value, 0.0) / top
            y -= h
            parts.append(f'<rect class="bar t-{_cls(tier)}" data-tier="{_attr(tier)}" data-usd="{_num(value)}" '
                         f'x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.2f}">'
                         f'<title>{_attr(period)} · {_attr(tier)} · {money(value)}</title></rect>')
        parts.append('</g>')
        if len(periods) <= 16 or i % max(len(periods) // 12, 1) == 0:
            parts.append(f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{_attr(_period_label(period))}</text>')
    if budget is not None and budget > 0:
        label = f"daily budget {money(budget)}"
        if draw_budget:
            y = TOP + plot_h - plot_h * budget / top
            parts.append(f'<line class="budget" data-budget="daily" data-usd="{_num(budget)}" x1="{LEFT}" '
                         f'x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
                         f'<text class="budget-label" x="{LEFT + plot_w}" y="{y - 4:.1f}" '
                         f'text-anchor="end">{label}</text>')
        else:
            parts.append(f'<text class="budget-label" data-budget="daily" data-usd="{_num(budget)}" '
                         f'x="{LEFT + plot_w}" y="{TOP + 10}" text-anchor="end">{label} ↑ (above the chart)</text>')
    parts.append("</svg>")
    return "".join(parts)


def month_line(summary: Summary) -> str:
    """Spend so far this month, day by day, against the monthly budget."""
    points = summary.month_to_date()
    budget = summary.monthly_budget_usd
    if not points:
        return '<p class="empty">no calls this month</p>'
    last = points[-1][1]
    draw_budget = budget is not None and budget > 0 and (last == 0 or budget <= 3 * last)
    top = _nice(max(last, budget if draw_budget and budget else 0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    month_days = 31
    xs = [LEFT + plot_w * (int(day[8:10]) - 1) / (month_days - 1) for day, _ in points]
    ys = [TOP + plot_h - plot_h * v / top for _, v in points]
    parts = [(f'<svg class="chart" data-chart="month" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             'aria-label="spend so far this month">'), *_axis(top, plot_h, plot_w),
             '<polyline class="cumulative" points="'
             + " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True)) + '"/>']
    for (day, value), x, y in zip(points, xs, ys, strict=True):
        parts.append(f'<circle class="point" data-day="{day}" data-usd="{_num(value)}" cx="{x:.1f}" '
                     f'cy="{y:.1f}" r="3"><title>{day}: {money(value)} this month</title></circle>')
    for d in (1, 8, 15, 22, 29):
        x = LEFT + plot_w * (d - 1) / (month_days - 1)
        parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{d}</text>')
    if budget is not None and budget > 0:
        label = f"monthly budget {money(budget)}"
        if draw_budget:
            y = TOP + plot_h - plot_h * budget / top
            parts.append(f'<line class="budget" data-budget="monthly" data-usd="{_num(budget)}" x1="{LEFT}" '
                         f'x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/><text class="budget-label" '
                         f'x="{LEFT + plot_w}" y="{y - 4:.1f}" text-anchor="end">{label}</text>')
        else:
            parts.append(f'<text class="budget-label" data-budget="monthly" data-usd="{_num(budget)}" '
                         f'x="{LEFT + plot_w}" y="{TOP + 10}" text-anchor="end">{label} ↑ (above the chart)</text>')
    parts.append("</svg>")
    return "".join(parts)


def tier_share(summary: Summary) -> str:
    """One bar split by the share of answered requests each tier served."""
    answered = summary.answered_per_tier()
    total = sum(answered.values())
    if not total:
        return '<p class="empty">no answered requests in this period</p>'
    width, height, x = WIDTH, 44, 0.0
    parts = [(f'<svg class="chart" data-chart="tiers" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="share of answered requests per tier">')]
    for tier in summary.tiers:
        n = answered.get(tier, 0)
        if not n:
            continue
        share = n / total
        w = width * share
        parts.append(f'<rect class="bar t-{_cls(tier)}" data-tier="{_attr(tier)}" data-requests="{n}" '
                     f'data-share="{_num(share)}" x="{x:.1f}" y="4" width="{w:.1f}" height="36">'
                     f'<title>{_attr(tier)}: {n} requests, {share:.0%}</title></rect>')
        if w > 60:
            parts.append(f'<text class="on-bar" x="{x + 6:.1f}" y="27">{_attr(tier)} {share:.0%}</text>')
        x += w
    parts.append("</svg>")
    return "".join(parts)


def top_actions(summary: Summary, limit: int = 10) -> str:
    rows = summary.rows("action")[:limit]
    if not rows:
        return '<p class="empty">no calls in this period</p>'
    row_h, label_w = 26, 150
    height = row_h * len(rows) + 8
    peak = max(r.cost_usd for r in rows) or 1.0
    plot_w = WIDTH - label_w - 110
    parts = [(f'<svg class="chart" data-chart="actions" viewBox="0 0 {WIDTH} {height}" role="img" '
             'aria-label="top actions by cost">')]
    for i, r in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * max(r.cost_usd, 0.0) / peak
        parts.append(f'<text class="label" x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_attr(r.key)}</text>'
                     f'<rect class="bar action" data-action="{_attr(r.key)}" data-usd="{_num(r.cost_usd)}" '
                     f'data-calls="{r.calls}" x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}">'
                     f'<title>{_attr(r.key)}: {money(r.cost_usd)} in {r.calls} calls</title></rect>'
                     f'<text class="tick" x="{label_w + w + 6:.1f}" y="{y + 16}">{money(r.cost_usd)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(summary: Summary) -> str:
    items = "".join(
        f'<li><svg class="swatch" viewBox="0 0 10 10"><rect class="t-{_cls(t)}" width="10" height="10"/></svg>'
        f'{_attr(t)}</li>' for t in summary.tiers)
    return f'<ul class="legend">{items}</ul>'


def _period_table(summary: Summary, chart: str, field: str) -> str:
    values = summary.per_period(field)
    head = "".join(f"<th>{_attr(t)}</th>" for t in summary.tiers)
    body = []
    for p in summary.periods:
        cells = "".join(f'<td data-tier="{_attr(t)}">{money(values.get((p, t), 0.0))}</td>' for t in summary.tiers)
        total = sum(values.get((p, t), 0.0) for t in summary.tiers)
        body.append(f'<tr data-period="{_attr(p)}"><th>{_attr(p)}</th>{cells}<td class="total">{money(total)}</td></tr>')
    return (f'<details><summary>figures</summary><table class="data" data-chart="{chart}"><thead><tr>'
            f'<th>{summary.by}</th>{head}<th>total</th></tr></thead><tbody>{"".join(body)}</tbody></table></details>')


def _tier_table(summary: Summary) -> str:
    answered = summary.answered_per_tier()
    total = sum(answered.values()) or 1
    cost, saved = summary.per_tier("cost_usd"), summary.per_tier("saved_usd")
    rows = []
    for t in summary.tiers:
        c, s, n = cost.get(t, 0.0), saved.get(t, 0.0), answered.get(t, 0)
        if not n and not c and not s:
            continue
        rows.append(f'<tr data-tier="{_attr(t)}"><th>{_attr(t)}</th><td>{n}</td><td>{n / total:.0%}</td>'
                    f'<td>{money(c)}</td><td>{money(s)}</td></tr>')
    return ('<table class="data" data-chart="tiers"><thead><tr><th>tier</th><th>answered</th><th>share</th>'
            f'<th>cost</th><th>saved</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _tasks_table(summary: Summary) -> str:
    if not summary.tasks:
        return '<p class="empty">no requests in this period</p>'
    rows = []
    for s in summary.tasks:
        w = 120 * s.escalation_rate
        causes = ", ".join(f"{escape(o)} ×{n}" for o, n in s.causes) or "—"
        rows.append(
            f'<tr data-task="{_attr(s.task)}" data-requests="{s.requests}" data-escalated="{s.escalated}">'
            f'<th>{_attr(s.task)}</th><td>{s.requests}</td><td>{s.escalated}</td>'
            f'<td class="rate"><svg class="rate-bar" viewBox="0 0 170 14"><rect class="track" width="120" height="14"/>'
            f'<rect class="bar escalated" data-rate="{_num(s.escalation_rate)}" width="{w:.1f}" height="14"/>'
            f'<text class="tick" x="126" y="11">{s.escalation_rate:.0%}</text></svg></td>'
            f'<td class="causes">{causes}</td></tr>')
    return ('<table class="data" data-chart="tasks"><thead><tr><th>task</th><th>requests</th><th>escalated</th>'
            f'<th>escalation rate</th><th>attempts that did not answer</th></tr></thead><tbody>{"".join(rows)}'
            '</tbody></table>')


def _kept_section(summary: Summary) -> str:
    """What became of the applied edits per task class and tier: the evidence learned routing
    (`route.learn`) moves tiers on. Left out until an edit has an outcome."""
    if not summary.kept:
        return ""
    from routerls.learning import OUTCOMES

    rows = []
    for k in summary.kept:
        counts = "".join(f' data-{o}="{k.counts.get(o, 0)}"' for o in OUTCOMES)
        cells = "".join(f'<td data-outcome="{o}">{k.counts.get(o, 0)}</td>' for o in OUTCOMES)
        w = 120 * k.kept_rate
        rows.append(
            f'<tr data-task="{_attr(k.task)}" data-tier="{_attr(k.tier)}" data-applied="{k.total}"{counts} '
            f'data-kept-rate="{_num(k.kept_rate)}"><th>{_attr(k.task)}</th><td class="tier">{_attr(k.tier)}</td>'
            f'{cells}<td class="rate"><svg class="rate-bar" viewBox="0 0 170 14"><rect class="track" width="120" '
            f'height="14"/><rect class="bar t-{_cls(k.tier)}" width="{w:.1f}" height="14"/><text class="tick" '
            f'x="126" y="11">{k.kept_rate:.0%}</text></svg></td></tr>')
    head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
    return ('<section id="kept"><h2>What you kept</h2>\n<p class="note">Each edit applied in the editor (or '
            'written by the CLI) ends kept, undone, reworked (typed over soon after), rerun (the same action '
            'again, or on a stronger tier) or rejected (its answer failed the checks). Learned routing '
            '(<code>route.learn</code>) moves a task class between tiers on these figures.</p>\n'
            '<table class="data" data-chart="kept"><thead><tr><th>task</th><th>tier</th>'
            f'{head}<th>kept %</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>\n')


def _models_table(summary: Summary) -> str:
    rows = "".join(
        f'<tr data-model="{_attr(r.key)}" data-usd="{_num(r.cost_usd)}"><th>{_attr(r.key)}</th><td>{r.calls}</td>'
        f'<td>{r.input_tokens:,}</td><td>{r.output_tokens:,}</td><td>{money(r.cost_usd)}</td>'
        f'<td>{money(r.counterfactual_usd)}</td><td>{money(r.saved_usd)}</td></tr>'
        for r in summary.rows("model"))
    return ('<table class="data" data-chart="models"><thead><tr><th>model</th><th>calls</th><th>tokens in</th>'
            '<th>tokens out</th><th>cost</th><th>always-frontier</th><th>saved</th></tr></thead>'
            f'<tbody>{rows or "<tr><td colspan=7>no calls yet</td></tr>"}</tbody></table>')


def _totals(summary: Summary) -> str:
    t = summary.totals
    items = [("session", "this session", t.session_usd), ("today", "today", t.today_usd),
             ("month", "this month", t.month_usd), ("saved", "saved (all time)", t.saved_all_usd),
             ("period", "spent in this report", t.cost_usd),
             ("period-saved", "saved in this report", t.saved_usd)]
    cells = "".join(
        f'<div class="total" data-total="{key}" data-usd="{_num(v) if v is not None else ""}">'
        f'<span class="what">{label}</span><span class="value">{money(v) if v is not None else "—"}</span></div>'
        for key, label, v in items)
    return f'<section id="totals" class="totals">{cells}</section>'


CSS = """
:root { color-scheme: light dark; }
body { font: 13px/1.45 var(--vscode-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  color: var(--vscode-foreground, #1f2328); background: var(--vscode-editor-background, #ffffff);
  margin: 0 auto; padding: 16px 24px 40px; max-width: 820px; }
h1 { font-size: 20px; margin: 0 0 2px; } h2 { font-size: 15px; margin: 26px 0 4px; }
.sub, .note, .empty { color: var(--vscode-descriptionForeground, #59636e); margin: 2px 0 6px; }
.totals { display: grid; grid-template-columns: repeat(6, 1fr); gap: 8px; margin-top: 14px; }
.total { border: 1px solid var(--vscode-panel-border, #d0d7de); border-radius: 6px; padding: 6px 8px; }
.total .what { display: block; font-size: 11px; color: var(--vscode-descriptionForeground, #59636e); }
.total .value { font-size: 17px; font-weight: 600; font-variant-numeric: tabular-nums; }
svg.chart { width: 100%; height: auto; display: block; }
svg text { fill: currentColor; font-size: 11px; }
.grid { stroke: var(--vscode-panel-border, #d0d7de); stroke-width: 1; }
.budget { stroke: #D55E00; stroke-width: 1.5; stroke-dasharray: 6 4; }
.budget-label { fill: #D55E00; font-weight: 600; }
.cumulative { fill: none; stroke: #0072B2; stroke-width: 2; } .point { fill: #0072B2; }
.on-bar { fill: #ffffff; font-weight: 600; }
.bar.action { fill: #0072B2; } .bar.escalated { fill: #D55E00; } .track { fill: var(--vscode-panel-border, #e6e9ed); }
.legend { list-style: none; padding: 0; margin: 2px 0; display: flex; gap: 14px; flex-wrap: wrap; }
.swatch { width: 10px; height: 10px; margin-right: 5px; vertical-align: -1px; }
table.data { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; margin: 4px 0; }
table.data th, table.data td { padding: 3px 8px; border-bottom: 1px solid var(--vscode-panel-border, #e6e9ed); text-align: right; }
table.data th:first-child, table.data td.causes { text-align: left; }
table[data-chart="tasks"] th:nth-child(n+4), table[data-chart="tasks"] td:nth-child(n+4) { text-align: left; }
table[data-chart="kept"] :is(th:nth-child(2), th:last-child, td.tier, td.rate) { text-align: left; }
svg.rate-bar { width: 170px; height: 14px; vertical-align: middle; }
details summary { cursor: pointer; color: var(--vscode-descriptionForeground, #59636e); }
"""


def month_from(summary: Summary) -> str:
    """The month chart starts at `--since` when that falls inside this month."""
    first = summary.today.replace(day=1)
    if summary.since is not None and summary.since > first:
        return f" (counted from {summary.since.isoformat()}, the report's start)"
    return ""


def render_html(summary: Summary, *, title: str = "routerls spend", nonce: str | None = None,
                generated: datetime | None = None) -> str:
    """The dashboard page. Its policy allows no script and no request: only its own style block
    (by nonce) and data: images."""
    nonce = nonce or os.urandom(12).hex()
    tiers = dict.fromkeys([*summary.tiers, *(k.tier for k in summary.kept)])
    colours = "".join(f".t-{_cls(t)} {{ fill: {TIER_COLOURS.get(t, OTHER_COLOUR)}; }}" for t in tiers)
    when = (generated or datetime.now()).astimezone().strftime("%Y-%m-%d %H:%M")
    since = f"since {summary.since.isoformat()}" if summary.since else "all time"
    t = summary.totals
    per = summary.by
    daily = summary.daily_budget_usd if per == "day" else None
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; script-src 'none'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_attr(title)}</title>
<style nonce="{nonce}">{CSS}{colours}</style></head>
<body data-by="{per}" data-since="{_attr(summary.since.isoformat() if summary.since else '')}">
<h1>{_attr(title)}</h1>
<p class="sub">{since} · per {per} · {t.calls} calls in {t.requests} requests · generated {when}</p>
{_totals(summary)}
<section id="spend"><h2>Spend per {per}, by tier</h2>
<p class="note">What each {per} cost, stacked by the tier that ran the calls (failed attempts included: they
were paid for){'; the dashed line is the daily budget' if daily else ''}.</p>
{_legend(summary)}{stacked_bars(summary, "cost_usd", "spend", daily)}{_period_table(summary, "spend", "cost_usd")}</section>
<section id="savings"><h2>Saved per {per} against always-frontier, by tier</h2>
<p class="note">What the same tokens would have cost on the strongest tier's first model, minus what they
cost; the tools tier costs nothing, so all it does is saved.</p>
{_legend(summary)}{stacked_bars(summary, "saved_usd", "savings")}{_period_table(summary, "savings", "saved_usd")}</section>
<section id="month"><h2>This month so far</h2>
<p class="note">Spend added up day by day since the 1st{month_from(summary)}, against the monthly budget.</p>
{month_line(summary)}</section>
<section id="tiers"><h2>Share of requests per tier</h2>
<p class="note">Answered calls per tier: how much of the work each tier did, tools at $0 included.</p>
{tier_share(summary)}{_tier_table(summary)}</section>
<section id="tasks"><h2>Escalations and fallbacks per task class</h2>
<p class="note">Escalated: a request whose answer failed the checks and went on to a stronger tier (or was
refused). The last column counts the attempts that did not answer, by cause.</p>
{_tasks_table(summary)}</section>
{_kept_section(summary)}<section id="actions"><h2>Top actions by cost</h2>
{top_actions(summary)}</section>
<section id="models"><h2>Models</h2>
{_models_table(summary)}</section>
</body></html>
"""


def render_message(text: str) -> str:
    """A page with one line on it, under the same policy, for when there is nothing to chart."""
    nonce = os.urandom(12).hex()
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv='
            f'"Content-Security-Policy" content="default-src \'none\'; style-src \'nonce-{nonce}\'">'
            f'<title>routerls spend</title><style nonce="{nonce}">{CSS}</style></head>'
            f'<body><p class="empty">{escape(text)}</p></body></html>\n')
