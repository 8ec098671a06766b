"""Backups panel: the list (when, size, rows), Back up now, Verify and Restore, run by pipeline.backup off the GUI."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QSplitter

from .. import formats, workers
from ..models import Column, RowsModel
from .common import Box, Panel, button, fit_columns, header, page_layout, table_view

BACKUP_COLUMNS = [
    Column("Backup", "name"),
    Column("Made", "created_at", formats.when),
    Column("Size", "size", formats.size),
    Column("Rows", "rows", formats.count),
    Column("Tables", "tables", formats.count),
    Column("Latest run", "latest_run"),
    Column("Database", "source"),
    Column("PostgreSQL", "server_version"),
]
TABLE_COLUMNS = [
    Column("Table", "name"),
    Column("Rows", "rows", formats.count),
    Column("Kind", "kind", lambda kind: "mat. view" if kind == "materialized view" else formats.text(kind)),
]


def list_backups() -> dict:
    """The finished backups in the backup folder, newest first, as the command line's `backup list` sees them."""
    from pipeline import backup, config, warehouse

    found = []
    for b in backup.backups():
        m = b.manifest
        found.append(
            {
                "name": b.name,
                "created_at": m["created_at"],
                "size": b.size,
                "rows": b.total_rows,
                "tables": len(m["tables"]),
                "latest_run": m.get("latest_run"),
                "source": m.get("source"),
                "server_version": m.get("server_version"),
                "database": m.get("database"),
                "table_rows": [
                    {
                        "name": t.get("name") or f"{t.get('schema')}.{t.get('table')}",
                        "kind": t.get("kind"),
                        "rows": t.get("rows"),
                    }
                    for t in m["tables"]
                ],
            }
        )
    return {"folder": str(config.backup_dir()), "where": warehouse.describe(), "backups": found}


def writer_now() -> str | None:
    """Who is writing the warehouse now (a run, a restore), in words; None when nobody is."""
    from pipeline.orchestration import writelock

    return writelock.current_holder()


