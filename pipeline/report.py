"""An HTML report per run (reports/<run_id>.html): timeline, durations, rows, data quality, quarantine reasons.

One self-contained file: inline CSS and inline SVG charts, no script and nothing fetched, so it opens anywhere.
Written when a run ends (history, after the last task) and on demand: `python -m pipeline report [RUN_ID]`.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import html
import os
from pathlib import Path

import luigi
import psycopg2
import psycopg2.extras

from . import config, warehouse
from .tables import TABLES


class reports(luigi.Config):  # noqa: N801 - the class name is the luigi.cfg section
    folder = luigi.Parameter(default="reports", description="folder of the run reports (one HTML file per run)")
    after_run = luigi.BoolParameter(default=True, description="write the report when a run ends")


def report_dir() -> Path:
    return config.project_path(os.environ.get("PIPELINE_REPORT_DIR") or reports().folder)


def report_path(run_id: str) -> Path:
    return report_dir() / f"{run_id}.html"


FAMILY_COLOURS = {"LoadTable": "#4e79a7", "HealTable": "#59a14f", "Transform": "#b07aa1", "Backup": "#76b7b2"}
ACTION_COLOURS = {"fix": "#59a14f", "quarantine": "#e15759", "flag": "#f28e2b"}
STATUS_COLOURS = {"done": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "interrupted": "#ef6c00"}
CLEAN, HELD, MUTED = "#59a14f", "#e15759", "#9aa5b1"


# ---------------------------------------------------------------- data

def latest_run(conn) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT run_id FROM ops.runs ORDER BY started_at DESC, run_id DESC LIMIT 1")
        row = cur.fetchone()
    return row[0] if row else None


def collect(conn, run_id: str) -> dict:
    """Everything the report shows, read from ops.* and quality.* (the state as of the run's end)."""
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute("SELECT *, coalesce(finished_at, clock_timestamp()) AS until FROM ops.runs WHERE run_id = %s",
                (run_id,))
    run = cur.fetchone()
    if run is None:
        raise LookupError(f"no run {run_id} in ops.runs (python -m pipeline runs lists them)")
    cur.execute("""SELECT task_id, task_family, params, reason, status, started_at, finished_at, rows_in, rows_out,
                          rows_quarantined, error,
                          extract(epoch FROM started_at - %s) AS start_s,
                          extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) AS seconds
                   FROM ops.task_runs WHERE run_id = %s ORDER BY started_at, id""", (run["started_at"], run_id))
    tasks = cur.fetchall()
    # Each table's latest quality figures as of the run's end: healed in this run, or still from an earlier one.
    cur.execute("""SELECT DISTINCT ON (table_name) table_name, run_id, raw_rows, clean_rows, quarantined,
                          valid_before, fixed_rows
                   FROM quality.table_results WHERE checked_at <= %s
                   ORDER BY table_name, checked_at DESC, run_id DESC""", (run["until"],))
    tables = sorted(cur.fetchall(), key=lambda t: -t["raw_rows"])
    rules = []
    if tables:
        cur.execute("""SELECT r.table_name, r.rule_id, r.description, r.severity, r.action, r.violations, r.fixed,
                              r.quarantined, r.flagged
                       FROM quality.rule_results r
                       JOIN unnest(%s::text[], %s::text[]) AS t(table_name, run_id) USING (table_name, run_id)
                       WHERE r.violations > 0 ORDER BY r.violations DESC, r.rule_id""",
                    ([t["table_name"] for t in tables], [t["run_id"] for t in tables]))
        rules = cur.fetchall()
    reasons = sorted((r for r in rules if r["quarantined"] > 0), key=lambda r: (-r["quarantined"], r["rule_id"]))[:10]
    for reason in reasons:  # one example of the message a quarantined row carries
        cur.execute("""SELECT messages ->> %s FROM quality.quarantine
                       WHERE table_name = %s AND %s = ANY(rule_ids) LIMIT 1""",
                    (reason["rule_id"], reason["table_name"], reason["rule_id"]))
        row = cur.fetchone()
        reason["example"] = row["?column?"] if row else None
    cur.close()
    from .quality.trend import clean_share_drops
    return {"run": run, "tasks": tasks, "tables": tables, "rules": rules, "reasons": reasons,
            "drops": [d.message for d in clean_share_drops(conn)]}


def write_report(run_id: str | None = None, url: str | None = None, folder: Path | None = None) -> Path:
    """Write the report of a run (default: the latest) and return its path; replaced atomically."""
    with contextlib.closing(psycopg2.connect(url or warehouse.url(), application_name="insurance-pipeline-report",
                                             connect_timeout=10)) as conn:
        conn.autocommit = True
        run_id = run_id or latest_run(conn)
        if run_id is None:
            raise LookupError("no run recorded yet: run the pipeline first (python -m pipeline run)")
        data = collect(conn, run_id)
    path = (folder or report_dir()) / f"{run_id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(render(data), encoding="utf-8")
    os.replace(temporary, path)
    return path


# ---------------------------------------------------------------- formatting

def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _n(value) -> str:
    return "–" if value is None else f"{value:,}"


def _pct(part, whole) -> str:
    return "–" if not whole else f"{100 * part / whole:.1f}%"


def _secs(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _time(value) -> str:
    return "–" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def task_label(task: dict) -> str:
    table = (task["params"] or {}).get("table")
    return f"{task['task_family']}({table})" if table else f"{task['task_family']}()"


# ---------------------------------------------------------------- charts (inline SVG)

def _ticks(top: float, count: int = 6) -> list[float]:
    if top <= 0:
        return [0]
    raw = top / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(top // step) + 1)]


def gantt(tasks: list[dict], width: int = 1100) -> str:
    """One bar per task attempt, on a time axis from the run's start."""
    if not tasks:
        return '<p class="muted">No task ran in this run.</p>'
    label_w, row_h, top = 210, 20, 26
    end = max(float(t["start_s"]) + float(t["seconds"]) for t in tasks) or 1.0
    plot = width - label_w - 20
    scale = plot / end
    height = top + row_h * len(tasks) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="Timeline">']
    for tick in _ticks(end):
        x = label_w + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{top - 10}" class="axis" text-anchor="middle">{tick:g} s</text>')
    for i, t in enumerate(tasks):
        y = top + i * row_h
        x = label_w + float(t["start_s"]) * scale
        w = max(float(t["seconds"]) * scale, 2.0)
        colour = FAMILY_COLOURS.get(t["task_family"], MUTED)
        cls = "bar" if t["status"] == "done" else f"bar {t['status']}"
        tip = f"{task_label(t)}: {t['status']}, {_secs(t['seconds'])}, reason {t['reason'] or '–'}"
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" class="band"/>')
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" class="label" text-anchor="end">{_e(task_label(t))}</text>'
                     f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}" '
                     f'class="{cls}"><title>{_e(tip)}</title></rect>'
                     + (f'<text x="{x + w + 5:.1f}" y="{y + 14}" class="value">' if x + w + 60 < width else
                        f'<text x="{x - 5:.1f}" y="{y + 14}" class="value" text-anchor="end">')
                     + f'{_e(_secs(t["seconds"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def hbars(items: list[tuple[str, float, str, str]], width: int = 540, label_w: int = 230, fmt=_n) -> str:
    """Horizontal bars: (label, value, colour, tooltip)."""
    if not items:
        return '<p class="muted">Nothing to show.</p>'
    row_h = 22
    top_value = max(v for _, v, _, _ in items) or 1
    plot = width - label_w - 70
    height = row_h * len(items) + 4
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, (label, value, colour, tip) in enumerate(items):
        y = i * row_h
        w = max(plot * value / top_value, 1.5 if value else 0)
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" class="label" text-anchor="end">{_e(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}">'
                     f'<title>{_e(tip)}</title></rect>'
                     f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" class="value">{_e(fmt(value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def row_split(tables: list[dict], width: int = 540, label_w: int = 130) -> str:
    """Per table, the share of raw rows that reached clean and that were quarantined (100% bars)."""
    row_h = 22
    plot = width - label_w - 60
    height = row_h * len(tables) + 24
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, t in enumerate(tables):
        y = i * row_h
        raw = t["raw_rows"] or 1
        clean_w, held_w = plot * t["clean_rows"] / raw, plot * t["quarantined"] / raw
        tip = f"{t['table_name']}: {t['clean_rows']:,} clean, {t['quarantined']:,} quarantined of {t['raw_rows']:,}"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" class="label" text-anchor="end">{_e(t["table_name"])}</text>'
                     f'<g><title>{_e(tip)}</title>'
                     f'<rect x="{label_w}" y="{y + 4}" width="{clean_w:.1f}" height="{row_h - 8}" fill="{CLEAN}"/>'
                     f'<rect x="{label_w + clean_w:.1f}" y="{y + 4}" width="{held_w:.1f}" height="{row_h - 8}" '
                     f'fill="{HELD}"/></g>'
                     f'<text x="{label_w + plot + 6}" y="{y + 15}" class="value">{_pct(t["clean_rows"], raw)}</text>')
    y = row_h * len(tables) + 14
    parts.append(f'<rect x="{label_w}" y="{y - 9}" width="10" height="10" fill="{CLEAN}"/>'
                 f'<text x="{label_w + 14}" y="{y}" class="axis">clean</text>'
                 f'<rect x="{label_w + 70}" y="{y - 9}" width="10" height="10" fill="{HELD}"/>'
                 f'<text x="{label_w + 84}" y="{y}" class="axis">quarantined</text></svg>')
    return "".join(parts)


def valid_rates(tables: list[dict], width: int = 540, label_w: int = 130) -> str:
    """Per table, the share of valid rows as they arrived (grey) and after healing (green), 0-100%."""
    row_h = 22
    plot = width - label_w - 70
    height = row_h * len(tables) + 44
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{row_h * len(tables)}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{row_h * len(tables) + 14}" class="axis" text-anchor="middle">{tick}%</text>')
    for i, t in enumerate(tables):
        y = i * row_h + row_h / 2
        raw = t["raw_rows"] or 1
        before, after = t["valid_before"] / raw, t["clean_rows"] / raw
        xb, xa = label_w + plot * before, label_w + plot * after
        tip = f"{t['table_name']}: {before:.1%} valid as it arrived, {after:.1%} after healing"
        parts.append(f'<text x="{label_w - 8}" y="{y + 4}" class="label" text-anchor="end">{_e(t["table_name"])}</text>'
                     f'<g><title>{_e(tip)}</title>'
                     f'<line x1="{xb:.1f}" y1="{y}" x2="{xa:.1f}" y2="{y}" stroke="#c9d1d9" stroke-width="3"/>'
                     f'<circle cx="{xb:.1f}" cy="{y}" r="5" fill="{MUTED}"/>'
                     f'<circle cx="{xa:.1f}" cy="{y}" r="5" fill="{CLEAN}"/></g>'
                     f'<text x="{label_w + plot + 10}" y="{y + 4}" class="value">{after:.1%}</text>')
    y = row_h * len(tables) + 34
    parts.append(f'<circle cx="{label_w + 5}" cy="{y - 4}" r="5" fill="{MUTED}"/>'
                 f'<text x="{label_w + 14}" y="{y}" class="axis">valid as it arrived</text>'
                 f'<circle cx="{label_w + 145}" cy="{y - 4}" r="5" fill="{CLEAN}"/>'
                 f'<text x="{label_w + 154}" y="{y}" class="axis">after healing (clean)</text></svg>')
    return "".join(parts)


# ---------------------------------------------------------------- the page

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 16px; margin: 0 0 12px; font-weight: 600; }
h3 { font-size: 13px; margin: 0 0 8px; font-weight: 600; color: var(--muted); text-transform: uppercase;
     letter-spacing: .04em; }
