"""Settings: stored, applied as environment for the app and its runs, the password never shown; number formats."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

from gui import formats

VARIABLES = ("PIPELINE_DATABASE_URL", "PIPELINE_DATA_DIR", "PIPELINE_BACKUP_DIR")


def test_number_formats():
    assert formats.count(1234) == "1,234" and formats.count(None) == "–"
    assert formats.money(1_234_567) == "$1.2M" and formats.money(7_191_316_656.39) == "$7.19B"
    assert formats.money(845.2) == "$845" and formats.money(12_345) == "$12.3K" and formats.money(-2500) == "-$2.5K"
    assert formats.percent(0.453) == "45.3%" and formats.percent(11.6447) == "1,164.5%"
    assert (
        formats.seconds(0.42) == "0.4 s" and formats.seconds(0.042) == "42 ms" and formats.seconds(125) == "2 min 5 s"
    )
    assert formats.size(2_500_000) == "2.4 MB"
    assert formats.axis("percent", 0.2)(0.4) == "40%" and formats.axis("percent", 0.005)(0.455) == "45.5%"


@pytest.fixture
def environment(monkeypatch, database_url):
    """The pipeline's variables as the test found them, put back afterwards whatever the app set."""
    for name in VARIABLES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    return database_url


def test_settings_mask_the_password_and_apply_to_the_environment(environment, window, qtbot, tmp_path):
    panel = window.show_panel("Settings")
    qtbot.waitUntil(lambda: panel.loads >= 1)
    with_password = make_url(environment).set(password="s3cret-pw").render_as_string(hide_password=False)
    panel.url.setText(with_password)
    panel.data_dir.setText(str(tmp_path / "sources"))
    panel.save_button.click()

    assert panel.settings.value("warehouse_url") == with_password
    assert os.environ["PIPELINE_DATABASE_URL"] == with_password  # the app's queries and the runs it starts
    assert os.environ["PIPELINE_DATA_DIR"] == str(tmp_path / "sources")
    assert "s3cret-pw" not in panel.url.text() and ":***@" in panel.url.text()
    assert "s3cret-pw" not in panel.in_use["warehouse"].text() and ":***@" in panel.in_use["warehouse"].text()
    qtbot.waitUntil(lambda: panel.url_status.text().startswith("Connected to"), timeout=30000)
    assert "s3cret-pw" not in panel.url_status.text()

    # saving again with the masked text keeps the stored password; a new host keeps it too
    panel.save_button.click()
    assert panel.settings.value("warehouse_url") == with_password
    panel.url.setText(
        panel.url.text().replace("postgres:***@", "postgres:***@127.0.0.1:1", 1)
        if "@/" in panel.url.text()
        else panel.url.text()
    )
    panel.save_button.click()
    assert make_url(panel.settings.value("warehouse_url")).password == "s3cret-pw"

    # a bad scheduler address is refused in words and nothing is saved
    panel.scheduler.setText("localhost:notaport")
    panel.save_button.click()
    assert panel.error.isVisible() and "port must be a number" in panel.error.text()
    assert panel.settings.value("scheduler") == ""

    # clearing a setting gives the environment back as the app found it
    panel.url.setText("")
    panel.data_dir.setText("")
    panel.scheduler.setText("")
    panel.save_button.click()
    assert os.environ["PIPELINE_DATABASE_URL"] == environment
    assert "PIPELINE_DATA_DIR" not in os.environ


def test_a_chosen_scheduler_reaches_the_runs_through_a_luigi_config(window, tmp_path):
    settings = window.settings
    assert settings.scheduler_config(tmp_path) is None  # the configured one: nothing to add
    settings.set("scheduler", "scheduler.example.com:9000")
    written = settings.scheduler_config(tmp_path)
    assert written.read_text() == "[core]\nscheduler_url = http://scheduler.example.com:9000/\n"
    assert str(settings.scheduler()) == "scheduler.example.com:9000"
