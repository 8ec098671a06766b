"""How figures are written on screen (1,234; $1.2M; 45.3%; 2 min 5 s): display only, no arithmetic on data."""

from __future__ import annotations

import datetime
import decimal
import math

DASH = "–"


def count(value) -> str:
    return DASH if value is None else f"{int(value):,}"


def number(value, digits: int = 2) -> str:
    return DASH if value is None else f"{float(value):,.{digits}f}"


def money(value) -> str:
    """US dollars, short: $845, $12.3K, $1.2M, $3.40B."""
    if value is None:
        return DASH
    amount = float(value)
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if amount >= limit:
            return f"{sign}${amount / limit:,.{2 if suffix == 'B' and amount < 1e10 else 1}f}{suffix}"
    return f"{sign}${amount:,.0f}"


def money_exact(value) -> str:
    return DASH if value is None else f"${float(value):,.2f}"


def percent(value, digits: int = 1) -> str:
    """A share (0.453) as 45.3%."""
    return DASH if value is None else f"{float(value) * 100:,.{digits}f}%"


def seconds(value) -> str:
    if value is None:
        return DASH
    value = float(value)
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(round(value)), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def size(value) -> str:
    if value is None:
        return DASH
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def when(value) -> str:
    """A timestamp in local time to the second; dates as they are."""
    if value is None:
        return DASH
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def clock(value) -> str:
    """The local time of day of a timestamp (the date is in the heading)."""
    if not isinstance(value, datetime.datetime):
        return when(value)
    return (value.astimezone() if value.tzinfo else value).strftime("%H:%M:%S")


def month(value) -> str:
    return DASH if value is None else value.strftime("%b %Y")


def text(value) -> str:
    if value is None:
        return DASH
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, decimal.Decimal):
        return f"{value:,}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return when(value)
    return str(value)


def axis(kind: str, spacing: float | None = None):
    """A short formatter for chart axes (ticks `spacing` apart) and hover labels: count, money, percent, seconds."""

    def decimals(step: float) -> int:
        return 0 if not step or step >= 1 else min(3, -math.floor(math.log10(step)))

    if kind == "percent":
        places = decimals(spacing * 100) if spacing else 1
        return lambda v: f"{float(v) * 100:,.{places}f}%"
    if kind == "seconds" and spacing is not None and spacing < 60:
        places = decimals(spacing)
        return lambda v: f"{float(v):,.{places}f} s"
    return {"count": _short_count, "money": money, "seconds": seconds}.get(kind, text)


def _short_count(value) -> str:
    value = float(value)
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.0f}K"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