.sub { color: var(--muted); margin: 0 0 18px; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; color: #fff; font-size: 12px;
        font-weight: 600; vertical-align: 4px; margin-left: 8px; text-transform: uppercase; letter-spacing: .04em; }
.cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; margin-bottom: 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .k { color: var(--muted); font-size: 12px; }
.card .v { font-size: 22px; font-weight: 600; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .s { color: var(--muted); font-size: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 20px;
          margin-bottom: 18px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 28px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; background: #fafbfc; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.failed td, tr.interrupted td { background: #fdecea; }
.muted { color: var(--muted); }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 11px; font-weight: 600; color: #fff; }
.errors { background: #fdecea; border: 1px solid #f5c2c0; border-radius: 8px; padding: 12px 16px; margin-bottom: 18px; }
.errors li { margin: 4px 0; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
svg.chart text { font-size: 11.5px; fill: var(--ink); }
svg.chart .axis { fill: var(--muted); font-size: 11px; }
svg.chart .value { fill: var(--muted); font-size: 11px; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .band { fill: #fafbfc; }
svg.chart .bar.failed { fill: #e15759; }
svg.chart .bar.interrupted, svg.chart .bar.running { fill: #f28e2b; }
footer { color: var(--muted); font-size: 12px; text-align: center; }
@media print { body { background: #fff; } section, .card { break-inside: avoid; } }
"""


def _tag(text: str, colour: str) -> str:
    return f'<span class="tag" style="background:{colour}">{_e(text)}</span>'


def _cards(data: dict) -> str:
    run, tasks, tables = data["run"], data["tasks"], data["tables"]
    latest = {}
    for t in tasks:
        latest[t["task_id"]] = t["status"]
    done = sum(1 for s in latest.values() if s == "done")
    failed = sum(1 for s in latest.values() if s in ("failed", "interrupted"))
    loaded = sum(t["rows_out"] or 0 for t in tasks if t["task_family"] == "LoadTable" and t["status"] == "done")
    raw = sum(t["raw_rows"] for t in tables)
    clean = sum(t["clean_rows"] for t in tables)
    held = sum(t["quarantined"] for t in tables)
    valid = sum(t["valid_before"] for t in tables)
    seconds = (run["until"] - run["started_at"]).total_seconds()
    planned = run.get("tasks_planned")
    cards = [
        ("Tasks", f"{done}" + (f" / {planned}" if planned else ""),
         f"{failed} failed" + (f", {len(tasks) - len(latest)} retried" if len(tasks) > len(latest) else "")),
        ("Duration", _secs(seconds), "running" if run["finished_at"] is None else "wall clock"),
        ("Rows loaded", _n(loaded), "in this run"),
        ("Clean rows", _n(clean), f"of {raw:,} raw rows" + (
            f" ({len(tables)} of {len(TABLES)} tables healed)" if len(tables) < len(TABLES) else "")),
        ("Quarantined", _n(held), f"{_pct(held, raw)} of raw rows"),
        ("Valid rate", _pct(clean, raw), f"was {_pct(valid, raw)} as it arrived"),
    ]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div><div class="s">{_e(s)}</div></div>'
        for k, v, s in cards) + "</div>"


def _task_table(tasks: list[dict]) -> str:
    longest = max((float(t["seconds"]) for t in tasks), default=1.0) or 1.0
    rows = []
    for t in tasks:
        colour = STATUS_COLOURS.get(t["status"], MUTED)
        bar = (f'<svg width="70" height="10"><rect width="{70 * float(t["seconds"]) / longest:.1f}" height="10" '
               f'rx="2" fill="{FAMILY_COLOURS.get(t["task_family"], MUTED)}"/></svg>')
        rows.append(
            f'<tr class="{_e(t["status"])}"><td>{_e(task_label(t))}</td><td>{_e(t["reason"] or "–")}</td>'
            f'<td>{_tag(t["status"], colour)}</td><td class="n">+{float(t["start_s"]):.1f} s</td>'
            f'<td class="n">{_e(_secs(t["seconds"]))}</td><td>{bar}</td><td class="n">{_n(t["rows_in"])}</td>'
            f'<td class="n">{_n(t["rows_out"])}</td><td class="n">{_n(t["rows_quarantined"])}</td>'
            f'<td class="muted">{_e(t["error"] or "")}</td></tr>')
    return ('<table><thead><tr><th>task</th><th>why it ran</th><th>status</th><th class="n">start</th>'
            '<th class="n">duration</th><th></th><th class="n">rows in</th><th class="n">rows out</th>'
            '<th class="n">quarantined</th><th>error</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _quality_table(tables: list[dict], run_id: str) -> str:
    rows = []
    for t in tables:
        raw = t["raw_rows"]
        origin = "this run" if t["run_id"] == run_id else f'<span class="muted">{_e(t["run_id"])}</span>'
        rows.append(f'<tr><td>{_e(t["table_name"])}</td><td class="n">{_n(raw)}</td><td class="n">{_n(t["clean_rows"])}'
                    f'</td><td class="n">{_n(t["quarantined"])}</td><td class="n">{_n(t["fixed_rows"])}</td>'
                    f'<td class="n">{_pct(t["valid_before"], raw)}</td><td class="n">{_pct(t["clean_rows"], raw)}</td>'
                    f'<td>{origin}</td></tr>')
    return ('<table><thead><tr><th>table</th><th class="n">raw</th><th class="n">clean</th>'
            '<th class="n">quarantined</th><th class="n">rows fixed</th><th class="n">valid before</th>'
            '<th class="n">valid after</th><th>healed in run</th></tr></thead><tbody>' + "".join(rows) +
            "</tbody></table>")


def _rule_table(rules: list[dict]) -> str:
    rows = [f'<tr><td>{_e(r["rule_id"])}</td><td>{_e(r["description"])}</td><td>{_e(r["severity"])}</td>'
            f'<td>{_tag(r["action"], ACTION_COLOURS.get(r["action"], MUTED))}</td><td class="n">{_n(r["violations"])}</td>'
            f'<td class="n">{_n(r["fixed"])}</td><td class="n">{_n(r["quarantined"])}</td>'
            f'<td class="n">{_n(r["flagged"])}</td></tr>' for r in rules]
    return ('<table><thead><tr><th>rule</th><th>what it checks</th><th>severity</th><th>action</th>'
            '<th class="n">violations</th><th class="n">fixed</th><th class="n">quarantined</th>'
            '<th class="n">flagged</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def render(data: dict) -> str:
    run, tasks, tables, rules, reasons = data["run"], data["tasks"], data["tables"], data["rules"], data["reasons"]
    run_id = run["run_id"]
    status = run["status"]
    pill = STATUS_COLOURS.get(status, MUTED)
    errors = [t["error"] for t in tasks if t["status"] in ("failed", "interrupted") and t["error"]]
    legend = '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(f)}</span>' for f, c in FAMILY_COLOURS.items()) + \
        '<span><i style="background:#e15759"></i>failed</span></div>'
    top_rules = [(r["rule_id"], r["violations"], ACTION_COLOURS.get(r["action"], MUTED),
                  f'{r["rule_id"]}: {r["violations"]:,} violations ({r["action"]}) - {r["description"]}')
                 for r in rules[:15]]
    top_reasons = [(r["rule_id"], r["quarantined"], HELD, f'{r["description"]}') for r in reasons]
    reason_rows = "".join(
        f'<tr><td>{_e(r["rule_id"])}</td><td class="n">{_n(r["quarantined"])}</td><td>{_e(r["description"])}</td>'
        f'<td class="muted">{_e(r.get("example") or "")}</td></tr>' for r in reasons)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Run {_e(run_id)} – {_e(status)}</title><style>{CSS}</style></head><body><main>",
        f'<h1>Pipeline run {_e(run_id)}<span class="pill" style="background:{pill}">{_e(status)}</span></h1>',
        (f'<p class="sub">started {_e(_time(run["started_at"]))} · finished {_e(_time(run["finished_at"]))} · '
         f'host {_e(run["host"] or "–")} · <code>{_e(run["command"] or "")}</code></p>'),
        _cards(data),
    ]
    if data.get("drops"):
        parts.append('<div class="errors"><h2>Clean share fell</h2><ul>' +
                     "".join(f"<li>{_e(d)}</li>" for d in data["drops"]) + "</ul></div>")
    if errors:
        parts.append('<div class="errors"><h2>What failed, and what to do</h2><ul>' +
                     "".join(f"<li>{_e(e)}</li>" for e in errors) + "</ul></div>")
    parts += [
        f'<section><h2>Timeline</h2>{legend}{gantt(tasks)}</section>',
        f'<section><h2>Tasks</h2>{_task_table(tasks) if tasks else "<p class=muted>No task ran.</p>"}</section>',
    ]
    if tables:
        parts.append(
            '<section><h2>Data quality</h2><div class="grid2">'
            f'<div><h3>Where the raw rows went</h3>{row_split(tables)}</div>'
            f'<div><h3>Valid rows before and after healing</h3>{valid_rates(tables)}</div></div>'
            f'<div style="margin-top:16px">{_quality_table(tables, run_id)}</div></section>')
        parts.append(
            '<section><div class="grid2">'
            '<div><h2>Rule violations</h2><div class="legend">' + "".join(
                f'<span><i style="background:{c}"></i>{a}</span>' for a, c in ACTION_COLOURS.items()) +
            f'</div>{hbars(top_rules)}</div>'
            f'<div><h2>Top quarantine reasons</h2><div class="legend"><span>rows held back, by rule</span></div>'
            f'{hbars(top_reasons)}</div></div>'
            '<table style="margin-top:16px"><thead><tr><th>quarantine rule</th><th class="n">rows</th>'
            f'<th>reason</th><th>example from quality.quarantine</th></tr></thead><tbody>{reason_rows}</tbody>'
            '</table></section>')
        parts.append(f'<section><h2>Every rule with violations</h2>{_rule_table(rules)}</section>')
    else:
        parts.append('<section><h2>Data quality</h2><p class="muted">No table has been healed yet.</p></section>')
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    parts.append(f'<footer>Generated {_e(generated)} from {_e(warehouse.describe())} · '
                 f'python -m pipeline report {_e(run_id)}</footer></main></body></html>')
    return "\n".join(parts)
