"""An HTML report per run (reports/<run_id>.html): timeline, durations, rows, data quality, quarantine reasons.

One self-contained file: the stylesheet (style.css) inline and inline SVG charts (charts), no script and nothing
fetched, so it opens anywhere; the page is page.html. Written when a run ends (runs, after the last task) and on
demand: `python -m pipeline report [RUN_ID]`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import string
from pathlib import Path

from .. import warehouse
from ..tables import TABLES
from .charts import (
    ACTION_COLOURS,
    FAMILY_COLOURS,
    HELD,
    MUTED,
    STATUS_COLOURS,
    _e,
    _n,
    _pct,
    _secs,
    _time,
    gantt,
    hbars,
    row_split,
    task_how,
    task_label,
    valid_rates,
)
from .data import collect, latest_run, report_dir

HERE = Path(__file__).parent
PAGE = string.Template((HERE / "page.html").read_text(encoding="utf-8"))
STYLE = (HERE / "style.css").read_text(encoding="utf-8")


def write_report(run_id: str | None = None, url: str | None = None, folder: Path | None = None) -> Path:
    """Write the report of a run (default: the latest) and return its path; replaced atomically."""
    with contextlib.closing(warehouse.connect("report", url, ops=True, timeout=10)) as conn:
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


# ---------------------------------------------------------------- the page


def _tag(text: str, colour: str) -> str:
    return f'<span class="tag" style="background:{colour}">{_e(text)}</span>'


def _cards(data: dict) -> str:
    run, tasks, tables = data["run"], data["tasks"], data["tables"]
    latest = {t["task_id"] for t in tasks}
    done, failed = run["done"], run["failed"]  # ops.run_summary: the one definition
    loaded = sum(t["rows_out"] or 0 for t in tasks if t["task_family"] == "LoadTable" and t["status"] == "done")
    raw = sum(t["raw_rows"] for t in tables)
    clean = sum(t["clean_rows"] for t in tables)
    held = sum(t["quarantined"] for t in tables)
    valid = sum(t["valid_before"] for t in tables)
    seconds = (run["until"] - run["started_at"]).total_seconds()
    planned = run.get("tasks_planned")
    cards = [
        (
            "Tasks",
            f"{done}" + (f" / {planned}" if planned else ""),
            f"{failed} failed" + (f", {len(tasks) - len(latest)} retried" if len(tasks) > len(latest) else ""),
        ),
        ("Duration", _secs(seconds), "running" if run["finished_at"] is None else "wall clock"),
        ("Rows loaded", _n(loaded), "in this run"),
        (
            "Clean rows",
            _n(clean),
            f"of {raw:,} raw rows"
            + (f" ({len(tables)} of {len(TABLES)} tables healed)" if len(tables) < len(TABLES) else ""),
        ),
        ("Quarantined", _n(held), f"{_pct(held, raw)} of raw rows"),
        ("Valid rate", _pct(clean, raw), f"was {_pct(valid, raw)} as it arrived"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div><div class="s">{_e(s)}</div></div>'
            for k, v, s in cards
        )
        + "</div>"
    )


def _task_table(tasks: list[dict]) -> str:
    longest = max((float(t["seconds"]) for t in tasks), default=1.0) or 1.0
    rows = []
    for t in tasks:
        colour = STATUS_COLOURS.get(t["status"], MUTED)
        bar = (
            f'<svg width="70" height="10"><rect width="{70 * float(t["seconds"]) / longest:.1f}" height="10" '
            f'rx="2" fill="{FAMILY_COLOURS.get(t["task_family"], MUTED)}"/></svg>'
        )
        rows.append(
            f'<tr class="{_e(t["status"])}"><td>{_e(task_label(t))}</td><td>{_e(t["reason"] or "–")}</td>'
            f'<td>{_tag(t["status"], colour)}</td><td>{_e(task_how(t["details"]) or "–")}</td><td class="n">+{float(t["start_s"]):.1f} s</td>'
            f'<td class="n">{_e(_secs(t["seconds"]))}</td><td>{bar}</td><td class="n">{_n(t["rows_in"])}</td>'
            f'<td class="n">{_n(t["rows_out"])}</td><td class="n">{_n(t["rows_quarantined"])}</td>'
            f'<td class="muted">{_e(t["error"] or "")}</td></tr>'
        )
    return (
        '<table><thead><tr><th>task</th><th>why it ran</th><th>status</th><th>how</th><th class="n">start</th>'
        '<th class="n">duration</th><th></th><th class="n">rows in</th><th class="n">rows out</th>'
        '<th class="n">quarantined</th><th>error</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
    )


def _quality_table(tables: list[dict], run_id: str) -> str:
    rows = []
    for t in tables:
        raw = t["raw_rows"]
        origin = "this run" if t["run_id"] == run_id else f'<span class="muted">{_e(t["run_id"])}</span>'
        rows.append(
            f'<tr><td>{_e(t["table_name"])}</td><td class="n">{_n(raw)}</td><td class="n">{_n(t["clean_rows"])}'
            f'</td><td class="n">{_n(t["quarantined"])}</td><td class="n">{_n(t["fixed_rows"])}</td>'
            f'<td class="n">{_pct(t["valid_before"], raw)}</td><td class="n">{_pct(t["clean_rows"], raw)}</td>'
            f"<td>{origin}</td></tr>"
        )
    return (
        '<table><thead><tr><th>table</th><th class="n">raw</th><th class="n">clean</th>'
        '<th class="n">quarantined</th><th class="n">rows fixed</th><th class="n">valid before</th>'
        '<th class="n">valid after</th><th>healed in run</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
    )


def _rule_table(rules: list[dict]) -> str:
    rows = [
        f"<tr><td>{_e(r['rule_id'])}</td><td>{_e(r['description'])}</td><td>{_e(r['severity'])}</td>"
        f'<td>{_tag(r["action"], ACTION_COLOURS.get(r["action"], MUTED))}</td><td class="n">{_n(r["violations"])}</td>'
        f'<td class="n">{_n(r["fixed"])}</td><td class="n">{_n(r["quarantined"])}</td>'
        f'<td class="n">{_n(r["flagged"])}</td></tr>'
        for r in rules
    ]
    return (
        "<table><thead><tr><th>rule</th><th>what it checks</th><th>severity</th><th>action</th>"
        '<th class="n">violations</th><th class="n">fixed</th><th class="n">quarantined</th>'
        '<th class="n">flagged</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
    )


def render(data: dict) -> str:
    run, tasks, tables, rules, reasons = data["run"], data["tasks"], data["tables"], data["rules"], data["reasons"]
    run_id = run["run_id"]
    status = run["status"]
    pill = STATUS_COLOURS.get(status, MUTED)
    errors = [t["error"] for t in tasks if t["status"] in ("failed", "interrupted") and t["error"]]
    legend = (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{_e(f)}</span>' for f, c in FAMILY_COLOURS.items())
        + '<span><i style="background:#e15759"></i>failed</span></div>'
    )
    top_rules = [
        (
            r["rule_id"],
            r["violations"],
            ACTION_COLOURS.get(r["action"], MUTED),
            f"{r['rule_id']}: {r['violations']:,} violations ({r['action']}) - {r['description']}",
        )
        for r in rules[:15]
    ]
    top_reasons = [(r["rule_id"], r["quarantined"], HELD, f"{r['description']}") for r in reasons]
    reason_rows = "".join(
        f'<tr><td>{_e(r["rule_id"])}</td><td class="n">{_n(r["quarantined"])}</td><td>{_e(r["description"])}</td>'
        f'<td class="muted">{_e(r.get("example") or "")}</td></tr>'
        for r in reasons
    )
    parts = [
        _cards(data),
    ]
    if data.get("drops"):
        parts.append(
            '<div class="errors"><h2>Clean share fell</h2><ul>'
            + "".join(f"<li>{_e(d)}</li>" for d in data["drops"])
            + "</ul></div>"
        )
    if errors:
        parts.append(
            '<div class="errors"><h2>What failed, and what to do</h2><ul>'
            + "".join(f"<li>{_e(e)}</li>" for e in errors)
            + "</ul></div>"
        )
    parts += [
        f"<section><h2>Timeline</h2>{legend}{gantt(tasks)}</section>",
        f"<section><h2>Tasks</h2>{_task_table(tasks) if tasks else '<p class=muted>No task ran.</p>'}</section>",
    ]
    if tables:
        parts.append(
            '<section><h2>Data quality</h2><div class="grid2">'
            f"<div><h3>Where the raw rows went</h3>{row_split(tables)}</div>"
            f"<div><h3>Valid rows before and after healing</h3>{valid_rates(tables)}</div></div>"
            f'<div style="margin-top:16px">{_quality_table(tables, run_id)}</div></section>'
        )
        parts.append(
            '<section><div class="grid2">'
            '<div><h2>Rule violations</h2><div class="legend">'
            + "".join(f'<span><i style="background:{c}"></i>{a}</span>' for a, c in ACTION_COLOURS.items())
            + f"</div>{hbars(top_rules)}</div>"
            f'<div><h2>Top quarantine reasons</h2><div class="legend"><span>rows held back, by rule</span></div>'
            f"{hbars(top_reasons)}</div></div>"
            '<table style="margin-top:16px"><thead><tr><th>quarantine rule</th><th class="n">rows</th>'
            f"<th>reason</th><th>example from quality.quarantine</th></tr></thead><tbody>{reason_rows}</tbody>"
            "</table></section>"
        )
        parts.append(f"<section><h2>Every rule with violations</h2>{_rule_table(rules)}</section>")
    else:
        parts.append('<section><h2>Data quality</h2><p class="muted">No table has been healed yet.</p></section>')
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    return PAGE.substitute(
        run_id=_e(run_id),
        status=_e(status),
        pill=pill,
        style="\n" + STYLE,
        started=_e(_time(run["started_at"])),
        finished=_e(_time(run["finished_at"])),
        host=_e(run["host"] or "–"),
        command=_e(run["command"] or ""),
        body="\n".join(parts),
        generated=_e(generated),
        warehouse=_e(warehouse.describe()),
    )
