"""Explicit re-encoding of a video to the project's H.264 format.

Nothing in the pipeline calls this on its own: re-encoding loses quality and changes checksums, so a person
decides (e.g. for a codec a deployment cannot decode, or for huge intra-only camera files).

Settings, fixed so results are reproducible: libx264, yuv420p (8 bit), CRF `crf` (default 18, visually
lossless for most footage), preset `preset` (default "medium"), MP4 container, video only (audio is dropped).
Timing: every frame keeps its presentation timestamp (to ~11 µs: the writer's clock runs at >= 90 kHz), so
variable-frame-rate video stays variable and frame `i` keeps its time. Rotation: *carried*, not applied. The
pixels are encoded as stored and the source's display rotation is written as the output's display matrix, so
width, height and pixel coordinates (keypoints!) mean the same in both files and players still show it upright.
Odd widths/heights are padded with black on the right/bottom to the even size yuv420p needs.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .probe import InvalidVideoError, _check_path, _open_video, _rotation_clockwise
from .writer import VideoWriter

__all__ = ["recompress_h264"]


def recompress_h264(src, dst, crf: int = 18, preset: str = "medium") -> Path:
    """Re-encode `src` to H.264 yuv420p MP4 at `dst` with the fixed settings documented in this module.

    Keeps frame count and per-frame timestamps; carries the display rotation. Writes under a temporary name and
    renames when complete, so a failure leaves no partial `dst`. Raises InvalidVideoError for unreadable sources.
    """
    src, dst = _check_path(src), Path(dst)
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"{dst}: refusing to recompress a video onto itself")
    partial = dst.with_name(f".{dst.stem}.partial-{os.getpid()}{dst.suffix or '.mp4'}")
    options = {"crf": str(int(crf)), "preset": str(preset)}
    container, stream = _open_video(src)
    writer = None
    try:
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        time_base = stream.time_base
        first_pts = None
        for index, frame in enumerate(container.decode(stream)):
            if writer is None:
                width, height = frame.width, frame.height
                size = (width + width % 2, height + height % 2)
                writer = VideoWriter(partial, rate, size, options=options, rotation=_rotation_clockwise(frame))
            if frame.pts is None or time_base is None:
                time = None  # no timestamps in the source: frames at the nominal rate
            else:
                first_pts = frame.pts if first_pts is None else first_pts
                time = (frame.pts - first_pts) * time_base
            if (frame.width, frame.height) == writer.size:
                writer.write_frame(frame, time)
            else:
                rgb = frame.to_ndarray(format="rgb24")
                padded = np.pad(rgb, ((0, writer.size[1] - frame.height), (0, writer.size[0] - frame.width), (0, 0)))
                writer.write(padded, time)
        if writer is None:
            raise InvalidVideoError(src, "no decodable frames")
        writer.close()
        os.replace(partial, dst)
    except BaseException as error:
        if writer is not None:
            try:
                writer.close()
            except (av.error.FFmpegError, OSError):
                pass  # the original error matters, not a failure to finish a file we delete anyway
        partial.unlink(missing_ok=True)
        if isinstance(error, av.error.FFmpegError):
            raise InvalidVideoError(src, f"decoding failed during recompression: {error}") from error
        raise
    finally:
        try:
            stream.codec_context.flush_buffers()  # park decoder threads before the container goes
        finally:
            container.close()
    return dst
