"""Screenshots of every panel of the app on a warehouse filled by real runs: docs/screenshots/<panel>.png (1600x1000)
and docs/screenshots/<panel>-1024x700.png (the smallest size the layout is made for).

    python scripts/screenshots.py [--out docs/screenshots]

Starts an embedded PostgreSQL in a temporary folder (or uses a new database on PIPELINE_DATABASE_URL's server when
that is set), runs the pipeline on a copy of the committed sample (`python -m pipeline run`), changes one small
source file, opens the app offscreen, runs the pipeline again from the Pipeline panel (so that the history has two
runs), makes a backup from the Backups panel, and saves each panel once its data is shown.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def warehouse_url(folder: Path) -> tuple[str, callable]:
    """A new, empty database and a function that drops it (and stops the embedded server)."""
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    configured = os.environ.get("PIPELINE_DATABASE_URL")
    server = None
    if configured:
        admin_url = make_url(configured).set(drivername="postgresql", database="postgres")
    else:
        import pgserver

        server = pgserver.get_server(folder / "pgdata", cleanup_mode="stop")
        admin_url = make_url(server.get_uri("postgres"))
    name = f"screenshots_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(admin_url.render_as_string(hide_password=False))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()
        if server is not None:
            server.cleanup()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def run_pipeline() -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline", "run"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the pipeline run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def change_a_source_file(data: Path) -> None:
    """A new export of coverage_levels (one audit column changed): the next run reloads and heals it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = data / "coverage_levels.parquet"
    table = pq.read_table(path)
    if "updated_by" in table.column_names:
        column = table.column("updated_by").to_pylist()
        column[0] = "screenshots"
        table = table.set_column(
            table.column_names.index("updated_by"),
            "updated_by",
            pa.array(column, type=table.schema.field("updated_by").type),
        )
    pq.write_table(table, path)


def wait(app, condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the panel did not show its data in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="insurance-screenshots-") as temp:
        folder = Path(temp)
        os.chmod(folder, 0o755)  # noqa: S103 - the embedded server may run as its own user
        url, drop = warehouse_url(folder)
        try:
            shutil.copytree(ROOT / "data", folder / "data")
            os.environ.update(
                PIPELINE_DATABASE_URL=url,
                PIPELINE_DATA_DIR=str(folder / "data"),
                PIPELINE_BACKUP_DIR=str(folder / "backups"),
            )
            run_pipeline()
            change_a_source_file(folder / "data")
            shoot(args.out, folder)  # the second run is started from the app's Pipeline panel
        finally:
            from gui import workers

            workers.wait_all()
            drop()


def shoot_issue_20(app, window, save) -> None:
    """The Explorer (claims of one type, dearest first), the forecast, and Overview on the last 12 months."""
    explorer = window.show_panel("Explorer")
    wait(app, lambda: explorer.loads >= 1 and explorer.total is not None)
    for action in (
        lambda: explorer.add_filter("claim_type", "=", "Medical"),
        lambda: explorer.add_filter("claim_amount", ">=", "1000"),
        lambda: explorer.sort_by("claim_amount", descending=True),
    ):
        shown = explorer.loads
        action()
        wait(app, lambda shown=shown: explorer.loads > shown and explorer.total is not None)
    explorer.column.setCurrentText("status")
    save("explorer")
    forecast = window.show_panel("Forecast")
    wait(app, lambda: forecast.loads >= 1)
    save("forecast")
    overview = window.show_panel("Overview")
    wait(app, lambda: window.dates.latest != datetime.date.today())  # the quick picks end at the last day of data
    shown = overview.loads
    window.dates.set_choice("12m")
    wait(app, lambda: overview.loads > shown)
    save("date-range")
    shown = overview.loads
    window.dates.set_choice("all")
    wait(app, lambda: overview.loads > shown)


def shoot(out: Path, folder: Path) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from gui import style
    from gui.main_window import MainWindow
    from gui.preferences import AppSettings

    style.apply(app)
    window = MainWindow(AppSettings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(1600, 1000)
    window.show()

    def save(name: str) -> None:
        settle(app)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(f"{path} ({window.width()}x{window.height()})")

    overview = window.panels["Overview"]
    wait(app, lambda: overview.loads >= 1)
    save("overview")
    pipeline = window.show_panel("Pipeline")
    wait(app, lambda: pipeline.loads >= 1 and pipeline.tasks.rowCount() > 0)
    pipeline.run_button.click()
    wait(app, lambda: pipeline.process is not None and pipeline.running(), timeout=30)
    wait(app, lambda: not pipeline.running(), timeout=300)
    if pipeline.last_exit != 0:
        sys.exit(f"the run from the app failed:\n{pipeline.log.toPlainText()[-3000:]}")
    wait(app, lambda: len(pipeline.history.runs.rows) == 2)
    save("pipeline")
    quality = window.show_panel("Data quality")
    wait(app, lambda: quality.loads >= 1)
    save("quality")
    quality.open_quarantine()
    wait(app, lambda: quality.quarantine.loads >= 1 and quality.quarantine.fields.rowCount() > 0)
    save("quarantine")
    shoot_resolving(app, window)
    save("quarantine-resolve")
    backups = window.show_panel("Backups")
    wait(app, lambda: backups.loads >= 1)
    backups.back_up()
    wait(app, lambda: backups.last_result is not None and backups.backups.rowCount() == 1, timeout=120)
    save("backups")
    settings = window.show_panel("Settings")
    wait(app, lambda: settings.loads >= 1)
    save("settings")
    shoot_issue_20(app, window, save)

    window.resize(1024, 700)
    if os.environ.get("SHOW_WIDTHS"):
        print({n: p.minimumSizeHint().width() for n, p in window.panels.items()})
    settle(app, 1.0)
    for name, panel in (
        ("overview", "Overview"),
        ("pipeline", "Pipeline"),
        ("quality", "Data quality"),
        ("backups", "Backups"),
        ("settings", "Settings"),
        ("explorer", "Explorer"),
        ("forecast", "Forecast"),
    ):
        shown = window.show_panel(panel)
        if panel == "Data quality":
            shown.tabs.setCurrentIndex(0)
        settle(app, 1.0)
        save(f"{name}-1024x700")
    window.show_panel("Data quality").open_quarantine()
    settle(app, 1.0)
    save("quarantine-1024x700")
    window.close()


def shoot_resolving(app, window) -> None:
    """The quarantine worked: a merged duplicate customer beside its survivor, released with a reason."""
    quality = window.show_panel("Data quality")
    browser = quality.open_quarantine()
    loads = browser.loads
    browser.show_rule("customers", "customers.duplicate_person")
    wait(app, lambda: browser.loads > loads and browser.filters() == ("customers", "customers.duplicate_person"))
    wait(app, lambda: browser.fields.rowCount() > 0 and browser.survivor_button.isEnabled())
    browser.go_to_survivor()
    wait(app, lambda: any(f["survivor"] for f in browser.fields.rows))
    record = browser.current()
    from gui import resolving

    made = resolving.resolve(
        record["table_name"], record["record_key"], record["source_row"], "two people of the same name and birthday"
    )
    loads = browser.loads
    browser._resolved(f"Resolution #{made} stored: customers {record['record_key']} goes to clean at the next run.")
    wait(app, lambda: browser.loads > loads and browser.resolutions.loads > 0)
    browser.view.selectRow(0)
    browser.go_to_survivor()
    wait(app, lambda: any(f["survivor"] for f in browser.fields.rows))


if __name__ == "__main__":
    main()
