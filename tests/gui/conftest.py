"""Fixtures of the app's tests: Qt offscreen, a warehouse filled once per session by a real run, the main window."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported anywhere

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from tests.support import healed_warehouse

NAMES = ("PIPELINE_DATABASE_URL", "PIPELINE_DATA_DIR", "PIPELINE_BACKUP_DIR", "PIPELINE_REPORT_DIR")


@pytest.fixture(scope="session")
def filled_environment(pg_admin_url, tmp_path_factory) -> dict[str, str]:
    """A warehouse filled by a real run of Transform on the committed sample, made once for the session's read-only
    tests (a run takes ~35 s): the PIPELINE_* variables that point at it, set only where filled_url is used."""
    folder = tmp_path_factory.mktemp("gui-data")
    before = {name: os.environ.get(name) for name in NAMES}
    with (
        healed_warehouse(
            pg_admin_url,
            folder,
            prefix="gui_test",
            PIPELINE_BACKUP_DIR=str(folder / "backups"),
            PIPELINE_REPORT_DIR=str(folder / "reports"),
        ) as url,
        pytest.MonkeyPatch.context() as outside,
    ):
        filled = {name: os.environ[name] for name in NAMES}
        for name, value in before.items():  # the other modules' tests see the environment as it was
            if value is None:
                outside.delenv(name, raising=False)
            else:
                outside.setenv(name, value)
        assert filled["PIPELINE_DATABASE_URL"] == url
        yield filled


@pytest.fixture(scope="module")
def filled_url(filled_environment) -> str:
    """The session's filled warehouse; PIPELINE_DATABASE_URL, PIPELINE_DATA_DIR and PIPELINE_BACKUP_DIR point at it
    for the module."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in filled_environment.items():
            patch.setenv(name, value)
        yield filled_environment["PIPELINE_DATABASE_URL"]


@pytest.fixture
def unreachable(monkeypatch):
    """A warehouse URL where nothing listens; listed before `window`, it is set before the window opens (else the
    window's first refresh goes to the embedded warehouse of the project folder)."""
    monkeypatch.setenv("PIPELINE_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/nowhere")


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
