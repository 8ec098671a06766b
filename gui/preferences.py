"""The app's settings (QSettings): warehouse URL, source and backup folders, scheduler address, as environment."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings

# Setting -> the environment variable through which the pipeline (in this process and in the runs it starts) reads it.
ENVIRONMENT = {
    "warehouse_url": "PIPELINE_DATABASE_URL",
    "data_dir": "PIPELINE_DATA_DIR",
    "backup_dir": "PIPELINE_BACKUP_DIR",
}


@dataclass(frozen=True)
class Scheduler:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_scheduler(text: str) -> Scheduler:
    """'host:port' (port 8082 when left out); ValueError in words when it is not an address."""
    text = text.strip().removeprefix("http://").rstrip("/")
    host, _, port = text.partition(":")
    if not host:
        raise ValueError("the scheduler address needs a host, e.g. localhost:8082")
    try:
        number = int(port) if port else 8082
    except ValueError:
        raise ValueError(f"the scheduler port must be a number, not {port!r}") from None
    if not 0 < number < 65536:
        raise ValueError(f"the scheduler port must be between 1 and 65535, not {number}")
    return Scheduler(host, number)


def configured_scheduler() -> Scheduler:
    """The scheduler luigi.cfg names ([core] scheduler_host / scheduler_port), as the pipeline reads it."""
    from .workers import ensure_pipeline

    ensure_pipeline()  # pipeline.config adds the project's luigi.cfg
    import luigi.configuration

    parser = luigi.configuration.get_config()
    host = parser.get("core", "scheduler_host", parser.get("core", "default-scheduler-host", "localhost"))
    port = parser.getint("core", "scheduler_port", parser.getint("core", "default-scheduler-port", 8082))
    return Scheduler(host, port)


def scheduler_answers(scheduler: Scheduler, timeout: float = 0.5) -> bool:
    """Whether a luigid listens at the address (an HTTP answer from its API); call off the GUI thread."""
    import urllib.error
    import urllib.request

    try:
        with socket.create_connection((scheduler.host, scheduler.port), timeout=timeout):
            pass
        with urllib.request.urlopen(scheduler.url + "api/task_list?data=%7B%7D", timeout=timeout * 4) as answer:  # noqa: S310 - luigid's http URL
            return answer.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


class AppSettings:
    """Stored settings, applied to os.environ so that the app's queries and the processes it starts use them.
    An empty setting leaves the environment (or luigi.cfg) as it was when the app started."""

    def __init__(self, store: QSettings | None = None):
        self.store = store or QSettings("insurance-pipeline", "insurance-app")
        self.started_with = {name: os.environ.get(name) for name in ENVIRONMENT.values()}

    def value(self, key: str) -> str:
        return str(self.store.value(key, "") or "")

    def set(self, key: str, value: str) -> None:
        self.store.setValue(key, value.strip())
        self.store.sync()

    def apply(self) -> None:
        for key, name in ENVIRONMENT.items():
            value = self.value(key)
            if value:
                os.environ[name] = value
            elif self.started_with[name] is not None:
                os.environ[name] = self.started_with[name]
            else:
                os.environ.pop(name, None)

    def scheduler(self) -> Scheduler:
        stored = self.value("scheduler")
        if stored:
            try:
                return parse_scheduler(stored)
            except ValueError:
                pass
        return configured_scheduler()

    def scheduler_config(self, folder: Path) -> Path | None:
        """A luigi config file naming the chosen scheduler, for LUIGI_CONFIG_PATH of the runs the app starts
        (luigi prefers [core] scheduler_url to the host and port of the project's luigi.cfg); None when
        the chosen scheduler is the configured one."""
        chosen = self.scheduler()
        if chosen == configured_scheduler():
            return None
        path = folder / "scheduler.cfg"
        path.write_text(f"[core]\nscheduler_url = {chosen.url}\n")
        return path

    def effective(self) -> dict[str, str]:
        """What the pipeline uses now, for the Settings page (the warehouse URL masked)."""
        from .workers import ensure_pipeline

        ensure_pipeline()
        from pipeline import config, warehouse

        return {
            "warehouse": warehouse.describe(),
            "data_dir": str(config.data_dir()),
            "backup_dir": str(config.backup_dir()),
            "scheduler": str(self.scheduler()),
        }
