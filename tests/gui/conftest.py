"""Fixtures of the app's tests: Qt offscreen, a warehouse filled once per module by a real run, the main window."""
from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported anywhere

import shutil
import uuid

import psycopg2
import pytest
from psycopg2 import sql
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy.engine import make_url

from pipeline import warehouse
from pipeline.orchestration.tasks import Transform

from ..conftest import SAMPLE, build


def _admin(url: str):
    conn = psycopg2.connect(warehouse._libpq(url))
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def filled_url(pg_admin_url, tmp_path_factory) -> str:
    """A warehouse filled by a real run of Transform on the committed sample, shared by a module's read-only tests;
    PIPELINE_DATABASE_URL, PIPELINE_DATA_DIR and PIPELINE_BACKUP_DIR point at it for the module."""
    name = f"gui_test_{uuid.uuid4().hex[:10]}"
    admin = _admin(pg_admin_url)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(warehouse._libpq(pg_admin_url)).set(database=name).render_as_string(hide_password=False)
    folder = tmp_path_factory.mktemp("gui-data")
    shutil.copytree(SAMPLE, folder / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_DATABASE_URL", url)
        patch.setenv("PIPELINE_DATA_DIR", str(folder / "data"))
        patch.setenv("PIPELINE_BACKUP_DIR", str(folder / "backups"))
        result = build(Transform(), workers=2)
        assert result.scheduling_succeeded, result.summary_text
        yield url
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window as `python -m gui` shows it, with empty stored settings (the environment decides)."""
    from gui import style, workers
    from gui.main_window import MainWindow
    from gui.preferences import AppSettings

    style.apply(QApplication.instance())
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    shown = MainWindow(settings)
    qtbot.addWidget(shown)
    shown.resize(1280, 800)
    shown.show()
    yield shown
    pipeline = shown.panels.get("Pipeline")
    if pipeline is not None:
        pipeline.stop(wait=True)
    assert workers.wait_all(120000), "worker threads still busy after the test"
    qtbot.wait(50)  # let the last results arrive while the window still exists


def answer_next_dialog(button=QMessageBox.StandardButton.Yes) -> list[str]:
    """Click a button of the next modal message box, as a user would; its text lands in the returned list."""
    seen: list[str] = []

    def click():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)
    return seen
