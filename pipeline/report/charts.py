"""The report's formatting and its charts: inline SVG, no script, nothing fetched."""

from __future__ import annotations

import html
import json

FAMILY_COLOURS = {"LoadTable": "#4e79a7", "HealTable": "#59a14f", "Transform": "#b07aa1", "Backup": "#76b7b2"}
ACTION_COLOURS = {"fix": "#59a14f", "quarantine": "#e15759", "flag": "#f28e2b"}
STATUS_COLOURS = {"done": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "interrupted": "#ef6c00"}
CLEAN, HELD, MUTED = "#59a14f", "#e15759", "#9aa5b1"


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


def task_how(details, why: bool = True) -> str | None:
    """How a load or heal did its work: a load staged only new part files (delta) or every part (full); a heal
    checked only the new rows against clean (incremental) or healed the whole table (full); with why, when asked."""
    found = details if isinstance(details, dict) else json.loads(details or "{}")
    reason = f" ({found['why']})" if why and found.get("why") else ""
    if found.get("built") == "incremental":  # Transform: the keyed tables refreshed for the changed keys
        keys = found.get("refreshed", {})  # JSON keeps no order: the sets in the order Transform refreshes them
        one = {"policies": "policy", "customers": "customer", "months": "month"}
        refreshed = ", ".join(
            f"{keys[name]:,} {one[name] if keys[name] == 1 else name}" for name in one if name in keys
        )
        added = len(found.get("added", []))
        how = f" ({added} table{'s' if added != 1 else ''} by adding the new rows)" if added else ""
        keyed = f" (not by adding: {found['not_additive']})" if why and found.get("not_additive") else ""
        kept = "; the forecast kept (no whole month changed)" if found.get("forecast") == "kept" else ""
        return f"incremental, {refreshed} refreshed{how}{keyed}{kept}"
    if found.get("built"):
        return f"full{reason}"
    if found.get("healed") == "incremental":
        return f"incremental, {found.get('checked', 0):,} rows checked{reason}"
    if found.get("healed") or found.get("staged"):
        return f"{found.get('healed') or found.get('staged')}{reason}"
    return None


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
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" class="grid"/>'
            f'<text x="{x:.1f}" y="{top - 10}" class="axis" text-anchor="middle">{tick:g} s</text>'
        )
    for i, t in enumerate(tasks):
        y = top + i * row_h
        x = label_w + float(t["start_s"]) * scale
        w = max(float(t["seconds"]) * scale, 2.0)
        colour = FAMILY_COLOURS.get(t["task_family"], MUTED)
        cls = "bar" if t["status"] == "done" else f"bar {t['status']}"
        tip = f"{task_label(t)}: {t['status']}, {_secs(t['seconds'])}, reason {t['reason'] or '–'}"
        if i % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" class="band"/>')
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" class="label" text-anchor="end">{_e(task_label(t))}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}" '
            f'class="{cls}"><title>{_e(tip)}</title></rect>'
            + (
                f'<text x="{x + w + 5:.1f}" y="{y + 14}" class="value">'
                if x + w + 60 < width
                else f'<text x="{x - 5:.1f}" y="{y + 14}" class="value" text-anchor="end">'
            )
            + f"{_e(_secs(t['seconds']))}</text>"
        )
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
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="label" text-anchor="end">{_e(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}">'
            f"<title>{_e(tip)}</title></rect>"
            f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" class="value">{_e(fmt(value))}</text>'
        )
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
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" class="label" text-anchor="end">{_e(t["table_name"])}</text>'
            f"<g><title>{_e(tip)}</title>"
            f'<rect x="{label_w}" y="{y + 4}" width="{clean_w:.1f}" height="{row_h - 8}" fill="{CLEAN}"/>'
            f'<rect x="{label_w + clean_w:.1f}" y="{y + 4}" width="{held_w:.1f}" height="{row_h - 8}" '
            f'fill="{HELD}"/></g>'
            f'<text x="{label_w + plot + 6}" y="{y + 15}" class="value">{_pct(t["clean_rows"], raw)}</text>'
        )
    y = row_h * len(tables) + 14
    parts.append(
        f'<rect x="{label_w}" y="{y - 9}" width="10" height="10" fill="{CLEAN}"/>'
        f'<text x="{label_w + 14}" y="{y}" class="axis">clean</text>'
        f'<rect x="{label_w + 70}" y="{y - 9}" width="10" height="10" fill="{HELD}"/>'
        f'<text x="{label_w + 84}" y="{y}" class="axis">quarantined</text></svg>'
    )
    return "".join(parts)


def valid_rates(tables: list[dict], width: int = 540, label_w: int = 130) -> str:
    """Per table, the share of valid rows as they arrived (grey) and after healing (green), 0-100%."""
    row_h = 22
    plot = width - label_w - 70
    height = row_h * len(tables) + 44
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{row_h * len(tables)}" class="grid"/>'
            f'<text x="{x:.1f}" y="{row_h * len(tables) + 14}" class="axis" text-anchor="middle">{tick}%</text>'
        )
    for i, t in enumerate(tables):
        y = i * row_h + row_h / 2
        raw = t["raw_rows"] or 1
        before, after = t["valid_before"] / raw, t["clean_rows"] / raw
        xb, xa = label_w + plot * before, label_w + plot * after
        tip = f"{t['table_name']}: {before:.1%} valid as it arrived, {after:.1%} after healing"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 4}" class="label" text-anchor="end">{_e(t["table_name"])}</text>'
            f"<g><title>{_e(tip)}</title>"
            f'<line x1="{xb:.1f}" y1="{y}" x2="{xa:.1f}" y2="{y}" stroke="#c9d1d9" stroke-width="3"/>'
            f'<circle cx="{xb:.1f}" cy="{y}" r="5" fill="{MUTED}"/>'
            f'<circle cx="{xa:.1f}" cy="{y}" r="5" fill="{CLEAN}"/></g>'
            f'<text x="{label_w + plot + 10}" y="{y + 4}" class="value">{after:.1%}</text>'
        )
    y = row_h * len(tables) + 34
    parts.append(
        f'<circle cx="{label_w + 5}" cy="{y - 4}" r="5" fill="{MUTED}"/>'
        f'<text x="{label_w + 14}" y="{y}" class="axis">valid as it arrived</text>'
        f'<circle cx="{label_w + 145}" cy="{y - 4}" r="5" fill="{CLEAN}"/>'
        f'<text x="{label_w + 154}" y="{y}" class="axis">after healing (clean)</text></svg>'
    )
    return "".join(parts)
