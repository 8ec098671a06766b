"""Shared fixtures: a real PostgreSQL (embedded by default, or PIPELINE_TEST_DATABASE_URL), fresh databases, data."""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import warnings
from pathlib import Path

import luigi
import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

from pipeline.orchestration import markers
from pipeline import warehouse
from pipeline.orchestration.tasks import Transform

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data"


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


def _admin(url: str):
    conn = psycopg2.connect(warehouse._libpq(url))
    conn.autocommit = True
    return conn


def _new_database(pg_admin_url: str) -> tuple[str, str]:
    name = f"pipeline_test_{uuid.uuid4().hex[:10]}"
    with contextlib.closing(_admin(pg_admin_url)) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, make_url(warehouse._libpq(pg_admin_url)).set(database=name).render_as_string(hide_password=False)


def _drop_database(pg_admin_url: str, name: str) -> None:
    with contextlib.closing(_admin(pg_admin_url)) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(pg_admin_url, monkeypatch) -> str:
    """A new, empty database that the pipeline uses as its warehouse for one test."""
    name, url = _new_database(pg_admin_url)
    monkeypatch.setenv("PIPELINE_DATABASE_URL", url)
    markers.new_run_id()
    yield url
    _drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def healed_url(pg_admin_url, tmp_path_factory) -> str:
    """A warehouse filled by one real run on the committed sample, shared by a module's read-only tests."""
    name, url = _new_database(pg_admin_url)
    folder = tmp_path_factory.mktemp("healed") / "data"
    shutil.copytree(SAMPLE, folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_DATABASE_URL", url)
        patch.setenv("PIPELINE_DATA_DIR", str(folder))
        patch.setenv("PIPELINE_REPORT_DIR", str(folder.parent / "reports"))
        result = build(Transform(), workers=2)
        assert result.scheduling_succeeded, result.summary_text
        yield url
    _drop_database(pg_admin_url, name)


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


def build(*tasks, workers: int = 1) -> luigi.execution_summary.LuigiRunResult:
    """Run tasks with the local scheduler as a new run; the detailed result tells what ran."""
    markers.new_run_id()
    return luigi.build(list(tasks), local_scheduler=True, workers=workers, detailed_summary=True,
                       log_level="WARNING")


def query(url: str, text: str, params=()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(text, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def execute(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE DATABASE, DROP, ...)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.close()


def scalar(url: str, text: str, params=()):
    return query(url, text, params)[0][0]
