"""Settings panel: warehouse URL (password masked), source and backup folders, scheduler address."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QWidget

from .. import workers
from ..preferences import AppSettings, parse_scheduler, scheduler_answers
from .common import Box, Panel, button, header, page_layout

MASK = "***"


def masked(url: str) -> str:
    """The URL as shown: its password replaced by ***."""
    if not url:
        return ""
    workers.ensure_pipeline()
    from pipeline import warehouse

    return warehouse.mask(url)


def unmasked(text: str, stored: str) -> str:
    """What the user typed, with *** standing for the stored password (so a masked URL can be edited)."""
    text = text.strip()
    if MASK not in text or not stored:
        return text
    from sqlalchemy.engine import make_url

    try:
        typed, old = make_url(text), make_url(stored)
    except Exception:  # noqa: BLE001 - not a URL: saved as typed, and the connection test will say so
        return text
    if typed.password == MASK:
        return typed.set(password=old.password).render_as_string(hide_password=False)
    return text


def _check_warehouse(typed: str = "", default: str | None = None) -> str:
    """Connect to the URL typed in the field (not the saved one); an empty field means what the app would use
    without the setting: `default` (the environment the app started with, or luigi.cfg), else the embedded server."""
    import psycopg2

    from pipeline import config, warehouse

    target = typed or default or config.warehouse().url
    where = warehouse.mask(target) if target else f"embedded PostgreSQL in {config.embedded_dir()}"
    try:
        if target:
            conn = warehouse.connect(address=warehouse.libpq_url(target), name="insurance-app", timeout=5)
        else:
            from pipeline import embedded

            conn = psycopg2.connect(
                embedded.url(config.embedded_dir() / "pgdata", config.warehouse().database),
                application_name="insurance-app",
                connect_timeout=5,
            )
    except (psycopg2.Error, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise workers.Refused(f"Cannot connect to {where}: {reason}") from None
    version = conn.server_version
    conn.close()
    return f"Connected to {where} (PostgreSQL {version // 10000}.{version % 100})"


class SettingsPanel(Panel):
    title = "Settings"
    changed = Signal()  # saved: the warehouse or the folders may differ now

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.settings = settings
        layout = page_layout(self)
        self.subtitle = QLabel("Stored for this user; applied to the app and to the runs and backups it starts.")
        self.save_button = button("Save", "primary")
        self.save_button.clicked.connect(self.save)
        self.revert_button = button("Revert")
        self.revert_button.clicked.connect(self.refresh)
        layout.addLayout(header("Settings", self.subtitle, self.revert_button, self.save_button))

        self.url = QLineEdit(
            placeholderText="empty: PIPELINE_DATABASE_URL, luigi.cfg [warehouse] url, else an embedded PostgreSQL"
        )
        self.data_dir = QLineEdit(placeholderText="empty: PIPELINE_DATA_DIR, else luigi.cfg [sources] data_dir")
        self.backup_dir = QLineEdit(placeholderText="empty: PIPELINE_BACKUP_DIR, else luigi.cfg [backups] folder")
        self.scheduler = QLineEdit(placeholderText="host:port; empty: luigi.cfg [core] scheduler_host:scheduler_port")
        self.url_status = QLabel(objectName="muted")
        self.scheduler_status = QLabel(objectName="muted")
        for status in (self.url_status, self.scheduler_status):
            status.setWordWrap(True)
            status.hide()
        form_widget = QWidget()
        form = QFormLayout(form_widget)
        form.setHorizontalSpacing(18)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setVerticalSpacing(10)
        self.test_button = button("Test connection", tooltip="Connect to the URL typed here (saves nothing)")
        self.test_button.clicked.connect(self.test_warehouse)
        form.addRow("Warehouse URL", self._row(self.url, self.test_button))
        form.addRow("", self.url_status)
        form.addRow("Source folder", self._row(self.data_dir, self._browse(self.data_dir)))
        form.addRow("Backup folder", self._row(self.backup_dir, self._browse(self.backup_dir)))
        test_scheduler = button("Test")
        test_scheduler.clicked.connect(self.test_scheduler)
        form.addRow("Scheduler (luigid)", self._row(self.scheduler, test_scheduler))
        form.addRow("", self.scheduler_status)
        layout.addWidget(Box("Connection and folders", form_widget))
        self.in_use = {key: QLabel(objectName="muted") for key in ("warehouse", "data_dir", "backup_dir", "scheduler")}
        in_use = QWidget()
        shown = QFormLayout(in_use)
        shown.setHorizontalSpacing(18)
        for key, label in (
            ("warehouse", "Warehouse"),
            ("data_dir", "Source folder"),
            ("backup_dir", "Backup folder"),
            ("scheduler", "Scheduler"),
        ):
            self.in_use[key].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.addRow(label, self.in_use[key])
        layout.addWidget(Box("In use now", in_use))
        self.error = QLabel(objectName="error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        layout.addStretch(1)

    @staticmethod
    def _row(*widgets: QWidget) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        for i, widget in enumerate(widgets):
            box.addWidget(widget, 1 if i == 0 else 0)
        return row

    def _browse(self, field: QLineEdit):
        found = button("Browse…")
        found.clicked.connect(lambda: self._pick(field))
        return found

    def _pick(self, field: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", field.text())
        if folder:
            field.setText(folder)

    def refresh(self) -> None:
        super().refresh()
        self.url.setText(masked(self.settings.value("warehouse_url")))
        self.data_dir.setText(self.settings.value("data_dir"))
        self.backup_dir.setText(self.settings.value("backup_dir"))
        self.scheduler.setText(self.settings.value("scheduler"))
        self.error.hide()
        self._show_in_use()
        self.finish_load()

    def _show_in_use(self) -> None:
        for key, value in self.settings.effective().items():
            self.in_use[key].setText(value)

    def save(self) -> None:
        try:
            if self.scheduler.text().strip():
                parse_scheduler(self.scheduler.text())
        except ValueError as exc:
            self.error.setText(f"Not saved: {exc}.")
            self.error.show()
            return
        self.error.hide()
        self.settings.set("warehouse_url", unmasked(self.url.text(), self.settings.value("warehouse_url")))
        self.settings.set("data_dir", self.data_dir.text())
        self.settings.set("backup_dir", self.backup_dir.text())
        self.settings.set("scheduler", self.scheduler.text())
        self.settings.apply()
        self.url.setText(masked(self.settings.value("warehouse_url")))
        self._show_in_use()
        self.changed.emit()
        self.test_warehouse()

    def test_warehouse(self) -> None:
        self._status(self.url_status, "Connecting…", True)
        typed = unmasked(self.url.text(), self.settings.value("warehouse_url"))
        default = self.settings.started_with.get("PIPELINE_DATABASE_URL")
        workers.submit(
            self,
            _check_warehouse,
            typed,
            default,
            done=lambda text: self._status(self.url_status, text, True),
            failed=lambda text: self._status(self.url_status, text, False),
        )

    def test_scheduler(self) -> None:
        try:
            chosen = (
                parse_scheduler(self.scheduler.text()) if self.scheduler.text().strip() else self.settings.scheduler()
            )
        except ValueError as exc:
            self._status(self.scheduler_status, str(exc), False)
            return
        self._status(self.scheduler_status, f"Asking {chosen}…", True)
        workers.submit(
            self,
            scheduler_answers,
            chosen,
            done=lambda ok: self._status(
                self.scheduler_status,
                f"luigid answers at {chosen}: runs use it"
                if ok
                else f"No luigid answers at {chosen}: runs use a local scheduler",
                ok,
            ),
        )

    def _status(self, label: QLabel, text: str, ok: bool) -> None:
        label.show()
        label.setObjectName("ok" if ok else "error")
        label.setText(text)
        label.setToolTip(text)
        label.style().unpolish(label)
        label.style().polish(label)
