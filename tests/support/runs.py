"""Running the graph in tests: Luigi's local scheduler, and a warehouse healed once from the committed sample."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import luigi
import pytest

from pipeline import markers
from pipeline.orchestration.tasks import Transform

from tests.support.database import new_database
from tests.support.paths import SAMPLE


def build(*tasks, workers: int = 1) -> luigi.execution_summary.LuigiRunResult:
    """Run tasks with the local scheduler as a new run; the detailed result tells what ran."""
    markers.new_run_id()
    return luigi.build(list(tasks), local_scheduler=True, workers=workers, detailed_summary=True, log_level="WARNING")


@contextlib.contextmanager
def healed_warehouse(admin_url: str, folder: Path, prefix: str = "pipeline_test", **environment: str) -> Iterator[str]:
    """A new database filled by one real run of Transform on a copy of the committed sample in folder/data;
    PIPELINE_DATABASE_URL, PIPELINE_DATA_DIR and the given PIPELINE_* variables point at it for the block."""
    shutil.copytree(SAMPLE, folder / "data")
    with new_database(admin_url, prefix) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_DATABASE_URL", url)
        patch.setenv("PIPELINE_DATA_DIR", str(folder / "data"))
        for name, value in environment.items():
            patch.setenv(name, value)
        result = build(Transform(), workers=2)
        assert result.scheduling_succeeded, result.summary_text
        yield url
