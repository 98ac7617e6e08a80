"""Nothing orphaned and nothing trusted unchecked: files in the stores against their rows, on real databases.

An interrupted or rolled-back insert leaves no file in a store; a flipped byte in a stored or cached file is refused
with an error naming it; ``pose-pipeline fsck`` lists (and on request removes) what no row references and the rows
whose files are missing or damaged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datajoint as dj
import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline import database, fsck
from pose_pipeline.cli import main
from pose_pipeline.schema.files import ChecksumError, insert_with_file
from pose_pipeline.schema.video import Video, fetch_video, insert_local_video
from tests.bad_videos import make_good_video


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

# The first lines give Ctrl-C the handler Python installs when started from a shell: pytest-xdist's workers ignore
# SIGINT, an ignored signal stays ignored across exec, and Python then installs none.
COPY_SCRIPT = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
import sys
from pose_pipeline import schema
schema.activate(create_tables=False)
from pose_pipeline.schema.files import ChecksumError, insert_with_file
from pose_pipeline.schema.video import Video
row = dict(video_project="clinic", filename="partial.mp4", source_sha256="0" * 64, size_bytes=0,
           source_path="fifo", recompressed=False)
print("ready", flush=True)
insert_with_file(Video, row, "video", sys.argv[1])
"""


@pytest.mark.all_backends
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


@pytest.mark.all_backends
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


@pytest.mark.all_backends
def test_failing_make_leaves_no_file(db, good_video):
    """populate() rolls back a make() that raises after writing its file: the file goes with the row."""
    schema = dj.Schema(database.schema_name("rollback_probe"), connection=Video.connection)
    try:

        @schema
        class Source(dj.Lookup):
            """One number per row (a key for the computed table below)."""

            definition = "n : int32"
            contents = ((1,), (2,))

        @schema
        class Written(dj.Computed):
            """A file written in make(); key 2 fails after writing it."""

            definition = """
            -> Source
            ---
            data   : <object@derived>
            sha256 : char(64)
            """

            def make(self, key):
                insert_with_file(self, dict(key), "data", good_video)
                if key["n"] == 2:
                    raise RuntimeError("make failed after writing its file")

        result = Written.populate(suppress_errors=True)
        assert len(result["error_list"]) == 1 and len(Written()) == 1
        location = Path(dj.config.stores["derived"]["location"])
        files = [p for p in location.rglob("*") if p.is_file() and schema.database in str(p)]
        assert len(files) == 1 and "n=1" in str(files[0]), files
    finally:
        schema.drop(prompt=False)


@pytest.mark.all_backends
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


# ------------------------------------------------------------------------------------------- fsck


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def stored_path(table, key: dict, attribute: str = "video") -> Path:
    return Path((table & key).fetch1(attribute).full_path)


def test_a_reclaimed_jobs_late_attempt_keeps_the_committed_file(db, good_video, monkeypatch):
    """A worker whose connection was killed runs on while another worker reclaims the job and commits the key;
    when the late attempt reaches its file write, the committed row's file is not taken for a leftover."""
    key = insert_local_video(good_video, "clinic", filename="reclaimed.mp4")
    committed = stored_path(Video, key)
    row = (Video & key).fetch1()
    monkeypatch.setattr(Video, "_allow_insert", True, raising=False)  # as inside make(), where leftovers are cleared
    with pytest.raises(dj.errors.DuplicateError):
        insert_with_file(Video, {k: row[k] for k in video_row("reclaimed.mp4")}, "video", good_video)
    assert committed.exists() and store_files("raw", "reclaimed.mp4") == [committed]
    assert fetch_video(key).read_bytes() == good_video.read_bytes()


