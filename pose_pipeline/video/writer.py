"""H.264 video writing through PyAV (bundled FFmpeg with libx264)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np

# Fixed encoder settings: every file the pipeline writes is encoded the same way, so
# overlays and recompressed videos are comparable and reproducible.
H264_OPTIONS = {"crf": "18", "preset": "veryfast"}


class VideoWriter:
    """Write RGB uint8 frames of one size to an H.264 MP4 file, one frame at a time.

    >>> with VideoWriter("out.mp4", fps=30, size=(640, 480)) as writer:
    ...     writer.write(frame)  # (480, 640, 3) uint8 RGB
    """

    def __init__(self, path, fps: float, size: tuple[int, int], options: dict | None = None):
        width, height = size
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs even frame sizes, got {width}x{height} for {path}")
        self.path = Path(path)
        self.size = (int(width), int(height))
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = dict(H264_OPTIONS if options is None else options)
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame."""
        height, width = frame.shape[:2]
        if (width, height) != self.size or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"{self.path}: frame of shape {frame.shape} does not match {self.size[0]}x{self.size[1]} RGB"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():  # flush delayed frames
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)  # never leave a half-written file behind
