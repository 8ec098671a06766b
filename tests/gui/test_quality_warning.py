"""The Data quality panel warns when a table's clean share fell against its previous heal, and names the part files
of a folder source that are gone (their rows kept)."""

from __future__ import annotations

from pipeline.orchestration.tasks import Transform

from tests.integration.test_trend import _spoil_emails_and_states
from tests.support import build, scalar
from tests.support.parts import split_into_parts


def test_the_quality_panel_names_a_table_whose_clean_share_fell(database_url, data_dir, window, qtbot):
    assert build(Transform(), workers=2).scheduling_succeeded
    _spoil_emails_and_states(data_dir)
    assert build(Transform(), workers=2).scheduling_succeeded
    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0 and panel.drops.isVisible(), timeout=60000)
    assert any(line.startswith("Warning: customers: clean share fell from") for line in panel.drops.text().splitlines())


def test_the_quality_panel_names_a_part_file_gone_from_its_folder(database_url, data_dir, window, qtbot):
    parts = split_into_parts(data_dir, "claims")
    assert build(Transform(), workers=2).scheduling_succeeded
    parts[2].unlink()
    assert build(Transform(), workers=2).scheduling_succeeded
    kept = scalar(database_url, "SELECT count(*) FROM raw.claims WHERE _source_file = 'claims/day=2/part-0.parquet'")
    panel = window.show_panel("Data quality")
    qtbot.waitUntil(lambda: panel.loads > 0 and panel.drops.isVisible(), timeout=60000)
    assert kept > 0 and (
        f"claims: part file claims/day=2/part-0.parquet is gone from the folder; its {kept:,} rows are kept"
        in panel.drops.text()
    ), panel.drops.text()