@pytest.mark.all_backends
def test_fsck_lists_and_removes_orphans_missing_and_damaged(db, good_video, tmp_path):
    """fsck against a real store: an orphan (a row deleted, a file left), a row whose file is gone, a row whose file
    has a flipped byte; each listed, exit status 1; --remove and --delete-damaged repair; then exit status 0."""
    fsck.remove_orphans(fsck.check(grace=0, verify=False))  # files of rows earlier tests deleted
    keys = {name: insert_local_video(good_video, "clinic", filename=name) for name in ("a.mp4", "b.mp4", "c.mp4")}
    other = make_good_video(tmp_path / "other.mp4", n_frames=12, size=(64, 48))
    orphan_key = insert_local_video(other, "clinic", filename="orphan.mp4")
    orphan_file = stored_path(Video, orphan_key)
    (Video & orphan_key).delete(prompt=False)
    missing_file = stored_path(Video, keys["b.mp4"])
    missing_file.unlink()
    damaged_file = stored_path(Video, keys["c.mp4"])
    flip_byte(damaged_file)

    runner = CliRunner()
    young = runner.invoke(main, ["fsck"])  # default grace: the orphan is seconds old, a running job's file
    assert young.exit_code == 1, young.output
    assert "orphan.mp4" not in young.output and "1 unreferenced file(s) younger" in young.output

    result = runner.invoke(main, ["fsck", "--grace", "0"])
    assert result.exit_code == 1, result.output
    assert "orphan file in store 'raw': " in result.output and "filename=orphan.mp4" in result.output
    assert "Video(video_project=clinic, filename=b.mp4).video: missing" in result.output
    assert "Video(video_project=clinic, filename=c.mp4).video: damaged" in result.output
    assert "filename=a.mp4" not in result.output
    assert orphan_file.exists()  # listing removes nothing

    declined = runner.invoke(main, ["fsck", "--grace", "0", "--remove"], input="n\n")
    assert orphan_file.exists() and declined.exit_code != 0

    repaired = runner.invoke(main, ["fsck", "--grace", "0", "--remove", "--delete-damaged", "--yes"])
    assert repaired.exit_code == 1, repaired.output
    assert "removed 1 orphan file(s)" in repaired.output and "deleted 2 row(s)" in repaired.output
    assert not orphan_file.exists()
    assert len(Video & keys["a.mp4"]) == 1 and not Video & keys["b.mp4"] and not Video & keys["c.mp4"]

    after = runner.invoke(main, ["fsck", "--grace", "0", "--remove", "--yes"])  # c.mp4's file is an orphan now
    assert after.exit_code == 1 and "removed 1 orphan file(s)" in after.output, after.output
    assert not damaged_file.exists()
    clean = runner.invoke(main, ["fsck", "--grace", "0"])
    assert clean.exit_code == 0, clean.output
    assert fetch_video(keys["a.mp4"]).read_bytes() == good_video.read_bytes()


@pytest.mark.all_backends
def test_fsck_checks_content_addressed_files(db):
    """``<blob@store>`` files (content-addressed: the labelled images of a DLC project): a missing one and a damaged
    one are listed, an intact one is not; deleting a damaged part row deletes its master row."""
    from pose_pipeline.schema.dlc_data import DLCProject

    project = {"dlc_project": "probe"}
    DLCProject.insert1({**project, "bodyparts": ["a"], "skeleton": [], "sigmas": [0.1], "scorer": "test",
                        "source": "test", "num_frames": 3, "labels_outside": 0})  # fmt: skip
    DLCProject.Frame.insert(
        [
            {
                **project,
                "frame_index": n,
                "image_name": f"img{n}.png",
                "image": np.full(1000, n, np.uint8),
                "keypoints": np.zeros((1, 2)),
            }
            for n in (1, 2, 3)
        ]
    )
    location = Path(dj.config.stores["derived"]["location"])

    def file_of(n: int) -> Path:
        query = (DLCProject.Frame & {**project, "frame_index": n}).proj("image")
        meta = query.cursor(as_dict=True).fetchone()["image"]
        return location / (json.loads(meta) if isinstance(meta, str) else meta)["path"]

    file_of(2).unlink()
    flip_byte(file_of(3), offset=40)
    report = fsck.check(grace=0)
    found = sorted((row.key["frame_index"], row.problem) for row in report.bad_rows)
    assert found == [(2, "missing"), (3, "damaged")]
    assert fsck.delete_damaged(report) == 1 and not DLCProject & project  # both rows' master, deleted once


def test_fsck_reports_an_unreadable_store_as_an_error(db, good_video, monkeypatch):
    """A check that cannot complete exits 2 and removes nothing."""
    insert_local_video(good_video, "clinic")
    stores = dict(dj.config.stores)
    monkeypatch.setitem(dj.config, "stores", {**stores, "raw": {**stores["raw"], "protocol": "nosuchprotocol"}})
    result = CliRunner().invoke(main, ["fsck", "--grace", "0", "--remove", "--yes"])
    assert result.exit_code == 2, result.output
    assert "fsck failed" in result.output


# ------------------------------------------------------------------------------------------- verified files


