"""Video stage: source videos in the restricted raw store, and what decoding them tells us."""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datajoint as dj

from .. import database
from ..video.probe import InvalidVideoError, _check_path, display_path, probe_video
from ..video.reader import VideoReader
from .files import COPY_CHUNK, ChecksumError, clear_cache, fetch_verified, insert_with_file

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
    key raises `DuplicateVideoError`; a file that does not decode, or whose name cannot be a key, raises
    `InvalidVideoError` and inserts nothing. ``recompress=True`` re-encodes to H.264 with the fixed settings of
    `recompress_h264` (never done silently).
    """
    return store_local_video(path, video_project, filename=filename, recompress=recompress)[0]


def store_local_video(path, video_project: str, *, filename=None, recompress=False) -> tuple[dict, bool]:
    """`insert_local_video`, also saying whether this call inserted the row (False: the same file was there).

    The source is read once: it is copied into a private scratch file while its sha256 is computed, and only that
    copy is decoded, (re-encoded) and stored. A file rewritten during the import therefore cannot be stored with
    a checksum or content other than what was validated; one that changed while it was copied is refused.
    """
    path = Path(path)
    name = filename or path.name
    problem = filename_problem(name)
    if problem:
        raise InvalidVideoError(path, problem)
    key = {"video_project": video_project, "filename": name}
    _check_path(path)  # missing, a directory, empty, unreadable: refused with the reason, before any copy

    with tempfile.TemporaryDirectory(dir=database.cache_dir(), prefix="import-") as scratch:
        private = Path(scratch) / f"source{path.suffix}"
        source_sha = _copy_hashing(path, private)
        existing = (Video & key).to_dicts()
        if existing:  # checked before decoding: importing a folder again costs one read per file
            return _same_or_refuse(key, existing[0], source_sha, path), False
        try:
            probe_video(private)
            stored = private
            if recompress:
                from ..video.recompress import recompress_h264

                stored = recompress_h264(private, Path(scratch) / "recompressed.mp4")
        except InvalidVideoError as error:  # name the user's file, not the scratch copy
            raise InvalidVideoError(path, error.reason) from None
        row = {
            **key,
            "source_sha256": source_sha,
            "size_bytes": stored.stat().st_size,
            "source_path": display_path(path.resolve())[:1024],
            "recompressed": bool(recompress),
        }
        try:
            insert_with_file(Video, row, "video", stored)  # sha256 of the stored copy, computed while copying
        except dj.errors.DuplicateError:
            # another process imported the same key between our check and our insert
            return _same_or_refuse(key, (Video & key).fetch1(), source_sha, path), False
    return key, True


def filename_problem(name: str) -> str | None:
    """Why ``name`` cannot be a video's file name in the database, or None when it can.

    Refused: names that are not valid UTF-8 (the database stores text), names with control characters, and
    names ending in white space: MySQL and MariaDB compare with PAD SPACE collations, so ``"walk.mp4 "`` would
    be the same key as ``"walk.mp4"`` there and a different one on PostgreSQL.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name)
        return f"the file name {shown!r} is not valid UTF-8 text; rename the file (e.g. with convmv)"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return f"the file name {name!r} contains control characters; rename the file"
    if name != name.rstrip():
        return f"the file name {name!r} ends with white space; rename the file"
    return None


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` in one read, returning its sha256; refuse a file that changed meanwhile."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as out:
        before = os.fstat(src.fileno())
        while chunk := src.read(COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        after = os.stat(source)  # by name: a file replaced by another one (a rename over it) counts as a change
    if (after.st_size, after.st_mtime_ns, after.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino):
        raise InvalidVideoError(source, "the file changed while it was being imported (still being written?)")
    return digest.hexdigest()


def _same_or_refuse(key: dict, row: dict, source_sha: str, path: Path) -> dict:
    if row["source_sha256"] == source_sha:
        return key
    raise DuplicateVideoError(
        f"{display_path(path)}: a different file is already stored as {key['video_project']}/{key['filename']} "
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
    "store_local_video",
]
