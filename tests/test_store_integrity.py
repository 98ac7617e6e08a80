"""Nothing orphaned and nothing trusted unchecked: files in the stores against their rows, on real databases.

An interrupted or rolled-back insert leaves no file in a store; a flipped byte in a stored or cached file is refused
with an error naming it; ``pose-pipeline fsck`` lists (and on request removes) what no row references and the rows
whose files are missing or damaged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datajoint as dj
import pytest

from pose_pipeline import database
from pose_pipeline.schema.files import insert_with_file
from pose_pipeline.schema.video import Video, fetch_video
from tests.bad_videos import make_good_video

pytestmark = pytest.mark.all_backends  # stores and transactions per server


def store_files(store: str = "raw", name: str = "") -> list[Path]:
    """Files of this test run's schemas in one store (deleted rows leave theirs until fsck removes them), only
    those of file name ``name`` when given."""
    location = Path(dj.config.stores[store]["location"])
    prefix = database.schema_prefix()
    return sorted(
        p for p in location.rglob("*") if p.is_file() and f"/{prefix}_" in str(p) and f"filename={name}" in str(p)
    )


def video_row(filename: str) -> dict:
    return {
        "video_project": "clinic",
        "filename": filename,
        "source_sha256": "0" * 64,
        "size_bytes": 0,
        "source_path": filename,
        "recompressed": False,
    }


@pytest.fixture
def good_video(tmp_path):
    return make_good_video(tmp_path / "walk.mp4", n_frames=24, size=(96, 64))


# ------------------------------------------------------------------------------------------- interrupted writes

COPY_SCRIPT = """
import sys
from pose_pipeline import schema
schema.activate(create_tables=False)
from pose_pipeline.schema.files import insert_with_file
from pose_pipeline.schema.video import Video
row = dict(video_project="clinic", filename="partial.mp4", source_sha256="0" * 64, size_bytes=0,
           source_path="fifo", recompressed=False)
print("ready", flush=True)
insert_with_file(Video, row, "video", sys.argv[1])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_import_copy_leaves_no_partial_file(db, tmp_path, sig):
    """An import's copy interrupted by SIGTERM or Ctrl-C removes the partial copy (identifiable data) from the
    raw store. The source is a FIFO, so the copy is provably in progress when the signal arrives."""
    fifo = tmp_path / "source.mp4"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-c", COPY_SCRIPT, str(fifo)],
        env=db.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stdout:  # DataJoint prints its connection first
            if line.strip() == "ready":
                break
        with open(fifo, "wb", buffering=0) as writer:
            writer.write(b"\x00" * (4 << 20))  # blocks until the copy has read it
            deadline = time.monotonic() + 30
            while not store_files("raw", "partial.mp4") and time.monotonic() < deadline:
                time.sleep(0.05)
            partial = store_files("raw", "partial.mp4")
            assert partial, "the copy never started writing into the store"
            process.send_signal(sig)
            # Keep the copy going, as a real file would: Python runs the handler once the read returns.
            try:
                while process.poll() is None and time.monotonic() < deadline + 30:
                    writer.write(b"\x00" * (1 << 20))
            except BrokenPipeError:
                pass  # the copy stopped reading: the process is gone
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode != 0
    expected = "Terminated" if sig == signal.SIGTERM else "KeyboardInterrupt"
    assert expected in err, err
    assert not any(p.exists() for p in partial), f"partial copy left in the raw store: {partial}"
    assert store_files("raw", "partial.mp4") == []
    assert not Video & {"filename": "partial.mp4"}


def test_rolled_back_transaction_removes_its_files(db, good_video):
    """A file written inside a transaction that is rolled back (what populate does when make() fails) goes too."""
    conn = Video.connection
    with pytest.raises(RuntimeError, match="make failed"), conn.transaction:
        insert_with_file(Video, video_row("rolled_back.mp4"), "video", good_video)
        assert len(store_files("raw", "rolled_back.mp4")) == 1
        raise RuntimeError("make failed")
    assert not Video & {"filename": "rolled_back.mp4"}
    assert store_files("raw", "rolled_back.mp4") == []
    with conn.transaction:  # a committed one keeps its file
        insert_with_file(Video, video_row("kept.mp4"), "video", good_video)
    assert len(store_files("raw", "kept.mp4")) == 1
    assert fetch_video({"video_project": "clinic", "filename": "kept.mp4"}).read_bytes() == good_video.read_bytes()


def test_interrupt_inside_insert_removes_the_file(db, good_video):
    """KeyboardInterrupt (a BaseException, not an Exception) while the row is staged: nothing is left."""
    from pose_pipeline.schema import files

    with pytest.raises(KeyboardInterrupt), files.staged_insert(Video) as staged:
        staged.rec.update(video_row("interrupted.mp4"))
        with staged.open("video", ".mp4") as target:
            target.write(good_video.read_bytes())
        assert len(store_files("raw", "interrupted.mp4")) == 1
        raise KeyboardInterrupt
    assert store_files("raw", "interrupted.mp4") == []
    assert not Video & {"filename": "interrupted.mp4"}
