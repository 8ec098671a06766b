"""The app's look: a neutral style sheet, card styling, chart colours and pyqtgraph defaults."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#2f6fed"
TEXT = "#1f2430"
MUTED = "#6b7280"
BORDER = "#e2e5ea"
BACKGROUND = "#f4f5f7"
SERIES = [
    "#2f6fed",
    "#f08c2e",
    "#23a26d",
    "#d94f5c",
    "#8a63d2",
    "#1fa3b8",
    "#c9a227",
    "#7a8190",
    "#e377c2",
    "#8c564b",
    "#17becf",
    "#393b79",
]

# Colours that mean something keep it (a high risk is red, never green); other series keep the colour they were
# first given for as long as the app runs, so a refresh never repaints a series in another colour.
FIXED_COLOURS = {
    "Low": "#23a26d",
    "Medium": "#f0a92e",
    "High": "#d94f5c",
    "Active": "#2f6fed",
    "Expired": "#7a8190",
    "Cancelled": "#d94f5c",
    "Lapsed": "#f08c2e",
    "Pending": "#8a63d2",
    "Before healing": "#f08c2e",
    "After healing": "#23a26d",
    "Written": "#2f6fed",
    "Collected": "#23a26d",
    "Loss ratio": "#2f6fed",
}
_given: dict[str, str] = {}


def colour(name: str) -> str:
    """The colour of a series, the same at every refresh (and in every chart) while the app runs."""
    if name in FIXED_COLOURS:
        return FIXED_COLOURS[name]
    if name not in _given:
        used = set(_given.values())
        free = [c for c in SERIES if c not in used]
        _given[name] = free[0] if free else SERIES[len(_given) % len(SERIES)]
    return _given[name]


# Type and #id selectors only: descendant selectors and a rule for every QWidget double the time Qt takes to
# polish each new widget (the text colour and size come from the palette and the font instead).
STYLE_SHEET = f"""
QMainWindow, QWidget#page {{ background: {BACKGROUND}; }}
QScrollArea {{ background: transparent; border: none; }}
QWidget#sidebar {{ background: #1f2430; }}
QLabel#brand {{ color: white; font-size: 13pt; font-weight: 600; padding: 18px 18px 8px 18px; }}
QLabel#where {{ color: #9aa3b2; font-size: 8.5pt; padding: 8px 18px 16px 18px; }}
QLabel#title {{ font-size: 16pt; font-weight: 600; }}
QLabel#subtitle, QLabel#muted {{ color: {MUTED}; }}
QLabel#section {{ font-size: 11pt; font-weight: 600; padding-top: 4px; }}
QFrame#card {{ background: white; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#cardTitle {{ color: {MUTED}; font-size: 8.5pt; font-weight: 600; text-transform: uppercase; }}
QLabel#cardValue {{ font-size: 17pt; font-weight: 600; }}
QLabel#cardNote {{ color: {MUTED}; font-size: 8.5pt; }}
QFrame#panelBox {{ background: white; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#chartTitle {{ font-weight: 600; padding: 2px 2px 0 2px; }}
QLabel#emptyTitle {{ font-size: 15pt; font-weight: 600; }}
QLabel#error {{ color: #b42318; background: #fef3f2; border: 1px solid #fecdca; border-radius: 6px; padding: 8px; }}
QLabel#ok {{ color: #1b7f4b; }}
QPushButton {{ background: white; border: 1px solid #cfd4dc; border-radius: 6px; padding: 6px 14px; }}
QPushButton:hover {{ background: #f0f2f5; }}
QPushButton:disabled {{ color: #a0a6b1; background: #f4f5f7; border-color: #e2e5ea; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; font-weight: 600; }}
QPushButton#primary:hover {{ background: #2559c9; }}
QPushButton#primary:disabled {{ background: #9db7f5; border-color: #9db7f5; color: #eef2fb; }}
QPushButton#danger {{ color: #b42318; }}
QPushButton#danger:hover {{ background: #fef3f2; }}
QPushButton#danger:disabled {{ color: #c4c8cf; background: #f4f5f7; border-color: #e2e5ea; }}
QCheckBox:disabled, QLabel:disabled {{ color: #a0a6b1; }}
QLineEdit {{ background: white; border: 1px solid #cfd4dc; border-radius: 6px; padding: 5px 8px; min-height: 18px; }}
QLineEdit:focus {{ border-color: {ACCENT}; }}
QComboBox, QSpinBox {{ min-height: 22px; }}
QTableView {{ background: white; border: 1px solid {BORDER}; border-radius: 6px; gridline-color: #eef0f3;
             selection-background-color: #dce7fd; selection-color: {TEXT}; alternate-background-color: #fafbfc; }}
QHeaderView::section {{ background: #f7f8fa; color: {MUTED}; border: none; border-bottom: 1px solid {BORDER};
                        border-right: 1px solid #eef0f3; padding: 6px 8px; font-weight: 600; }}
QPlainTextEdit {{ background: #fbfbfc; border: 1px solid {BORDER}; border-radius: 6px;
                  font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }}
QProgressBar {{ background: #e9ecf1; border: none; border-radius: 5px; height: 10px; text-align: center;
                color: {TEXT}; font-size: 8pt; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 5px; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: transparent; padding: 7px 16px; color: {MUTED}; border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {TEXT}; border-bottom: 2px solid {ACCENT}; font-weight: 600; }}
QSplitter::handle {{ background: transparent; }}
QToolTip {{ background: white; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}
"""

# The sidebar's list, set on the list itself (its items are drawn through its viewport, which the app-wide sheet
# no longer reaches without a rule for every widget).
NAV_STYLE_SHEET = f"""
QListWidget {{ background: #1f2430; border: none; color: #d7dbe3; outline: none; padding-top: 6px; }}
QListWidget::item {{ padding: 10px 18px; border-left: 3px solid transparent; color: #d7dbe3; }}
QListWidget::item:selected {{ background: #2b3242; color: white; border-left: 3px solid {ACCENT}; }}
QListWidget::item:hover:!selected {{ background: #262c3a; }}
"""


def apply(app: QApplication) -> None:
    """The style sheet, a readable default font and pyqtgraph's colours."""
    app.setStyle("Fusion")
    font = QFont(app.font())
    font.setFamilies(["Inter", "Segoe UI", "Cantarell", "DejaVu Sans", "Sans Serif"])
    font.setPointSizeF(10)
    app.setFont(font)
    palette = app.palette()
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(role, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Window, QColor(BACKGROUND))
    palette.setColor(QPalette.ColorRole.Highlight, QColor("#dce7fd"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(TEXT))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
    configure_charts()


def configure_charts() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background="w", foreground=MUTED)
