"""`python -m pipeline scheduler`: Luigi's central scheduler (luigid) with its state and log in .luigid/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .. import config, errors
from ..orchestration import lifeline
from ..orchestration.scheduler import (
    StartFailed,
    listening,
    luigid_command,
    luigid_dir,
    pid_of,
    scheduler_port,
    start_background,
)


@errors.command()
def cmd_scheduler(args) -> int:
    folder = luigid_dir(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    port = args.port or scheduler_port()
    pidfile = folder / "luigid.pid"
    url = f"http://localhost:{port}"
    if args.stop:
        pid = pid_of(folder)
        if pid is None:
            print(f"luigid is not running from {folder}")
            return 0
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not lifeline.pid_alive(pid):
                break
            time.sleep(0.1)
        pidfile.unlink(missing_ok=True)
        print(f"luigid stopped (pid {pid})")
        return 0
    running = pid_of(folder)
    if running:
        print(f"luigid is already running (pid {running}): {url}")
        return 0
    if listening(port):
        print(
            f"error: port {port} is in use (another luigid?); open {url}, or choose another with --port "
            "and luigi.cfg [core] scheduler_port",
            file=sys.stderr,
        )
        return 1
    where = f"state {folder / 'state.pickle'}, log {folder / 'luigi-server.log'}"
    if args.background:
        try:
            pid = start_background(folder, port, args.address)
        except StartFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(
            f"luigid running in the background (pid {pid}) on {url} ({where}); "
            "python -m pipeline scheduler --stop stops it"
        )
        return 0
    print(f"luigid on {url} ({where}); Ctrl-C stops it", flush=True)
    process = subprocess.Popen(luigid_command(folder, port, args.address), cwd=config.PROJECT_ROOT)  # reads luigi.cfg
    pidfile.write_text(str(process.pid))
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())  # stop it with us
    try:
        while True:
            try:
                code = process.wait()
                return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code
            except KeyboardInterrupt:  # Ctrl-C reaches luigid too; wait until it has stopped
                process.send_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
        pidfile.unlink(missing_ok=True)


def add_cli(subparsers) -> None:
    """Register scheduler on the `python -m pipeline` parser."""
    scheduler = subparsers.add_parser("scheduler", help="Luigi's central scheduler (luigid), state and log in .luigid/")
    scheduler.add_argument("--background", action="store_true", help="start it and return")
    scheduler.add_argument("--stop", action="store_true", help="stop the one started with --background")
    scheduler.add_argument("--port", type=int, help="default: luigi.cfg [core] scheduler_port")
    scheduler.add_argument("--address", help="interface to listen on (default: all)")
    scheduler.add_argument("--dir", help="state and log folder (default: PIPELINE_LUIGID_DIR, else .luigid)")
    scheduler.set_defaults(func=cmd_scheduler)
