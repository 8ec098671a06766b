"""Chart axes show every tick label they make room for: a second axis on the right included."""

from __future__ import annotations

import datetime

from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication


def shown_tick_labels(axis) -> list[str]:
    """The tick labels pyqtgraph draws (it silently leaves out a label wider than the axis)."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _, _, text in specs[2]] if specs else []


def test_the_premium_charts_right_axis_labels_every_tick(qtbot):
    from gui import style
    from gui.time_chart import TimeChart

    style.apply(QApplication.instance())  # the app's font: "$100.0K" is wider than the fixed 58 px the axis had
    chart = TimeChart("Premium per month (USD)", kind="money")
    qtbot.addWidget(chart)
    chart.resize(700, 330)
    chart.show()
    months = [datetime.date(2015 + m // 12, m % 12 + 1, 1) for m in range(130)]
    written = [1e4 * 1.05**i for i in range(130)]  # up to $5.4M on the left
    collected = [5e2 * 1.05**i for i in range(130)]  # up to $270K on the right
    chart.set_series(months, {"Written": written, "Collected": collected}, right=("Collected",))
    qtbot.waitUntil(lambda: chart.right_axis.range[1] > 250_000)
    qtbot.wait(50)

    right = shown_tick_labels(chart.right_axis)
    assert {"$0", "$100.0K", "$200.0K", "$250.0K"} <= set(right), right
    assert "$5.0M" in shown_tick_labels(chart.plot.getPlotItem().getAxis("left"))
