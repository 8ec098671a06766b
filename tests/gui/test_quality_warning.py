"""The Data quality panel warns when a table's clean share fell against its previous heal."""

from __future__ import annotations

from pipeline.orchestration.tasks import Transform

from tests.integration.test_trend import _spoil_emails_and_states
from tests.support import build


def test_the_quality_panel_names_a_table_whose_clean_share_fell(database_url, data_dir, window, qtbot):
    assert build(Transform(), workers=2).scheduling_succeeded
    _spoil_emails_and_states(data_dir)
    assert build(Transform(), workers=2).scheduling_succeeded
    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0 and panel.drops.isVisible(), timeout=60000)
    assert any(line.startswith("Warning: customers: clean share fell from") for line in panel.drops.text().splitlines())
