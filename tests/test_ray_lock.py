"""The ray backend's stack lock on a real cluster: Ray writes a job deleted just after
it ended back as a ghost (``reconciler.backends.ray.removal``), and such a ghost
must never look held."""

from __future__ import annotations

import time

import pytest
from ray.job_submission import JobSubmissionClient

from reconciler.backends.ray.lock import JobLock, lock_id
from tests.raycluster import RayCluster

pytestmark = pytest.mark.ray


def _wait_ended(client: JobSubmissionClient, name: str) -> None:
    deadline = time.monotonic() + 60
    while not client.get_job_status(name).is_terminal():
        assert time.monotonic() < deadline, f"{name} did not end"
        time.sleep(0.2)


def test_locks_held_for_an_instant_never_leave_the_stack_locked(ray_cluster: RayCluster) -> None:
    client = JobSubmissionClient(ray_cluster.address)
    locks = JobLock(lambda: client)
    for _ in range(3):  # a ghost came back 12 times in 15 for such locks (removal.py)
        with locks.held("instant", 0):
            pass
        time.sleep(2)  # past the monitor's period: a ghost would be back by now
        assert locks.holder("instant") is None


def test_a_ghost_of_a_lock_does_not_hold_it(ray_cluster: RayCluster) -> None:
    client = JobSubmissionClient(ray_cluster.address)
    # What Ray's monitor writes back: an ended job with no metadata, under the lock's id.
    client.submit_job(entrypoint="true", submission_id=lock_id("haunted"), entrypoint_num_cpus=0)
    _wait_ended(client, lock_id("haunted"))
    locks = JobLock(lambda: client)
    assert locks.holder("haunted") is None
    with locks.held("haunted", 0) as held:
        assert locks.holder("haunted") == client.get_job_info(lock_id("haunted")).metadata
        assert held
