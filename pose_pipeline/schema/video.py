"""Video stage: source videos in the restricted raw store, and what decoding them tells us."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datajoint as dj

from .. import database
from ..video.probe import InvalidVideoError, file_sha256, probe_video
from ..video.reader import VideoReader
from .files import ChecksumError, clear_cache, fetch_verified, insert_with_file

STAGE = "video"
schema = dj.Schema()


class DuplicateVideoError(ValueError):
    """A different file is already stored under the same project and file name."""


VideoChecksumError = ChecksumError  # a stored or cached video does not match the checksum recorded at import


@schema
class Video(dj.Manual):
    """One source video file. Identifiable data: the file lives in the ``raw`` store, which may sit on a
    restricted share; everything a reviewer sees is derived from it (blurred) in the ``derived`` store.

    The file is an ``<object@raw>`` rather than an ``<attach@raw>``: DataJoint's attachment codec reads the
    whole file into memory on insert and on fetch, which clinic videos of several GB cannot afford; the object
    codec lets the import stream the file into the store (`insert_local_video`) and `fetch_video` stream it out.
    """

    definition = """
    video_project        : varchar(64)    # study or collection the video belongs to
    filename             : varchar(255)   # file name, unique within the project
    ---
    video                : <object@raw>   # the file as stored (original, or H.264 if recompressed at import)
    sha256               : char(64)       # checksum of the stored file, verified on every fetch
    source_sha256        : char(64)       # checksum of the file the user imported
    size_bytes           : int64          # size of the stored file
    source_path          : varchar(1024)  # where it was imported from (informational)
    recompressed         : bool           # re-encoded to H.264 at import, on explicit request
    imported_at=CURRENT_TIMESTAMP : datetime
    """


@schema
class VideoInfo(dj.Computed):
    """What decoding one video tells: its size, timing (per-frame timestamps, so variable frame rates are
    right), codec and rotation. Computed by decoding every frame."""

    definition = """
    -> Video
    ---
    fps                  : float64        # average frames per second
    num_frames           : int32          # frames decoded
    width                : int32          # pixels, as stored (before rotation)
    height               : int32          # pixels, as stored (before rotation)
    duration             : float64        # seconds
    codec                : varchar(32)    # FFmpeg codec name
    pix_fmt              : varchar(32)    # pixel format
    rotation             : int16          # display rotation in degrees from the file's metadata
    variable_frame_rate  : bool           # frame intervals differ by more than 1 percent of their median
    timestamps           : <blob>         # (num_frames,) presentation time of each frame, seconds from the first
    """

    def make(self, key):
        properties = probe_video(fetch_video(key))
        self.insert1(
            dict(
                key,
                fps=properties.fps,
                num_frames=properties.frame_count,
                width=properties.width,
                height=properties.height,
                duration=properties.duration,
                codec=properties.codec,
                pix_fmt=properties.pix_fmt or "",
                rotation=properties.rotation,
                variable_frame_rate=properties.variable_frame_rate,
                timestamps=properties.timestamps,
            )
        )


ROOT_TABLES = (Video,)  # deleting these cascades to the whole stage

# ---------------------------------------------------------------------------------------------- import


def insert_local_video(path, video_project: str, *, filename: str | None = None, recompress: bool = False) -> dict:
    """Validate a local video by decoding it and stream it into the raw store. Returns the ``Video`` key.

    Importing the same file again is harmless (returns the existing key); a different file under an existing
    key raises `DuplicateVideoError`; a file that does not decode raises `InvalidVideoError` and inserts nothing.
    ``recompress=True`` re-encodes to H.264 with the fixed settings of `recompress_h264` (never done silently).
    """
    path = Path(path)
    probe_video(path)  # raises InvalidVideoError naming the file and the reason
    key = {"video_project": video_project, "filename": filename or path.name}
    source_sha = file_sha256(path)

    existing = (Video & key).to_dicts()
    if existing:
        return _same_or_refuse(key, existing[0], source_sha, path)

    with tempfile.TemporaryDirectory(dir=database.cache_dir()) as scratch:
        stored = path
        if recompress:
            from ..video.recompress import recompress_h264

            stored = recompress_h264(path, Path(scratch) / (path.stem + ".mp4"))
        row = {
            **key,
            "source_sha256": source_sha,
            "size_bytes": stored.stat().st_size,
            "source_path": str(path.resolve())[:1024],
            "recompressed": bool(recompress),
        }
        try:
            insert_with_file(Video, row, "video", stored)  # sha256 of the stored copy, computed while copying
        except dj.errors.DuplicateError:
            # another process imported the same key between our check and our insert
            return _same_or_refuse(key, (Video & key).fetch1(), source_sha, path)
    return key


def _same_or_refuse(key: dict, row: dict, source_sha: str, path: Path) -> dict:
    if row["source_sha256"] == source_sha:
        return key
    raise DuplicateVideoError(
        f"{path}: a different file is already stored as {key['video_project']}/{key['filename']} "
        f"(checksum {row['source_sha256'][:12]}..., this file {source_sha[:12]}...)"
    )


# ---------------------------------------------------------------------------------------------- access


def fetch_video(key: dict) -> Path:
    """Return a local path to the video, fetched once into the managed cache and checksum-verified
    (`pose_pipeline.schema.files.fetch_verified`): a damaged copy in the store or the cache is never used."""
    ref, sha256 = (Video & key).fetch1("video", "sha256")
    return fetch_verified(ref, sha256, f"video {key['video_project']}/{key['filename']}")


@contextmanager
def open_video(key: dict) -> Iterator[VideoReader]:
    """Open a stored video for streaming frame access::

    with open_video(key) as reader:
        for frame in reader: ...
        frame_100 = reader[100]
    """
    with VideoReader(fetch_video(key)) as reader:
        yield reader


__all__ = [
    "DuplicateVideoError",
    "InvalidVideoError",
    "Video",
    "VideoChecksumError",
    "VideoInfo",
    "clear_cache",
    "fetch_video",
    "insert_local_video",
    "open_video",
]
