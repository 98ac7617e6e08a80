"""A worker survives its database server restarting: it reconnects and finishes every job.

The test runs its own embedded PostgreSQL (a real server it may restart) and drives everything through
subprocesses, as a deployment would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import server_data_dir

REPO = Path(__file__).resolve().parents[1]
N_ITEMS = 30

SETUP = f"""
from pose_pipeline import schema
from tests import worker_pipeline as w
schema.activate_module(w)
w.Item.insert([{{"item_id": i, "seconds": 0.15, "fail": False}} for i in range({N_ITEMS})])
"""

COUNT = """
from pose_pipeline import schema
from tests import worker_pipeline as w
schema.activate_module(w)
print(len(w.Result()), len(w.Result.Part()), len(w.Result.jobs.errors), len(w.Result.jobs.reserved))
"""


@pytest.fixture
def own_server(tmp_path):
    import pgserver

    from pose_pipeline import database

    data_dir = server_data_dir()
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "POSE_PIPELINE"))}
    env.update(
        DJ_BACKEND="postgresql",
        DJ_HOST=database._socket_dir_from_uri(server.get_uri()),
        DJ_PORT="5432",
        DJ_USER="postgres",
        DJ_PASS="",
        DJ_USE_TLS="false",
        POSE_PIPELINE_HOME=str(tmp_path / "home"),
        POSE_PIPELINE_SCHEMA_PREFIX="restart",
        PYTHONUNBUFFERED="1",
    )
    from pgserver import _commands

    def restart():
        # pgserver's own wrapper: it runs pg_ctl as the server's system user and avoids pipes pg_ctl can hang on
        _commands.pg_ctl(["restart", "-m", "fast", "-w"], pgdata=server.pgdata, user=server.system_user, timeout=60)

    yield env, restart
    server.cleanup()
    shutil.rmtree(data_dir.parent, ignore_errors=True)


def run_python(code: str, env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]  # DataJoint logs its connection on stdout first


def test_worker_reconnects_after_server_restart(own_server):
    env, restart = own_server
    run_python(SETUP, env)
    command = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "tests.worker_pipeline",
               "--table", "Result", "--idle-timeout", "3", "--poll-interval", "0.2", "--reclaim-interval", "0.5"]  # fmt: skip
    worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while int(run_python(COUNT, env).split()[0]) < 5:  # restart in the middle of the work
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"worker made no progress:\n{worker.communicate()[0]}")
        time.sleep(0.2)
    restart()
    output, _ = worker.communicate(timeout=180)

    assert worker.returncode == 0, output
    results, parts, errors, reserved = map(int, run_python(COUNT, env).split())
    assert (results, parts, errors, reserved) == (N_ITEMS, 3 * N_ITEMS, 0, 0), output
    print(output.strip().splitlines()[-1])
