"""Fixtures of the backup tests (test_backup, test_manifest): a backup folder and a warehouse built into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.orchestration.tasks import Transform

from tests.support import build


@pytest.fixture
def backups_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "backups"
    monkeypatch.setenv("PIPELINE_BACKUP_DIR", str(folder))
    return folder


@pytest.fixture
def built(database_url, data_dir, backups_dir) -> str:
    """A warehouse filled by the real pipeline from the committed sample; its URL."""
    result = build(Transform())
    assert result.scheduling_succeeded, result.summary_text
    return database_url
