"""Completion markers in ops.markers: a task is complete when its marker holds its current fingerprint."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import luigi

from .. import config, events, sources, warehouse

if TYPE_CHECKING:
    _TaskBase = luigi.Task  # a mixin of luigi.Task subclasses: the type checker sees what it mixes into
else:
    _TaskBase = object

_file_digests: dict[tuple[str, int, int, int, int], str] = {}


def file_digest(path: Path) -> str:
    """blake2b of a file's content, computed once per (path, file, size, mtime) in this process; 'missing' for no file.
    A folder or a file that cannot be read gets a digest of what it is: its load then says what is wrong."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    if path.is_dir():  # a folder source: every part file's path and content (sources.folder_digest)
        return sources.folder_digest(path, file_digest)
    # The file itself by device and inode (a symbolic link followed by stat), not by resolve(): a realpath of every
    # part file at every fingerprint was a tenth of an incremental run.
    key = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _file_digests:
        try:
            with open(path, "rb") as f:
                _file_digests[key] = hashlib.file_digest(f, "blake2b").hexdigest()[:32]
        except OSError as exc:
            return f"unreadable:{exc.errno}:{stat.st_size}:{stat.st_mtime_ns}"
    return _file_digests[key]


def source_digest(*modules) -> str:
    """Digest of the source code of modules or packages: changing the code changes the fingerprint. Read once per
    run: fingerprints are asked for hundreds of times a run."""
    return _once_per_run(_source_digests, tuple(module.__name__ for module in modules), lambda: _code_digest(modules))


_source_digests: dict[tuple, str] = {}


def _once_per_run(cache: dict, key: tuple, make):
    """make() once per run and key in this process; what earlier runs made is forgotten."""
    key = (run_id(), *key)
    if key not in cache:
        for earlier in [k for k in cache if k[0] != key[0]]:
            del cache[earlier]
        cache[key] = make()
    return cache[key]


def _code_digest(modules) -> str:
    digest = hashlib.sha256()
    for module in modules:
        path = Path(module.__file__)
        files = sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.name.encode() + file_digest(file).encode())
    return digest.hexdigest()[:16]


def forced(conn, marker_id: str) -> str | None:
    """Why a task must redo all its work: its marker was set to a word instead of a fingerprint (`run --rebuild`
    sets 'rebuild'; by hand, 'invalidated'); None otherwise."""
    with conn.cursor() as cur:
        cur.execute("SELECT fingerprint FROM ops.markers WHERE task_id = %s", (marker_id,))
        row = cur.fetchone()
    if row is None or re.fullmatch(r"[0-9a-f]{32}", row[0]):
        return None
    return "a full rebuild was asked for" if row[0] == "rebuild" else f"its marker was set to {row[0]!r}"


def combine(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class MarkerTarget(luigi.Target):
    """A row of ops.markers, written in the same transaction as the data it vouches for."""

    def __init__(self, marker_id: str, family: str, fingerprint: str):
        self.marker_id = marker_id
        self.family = family
        self.fingerprint = fingerprint

    def stored_fingerprint(self) -> str | None:
        with warehouse.transaction() as conn:
            warehouse.bootstrap(conn)
            with conn.cursor() as cur:
                cur.execute("SELECT fingerprint FROM ops.markers WHERE task_id = %s", (self.marker_id,))
                row = cur.fetchone()
        return row[0] if row else None

    def exists(self) -> bool:
        return self.stored_fingerprint() == self.fingerprint

    def write(self, conn, run_id: str) -> None:
        with conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO ops.markers (task_id, task_family, fingerprint, run_id) VALUES (%s, %s, %s, %s)
                ON CONFLICT (task_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, run_id = EXCLUDED.run_id,
                                                    completed_at = clock_timestamp()""",
                (self.marker_id, self.family, self.fingerprint, run_id),
            )
            events.announce(cur, "data_committed", run_id, self.marker_id, self.family)


_run_id: str | None = None


def run_id() -> str:
    """This run's id: PIPELINE_RUN_ID if set, else made once per process (forked Luigi workers inherit it)."""
    global _run_id
    if _run_id is None:
        _run_id = config.run_id() or _new_id()
    return _run_id


def _new_id() -> str:
    import datetime
    import uuid

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def new_run_id() -> str:
    """Start a new run (the command line and the tests call this before each build)."""
    global _run_id
    _run_id = _new_id()
    return _run_id


class Versioned(_TaskBase):
    """A task whose id changes with its inputs: a significant `version` parameter, computed from the task's
    fingerprint and the warehouse it writes when not given (so `luigi --module pipeline Transform` works bare).

    luigid keeps a task it saw done as done for [scheduler] stable_done_cooldown_secs, whatever a worker says:
    with ids that did not change with the data, a run right after a change of the data ran nothing. Two workers on
    the same data and warehouse still share every id, so each task runs once.
    """

    version = luigi.Parameter(
        default="", positional=False, description="version of the task's inputs (default: computed from them)"
    )

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        values = super().get_param_values(params, args, kwargs)
        if dict(values).get("version"):
            return values
        # Luigi computes a task's parameters on every instantiation, before it looks in its instance cache:
        # remember each version while the source folder and the warehouse stay the same.
        key = (cls, tuple(values), _world())
        if key not in _versions:
            probe = cls.__new__(cls)  # the parameters set as Task.__init__ sets them, enough for fingerprint()
            probe.__dict__.update(values)
            _versions[key] = combine(probe.fingerprint(), key[2][2], key[2][3])[:16]
        return [(name, _versions[key] if name == "version" else value) for name, value in values]

    def __repr__(self) -> str:  # the task as users know it: LoadTable(table=customers), without the version
        shown = [
            f"{name}={param.serialize(getattr(self, name))}"
            for name, param in self.get_params()
            if param.significant and name != "version"
        ]
        return f"{self.get_task_family()}({', '.join(shown)})"


_versions: dict[tuple, str] = {}


_worlds: dict[tuple, tuple] = {}


def _world() -> tuple:
    """What task versions depend on besides the code: the source files as the run found them, and the warehouse.

    Looked at once per run (Luigi asks for it at every instantiation of a task, hundreds of times a run, and a walk of
    a data folder of daily part files takes milliseconds): a run works on the data its scheduling saw, and the next
    run (new_run_id) looks again."""
    folder, where, database = str(config.data_dir()), warehouse.describe(), config.warehouse().database
    files = _once_per_run(_worlds, (folder, where, database), lambda: _look_at_world(Path(folder)))
    return folder, files, where, database


def _look_at_world(folder: Path) -> tuple:
    try:
        files = tuple(
            sorted(
                (e.name, e.stat().st_size, e.stat().st_mtime_ns, sources.listing(Path(e.path)))
                for e in os.scandir(folder)
            )
        )
    except OSError:
        files = ()
    return files
