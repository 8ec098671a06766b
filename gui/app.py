"""Starts the desktop app: stored settings into the environment, the style, the main window."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication


def create(argv: list[str] | None = None):
    """The application and its shown main window (not yet running its event loop)."""
    if QApplication.instance() is None:
        from .platform_check import problem

        found = problem()
        if found:  # Qt would abort with "Could not load the Qt platform plugin": say what to install instead
            print(found, file=sys.stderr, flush=True)
            raise SystemExit(1)
    app = QApplication.instance() or QApplication(sys.argv if argv is None else [sys.argv[0], *argv])
    app.setOrganizationName("insurance-pipeline")
    app.setApplicationName("Insurance pipeline")
    import numpy  # noqa: F401 - both threads below need it: imported once, here, before they start

    from . import queries, workers
    from .preferences import AppSettings

    settings = AppSettings()
    settings.apply()
    # The overview's data loads (importing the pipeline package, then the queries) while the widgets are made.
    workers.start_early("overview", queries.overview)
    from . import style
    from .main_window import MainWindow

    style.apply(app)
    window = MainWindow(settings)
    window.show()
    return app, window


def main(argv: list[str] | None = None) -> int:
    """The console entry point (insurance-app) and python -m gui."""
    app, _window = create(argv)  # the window lives as long as the event loop
    code = app.exec()
    from . import workers

    workers.wait_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
