"""H.264 video writing through PyAV (bundled FFmpeg with libx264)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np

from .probe import ffmpeg_url

# Fixed encoder settings: every file the pipeline writes is encoded the same way, so
# overlays and recompressed videos are comparable and reproducible.
H264_OPTIONS = {"crf": "18", "preset": "veryfast"}

# Timestamps are stored in ticks of at least 90 kHz (the MPEG clock) that divide the frame duration exactly,
# so constant-rate files stay exactly constant and explicit (variable-rate) times keep 11 µs resolution.
_MIN_TICKS_PER_SECOND = 90_000


class VideoWriter:
    """Write RGB uint8 frames of one size to an H.264 (yuv420p) MP4 file, one frame at a time.

    >>> with VideoWriter("out.mp4", fps=30, size=(640, 480)) as writer:
    ...     writer.write(frame)  # (480, 640, 3) uint8 RGB

    Frames are placed every 1/fps seconds unless `write` gets an explicit `time` (seconds), which keeps
    variable-frame-rate timing. `rotation` (clockwise degrees, as in `VideoProperties.rotation`) is stored as the
    stream's display matrix; the pixels are written as given. If the `with` block raises, the file is removed.
    """

    def __init__(self, path, fps: float, size: tuple[int, int], options: dict | None = None, *, rotation: int = 0):
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {width}x{height} for {path}")
        if rotation % 90:
            raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
        self.path = Path(path)
        self.size = (int(width), int(height))
        self.rate = Fraction(fps).limit_denominator(1001)
        if self.rate <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        ticks_per_frame = math.ceil(_MIN_TICKS_PER_SECOND / self.rate.numerator) * self.rate.denominator
        self.time_base = Fraction(self.rate.denominator, self.rate.numerator * ticks_per_frame)
        self._ticks_per_frame = ticks_per_frame
        self._container = av.open(ffmpeg_url(self.path), mode="w")
        try:
            self._stream = self._container.add_stream("libx264", rate=self.rate)
            self._stream.width, self._stream.height = self.size
            self._stream.pix_fmt = "yuv420p"
            self._stream.codec_context.time_base = self.time_base
            self._stream.time_base = self.time_base
            self._stream.options = dict(H264_OPTIONS if options is None else options)
            if rotation % 360:
                self._stream.set_display_rotation(-(rotation % 360))  # PyAV takes counter-clockwise degrees
        except BaseException:
            self._container.close()
            raise
        self._last_pts: int | None = None
        self.frames_written = 0

    def write(self, frame: np.ndarray, time: float | None = None) -> None:
        """Append one (height, width, 3) uint8 RGB frame, shown at `time` seconds (default: frames_written / fps)."""
        height, width = frame.shape[:2]
        if (width, height) != self.size or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"{self.path}: frame of shape {frame.shape} does not match {self.size[0]}x{self.size[1]} RGB"
            )
        if frame.dtype != np.uint8:
            raise TypeError(f"{self.path}: frames must be uint8 RGB, got {frame.dtype}")
        self.write_frame(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"), time)

    def write_frame(self, frame: av.VideoFrame, time: float | None = None) -> None:
        """Append a decoded `av.VideoFrame` of the writer's size without a round trip through RGB."""
        if (frame.width, frame.height) != self.size:
            raise ValueError(f"{self.path}: frame of {frame.width}x{frame.height} does not match {self.size}")
        if self._container is None:
            raise ValueError(f"{self.path}: writer is closed")
        if time is None:
            pts = self.frames_written * self._ticks_per_frame
        else:
            pts = round(Fraction(time) / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(
                f"{self.path}: frame times must increase, got {time} s after {self._last_pts * self.time_base} s"
            )
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        # A decoded frame keeps its I/P/B type, which libx264 would obey as a forced type: let x264 choose.
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts = pts
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():  # flush delayed frames
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        finally:
            if exc_type is not None:
                self.path.unlink(missing_ok=True)  # never leave a half-written file behind
