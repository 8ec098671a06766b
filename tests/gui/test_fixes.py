"""Fixes of issue 16 that need no filled warehouse: settings, backups, ..."""
from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

VARIABLES = ("PIPELINE_DATABASE_URL", "PIPELINE_DATA_DIR", "PIPELINE_BACKUP_DIR")


@pytest.fixture
def environment(monkeypatch, database_url):
    """The pipeline's variables as the test found them, put back afterwards whatever the app set."""
    for name in VARIABLES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return database_url


def test_test_connection_tries_the_url_typed_in_the_field_not_the_saved_one(environment, window, qtbot):
    panel = window.show_panel("Settings")
    qtbot.waitUntil(lambda: panel.loads >= 1)
    panel.url.setText(environment)
    panel.save_button.click()  # saved: a working warehouse
    qtbot.waitUntil(lambda: panel.url_status.text().startswith("Connected to"), timeout=30000)

    wrong = make_url(environment).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)
    panel.url.setText(wrong)  # typed, not saved
    panel.url_status.setText("")
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.url_status.text() not in ("", "Connecting…"), timeout=30000)
    assert panel.url_status.text().startswith("Cannot connect to "), panel.url_status.text()
    assert ":1/" in panel.url_status.text() and panel.url_status.objectName() == "error"
    assert panel.settings.value("warehouse_url") == environment  # testing saves nothing

    panel.url.setText(environment)
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.url_status.text().startswith("Connected to"), timeout=30000)
    assert panel.url_status.objectName() == "ok"
