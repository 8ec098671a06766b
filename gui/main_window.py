"""The main window: a sidebar and the panels, created when first shown; it only composes and connects them."""

from __future__ import annotations

import gc
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from . import banner, style, workers
from .banner import Banner
from .date_range import DateRangeBar
from .live import Listener
from .panels.common import Panel
from .preferences import AppSettings


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, parent=None):
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.setWindowTitle("Insurance pipeline")
        self.resize(1280, 800)
        self.factories: list[tuple[str, Callable[[], Panel]]] = [
            ("Overview", self._overview),
            ("Pipeline", self._pipeline),
            ("Data quality", self._quality),
            ("Explorer", self._explorer),
            ("Forecast", self._forecast),
            ("Backups", self._backups),
            ("Settings", self._settings),
        ]
        self.panels: dict[str, Panel] = {}

        self.nav = QListWidget(objectName="nav")
        self.nav.addItems([name for name, _ in self.factories])
        self.nav.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable by Tab; arrows then switch panels
        self.nav.setStyleSheet(style.NAV_STYLE_SHEET)
        self.where = QLabel(objectName="where")
        self.where.setWordWrap(True)
        sidebar = QWidget(objectName="sidebar")
        sidebar.setFixedWidth(200)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(0)
        side.addWidget(QLabel("Insurance\npipeline", objectName="brand"))
        side.addWidget(self.nav, 1)
        side.addWidget(self.where)

        self.stack = QStackedWidget()
        self.placeholders = [QWidget(objectName="page") for _ in self.factories]
        for placeholder in self.placeholders:
            self.stack.addWidget(placeholder)
        self.banner = Banner()
        self.banner.show_pipeline.connect(lambda: self.show_panel("Pipeline"))
        self.dates = DateRangeBar(self.settings)
        self.dates.changed.connect(self._dates_changed)
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.dates)
        column.addWidget(self.stack, 1)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(sidebar)
        row.addWidget(content, 1)
        self.setCentralWidget(central)
        self.nav.currentRowChanged.connect(self._show)
        self.nav.setCurrentRow(0)
        self.panels[self.factories[0][0]].loaded.connect(self._first_loaded)

        # Live: the pipeline's NOTIFY (any run, from anywhere) refreshes the panels, at most every 200 ms.
        self.live = Listener(self)
        self.live.event.connect(self._heard)
        self.settle = QTimer(self, singleShot=True, interval=200)
        self.settle.timeout.connect(self.warehouse_changed)
        self.live.start()
        self._update_banner()
        self.dates.learn_latest()

        # Keyboard: F5 refreshes the panel shown, Ctrl+1..7 switch panels.
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, self.refresh_current)
        for number, (name, _) in enumerate(self.factories, start=1):
            QShortcut(QKeySequence(f"Ctrl+{number}"), self, lambda chosen=name: self.show_panel(chosen))

    def refresh_current(self) -> None:
        current = self.stack.currentWidget()
        if isinstance(current, Panel):
            current.refresh()
        self._update_banner()

    def _first_loaded(self) -> None:
        self.panels[self.factories[0][0]].loaded.disconnect(self._first_loaded)
        QTimer.singleShot(30, self._prepare_rest)

    def _prepare_rest(self) -> None:
        """Once the first panel shows its data, make the other panels (hidden, not loading anything) a piece per
        turn of the event loop: making them takes ~0.3 s of the GUI thread, better spent now than on a click."""
        unfinished = [made for made in self.panels.values() if made.building is not None]
        missing = [name for name, _ in self.factories if name not in self.panels]
        if unfinished:
            unfinished[0].build_step()
            QTimer.singleShot(30, self._prepare_rest)
        elif missing:
            self.panel(missing[0])
            QTimer.singleShot(30, self._prepare_rest)
        else:
            gc.freeze()  # what exists now lives as long as the window: keep it out of the garbage collector's scans

    # -- panels, made on first use (only the visible one loads at start)
    def panel(self, name: str) -> Panel:
        if name not in self.panels:
            index = [n for n, _ in self.factories].index(name)
            made = self.factories[index][1]()
            made.settings_requested.connect(lambda: self.show_panel("Settings"))
            self.panels[name] = made
            self.stack.removeWidget(self.placeholders[index])
            self.stack.insertWidget(index, made)
        return self.panels[name]

    def show_panel(self, name: str) -> Panel:
        self.nav.setCurrentRow([n for n, _ in self.factories].index(name))
        return self.panels[name]

    def _show(self, index: int) -> None:
        made = self.panel(self.factories[index][0])
        self.stack.setCurrentWidget(made)
        made.activate()
        self._update_where()

    def _update_where(self) -> None:
        workers.submit(self, _describe, done=self.where.setText)

    def _update_banner(self) -> None:
        self.banner_asked = getattr(self, "banner_asked", 0) + 1
        asked = self.banner_asked
        workers.submit(
            self, banner.load, done=lambda state: asked == self.banner_asked and self.banner.set_state(state)
        )

    def _heard(self, event: dict) -> None:
        """An announcement of the pipeline: follow its run in the Pipeline panel, refresh the panels shortly."""
        pipeline = self.panels.get("Pipeline")
        if pipeline is not None and event.get("run"):
            pipeline.follow(event["run"])
        if not self.settle.isActive():
            self.settle.start()

    def warehouse_changed(self) -> None:
        """A run, a restore or new settings changed what the panels show."""
        for made in self.panels.values():
            made.mark_stale()
        self._update_where()
        self._update_banner()
        self.dates.learn_latest(always=False)

    def _dates_changed(self) -> None:
        for name in ("Overview", "Data quality", "Explorer"):
            if name in self.panels:
                self.panels[name].mark_stale()

    def settings_changed(self) -> None:
        """Another warehouse, maybe: listen to it instead, and show its state in every panel."""
        self.live.start()
        self.warehouse_changed()

    def _overview(self) -> Panel:
        from .panels.overview import OverviewPanel

        made = OverviewPanel(self.dates.bounds)
        made.run_requested.connect(self.run_pipeline)
        return made

    def _pipeline(self) -> Panel:
        from .panels.pipeline_panel import PipelinePanel

        made = PipelinePanel(self.settings)
        made.run_finished.connect(lambda ok: self.warehouse_changed())
        return made

    def _quality(self) -> Panel:
        from .panels.quality import QualityPanel

        return QualityPanel(self.dates.run_bounds)

    def _explorer(self) -> Panel:
        workers.ensure_pipeline()  # the panel builds pipeline.explore's selections on this thread
        from .panels.explorer import ExplorerPanel

        return ExplorerPanel(self.dates.bounds)

    def _forecast(self) -> Panel:
        from .panels.forecast import ForecastPanel

        return ForecastPanel()

    def _backups(self) -> Panel:
        from .panels.backups import BackupsPanel

        made = BackupsPanel()
        made.restored.connect(self.warehouse_changed)
        return made

    def _settings(self) -> Panel:
        from .panels.settings import SettingsPanel

        made = SettingsPanel(self.settings)
        made.changed.connect(self.settings_changed)
        return made

    def run_pipeline(self) -> None:
        self.show_panel("Pipeline").start()

    def closeEvent(self, event) -> None:
        pipeline = self.panels.get("Pipeline")
        if pipeline is not None:
            pipeline.stop(wait=True)
        self.live.stop()
        super().closeEvent(event)


def _describe() -> str:
    from pipeline import warehouse

    where = warehouse.describe()
    for mark in ("/", "?", "&", "@", "%2F", "-", "_"):  # places where a long URL may wrap in the narrow sidebar
        where = where.replace(mark, mark + "\u200b")
    return f"Warehouse:\n{where}"
