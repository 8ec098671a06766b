"""A fresh, empty warehouse (no schemas at all): every panel shows a friendly state, never an error."""

from __future__ import annotations

from tests.support import scalar


def test_empty_warehouse_shows_the_run_button_and_no_errors(database_url, window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    assert scalar(database_url, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('raw', 'clean', 'ops')") == 0
    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.loads >= 1, timeout=30000)
    assert overview.pages.currentWidget() is overview.empty
    assert overview.empty.action.isVisible() and overview.empty.action.text() == "Run pipeline"
    assert "no analytics yet" in overview.empty.text.text()

    quality = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: quality.loads >= 1, timeout=30000)
    assert quality.pages.currentWidget() is quality.empty
    assert quality.empty.heading.text() == "No quality results yet"
    quality.open_quarantine()
    qtbot.waitUntil(lambda: quality.quarantine.loads >= 1, timeout=30000)
    assert quality.quarantine.total == 0 and quality.quarantine.page_label.text() == "No records"

    pipeline = window.show_panel("Pipeline")
    qtbot.waitUntil(lambda: pipeline.loads >= 1, timeout=30000)
    assert pipeline.history.runs.rowCount() == 0 and pipeline.run_button.isEnabled()

    backups = window.show_panel("Backups")
    qtbot.waitUntil(lambda: backups.loads >= 1, timeout=30000)
    assert backups.backups.rowCount() == 0 and not backups.restore_button.isEnabled()
    assert not backups.error.isVisible()
    # reading never created anything: the app's sessions are read-only
    assert scalar(database_url, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('raw', 'clean', 'ops')") == 0


def test_unreachable_warehouse_is_explained_in_words(unreachable, window, qtbot):
    overview = window.panels["Overview"]
    qtbot.waitUntil(lambda: overview.pages.currentWidget() is overview.failure, timeout=30000)
    text = overview.failure.text.text()
    assert text.startswith("Cannot reach the warehouse postgresql://nobody:***@127.0.0.1:1/nowhere")
    assert "secret" not in text and overview.failure.action.text() == "Try again"
