"""Back up, verify and restore from the app: the warehouse comes back exactly as it was backed up."""

from __future__ import annotations

import psycopg2
import pytest
from PySide6.QtWidgets import QMessageBox

from pipeline.orchestration.tasks import Transform

from tests.integration.test_backup import change_everything, contents
from tests.support import build, scalar
from tests.support.qt import answer_next_dialog


@pytest.fixture
def built(database_url, data_dir, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(tmp_path / "backups"))
    result = build(Transform())
    assert result.scheduling_succeeded, result.summary_text
    return database_url


def test_backup_verify_restore_round_trip(built, window, qtbot):
    before = contents(built)
    panel = window.show_panel("Backups")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=30000)
    assert panel.backups.rowCount() == 0

    panel.backup_button.click()
    assert panel.progress.maximum() == 0 and not panel.backup_button.isEnabled()  # busy while pg_dump works
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=120000)
    assert panel.last_result[0], panel.last_result[1]
    qtbot.waitUntil(lambda: panel.backups.rowCount() == 1, timeout=30000)
    made = panel.backups.rows[0]
    assert made["rows"] == sum(rows for rows, _ in before.values())  # every table and materialized view
    assert panel.backups.index(0, 3).data() == f"{made['rows']:,}"  # the Rows column
    assert panel.tables.rowCount() == made["tables"] == len(before)

    panel.verify_button.click()
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=120000)
    assert panel.last_result[0] and "sha256 matches" in panel.last_result[1], panel.last_result

    change_everything(built)
    assert contents(built) != before
    overview = window.panels["Overview"]
    stale_loads = overview.loads

    seen = answer_next_dialog()
    panel.restore_button.click()
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)  # asked once no run holds the warehouse
    assert seen and "replaces everything in the warehouse" in seen[0] and made["name"] in seen[0]
    qtbot.waitUntil(lambda: panel.last_result is not None, timeout=180000)
    assert panel.last_result[0], panel.last_result[1]
    assert "restored" in panel.status.text()
    assert contents(built) == before  # every table's rows and checksum

    # the other panels read the restored warehouse
    window.show_panel("Overview")
    qtbot.waitUntil(lambda: overview.loads > stale_loads, timeout=30000)
    assert overview.cards["customers"].value.text() == f"{scalar(built, 'SELECT count(*) FROM clean.customers'):,}"


def test_cancelled_restore_changes_nothing_and_errors_are_words(built, window, qtbot):
    panel = window.show_panel("Backups")
    qtbot.waitUntil(lambda: panel.loads >= 1, timeout=30000)
    panel.backup_button.click()
    qtbot.waitUntil(lambda: panel.backups.rowCount() == 1, timeout=120000)
    before = contents(built)
    conn = psycopg2.connect(built)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DELETE FROM clean.payments WHERE payment_id IN (SELECT payment_id FROM clean.payments LIMIT 5)")
    conn.close()
    changed = contents(built)

    seen = answer_next_dialog(QMessageBox.StandardButton.Cancel)
    panel.restore_button.click()
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)
    assert seen and "Restore cancelled" in panel.status.text()
    assert contents(built) == changed != before

    # a damaged archive: Verify refuses it in words, and so does Restore, before touching anything
    archive = panel.data["backups"][0]
    from pipeline import backup

    found = backup.find(archive["name"])
    with open(found.archive, "r+b") as f:
        f.seek(100)
        f.write(b"\x00damaged\x00")
    panel.verify_button.click()
    qtbot.waitUntil(lambda: panel.last_result is not None and not panel.job_name, timeout=60000)
    assert panel.last_result[0] is False and "sha256" in panel.last_result[1]
    assert panel.error.isVisible() and "Traceback" not in panel.error.text()
    answer_next_dialog()
    panel.restore_button.click()
    qtbot.waitUntil(lambda: panel.last_result is not None and not panel.job_name, timeout=60000)
    assert panel.last_result[0] is False and "refused" in panel.last_result[1]
    assert contents(built) == changed