def warehouse_is_empty() -> bool:
    """No row in any raw or clean table (a new database, or one no run has loaded yet)."""
    from .. import queries

    tables = queries.select("user_tables").rows
    for schema, table in tables:
        conn = queries._connection()
        with conn.cursor() as cur:
            cur.execute(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")')  # noqa: S608 - names from the catalog
            if cur.fetchone()[0]:
                return False
    return True


def make_backup(keep: int | None = None) -> str:
    """Back up the warehouse; refused in words while a run writes it, or when it holds no data at all."""
    from pipeline import backup

    busy = writer_now()
    if busy:
        raise workers.Refused(f"Not backed up: {busy}. Back up when it has finished.")
    if warehouse_is_empty():
        raise workers.Refused(
            "Not backed up: the warehouse is empty (no run has loaded it yet), so a backup would "
            "hold nothing and only push a useful one out of retention."
        )
    made = backup.create(keep=keep)
    return (
        f"Backed up: {made.name}, {formats.size(made.size)}, {len(made.manifest['tables'])} tables, "
        f"{formats.count(made.total_rows)} rows."
    )


def delete_backup(name: str) -> str:
    import shutil

    from pipeline import backup

    found = backup.find(name)
    shutil.rmtree(found.folder)
    return f"Deleted {name}."


def verify_backup(name: str, deep: bool) -> str:
    from pipeline import backup

    return backup.verify(name, deep=deep)


def restore_backup(name: str, back_up_first: bool = False) -> str:
    """Restore a backup into the warehouse, after backing up what it holds now if asked (retention is not applied to
    that backup: it must never delete the one being restored)."""
    from pipeline import backup

    busy = writer_now()
    if busy:
        raise workers.Refused(f"Restore refused: {busy}. Wait for it to finish or stop it, then restore.")
    before = ""
    if back_up_first and not warehouse_is_empty():
        made = backup.create(keep=0)
        before = f"The state before it is backed up as {made.name}. "
    return before + str(backup.restore(name))


class BackupsPanel(Panel):
    title = "Backups"
    restored = Signal()  # the warehouse now holds a backup's data

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict = {"backups": []}
        self.job_started = 0.0
        self.job_name = ""
        self.last_result: tuple[bool, str] | None = None
        layout = page_layout(self)
        self.subtitle = QLabel("pg_dump archives with a manifest of every table's rows and checksum.")
        self.backup_button = button("Back up now", "primary")
        self.backup_button.clicked.connect(self.back_up)
        self.verify_button = button("Verify selected")
        self.verify_button.clicked.connect(self.verify)
        self.deep = QCheckBox("Deep (restore aside and compare)")
        self.restore_button = button("Restore selected…", "danger")
        self.restore_button.clicked.connect(self.restore)
        self.delete_button = button("Delete selected…", "danger")
        self.delete_button.clicked.connect(self.delete)
        refresh = button("Refresh")
        refresh.clicked.connect(self.refresh)
        layout.addLayout(header("Backups", self.subtitle, refresh, self.backup_button))

        self.progress = QProgressBar(textVisible=False, minimum=0, maximum=1, value=0)
        self.progress.setFixedHeight(10)
        self.status = QLabel(objectName="muted")
        self.status.setWordWrap(True)
        actions = QHBoxLayout()
        actions.addWidget(self.verify_button)
        actions.addWidget(self.deep)
        actions.addSpacing(16)
        actions.addWidget(self.restore_button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        layout.addLayout(actions)
        progress = QHBoxLayout()  # the bar under the buttons: the row of buttons stays narrow enough for 1024 px
        progress.addWidget(self.progress, 1)
        layout.addLayout(progress)
        layout.addWidget(self.status)
        self.error = QLabel(objectName="error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)

        self.backups = RowsModel(BACKUP_COLUMNS, self)
        self.view = table_view(self.backups)
        self.view.selectionModel().currentRowChanged.connect(self._selected)
        self.tables = RowsModel(TABLE_COLUMNS, self)
        self.table_view = table_view(self.tables)
        split = QSplitter()
        self.list_box = Box("Backups", self.view)
        split.addWidget(self.list_box)
        self.tables_box = Box("Tables in the backup", self.table_view)
        split.addWidget(self.tables_box)
        split.setSizes([600, 440])
        layout.addWidget(split, 1)
        self.clock = QTimer(self, interval=250)
        self.clock.timeout.connect(self._tick)
        self._enable()

    def refresh(self) -> None:
        super().refresh()
        workers.submit(self, list_backups, done=self._show, failed=self._list_failed)

    def _show(self, data: dict) -> None:
        self.data = data
        self.list_box.heading.setText(f"Backups in {data['folder']}")
        chosen = self.selected()
        self.backups.set_rows(data["backups"])
        fit_columns(self.view, 190)
        names = [b["name"] for b in data["backups"]]
        self.view.selectRow(names.index(chosen["name"]) if chosen and chosen["name"] in names else 0)
        if not data["backups"]:
            self.tables.set_rows([])
            self.status.setText(f"No backups in {data['folder']} yet. Back up now makes the first.")
        self._enable()
        self.finish_load()

    def _list_failed(self, message: str) -> None:
        self._fail("Cannot list the backups", message)
        self.finish_load()

    def selected(self) -> dict | None:
        index = self.view.selectionModel().currentIndex()
        return self.backups.row(index.row()) if index.isValid() and index.row() < len(self.backups.rows) else None

    def _selected(self, current, previous=None) -> None:
        chosen = self.selected()
        self.tables.set_rows(chosen["table_rows"] if chosen else [])
        fit_columns(self.table_view, 230)
        if chosen:
            self.tables_box.heading.setText(f"Tables in {chosen['name']}")
        self._enable()

    def _enable(self) -> None:
        idle = not self.job_name
        self.backup_button.setEnabled(idle)
        self.verify_button.setEnabled(idle and self.selected() is not None)
        self.restore_button.setEnabled(idle and self.selected() is not None)
        self.delete_button.setEnabled(idle and self.selected() is not None)

    # -- jobs: one at a time, each with a busy bar and the seconds it has taken
    def _start(self, name: str, function, *args, done=None) -> None:
        self.job_name, self.job_started, self.last_result = name, time.monotonic(), None
        self.error.hide()
        self.progress.setMaximum(0)  # busy: pg_dump and pg_restore do not report their progress
        self.clock.start()
        self._tick()
        self._enable()
        workers.submit(
            self,
            function,
            *args,
            pool=workers.LONG_JOBS,
            done=lambda text: self._job_done(text, done),
            failed=self._job_failed,
        )

    def _tick(self) -> None:
        self.status.setText(f"{self.job_name}… {formats.seconds(time.monotonic() - self.job_started)}")

    def _stop_clock(self) -> None:
        self.clock.stop()
        self.progress.setMaximum(1)
        self.job_name = ""

    def _job_done(self, text: str, then=None) -> None:
        self.progress.setValue(1)
        self._stop_clock()
        self.last_result = (True, text)
        self.status.setText(text)
        self._enable()
        if then is not None:
            then()
        self.refresh()

    def _job_failed(self, message: str) -> None:
        self.progress.setValue(0)
        self._stop_clock()
        self.last_result = (False, message)
        self._fail("It did not work", message)
        self._enable()

    def _fail(self, title: str, message: str) -> None:
        self.status.setText(title + ".")
        self.error.setText(message)
        self.error.show()

    def back_up(self) -> None:
        self._start("Backing up the warehouse", make_backup)

    def verify(self) -> None:
        chosen = self.selected()
        if chosen:
            deep = self.deep.isChecked()
            self._start(
                f"Verifying {chosen['name']}" + (" (restoring it aside)" if deep else ""),
                verify_backup,
                chosen["name"],
                deep,
            )

    def confirmation(self, chosen: dict) -> str:
        return (
            f"Restore {chosen['name']} (made {formats.when(chosen['created_at'])}, "
            f"{formats.count(chosen['rows'])} rows in {formats.count(chosen['tables'])} tables)?\n\n"
            f"This replaces everything in the warehouse ({self.data.get('where', 'the warehouse')}): "
            "all raw, clean, quality, analytics and ops tables, including runs and data newer than the "
            "backup. It happens in one transaction: if anything fails, nothing changes."
        )

    def restore(self) -> None:
        """Ask who is writing the warehouse first: while a run holds it, say so and do not offer the restore."""
        chosen = self.selected()
        if not chosen or self.job_name:
            return
        self.error.hide()
        self.status.setText("Checking that no run is writing the warehouse…")
        self.restore_button.setEnabled(False)
        workers.submit(
            self,
            writer_now,
            done=lambda busy: self._confirm_restore(chosen, busy),
            failed=lambda message: (self._enable(), self._fail("Cannot restore", message)),
        )

    def _confirm_restore(self, chosen: dict, busy: str | None) -> None:
        self._enable()
        if busy:
            self.last_result = (False, f"Restore refused: {busy}. Wait for it to finish or stop it, then restore.")
            self._fail("Restore refused", self.last_result[1])
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Restore the warehouse",
            self.confirmation(chosen),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        first = QCheckBox("Back up the current state first")
        first.setChecked(True)
        box.setCheckBox(first)
        self.last_confirmation = (first.text(), first.isChecked())  # as offered (tests read it)
        answer = box.exec()
        back_up_first = first.isChecked()
        box.deleteLater()
        if answer != QMessageBox.StandardButton.Yes:
            self.status.setText("Restore cancelled: nothing changed.")
            return
        self._start(
            f"Restoring {chosen['name']}" + (" (backing up the current state first)" if back_up_first else ""),
            restore_backup,
            chosen["name"],
            back_up_first,
            done=self.restored.emit,
        )

    def delete(self) -> None:
        chosen = self.selected()
        if not chosen or self.job_name:
            return
        answer = QMessageBox.question(
            self,
            "Delete a backup",
            f"Delete {chosen['name']} (made {formats.when(chosen['created_at'])}, "
            f"{formats.size(chosen['size'])})? Its archive and manifest are removed "
            "from the backup folder; this cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            self.status.setText("Nothing deleted.")
            return
        self._start(f"Deleting {chosen['name']}", delete_backup, chosen["name"])
