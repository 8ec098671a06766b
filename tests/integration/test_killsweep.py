"""A subset of the kill-point sweep (bench/killsweep.py, issue #19), one or two points per stage: kill -9 the run,
the embedded postmaster, a backup or a restore at a chosen moment; the row accounting holds at rest before any
rerun (raw = clean + quarantine, no clean table emptied, no rows lost, every view readable); the rerun gives what an
uninterrupted run gives. On the committed sample (scale 0.01) and an embedded server of the module's own."""

from __future__ import annotations

import pytest

from bench.killsweep import ATTEMPTS, Point, Sweep, kill_points

from tests.support import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # kill points of bench/killsweep.py

SUBSET = (
    "load:payments COPY (first load)",
    "heal:payments INSERT clean",
    "heal:claims INSERT clean (all heals due)",
    "transform CREATE MATERIALIZED VIEW",
    "random 40% of a run",
    "postmaster during heal:payments INSERT clean",
    "backup: pg_dump COPY",
    "restore COPY (over reference)",
    # A new delivery, killed after its load committed and before its heal did, and inside the heal's last transaction
    # (which publishes raw with clean and the quarantine): users still read the previous run's tables, whole.
    "new payments delivery: between load and heal",
    "new payments delivery: heal:payments INSERT quarantine (publishing)",
)
POINTS = {p.name: p for p in kill_points()}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    found = Sweep(tmp_path_factory.mktemp("killsweep"), ROOT / "data")
    found.prepare()
    yield found
    found.stop()


def test_the_sweep_has_at_least_forty_points_over_every_stage():
    points = kill_points()
    assert len(points) >= 40 and len(POINTS) == len(points)
    assert {p.stage for p in points} >= {"load", "heal", "transform", "backup", "restore", "postmaster", "random"}
    assert set(SUBSET) <= set(POINTS)


@pytest.mark.parametrize("name", SUBSET)
def test_killed_then_accounting_holds_at_rest_and_the_rerun_equals_an_uninterrupted_run(sweep, name):
    found = sweep.sweep_one(SUBSET.index(name), POINTS[name])
    assert found["killed"], found["missed"]
    assert found["problems"] == [] and found["lost"] == 0
    assert found["rerun_code"] == 0, found["rerun_err"][-2000:]
    assert found["equal"]


def test_a_moment_that_never_comes_is_tried_again_then_reported_missed_and_the_warehouse_stays_whole(sweep):
    # A statement of the sample's size can start and end between two looks of the watcher: the point is tried again
    # from the same state, and only a point missed every time is reported, as missed, never as killed.
    never = Point(
        "never", "heal", "reference", ("lock", "heal:payments", "%no such statement%"), invalidate=("transform",)
    )
    found = sweep.sweep_one(99, never)
    assert not found["killed"] and found["attempts"] == ATTEMPTS
    assert found["missed"] == "ended (0) before the moment"
    assert found["problems"] == [] and found["lost"] == 0 and found["equal"]
