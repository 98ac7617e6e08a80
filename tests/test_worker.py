"""Workers: errors recorded, killed workers lose nothing, SIGTERM hands the job back, server restarts survived."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pose_pipeline import jobs, schema
from pose_pipeline.worker import Worker

pytestmark = pytest.mark.all_backends  # job reservation and worker processes depend on the server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def pipeline(db):
    """The worker test module activated on the backend, emptied before and after."""
    from tests import worker_pipeline

    schema.activate_module(worker_pipeline)
    worker_pipeline.Item.delete(prompt=False)
    yield worker_pipeline
    worker_pipeline.Item.delete(prompt=False)
    if worker_pipeline.Result.jobs.is_declared:
        worker_pipeline.Result.jobs.delete_quick()


def start_worker(backend, log: Path, *extra: str) -> subprocess.Popen:
    env = {**backend.subprocess_env(), "WORKER_TEST_LOG": str(log), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "tests.worker_pipeline",
               "--table", "Result", "--poll-interval", "0.2", "--reclaim-interval", "0.5", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_failing_make_is_recorded_and_others_finish(pipeline):
    pipeline.Item.insert([{"item_id": i, "seconds": 0, "fail": (i == 3)} for i in range(10)])
    report = Worker([pipeline.Result], idle_timeout=0, poll_interval=0).run()

    assert report.jobs_done == 9 and report.jobs_failed == 1
    assert len(pipeline.Result()) == 9 and len(pipeline.Result.Part()) == 27
    failed = pipeline.Result.jobs.errors.to_dicts()
    assert [job["item_id"] for job in failed] == [3]
    assert "item 3 is meant to fail" in failed[0]["error_message"]
    assert "Traceback" in failed[0]["error_stack"] and "worker_pipeline.py" in failed[0]["error_stack"]
    progress = jobs.progress([pipeline.Result]).loc["Result"]
    assert (progress["done"], progress["to_do"], progress["error"]) == (9, 1, 1)

    assert jobs.clear_errors([pipeline.Result]) == 1
    pipeline.Item.update1({"item_id": 3, "fail": False})
    Worker([pipeline.Result], idle_timeout=0, poll_interval=0).run()
    assert len(pipeline.Result()) == 10


def test_three_workers_one_killed_every_key_once(pipeline, db, tmp_path):
    log = tmp_path / "starts.log"
    log.touch()
    pipeline.Item.insert([{"item_id": i, "seconds": 0.15, "fail": False} for i in range(60)])
    workers = [start_worker(db, log, "--idle-timeout", "3") for _ in range(3)]
    victim = workers[0]
    try:

        def victim_busy():
            reserved = pipeline.Result.jobs.reserved.to_dicts()
            return any(job["pid"] == victim.pid for job in reserved) and len(pipeline.Result()) >= 3

        wait_for(victim_busy, 60, "the first worker to be in the middle of a job")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers[1:]]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, output in zip(workers[1:], outputs):
        assert worker.returncode == 0, output

    assert len(pipeline.Result()) == 60
    assert len(pipeline.Result.Part()) == 180  # no master row without its parts
    assert jobs.progress([pipeline.Result]).loc["Result", "to_do"] == 0
    assert len(pipeline.Result.jobs.reserved) == 0 and len(pipeline.Result.jobs.errors) == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    starts = collections.Counter(int(key) for key, _ in lines)
    in_flight = [int(key) for key, pid in lines if int(pid) == victim.pid][-1:]  # its last start: killed mid-job
    assert set(starts) == set(range(60))
    assert {key for key, n in starts.items() if n > 1} <= set(in_flight)  # only the killed job ran twice


def test_sigterm_returns_the_running_job(pipeline, db, tmp_path):
    log = tmp_path / "starts.log"
    log.touch()
    pipeline.Item.insert([{"item_id": i, "seconds": 30, "fail": False} for i in range(2)])
    worker = start_worker(db, log, "--idle-timeout", "30")
    try:
        wait_for(lambda: len(pipeline.Result.jobs.reserved) == 1, 60, "the worker to reserve a job")
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert worker.returncode == 0, output
    assert "interrupted" in output
    assert len(pipeline.Result()) == 0 and len(pipeline.Result.Part()) == 0
    assert len(pipeline.Result.jobs.reserved) == 0
    assert len(pipeline.Result.jobs.errors) == 0  # handed back, not recorded as a failure

    for item_id in (0, 1):
        pipeline.Item.update1({"item_id": item_id, "seconds": 0.0})
    Worker([pipeline.Result], idle_timeout=0, poll_interval=0).run()
    assert len(pipeline.Result()) == 2
