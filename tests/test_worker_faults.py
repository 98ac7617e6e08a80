"""Workers under faults: random SIGKILLs with replacement workers and killed database connections; reconnecting
workers reserve with their live connection; Ctrl-C stops within one job."""

from __future__ import annotations

import collections
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import datajoint as dj
import pytest

from pose_pipeline import database, jobs, schema

pytestmark = pytest.mark.all_backends  # job reservation, connection ids and killing connections depend on the server

REPO = Path(__file__).resolve().parents[1]
N_KEYS = 100


@pytest.fixture
def pipeline(db):
    from tests import worker_pipeline

    schema.activate_module(worker_pipeline)
    worker_pipeline.Item.delete(prompt=False)
    yield worker_pipeline
    worker_pipeline.Item.delete(prompt=False)
    for table in (worker_pipeline.Result, worker_pipeline.Stored):
        if table.jobs.is_declared:
            table.jobs.delete_quick()


def start_worker(backend, tmp_path: Path, table: str, *extra: str) -> subprocess.Popen:
    env = {
        **backend.subprocess_env(),
        "WORKER_TEST_LOG": str(tmp_path / "starts.log"),
        "WORKER_TEST_STORED_LOG": str(tmp_path / "stored_starts.log"),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "tests.worker_pipeline",
               "--table", table, "--poll-interval", "0.2", "--reclaim-interval", "0.5", *extra]  # fmt: skip
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_connection(connection_id: int) -> None:
    conn = dj.conn()
    if conn.adapter.backend == "postgresql":
        conn.query("SELECT pg_terminate_backend(%s)", args=(connection_id,))
    else:
        try:
            conn.query(f"KILL {int(connection_id)}")
        except Exception as error:  # it ended by itself meanwhile
            if "Unknown thread" not in str(error):
                raise


def live_connection_ids() -> set[int]:
    return jobs.live_connection_ids(dj.conn())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored_files(backend, pipeline) -> list[Path]:
    """Every file of the `Stored` table in the derived store, whether a row references it or not."""
    import json

    location = Path(json.loads(backend.env["DJ_STORES"])["derived"]["location"])
    folder = f"/{database.schema_name(pipeline.STAGE)}/Stored/"
    return [path for path in location.rglob("*") if path.is_file() and folder in str(path)]


def test_load_with_faults_every_key_exactly_once(pipeline, db, tmp_path):
    rng = random.Random(10)
    pipeline.Item.insert([{"item_id": i, "seconds": 0.12, "fail": False} for i in range(N_KEYS)])
    workers = [start_worker(db, tmp_path, "Stored", "--idle-timeout", "4") for _ in range(3)]
    killed: set[subprocess.Popen] = set()
    sigkills = connection_kills = 0
    try:
        deadline = time.monotonic() + 150
        while (sigkills < 4 or connection_kills < 4) and len(pipeline.Stored()) < N_KEYS * 0.85:
            assert time.monotonic() < deadline, "no progress under faults"
            time.sleep(rng.uniform(0.5, 1.0))
            reserved = pipeline.Stored.jobs.reserved.to_dicts()
            if not reserved:
                continue
            job = rng.choice(reserved)
            if sigkills <= connection_kills:
                victim = next((w for w in workers if w.pid == job["pid"] and w.poll() is None), None)
                if victim is None:
                    continue
                victim.send_signal(signal.SIGKILL)  # mid-job: its file may be written, its transaction open
                victim.wait()
                killed.add(victim)
                sigkills += 1
                workers.append(start_worker(db, tmp_path, "Stored", "--idle-timeout", "4"))
            else:
                kill_connection(job["connection_id"])
                connection_kills += 1
        outputs = {worker: worker.communicate(timeout=180)[0] for worker in workers if worker not in killed}
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert sigkills >= 1 and connection_kills >= 1, (sigkills, connection_kills)
    for worker, output in outputs.items():
        assert worker.returncode == 0, output
    assert len(pipeline.Stored()) == N_KEYS
    assert len(pipeline.Stored.jobs.reserved) == 0 and len(pipeline.Stored.jobs.errors) == 0
    # committed side effects: exactly one per key
    effects = collections.Counter(pipeline.Effect.to_arrays("item_id"))
    assert set(effects) == set(range(N_KEYS)) and set(effects.values()) == {1}
    # files: exactly one per key in the store, none left by killed attempts, each the one its row references
    files = stored_files(db, pipeline)
    assert len(files) == N_KEYS, sorted(str(f) for f in files)[:10]
    assert sorted(int(f.read_text()) for f in files) == list(range(N_KEYS))
    starts = collections.Counter(
        int(line.split()[0]) for line in (tmp_path / "stored_starts.log").read_text().splitlines()
    )
    assert set(starts) == set(range(N_KEYS))
    assert sum(starts.values()) - N_KEYS <= 3 * (sigkills + connection_kills)  # only disrupted jobs ran again


def test_reservations_after_a_killed_connection_carry_the_live_connection(pipeline, db, tmp_path):
    pipeline.Item.insert([{"item_id": i, "seconds": 1.0, "fail": False} for i in range(4)])
    worker = start_worker(db, tmp_path, "Result", "--idle-timeout", "3")
    try:
        wait_for(lambda: len(pipeline.Result.jobs.reserved) == 1, 60, "the worker to reserve a job")
        first = pipeline.Result.jobs.reserved.to_dicts()[0]
        kill_connection(first["connection_id"])
        wait_for(
            lambda: any(j["connection_id"] != first["connection_id"] for j in pipeline.Result.jobs.reserved.to_dicts()),
            60,
            "a reservation after the reconnect",
        )
        later = pipeline.Result.jobs.reserved.to_dicts()[0]
        assert later["pid"] == worker.pid
        assert later["connection_id"] in live_connection_ids()  # the worker's live connection, not the dead one
        assert first["connection_id"] not in live_connection_ids()
        output, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    assert len(pipeline.Result()) == 4 and len(pipeline.Result.Part()) == 12
    assert len(pipeline.Result.jobs.reserved) == 0 and len(pipeline.Result.jobs.errors) == 0


def test_ctrl_c_stops_within_one_job(pipeline, db, tmp_path):
    pipeline.Item.insert([{"item_id": i, "seconds": 1.0, "fail": False} for i in range(12)])
    worker = start_worker(db, tmp_path, "Result", "--idle-timeout", "30")
    try:
        wait_for(lambda: len(pipeline.Result()) >= 1 and len(pipeline.Result.jobs.reserved) == 1, 60, "a job running")
        done_before = len(pipeline.Result())
        sent = time.monotonic()
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    assert len(pipeline.Result()) - done_before <= 1  # the running job finishes; no other starts
    assert stopped_after < 1.0 + 8.0, stopped_after  # one job of 1 s and the process's exit, not 10 more jobs
    assert len(pipeline.Result.jobs.reserved) == 0 and len(pipeline.Result.jobs.errors) == 0
    assert len(pipeline.Result()) == len(pipeline.Result.Part()) / 3
