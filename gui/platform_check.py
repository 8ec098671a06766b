"""Before Qt starts: can its X11 platform plugin (xcb) load? If a system library it needs is missing, say in one line
which Debian/Ubuntu packages to install (Qt itself only says "Could not load the Qt platform plugin xcb" and aborts)."""

from __future__ import annotations

import ctypes
import os
import sys

# The libraries Qt 6's xcb plugin loads, and the Debian/Ubuntu package of each (Qt's "X11 requirements" page).
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
}
PACKAGES = " ".join(XCB_LIBRARIES.values())  # what the README lists


def uses_xcb(environ=os.environ) -> bool:
    """Whether Qt will pick its X11 plugin: on Linux, unless QT_QPA_PLATFORM names another (offscreen, wayland)."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_packages(libraries: dict[str, str] = XCB_LIBRARIES) -> list[str]:
    """The packages of the libraries the dynamic loader cannot load."""
    missing = []
    for soname, package in libraries.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def problem(environ=os.environ) -> str | None:
    """One line saying what to install, or None when the platform plugin's libraries load."""
    if not uses_xcb(environ):
        return None
    missing = missing_packages()
    if not missing:
        return None
    return (
        "error: the desktop app cannot start: Qt's X11 platform plugin (xcb) needs system libraries that are "
        f"missing; install them with `sudo apt-get install {' '.join(missing)}` (Debian/Ubuntu), then start "
        "it again"
    )
