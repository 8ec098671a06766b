"""Fixtures shared by every test: a real PostgreSQL (embedded by default, or PIPELINE_TEST_DATABASE_URL), fresh
databases, the healed warehouse, data. The functions behind them are in tests/support."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline import config, warehouse
from pipeline.orchestration import markers

from tests.support import SAMPLE, create_database, drop_database, healed_warehouse


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory) -> str:
    """A server to make databases in: the one PIPELINE_TEST_DATABASE_URL names, else an embedded one."""
    configured = os.environ.get("PIPELINE_TEST_DATABASE_URL")
    if configured:
        return configured
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    folder = tmp_path_factory.mktemp("embedded") / "pgdata"
    folder.mkdir()
    server = pgserver.get_server(folder, cleanup_mode="stop")  # stopped when the test session ends
    warehouse.tune_embedded(server)
    return server.get_uri("postgres")


@pytest.fixture
def make_database(pg_admin_url) -> Iterator[Callable[..., str]]:
    """The database factory: make_database(prefix=..., template=...) gives the URL of a new database on the test
    server (empty, or a copy of `template`); every database it made is dropped after the test."""
    made: list[str] = []

    def make(prefix: str = "pipeline_test", template: str | None = None) -> str:
        name, url = create_database(pg_admin_url, prefix, template)
        made.append(name)
        return url

    yield make
    for name in reversed(made):
        drop_database(pg_admin_url, name)


@pytest.fixture
def database_url(make_database, monkeypatch) -> str:
    """A new, empty database that the pipeline uses as its warehouse for one test."""
    url = make_database()
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    markers.new_run_id()
    return url


@pytest.fixture(scope="module")
def healed_url(pg_admin_url, tmp_path_factory) -> Iterator[str]:
    """A warehouse filled by one real run on the committed sample, shared by a module's read-only tests."""
    folder = tmp_path_factory.mktemp("healed")
    with healed_warehouse(pg_admin_url, folder, PIPELINE_REPORT_DIR=str(folder / "reports")) as url:
        yield url


@pytest.fixture(autouse=True)
def command_line_choices(monkeypatch) -> None:
    """What a test's in-process command (main(["run", "--rebuild"])) chose stays in that test."""
    monkeypatch.setattr(config, "_chosen", {})


@pytest.fixture(autouse=True)
def reports_dir(tmp_path, monkeypatch) -> Path:
    """Run reports of a test go to its own folder, not the project's reports/."""
    monkeypatch.setenv("PIPELINE_REPORT_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private copy of the committed sample, as the pipeline's source folder."""
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(folder))
    return folder


def pytest_collection_modifyitems(items) -> None:
    """Each test folder's marker (registered in pyproject.toml): tests/integration -> integration, tests/gui -> gui."""
    for item in items:
        folder = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
        if folder in ("integration", "gui"):
            item.add_marker(folder)
