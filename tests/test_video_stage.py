"""The Video stage against real databases: import, validation, duplicates, VideoInfo, cached checksummed access."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline import database
from pose_pipeline.cli import main
from pose_pipeline.importer import import_videos
from pose_pipeline.schema.video import (
    DuplicateVideoError,
    InvalidVideoError,
    Video,
    VideoChecksumError,
    VideoInfo,
    clear_cache,
    fetch_video,
    insert_local_video,
    open_video,
)
from pose_pipeline.video import probe_video
from tests.bad_videos import EXPECTED_REASONS, make_bad_videos, make_good_video

pytestmark = pytest.mark.all_backends  # files streamed into the object store and fetched back, per server


@pytest.fixture
def good_video(tmp_path):
    return make_good_video(tmp_path / "walk.mp4", n_frames=24, size=(96, 64))


def test_import_then_videoinfo(db, good_video):
    key = insert_local_video(good_video, "clinic")
    assert key == {"video_project": "clinic", "filename": "walk.mp4"}
    VideoInfo.populate(key)
    info = (VideoInfo & key).fetch1()
    expected = probe_video(good_video)
    assert (info["num_frames"], info["width"], info["height"]) == (24, 96, 64)
    assert info["fps"] == pytest.approx(expected.fps)
    assert info["codec"] == "h264" and not info["variable_frame_rate"]
    np.testing.assert_allclose(info["timestamps"], expected.timestamps)
    assert info["duration"] == pytest.approx(expected.duration)


def test_fetch_is_cached_verified_and_streams_frames(db, good_video, pipeline_home):
    key = insert_local_video(good_video, "clinic")
    path = fetch_video(key)
    assert path.is_relative_to(pipeline_home / "cache")
    assert path.read_bytes() == good_video.read_bytes()
    assert fetch_video(key) == path  # second fetch hits the cache
    with open_video(key) as reader:
        frames = list(reader)
        assert len(frames) == len(reader) == 24
        np.testing.assert_array_equal(reader[10], frames[10])


def test_damaged_store_copy_is_detected(db, good_video):
    """A damaged store copy is caught when it is fetched into the cache, and never reaches the cache."""
    clear_cache()
    key = insert_local_video(good_video, "clinic")
    ref = (Video & key).fetch1("video")
    stored = ref.full_path
    data = bytearray(Path(stored).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(stored).write_bytes(bytes(data))
    with pytest.raises(VideoChecksumError, match="video clinic/walk.mp4: the stored file has checksum"):
        fetch_video(key)
    assert not list((database.cache_dir() / "objects").rglob("*.mp4"))


def test_damaged_cached_copy_is_fetched_again(db, good_video):
    """A cached copy is verified every time it is handed out: a flipped byte there is replaced from the store."""
    key = insert_local_video(good_video, "clinic")
    cached = fetch_video(key)
    data = bytearray(cached.read_bytes())
    data[len(data) // 3] ^= 0x01
    cached.write_bytes(bytes(data))
    assert fetch_video(key).read_bytes() == good_video.read_bytes()


def test_same_file_twice_is_harmless_a_different_file_is_refused(db, good_video, tmp_path):
    first = insert_local_video(good_video, "clinic")
    assert insert_local_video(good_video, "clinic") == first
    assert len(Video()) == 1
    (tmp_path / "other").mkdir()
    other = make_good_video(tmp_path / "other" / "walk.mp4", n_frames=12, size=(96, 64))
    with pytest.raises(DuplicateVideoError, match="a different file is already stored as clinic/walk.mp4"):
        insert_local_video(other, "clinic")
    assert insert_local_video(other, "elsewhere")["video_project"] == "elsewhere"


def test_bad_files_are_refused_and_the_batch_goes_on(db, tmp_path):
    bad = make_bad_videos(tmp_path / "bad")
    del bad["directory"]  # a directory given to the bulk import is searched for videos (tested below alone)
    assert len(bad) >= 8
    (tmp_path / "good").mkdir()
    good = [make_good_video(tmp_path / "good" / f"good{i}.mp4", n_frames=10, size=(64, 48)) for i in range(2)]
    # good files first, in the middle and last: a refusal must not stop what comes after it
    paths = [good[0], *bad.values(), good[1]]
    report = import_videos(paths, "clinic", progress=False)

    assert sorted(k["filename"] for k in report.imported) == ["good0.mp4", "good1.mp4"]
    refused = dict(report.refused)
    for kind, path in bad.items():
        assert path in refused, f"{kind} was not refused"
        assert str(path) in refused[path], f"{kind}: message does not name the file"
        assert EXPECTED_REASONS[kind] in refused[path], f"{kind}: {refused[path]}"
    assert len(Video()) == 2
    assert f"refused {len(bad)}" in report.summary()


@pytest.mark.parametrize("kind", ["zero_bytes", "text", "audio_only", "truncated", "corrupted_middle", "directory"])
def test_single_bad_file_inserts_nothing(db, tmp_path, kind):
    path = make_bad_videos(tmp_path)[kind]
    with pytest.raises(InvalidVideoError, match=EXPECTED_REASONS[kind]):
        insert_local_video(path, "clinic")
    assert len(Video()) == 0


def test_recompression_is_explicit(db, tmp_path):
    source = make_good_video(tmp_path / "raw.mp4", n_frames=12, size=(64, 48))
    key = insert_local_video(source, "clinic", filename="recompressed.mp4", recompress=True)
    row = (Video & key).fetch1()
    assert row["recompressed"] and row["sha256"] != row["source_sha256"]
    VideoInfo.populate(key)
    assert (VideoInfo & key).fetch1("num_frames", "codec") == (12, "h264")
    plain = insert_local_video(source, "clinic")
    assert not (Video & plain).fetch1("recompressed")


def test_cli_import_reports_refusals(db, tmp_path):
    (tmp_path / "in").mkdir()
    make_good_video(tmp_path / "in" / "a.mp4", n_frames=8, size=(64, 48))
    (tmp_path / "in" / "notes.mp4").write_text("not a video")
    result = CliRunner().invoke(main, ["import", str(tmp_path / "in"), "--project", "cli"])
    assert result.exit_code == 0, result.output
    assert "imported 1, already present 0, refused 1" in result.output
    assert "notes.mp4" in result.output
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0 and "VideoInfo" in status.output
