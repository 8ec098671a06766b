"""Starting the app on a machine that lacks a system library of Qt's X11 plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_xcb_library_is_named_with_its_debian_package_in_one_line(tmp_path):
    # An unloadable libxcb-icccm.so.4 found first by the dynamic loader: as on a fresh Debian without libxcb-icccm4.
    (tmp_path / "libxcb-icccm.so.4").write_bytes(b"")
    environment = {
        **os.environ,
        "QT_QPA_PLATFORM": "xcb",
        "DISPLAY": ":1999",
        "LD_LIBRARY_PATH": f"{tmp_path}:{os.environ.get('LD_LIBRARY_PATH', '')}",
    }
    environment.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run(
        [sys.executable, "-m", "gui"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1, done.stderr
    assert "libxcb-icccm4" in lines[0] and "apt-get install" in lines[0], lines[0]
    assert "Could not load the Qt platform plugin" not in done.stderr


def test_the_readme_lists_every_package_the_check_asks_for():
    from gui.platform_check import XCB_LIBRARIES

    readme = (ROOT / "README.md").read_text()
    for package in XCB_LIBRARIES.values():
        assert package in readme, package
