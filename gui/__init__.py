"""The desktop app of the insurance pipeline (PySide6 + pyqtgraph): run it, watch it, read it, back it up."""
