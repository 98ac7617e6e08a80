"""A database made by pose_pipeline 0.1 is refused with instructions, and the upgrade path works."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.all_backends  # declarations and schema drops are backend-specific

SCRIPT = """
import datajoint as dj
from pose_pipeline import database, schema
from pose_pipeline.schema.requests import SchemaVersionError

conn = database.connect()
if conn.adapter.backend == "mysql":  # 0.1 created its schemas with binary collation too
    conn.query(f"CREATE DATABASE `{database.schema_name('tracking')}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
old = dj.Schema(database.schema_name("tracking"), connection=conn)

@old
class TrackingBboxMethod(dj.Manual):  # the 0.1 layout: parameters not in the key
    definition = '''
    video_project : varchar(64)
    filename : varchar(255)
    tracking_method : varchar(32)
    detector : varchar(32)
    ---
    tracker_params=null : json
    '''

try:
    schema.activate()
except SchemaVersionError as error:
    print("refused:", error)
    tables = conn.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                        args=(database.schema_name("tracking"),)).fetchall()
    print("tables:", sorted(t for (t,) in tables if not t.startswith("~")))  # DataJoint's own: ~lineage
else:
    raise SystemExit("a 0.1 table was accepted")
schema.deactivate()
print("dropped:", schema.drop_stages("tracking"))
schema.activate()
from pose_pipeline.schema.tracking import TrackingBboxMethod
print("upgraded:", "tracking_params_hash" in TrackingBboxMethod.heading.names)
schema.deactivate(drop=True)
"""


def test_a_0_1_request_table_is_refused_then_dropped_and_recreated(backend):
    env = {**backend.subprocess_env(), "POSE_PIPELINE_SCHEMA_PREFIX": f"ppt_up_{uuid.uuid4().hex[:6]}"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300,
                         check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    refused = next(line for line in out.stdout.splitlines() if line.startswith("refused:"))
    assert "created by pose_pipeline 0.1" in refused and "pose-pipeline db drop-stages --from tracking" in refused
    dropped = next(line for line in out.stdout.splitlines() if line.startswith("dropped:"))
    assert "_tracking" in dropped and "_video'" not in dropped
    assert "upgraded: True" in out.stdout
    assert "tables: ['tracking_bbox_method']" in out.stdout  # nothing was declared beside the old table
