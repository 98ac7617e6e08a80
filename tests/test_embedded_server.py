"""The embedded PostgreSQL stops when its last live user exits, even after another user was SIGKILLed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import server_data_dir

REPO = Path(__file__).resolve().parents[1]

USER = """
import sys
from pathlib import Path
from pose_pipeline import database
database.start_embedded_server(Path(sys.argv[1]))
print("attached", flush=True)
sys.stdin.readline()  # exits normally (pgserver's exit handler runs) when the test closes stdin
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_user(data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    user = subprocess.Popen(
        [sys.executable, "-c", USER, str(data_dir)],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert user.stdout.readline().strip() == "attached"
    return user


def test_server_stops_after_last_live_user_when_another_was_killed():
    data_dir = server_data_dir()
    users, postmaster = [], None
    try:
        users = [start_user(data_dir), start_user(data_dir)]
        postmaster = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        assert _alive(postmaster)

        users[0].send_signal(signal.SIGKILL)  # never removes its pid from pgserver's handle file
        users[0].wait()
        assert _alive(postmaster)  # the other user still needs it

        users[1].stdin.close()
        assert users[1].wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while _alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(postmaster), "the embedded server kept running after its last live user exited"
    finally:
        for user in users:
            if user.poll() is None:
                user.kill()
                user.wait()
        if postmaster is not None and _alive(postmaster):
            os.kill(postmaster, signal.SIGTERM)  # this test's own server, left running by a failure
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_root_with_a_minimal_path_finds_useradd(monkeypatch):
    """pgserver creates its ``pgserver`` user with ``useradd`` (in /usr/sbin) when started by root: a root shell
    whose PATH lacks the sbin folders (``env -i``, some CI runners) must still start the embedded server."""
    import pytest

    from pose_pipeline import database

    if os.geteuid() != 0 or not Path("/usr/sbin/useradd").exists():
        pytest.skip("only root starts pgserver through useradd")
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    assert shutil.which("useradd") is None
    database._put_sbin_on_path()
    assert shutil.which("useradd") == "/usr/sbin/useradd"
    assert os.environ["PATH"].startswith("/usr/local/bin:/usr/bin:/bin:")
