"""A read-only database account (SELECT only) uses the pipeline: it activates, queries, fetches verified files and runs
``pose-pipeline status``; creating or inserting is refused with a message naming the missing privilege.

Real accounts on real servers: a MariaDB user and a PostgreSQL role made for the test, granted SELECT only on this
run's schemas. The embedded default is a PostgreSQL server of its own, run by the user who started it (who is its
superuser): a read-only role is made on it exactly as on any PostgreSQL server, and behaves the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from pose_pipeline import database, schema
from pose_pipeline.schema.video import Video, VideoInfo, insert_local_video
from tests.bad_videos import make_good_video

pytestmark = pytest.mark.all_backends  # privileges are the server's

SESSION = """
import json, sys
from pose_pipeline import schema
schema.activate()
from pose_pipeline.schema.video import Video, VideoInfo, fetch_video, insert_local_video
out = {"read_only": schema.is_read_only(), "videos": len(Video()), "info_rows": len(VideoInfo.to_pandas())}
key = Video.keys()[0]
out["fetched_bytes"] = fetch_video(key).stat().st_size
try:
    insert_local_video(sys.argv[1], "readonly", filename="new.mp4")
except Exception as error:
    out["insert_error"] = f"{type(error).__name__}: {error}"
out["videos_after"] = len(Video())
print("RESULT " + json.dumps(out))
"""


@pytest.fixture
def read_only_account(db, tmp_path):
    """A SELECT-only account on this run's schemas, with one imported and probed video; yields its environment."""
    video = make_good_video(tmp_path / "walk.mp4", n_frames=12, size=(64, 48))
    key = insert_local_video(video, "clinic")
    VideoInfo.populate(key)
    conn = Video.connection
    user = f"ppt_ro_{uuid.uuid4().hex[:6]}"
    prefix = database.schema_prefix()
    if conn.adapter.backend == "mysql":
        hosts = ("%%", "localhost")  # %% : the driver formats the statement
        for host in hosts:
            conn.query(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY 'read-only'")
            conn.query(f"GRANT SELECT ON `{prefix}\\_%%`.* TO '{user}'@'{host}'")
        password = "read-only"
    else:
        conn.query(f'CREATE ROLE "{user}" LOGIN')
        for module in schema.stage_modules():
            name = module.schema.database
            conn.query(f'GRANT USAGE ON SCHEMA "{name}" TO "{user}"')
            conn.query(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{name}" TO "{user}"')
        password = ""
    env = {**db.subprocess_env(), "DJ_USER": user, "DJ_PASS": password}
    try:
        yield env, video
    finally:
        if conn.adapter.backend == "mysql":
            for host in hosts:
                conn.query(f"DROP USER '{user}'@'{host}'")
        else:
            conn.query(f'DROP OWNED BY "{user}"')
            conn.query(f'DROP ROLE "{user}"')


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_read_only_session(read_only_account, tmp_path):
    env, video = read_only_account
    other = make_good_video(tmp_path / "other.mp4", n_frames=8, size=(64, 48))
    session = run(["-c", SESSION, str(other)], env)
    assert session.returncode == 0, session.stderr
    result = json.loads(session.stdout.split("RESULT ", 1)[1])
    assert result["read_only"] is True
    assert result["videos"] == 1 and result["info_rows"] == 1
    assert result["fetched_bytes"] == video.stat().st_size
    assert "PrivilegeError" in result["insert_error"] and "lacks the INSERT privilege" in result["insert_error"]
    assert env["DJ_USER"] in result["insert_error"] and "video" in result["insert_error"]
    assert result["videos_after"] == 1

    status = run(["-m", "pose_pipeline.cli", "status"], env)
    assert status.returncode == 0, status.stderr
    assert "VideoInfo" in status.stdout
    listing = run(["-m", "pose_pipeline.cli", "fsck", "--grace", "0"], env)  # checking needs no write privilege
    assert listing.returncode in (0, 1), listing.stderr  # 1: files of rows other tests deleted
    assert "1 stored file(s) checked" in listing.stdout and "0 missing, 0 damaged" in listing.stdout

    # no schema under another prefix: the account may not create it, and says so
    missing = run(["-c", "from pose_pipeline import schema; schema.activate()"],
                  {**env, "POSE_PIPELINE_SCHEMA_PREFIX": f"ppt_missing_{uuid.uuid4().hex[:6]}"})  # fmt: skip
    assert missing.returncode != 0
    assert "lacks the CREATE privilege" in missing.stderr and "does not exist" in missing.stderr, missing.stderr