@pytest.fixture
def blurred(db, tmp_path):
    """A walker video, tracked, its faces blurred, and a tracking overlay on the blurred video."""
    from pose_pipeline.schema.overlays import BlurMethod, BlurredVideo, TrackingBboxVideo
    from pose_pipeline.schema.tracking import TrackingBbox, TrackingBboxMethod
    from pose_pipeline.schema.video import VideoInfo
    from pose_pipeline.synthetic import render_scene, walking_scene

    render_scene(walking_scene(n_frames=20, seed=3), tmp_path / "walker.mp4")
    key = insert_local_video(tmp_path / "walker.mp4", "privacy")
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking)
    TrackingBbox.populate(key)
    [tracking] = (TrackingBbox & key).keys()
    BlurMethod.insert1({**tracking, "face_method": "synthetic_pose"})
    BlurredVideo.populate(tracking)
    return {**tracking, "face_method": "synthetic_pose"}, BlurredVideo, TrackingBboxVideo


def test_damaged_derived_video_is_refused_and_not_inherited(blurred):
    """A flipped byte in a stored BlurredVideo is refused when it is fetched (the error names the file), so no
    overlay is built on it; a damaged cached copy of a good one is replaced from the store."""
    from pose_pipeline.schema.files import clear_cache

    key, BlurredVideo, TrackingBboxVideo = blurred
    good = BlurredVideo.fetch_path(key)
    flip_byte(good)  # the cached copy
    assert BlurredVideo.fetch_path(key) == good
    assert hashlib_sha256(good) == (BlurredVideo & key).fetch1("sha256")

    clear_cache()
    flip_byte(stored_path(BlurredVideo, key))
    with pytest.raises(ChecksumError, match="BlurredVideo of privacy/.*the store's copy is damaged"):
        BlurredVideo.fetch_path(key)
    result = TrackingBboxVideo.populate(key, suppress_errors=True)
    [(_, message)] = result["error_list"]
    assert "BlurredVideo" in str(message) and "damaged" in str(message)
    assert not TrackingBboxVideo & key
    report = fsck.check(grace=0)
    assert [(row.table.__name__, row.problem) for row in report.bad_rows] == [("BlurredVideo", "damaged")]


def hashlib_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_open_reader_survives_a_cleared_cache(db, good_video):
    """An open reader keeps its own handle: `properties` (a second decode of the file) and seeks still work after
    the cache is cleared under it."""
    from pose_pipeline.schema.files import clear_cache
    from pose_pipeline.schema.video import open_video

    key = insert_local_video(good_video, "clinic")
    with open_video(key) as reader:
        first = reader[0]
        clear_cache()
        assert not reader.path.exists()
        assert reader.properties.frame_count == 24
        assert (reader[0] == first).all() and len(list(reader.iter_frames(0))) == 24


def test_fsck_lists_and_removes_a_killed_imports_scratch_copy(db, good_video):
    """A SIGKILLed import leaves its private copy of the raw video in the cache (no `with` block can remove it):
    fsck lists the folder once it is older than the grace period and --remove deletes it; a young one (a running
    import on this machine) is left alone."""
    cache = database.cache_dir()
    script = (
        "import os, shutil, signal, sys\n"
        "from pose_pipeline import schema\n"
        "from pose_pipeline.schema import video\n"
        "schema.activate()\n"
        "def copy_then_die(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "video.recompress_h264 = video.probe_video = copy_then_die\n"
        f"video.insert_local_video({str(good_video)!r}, 'clinic', filename='killed.mp4')\n"
    )
    before = {p for p in cache.iterdir() if p.name.startswith(fsck.SCRATCH_PREFIXES)}
    killed = subprocess.run([sys.executable, "-c", script], check=False, env=os.environ, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = {p for p in cache.iterdir() if p.name.startswith(fsck.SCRATCH_PREFIXES)} - before
    assert any(f.stat().st_size == good_video.stat().st_size for f in left.iterdir())  # the raw video's copy

    runner = CliRunner()
    young = runner.invoke(main, ["fsck", "--no-verify"])
    assert str(left) not in young.output and left.exists()
    old = time.time() - 7 * 3600
    os.utime(left, (old, old))
    listed = runner.invoke(main, ["fsck", "--no-verify"])
    assert listed.exit_code == 1 and f"stale scratch folder in the cache (a killed process's working copy): {left}" in (
        listed.output
    )
    removed = runner.invoke(main, ["fsck", "--no-verify", "--remove", "--yes"])
    assert "removed 1 stale scratch folder(s)" in removed.output, removed.output
    assert not left.exists() and not Video & {"filename": "killed.mp4"}
