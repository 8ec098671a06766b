"""Processes of a run: killing only the parent ends its forked workers, so that nothing commits after the run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from sqlalchemy.engine import make_url

from pipeline.synth import generate

from .test_faults import IN_TASK, wait_until_alone
from tests.support import ROOT, query

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # kills the parent of a run's workers


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("processes") / "data"
    generate.generate(folder, scale=0.05, seed=42)  # the payments heal lasts long enough to be caught in it
    return folder


@pytest.fixture
def empty_url(make_database):
    return make_database()


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "pipeline", "run", "--workers", "2"],
        ["-m", "luigi", "--module", "pipeline", "Transform", "--local-scheduler", "--workers", "2"],
    ],
    ids=["python -m pipeline run", "luigi"],
)
def test_killing_only_the_parent_ends_its_workers_and_nothing_commits_after(empty_url, data, tmp_path, command):
    env = {
        **os.environ,
        "PIPELINE_DATABASE_URL": empty_url,
        "PIPELINE_DATA_DIR": str(data),
        "PIPELINE_REPORT_DIR": str(tmp_path / "reports"),
        "PIPELINE_PROGRESS": "0",
    }
    parent = subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        database = make_url(empty_url).database
        while not query(empty_url, IN_TASK, (database, "heal:payments", "%")):
            assert parent.poll() is None, "the run ended before healing payments"
            assert time.monotonic() < deadline, "the payments heal never started"
            time.sleep(0.01)
        workers = psutil.Process(parent.pid).children(recursive=True)
        assert workers, "no forked worker"
        parent.send_signal(signal.SIGKILL)  # the parent only, as `kill -9 <pid of luigi>` does
        parent.wait()

        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], f"workers still running after their parent died: {alive}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the run
            os.killpg(parent.pid, signal.SIGKILL)
    wait_until_alone(empty_url)
    # The heal that was running when its run died never committed: no marker, and nothing after it ran.
    done = dict(query(empty_url, "SELECT task_id, run_id FROM ops.markers"))
    assert "heal:payments" not in done and "transform" not in done
