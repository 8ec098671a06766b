"""Settings: luigi.cfg sections read through luigi.Config classes, with environment overrides."""
from __future__ import annotations

import os
from pathlib import Path

import luigi
import luigi.configuration

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# luigi reads ./luigi.cfg; also read the project's own, so any working directory works.
if (PROJECT_ROOT / "luigi.cfg").exists():
    luigi.configuration.add_config_path(str(PROJECT_ROOT / "luigi.cfg"))


class warehouse(luigi.Config):  # noqa: N801 - the class name is the luigi.cfg section
    url = luigi.Parameter(default="", description="SQLAlchemy/libpq URL of the warehouse; empty = embedded")
    embedded_dir = luigi.Parameter(default=".warehouse", description="folder of the embedded PostgreSQL")
    database = luigi.Parameter(default="warehouse", description="database created in the embedded server")


class sources(luigi.Config):  # noqa: N801
    data_dir = luigi.Parameter(default="data", description="folder of the eleven source Parquet files")


def project_path(value: str | os.PathLike) -> Path:
    """A configured path; relative paths are relative to the project root, not the working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def database_url() -> str:
    """The configured warehouse URL, or '' for the embedded warehouse."""
    return os.environ.get("PIPELINE_DATABASE_URL") or warehouse().url


def data_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_DATA_DIR") or sources().data_dir)


def embedded_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_EMBEDDED_DIR") or warehouse().embedded_dir)
