"""Settings: luigi.cfg sections read through luigi.Config classes, with environment overrides.

Every setting and every PIPELINE_* environment variable is read here, and only here. A command line option
(`run --data-dir`, `--progress`) is passed with choose(), never by writing os.environ: forked Luigi workers
inherit the choice with the rest of the process."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import luigi
import luigi.configuration

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# luigi reads ./luigi.cfg and LUIGI_CONFIG_PATH; also read the project's own, so any working directory works. Its
# values are defaults: the user's files are read again after it, so that theirs win (luigi reads the files in order,
# the last one's values winning).
if (PROJECT_ROOT / "luigi.cfg").exists():
    luigi.configuration.add_config_path(str(PROJECT_ROOT / "luigi.cfg"))
    for _own in ("luigi.cfg", os.environ.get("LUIGI_CONFIG_PATH", "")):
        if _own and os.path.isfile(_own) and Path(_own).resolve() != PROJECT_ROOT / "luigi.cfg":
            luigi.configuration.add_config_path(_own)


class warehouse(luigi.Config):  # noqa: N801 - the class name is the luigi.cfg section
    url = luigi.Parameter(default="", description="SQLAlchemy/libpq URL of the warehouse; empty = embedded")
    embedded_dir = luigi.Parameter(default=".warehouse", description="folder of the embedded PostgreSQL")
    database = luigi.Parameter(default="warehouse", description="database created in the embedded server")


class sources(luigi.Config):  # noqa: N801
    data_dir = luigi.Parameter(default="data", description="folder of the eleven source Parquet files")
    incremental = luigi.BoolParameter(
        default=True, description="load and heal only what changed, where that gives what a full run would"
    )


class contracts(luigi.Config):  # noqa: N801
    folder = luigi.Parameter(default="contracts", description="folder of the data contracts (one YAML file per table)")


class backups(luigi.Config):  # noqa: N801
    folder = luigi.Parameter(default="backups", description="folder of the backups (one folder per backup)")
    keep = luigi.IntParameter(default=10, description="backups kept per database; older ones are deleted (0 = all)")
    after_run = luigi.BoolParameter(default=False, description="run the Backup task after Transform")


class retries(luigi.Config):  # noqa: N801 - the class name is the luigi.cfg section
    attempts = luigi.IntParameter(default=3, description="tries of a task in all when the database fails transiently")
    delay = luigi.FloatParameter(default=10.0, description="seconds between two tries")


class reports(luigi.Config):  # noqa: N801
    folder = luigi.Parameter(default="reports", description="folder of the run reports (one HTML file per run)")
    after_run = luigi.BoolParameter(default=True, description="write the report when a run ends")


class alerts(luigi.Config):  # noqa: N801
    email_to = luigi.Parameter(
        default="",
        description="addresses (comma-separated) to e-mail when a run needs a look; "
        "sent with Luigi's [email] sender and [smtp] settings",
    )
    webhook_url = luigi.Parameter(default="", description="URL to POST a JSON message to when a run needs a look")
    timeout = luigi.FloatParameter(default=10.0, description="seconds to wait for the webhook or SMTP server")


# What this process's command line chose (choose()); it wins over the environment and luigi.cfg.
_chosen: dict[str, object] = {}


def choose(data_dir: str | None = None, progress: bool | None = None, incremental: bool | None = None) -> None:
    """Settings given on the command line, for this process and the workers it forks."""
    if data_dir:
        _chosen["data_dir"] = data_dir
    if progress is not None:
        _chosen["progress"] = progress
    if incremental is not None:
        _chosen["incremental"] = incremental


def _flag(name: str) -> bool | None:
    """A yes/no environment variable: True, False, or None when unset (or neither)."""
    setting = os.environ.get(name, "").strip().lower()
    if setting in ("1", "true", "yes", "on"):
        return True
    if setting in ("0", "false", "no", "off"):
        return False
    return None


def project_path(value: str | os.PathLike) -> Path:
    """A configured path; relative paths are relative to the project root, not the working directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def database_url() -> str:
    """The configured warehouse URL, or '' for the embedded warehouse."""
    return os.environ.get("PIPELINE_DATABASE_URL") or warehouse().url


def mask(url: str) -> str:
    """The URL with its password (in the user part or as a query parameter) replaced by ***, for logs and screens."""
    if not url:
        return "(embedded)"
    # urllib, not sqlalchemy's make_url: sqlalchemy takes a tenth of a second to import, at every run's start.
    try:
        parts = urlsplit(url)
        if not parts.scheme or "://" not in url:
            raise ValueError(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == "password" for name, _ in query):
            parts = parts._replace(query=urlencode([(n, "***" if n == "password" else v) for n, v in query], safe="*"))
        if parts.password is not None:
            user, host = parts.netloc.rpartition("@")[0].partition(":")[0], parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{user}:***@{host}")
        return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    except ValueError:  # not a URL (a libpq key=value string, say): shown as nothing but its scheme, if any
        return url.split("://", 1)[0] + "://***" if "://" in url else "(a connection string, not shown)"


def describe_warehouse() -> str:
    """Where the warehouse is, safe to print."""
    configured = database_url()
    if configured:
        return mask(configured)
    return f"embedded PostgreSQL in {embedded_dir()}"


def data_dir() -> Path:
    chosen = _chosen.get("data_dir")
    return project_path(str(chosen) if chosen else os.environ.get("PIPELINE_DATA_DIR") or sources().data_dir)


def embedded_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_EMBEDDED_DIR") or warehouse().embedded_dir)


def contracts_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_CONTRACTS_DIR") or contracts().folder)


def backup_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_BACKUP_DIR") or backups().folder)


def report_dir() -> Path:
    return project_path(os.environ.get("PIPELINE_REPORT_DIR") or reports().folder)


def luigid_dir() -> Path:
    """Where a luigid started by the pipeline keeps its state and log."""
    return project_path(os.environ.get("PIPELINE_LUIGID_DIR") or ".luigid")


def pg_bin() -> Path | None:
    """The folder of the PostgreSQL client tools to use first (pg_dump, pg_restore, psql), if set."""
    folder = os.environ.get("PIPELINE_PG_BIN")
    return Path(folder) if folder else None


def run_id() -> str | None:
    """The run id set from outside (PIPELINE_RUN_ID), if any."""
    return os.environ.get("PIPELINE_RUN_ID") or None


def progress() -> bool | None:
    """Progress lines: the command line's --progress, else PIPELINE_PROGRESS; None: decide by the terminal."""
    chosen = _chosen.get("progress")
    return chosen if isinstance(chosen, bool) else _flag("PIPELINE_PROGRESS")


def debug() -> bool:
    """PIPELINE_DEBUG: tracebacks and Luigi's log on the terminal too (the `luigi` command has no --debug)."""
    return bool(_flag("PIPELINE_DEBUG"))


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
            raise ValueError(
                f"luigi.cfg [quality_thresholds] {rule_id} = {value!r}: "
                "expected 'warn_if, error_if' as shares of rows, e.g. '0.05, 0.2'"
            ) from None
    return found


def incremental() -> bool:
    """Load and heal only what changed when that gives what a full load and heal would (luigi.cfg [sources]
    incremental, default true; PIPELINE_INCREMENTAL=0 turns it off for a run, as `run --rebuild` does)."""
    chosen = _chosen.get("incremental")
    if isinstance(chosen, bool):
        return chosen
    flag = _flag("PIPELINE_INCREMENTAL")
    if flag is not None:
        return flag
    return bool(sources().incremental)
