"""Luigi's central scheduler (luigid): started in the background, with its state and log in .luigid/, when a run
wants the configured local one and nothing answers there; a remote one that does not answer is one line."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import luigi.configuration

from .. import config

LUIGID_DIR = ".luigid"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", "ip6-localhost"}  # noqa: S104 - names, not binds


def scheduler_port() -> int:
    return luigi.configuration.get_config().getint("core", "scheduler_port", 8082)


def luigid_dir(folder: str | None = None) -> Path:
    """Where luigid keeps its state and log: --dir, else PIPELINE_LUIGID_DIR, else .luigid in the project."""
    return config.project_path(folder) if folder else config.luigid_dir()


def luigid_command(folder: Path, port: int, address: str | None = None) -> list[str]:
    """luigid with its state and log in `folder` (beside this Python's scripts, else on PATH, else by module)."""
    beside = Path(sys.executable).with_name("luigid")
    found = str(beside) if beside.exists() else shutil.which("luigid")
    by_module = [sys.executable, "-c", "import sys, luigi.cmdline; luigi.cmdline.luigid(sys.argv[1:])"]
    program = [found] if found else by_module
    command = program + ["--port", str(port), "--state-path", str(folder / "state.pickle"), "--logdir", str(folder)]
    return command + (["--address", address] if address else [])


def listening(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def answers(url: str, timeout: float = 3) -> bool:
    """A luigid answers at `url`: its API gives a task list (a bare TCP connect can reach a proxy, not luigid)."""
    query = urllib.parse.quote(json.dumps({"status": "RUNNING", "upstream_status": "", "search": ""}))
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/task_list?data={query}", timeout=timeout) as answer:  # noqa: S310 - luigid's http(s) URL from luigi.cfg
            return "response" in json.load(answer)
    except (OSError, ValueError):
        return False


def pid_of(folder: Path) -> int | None:
    """The luigid started from `folder` (its luigid.pid), if it is still running."""
    from .lifeline import pid_alive

    try:
        pid = int((folder / "luigid.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


class StartFailed(Exception):  # noqa: N818 - reads as what happened at its one raise and catch
    """luigid could not be started; the message says why and where its output is."""


def start_background(folder: Path, port: int, address: str | None = None, host: str = "127.0.0.1") -> int:
    """Start luigid detached from this process (it outlives it) and wait until it answers; returns its pid."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "luigid.out", "ab") as out:
        process = subprocess.Popen(
            luigid_command(folder, port, address),
            cwd=config.PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (folder / "luigid.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (folder / "luigid.pid").unlink(missing_ok=True)
            raise StartFailed(f"luigid stopped at once (exit {process.returncode}); see {folder / 'luigid.out'}")
        if listening(port, host):
            return process.pid
        time.sleep(0.2)
    raise StartFailed(f"luigid did not answer on port {port} within 20 s; see {folder / 'luigid.out'}")


def _local(host: str) -> bool:
    if host.lower() in LOCAL_HOSTS or host.startswith("127."):
        return True
    return host.lower() in {socket.gethostname().lower(), socket.getfqdn().lower()}


def ensure_answering(url: str) -> None:
    """Before a run reports to the scheduler at `url`: a local one that does not answer is started here, in the
    background; a remote one that does not answer ends the command in one line (luigi.cfg [retcode])."""
    from ..errors import codes

    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return  # a unix socket or another transport: Luigi reports on it itself
    host = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if answers(url):
        return
    page = f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}"
    if not _local(host):
        print(
            f"error: the central scheduler at {url.rstrip('/')} does not answer; start luigid there, or run "
            "without it (--local-scheduler)",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(codes().scheduling_error)
    folder = luigid_dir()
    try:
        pid = start_background(folder, port, host="127.0.0.1" if host in ("localhost", "0.0.0.0", "") else host)  # noqa: S104 - binds 127.0.0.1
    except StartFailed as exc:
        print(
            f"error: no central scheduler answered on {page} and starting one failed: {exc}",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(codes().scheduling_error) from None
    print(
        f"started luigid in the background on {page} (pid {pid}, state and log in {folder}); "
        "python -m pipeline scheduler --stop stops it",
        file=sys.stderr,
        flush=True,
    )


def hook_luigi() -> None:
    """Check the scheduler where Luigi connects to it: every remote run (the `luigi` command, `python -m pipeline
    run --scheduler`) creates its RemoteScheduler through this factory method."""
    from luigi import interface

    factory = interface._WorkerSchedulerFactory
    if factory in _hooked:
        return
    original = factory.create_remote_scheduler

    def create_remote_scheduler(self, url):
        ensure_answering(url)
        return original(self, url)

    # Luigi's factory method, replaced on purpose (mypy refuses any assignment to a method)
    factory.create_remote_scheduler = create_remote_scheduler  # type: ignore[method-assign]
    _hooked.add(factory)


_hooked: set[type] = set()  # the factories hook_luigi already changed
