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


class contracts(luigi.Config):  # noqa: N801
    folder = luigi.Parameter(default="contracts", description="folder of the data contracts (one YAML file per table)")


class backups(luigi.Config):  # noqa: N801
    folder = luigi.Parameter(default="backups", description="folder of the backups (one folder per backup)")
    keep = luigi.IntParameter(default=10, description="backups kept per database; older ones are deleted (0 = all)")
    after_run = luigi.BoolParameter(default=False, description="run the Backup task after Transform")


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


def contracts_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_CONTRACTS_DIR") or contracts().folder)


def backup_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_BACKUP_DIR") or backups().folder)


def rule_thresholds() -> dict[str, tuple[float | None, float | None]]:
    """[quality_thresholds] rule_id = warn_if, error_if (shares of rows, e.g. 0.05, 0.2; either may be empty)."""
    parser = luigi.configuration.get_config()
    if not parser.has_section("quality_thresholds"):
        return {}
    found: dict[str, tuple[float | None, float | None]] = {}
    for rule_id, value in parser.items("quality_thresholds"):
        parts = [p.strip() for p in value.split(",")] + [""]
        try:
            warn_if, error_if = (float(p) if p else None for p in parts[:2])
            found[rule_id] = (warn_if, error_if)
        except ValueError:
            raise ValueError(f"luigi.cfg [quality_thresholds] {rule_id} = {value!r}: "
                             "expected 'warn_if, error_if' as shares of rows, e.g. '0.05, 0.2'") from None
    return found
