"""Import under odd input: file names FFmpeg or the database would misread, files that change during the import,
and paths a folder import passes over. Each must be imported correctly or named in the report with its reason."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.importer import import_videos
from pose_pipeline.schema import video as video_stage
from pose_pipeline.schema.video import InvalidVideoError, Video, VideoInfo, fetch_video, insert_local_video
from pose_pipeline.video import VideoWriter, probe_video, recompress_h264
from tests.bad_videos import make_good_video


def _video(path, n_frames=8) -> Path:
    return make_good_video(path, n_frames=n_frames, size=(64, 48))


def test_name_not_utf8_is_refused_by_name_and_the_folder_goes_on(db, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _video(folder / "a.mp4")
    latin1 = os.fsencode(folder) + b"/caf\xe9.mp4"  # "café.mp4" written by a Latin-1 system
    with open(latin1, "wb") as out:
        out.write((folder / "a.mp4").read_bytes())
    _video(folder / "z.mp4", n_frames=9)

    report = import_videos([folder], "odd", progress=False)
    assert sorted(k["filename"] for k in report.imported) == ["a.mp4", "z.mp4"]
    [(path, message)] = report.refused
    assert os.fsencode(path) == latin1
    assert "caf\\xe9.mp4" in message and "not valid UTF-8" in message
    report.summary().encode("utf-8")  # printable: the undecodable byte is shown escaped

    result = CliRunner().invoke(main, ["import", str(folder), "--project", "odd"])
    assert result.exit_code == 0, result.output
    assert "already present 2, refused 1" in result.output and "caf\\xe9.mp4" in result.output


def test_names_with_a_colon_are_files_not_protocols(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative names, as typed on a command line
    _video(Path("decoy.mp4"))
    Path("file:decoy.mp4").write_bytes(os.urandom(4096))  # read as protocol "file" it would open decoy.mp4
    stamped = _video(Path("2024-05-01T10:32:01.mp4"), n_frames=11)

    assert probe_video(stamped).frame_count == 11
    with pytest.raises(InvalidVideoError, match="not a media file"):
        probe_video("file:decoy.mp4")
    with VideoWriter("out:1.mp4", fps=30, size=(64, 48)) as writer:
        writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
    assert Path("out:1.mp4").stat().st_size > 0
    assert probe_video(recompress_h264(stamped, "re:encoded.mp4")).frame_count == 11

    report = import_videos(["2024-05-01T10:32:01.mp4", "file:decoy.mp4"], "odd", progress=False)
    assert [k["filename"] for k in report.imported] == ["2024-05-01T10:32:01.mp4"]
    [(path, message)] = report.refused
    assert path == Path("file:decoy.mp4") and "not a media file" in message
    VideoInfo.populate()
    assert (VideoInfo & report.imported[0]).fetch1("num_frames") == 11


def test_a_file_rewritten_during_import_is_stored_as_validated(db, tmp_path, monkeypatch):
    source = _video(tmp_path / "walk.mp4", n_frames=10)
    original = source.read_bytes()
    real_probe = video_stage.probe_video

    def probe_while_the_source_is_rewritten(path):
        source.write_bytes(os.urandom(len(original)))  # another program rewrites the file mid-import
        return real_probe(path)

    monkeypatch.setattr(video_stage, "probe_video", probe_while_the_source_is_rewritten)
    key = insert_local_video(source, "odd")
    row = (Video & key).fetch1()
    assert row["sha256"] == row["source_sha256"] == hashlib.sha256(original).hexdigest()
    assert fetch_video(key).read_bytes() == original  # the validated bytes, not the rewritten ones
    VideoInfo.populate(key)
    assert (VideoInfo & key).fetch1("num_frames") == 10


def test_a_file_still_being_written_is_refused(db, tmp_path):
    growing = tmp_path / "recording.mp4"
    growing.write_bytes(_video(tmp_path / "start.mp4").read_bytes() + os.urandom(32 << 20))
    stop = threading.Event()

    def keep_recording():
        with open(growing, "ab") as out:
            while not stop.is_set():
                out.write(os.urandom(1024))
                out.flush()

    writer = threading.Thread(target=keep_recording)
    writer.start()
    try:
        with pytest.raises(InvalidVideoError, match="recording.mp4: the file changed while it was being imported"):
            insert_local_video(growing, "odd")
    finally:
        stop.set()
        writer.join()
    assert len(Video()) == 0


@pytest.mark.all_backends
def test_names_ending_in_white_space_or_with_control_characters_are_refused(db, tmp_path):
    walk = _video(tmp_path / "walk.mp4")
    insert_local_video(walk, "odd")
    padded = tmp_path / "walk.mp4 "  # MariaDB's PAD SPACE collation equates it with walk.mp4
    padded.write_bytes(_video(tmp_path / "other.mp4", n_frames=9).read_bytes())
    with pytest.raises(InvalidVideoError, match="'walk.mp4 ' ends with white space"):
        insert_local_video(padded, "odd")
    bell = _video(tmp_path / "walk\a.mp4", n_frames=9)
    with pytest.raises(InvalidVideoError, match="contains control characters"):
        insert_local_video(bell, "odd")
    assert Video().to_dicts()[0]["filename"] == "walk.mp4" and len(Video()) == 1


def test_skipped_paths_are_listed_with_their_reason(db, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    _video(folder / "good.mp4")
    _video(folder / ".hidden.mp4")
    _video(folder / "sub" / "deeper.mp4")
    (folder / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    (folder / "linked.mp4").symlink_to(folder / "good.mp4")
    os.mkfifo(folder / "pipe.mp4")

    report = import_videos([folder], "odd", progress=False)
    assert sorted(k["filename"] for k in report.imported) == ["good.mp4", "linked.mp4"]
    skipped = {path.name: reason for path, reason in report.skipped}
    assert set(skipped) == {".git", ".hidden.mp4", "gone.mp4", "pipe.mp4", "sub"}
    assert "hidden file" in skipped[".hidden.mp4"] and "hidden directory" in skipped[".git"]
    assert "dangling symbolic link" in skipped["gone.mp4"] and "deleted.mp4" in skipped["gone.mp4"]
    assert "--recursive" in skipped["sub"] and "not a regular file" in skipped["pipe.mp4"]
    summary = report.summary()
    assert "skipped 5" in summary and all(f"{folder / name}:" in summary for name in skipped)

    deeper = import_videos([folder], "odd", recursive=True, progress=False)
    assert [k["filename"] for k in deeper.imported] == ["deeper.mp4"]
    assert {path.name for path, _ in deeper.skipped} == {".git", ".hidden.mp4", "gone.mp4", "pipe.mp4"}


@pytest.mark.all_backends
def test_a_name_with_a_backslash_is_found_by_its_key(db, tmp_path):
    name = r"o'neil 100% back\slash.mp4"  # a backslash, a quote and a percent sign: every escaping rule at once
    source = _video(tmp_path / name, n_frames=7)
    key = insert_local_video(source, "odd")
    assert len(Video & key) == 1 and len(Video - key) == 0
    assert len(Video & [key, {"filename": "other"}]) == 1
    report = import_videos([source], "odd", progress=False)
    assert report.already_present == [key] and not report.refused
    VideoInfo.populate()
    assert (VideoInfo & key).fetch1("num_frames") == 7
    assert fetch_video(key).read_bytes() == source.read_bytes()
