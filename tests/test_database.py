"""The database layer on every backend: store codecs (the MariaDB fix), collation, status, embedded default."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datajoint as dj
import numpy as np
import pytest

from pose_pipeline import database
from tests.conftest import server_data_dir

pytestmark = pytest.mark.all_backends  # codecs, stores and collation differ between servers


@pytest.fixture
def codec_schema(backend):
    """A throw-away schema on the active backend with a column of every store codec the pipeline uses."""
    conn = dj.conn()
    name = database.schema_name("codec_check")
    if conn.adapter.backend == "mysql":
        conn.query(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    schema = dj.Schema(name, connection=conn)

    @schema
    class Stored(dj.Manual):
        definition = """
        name        : varchar(32)
        ---
        attached    : <attach@raw>
        blob        : <blob@derived>
        array       : <npy@derived>
        obj         : <object@raw>
        meta        : json
        """

    yield Stored
    schema.drop(prompt=False)


def test_every_store_codec_round_trips(codec_schema, tmp_path):
    source = tmp_path / "notes.bin"
    source.write_bytes(b"\x00\x01pose" * 100)
    blob = {"a": np.arange(5)}
    array = np.random.default_rng(0).normal(size=(4, 17, 3)).astype(np.float32)
    codec_schema.insert1(
        {"name": "one", "attached": str(source), "blob": blob, "array": array, "obj": str(source), "meta": {"k": 1}}
    )

    row = (codec_schema & {"name": "one"}).fetch1()
    assert Path(row["attached"]).read_bytes() == source.read_bytes()
    assert not str(row["attached"]).startswith(os.getcwd())  # attachments land in the managed cache
    np.testing.assert_array_equal(row["blob"]["a"], blob["a"])
    np.testing.assert_array_equal(np.asarray(row["array"]), array)
    with row["obj"].open() as f:
        assert f.read() == source.read_bytes()
    assert row["meta"] == {"k": 1}


def test_keys_differing_only_in_case_are_distinct(codec_schema, tmp_path):
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    for name in ("Nose", "nose"):
        codec_schema.insert1(
            {"name": name, "attached": str(source), "blob": 0, "array": np.zeros(1), "obj": str(source), "meta": {}}
        )
    assert sorted(codec_schema.to_pandas().index) == ["Nose", "nose"]


def test_jobs_table_declares_an_inherited_integer_key_without_warning(backend, caplog):
    """DataJoint declares a jobs table's inherited int32 key as the SQL type and warns ("Native type 'integer'")
    unless `pose_pipeline._datajoint_fixes` spells it as the core type again; the column stays the same."""
    schema = dj.Schema(database.schema_name("jobs_check"), connection=dj.conn())
    try:

        @schema
        class Parent(dj.Manual):
            definition = """
            parent_id   : int32
            """

        @schema
        class Child(dj.Computed):
            definition = """
            -> Parent
            """

            def make(self, key):
                self.insert1(key)

        with caplog.at_level(logging.WARNING, logger="datajoint"):
            jobs = Child().jobs
        assert not [r.getMessage() for r in caplog.records if "Native type" in r.getMessage()]
        assert jobs.heading["parent_id"].type == Child.heading["parent_id"].type
        assert jobs.heading["parent_id"].original_type == "int32"
    finally:
        schema.drop(prompt=False)


def test_status_names_backend_schemas_and_stores(backend):
    status = database.status()
    assert status.backend == ("mysql" if backend.name == "mariadb" else "postgresql")
    assert database.schema_name("video") in status.schemas
    assert {"raw", "derived"} <= set(status.stores)
    assert status.stores["default"] == "derived"
    text = str(status)
    assert "backend" in text and database.schema_name("video") in text


def test_embedded_default_needs_no_configuration(tmp_path):
    """A fresh process with no DataJoint configuration starts its own PostgreSQL and keeps data across runs."""
    home = server_data_dir().parent / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "POSE_PIPELINE"))}
    env["POSE_PIPELINE_HOME"] = str(home)
    script = (
        "from pose_pipeline import database, schema; schema.activate(); "
        "from pose_pipeline.schema.video import Video; print(database.status().backend, database.status().embedded)"
    )
    for _ in range(2):  # the second run finds the data directory of the first
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-2:] == ["postgresql", "True"]
    assert (home / "pgdata" / "PG_VERSION").exists()
    assert (home / "stores" / "raw").is_dir()
    shutil.rmtree(home.parent, ignore_errors=True)


def test_importing_the_package_connects_to_nothing_and_imports_no_framework():
    script = (
        "import sys, pose_pipeline, pose_pipeline.schema, pose_pipeline.stages, pose_pipeline.cli; "
        "import pose_pipeline.schema.video, pose_pipeline.schema.tracking; "
        "import datajoint.instance as c; "
        "assert getattr(c, '_singleton_connection', None) is None, 'connected at import'; "
        "heavy = [m for m in ('torch', 'onnxruntime', 'deeplabcut', 'mmpose', 'mmdet', 'tensorflow', 'pgserver', "
        "'trackers', 'supervision', 'trackeval') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
