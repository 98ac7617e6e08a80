"""The project's one streaming video reader: iterate or seek by frame index, never holding the video in memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import av
import numpy as np

from .probe import InvalidVideoError, VideoProperties, _check_path, _open_video, probe_video

__all__ = ["VideoReader"]

_FORMATS = ("rgb24", "bgr24")


@dataclass(frozen=True)
class _PacketIndex:
    """Presentation timestamps of every frame (sorted) and the positions of keyframes among them."""

    pts: np.ndarray  # int64, presentation order
    keyframes: np.ndarray  # int64 frame indices of keyframes, ascending


class VideoReader:
    """Read frames of a video file as uint8 (height, width, 3) arrays, sequentially or by index.

    >>> with VideoReader("walk.mp4") as video:
    ...     for frame in video:           # RGB frames in presentation order
    ...         ...
    ...     tenth = video[10]             # exact seek by frame index

    Opening only reads the container header: `len()` is the container's frame count (a packet scan when the
    container has none), `fps` and `size` come from the stream header. `properties` probes the whole file once
    (decoding every frame) on first access. Frames are returned as stored, without applying display rotation.
    Random access scans the packet timestamps once (demuxing without decoding: milliseconds for minutes of video),
    then seeks to the keyframe before the wanted frame and decodes forward to the frame whose timestamp matches.
    """

    def __init__(self, path, *, format: str = "rgb24"):
        if format not in _FORMATS:
            raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
        self.path = _check_path(path)
        self.format = format
        # Our own handle on the file: `properties` and a re-open still read it when the path is deleted or replaced
        # under us (e.g. the managed cache is cleared while the reader is open).
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._container, self._stream = _open_video(self.path)
        except BaseException:
            self._file.close()
            raise
        self._stream.thread_type = "AUTO"  # frame + slice threading: decoding is the bottleneck
        self._decoder = None  # iterator of decoded frames, positioned before frame self._next_index
        self._next_index: int | None = 0
        self._index: _PacketIndex | None = None
        self._index_scanned = False
        self._properties: VideoProperties | None = None
        self._length: int | None = int(self._stream.frames) or None

    # --- header information -------------------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Average frame rate from the stream header (frames per second)."""
        rate = self._stream.average_rate or self._stream.guessed_rate
        if rate:
            return float(rate)
        return self.properties.fps

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames as stored."""
        context = self._stream.codec_context
        return int(context.width), int(context.height)

    @property
    def properties(self) -> VideoProperties:
        """Full properties from `probe_video` (decodes the whole file once, then cached)."""
        if self._properties is None:
            source = self._source()
            try:
                self._properties = probe_video(source)
            except InvalidVideoError as error:
                if source == self.path:
                    raise
                raise InvalidVideoError(self.path, error.reason) from None
        return self._properties

    def _source(self) -> Path:
        """The path to open the reader's file by: its own path while that is still the same file, else (deleted or
        replaced since) the reader's open handle, through the ``/dev/fd`` directory."""
        if self._file.closed:
            raise ValueError(f"{self.path}: reader is closed")
        try:
            current, ours = os.stat(self.path), os.fstat(self._file.fileno())
            if (current.st_dev, current.st_ino) == (ours.st_dev, ours.st_ino):
                return self.path
        except FileNotFoundError:
            pass
        handle = Path(f"/dev/fd/{self._file.fileno()}")
        if not handle.exists():
            raise InvalidVideoError(self.path, "the file was deleted or replaced while the reader was open")
        return handle

    def __len__(self) -> int:
        if self._length is None:
            index = self._packet_index()
            self._length = len(index.pts) if index is not None else self.properties.frame_count
        return self._length

    # --- frame access -------------------------------------------------------------------------------------------

    def __iter__(self):
        return self.iter_frames()

    def __getitem__(self, index: int) -> np.ndarray:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an integer, not {type(index).__name__}; use iter_frames() for ranges")
        return self.read(int(index))

    def read(self, index: int) -> np.ndarray:
        """Return frame `index` (negative counts from the end), seeking if it is not the next frame."""
        n = len(self)
        position = index + n if index < 0 else index
        if not 0 <= position < n:
            raise IndexError(f"frame {index} out of range for {self.path} with {n} frames")
        frame = self._frame_at(position)
        if frame is None:
            raise InvalidVideoError(self.path, f"frame {position} of {n} could not be decoded (the stream ended early)")
        return frame.to_ndarray(format=self.format)

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1):
        """Yield frames start, start + step, ... before `stop` (default: the end of the stream), in order.

        Consecutive frames are decoded straight through; with a large `step` the reader seeks whenever a keyframe
        lies between the current position and the next wanted frame.
        """
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        if start < 0 or (stop is not None and stop < 0):
            start, stop, _ = slice(start, stop).indices(len(self))
        position = start
        while stop is None or position < stop:
            frame = self._frame_at(position)
            if frame is None:
                if position < (len(self) if stop is None else min(stop, len(self))):
                    raise InvalidVideoError(self.path, f"the stream ended before frame {position} of {len(self)}")
                return
            yield frame.to_ndarray(format=self.format)
            position += step

    # --- positioning --------------------------------------------------------------------------------------------

    def _frame_at(self, position: int):
        """The decoded av.VideoFrame at `position`, or None when the stream has no such frame."""
        if self._container is None:
            raise ValueError(f"{self.path}: reader is closed")
        if self._next_index is not None and position > self._next_index:
            self._packet_index()  # the first scan moves the demuxer, so decide only after it
        current = self._next_index
        if current is None or position < current or (position > current and self._keyframe_after(current, position)):
            return self._seek(position)
        return self._decode_forward(position)

    def _decode_forward(self, position: int):
        if self._decoder is None:
            self._decoder = self._container.decode(self._stream)
        while True:
            try:
                frame = next(self._decoder)
            except StopIteration:
                self._next_index, self._decoder = None, None
                return None
            except av.error.FFmpegError as error:
                failed_at, self._next_index, self._decoder = self._next_index, None, None
                raise InvalidVideoError(self.path, f"decoding failed at frame {failed_at}: {error}") from error
            self._next_index += 1
            if self._next_index > position:
                return frame

    def _keyframe_after(self, current: int, position: int) -> bool:
        """True when a keyframe lies in (current, position]: seeking then skips decoding the frames in between."""
        index = self._packet_index()
        if index is None:
            return False
        keyframe = _keyframe_before(index, position)
        return keyframe is not None and keyframe > current

    def _seek(self, position: int):
        index = self._packet_index()
        if index is None or position >= len(index.pts):
            return self._restart_and_decode(position) if index is None else None
        target = int(index.pts[position])
        keyframe = _keyframe_before(index, position)
        candidates = index.keyframes[index.keyframes <= (keyframe if keyframe is not None else 0)][::-1][:3]
        for key_position in candidates:
            # Seek to a keyframe's timestamp; the demuxer lands on that keyframe or an earlier one.
            self._container.seek(int(index.pts[key_position]), stream=self._stream, backward=True)
            self._decoder = self._container.decode(self._stream)
            frame, overshot = self._decode_until(target)
            if frame is not None:
                self._next_index = position + 1
                return frame
            if not overshot:
                break
        # The demuxer landed after the frame (unusual index): decode from the start, which is always exact.
        return self._restart_and_decode(position)

    def _decode_until(self, target_pts: int):
        """Decode until the frame with pts `target_pts`: (frame, False), or (None, overshot) if it never came."""
        try:
            for frame in self._decoder:
                if frame.pts is None:
                    return None, False
                if frame.pts == target_pts:
                    return frame, False
                if frame.pts > target_pts:
                    return None, True
        except av.error.FFmpegError as error:
            self._next_index, self._decoder = None, None
            raise InvalidVideoError(self.path, f"decoding failed while seeking: {error}") from error
        return None, False

    def _restart_and_decode(self, position: int):
        self._rewind()
        self._next_index = 0
        return self._decode_forward(position)

    def _rewind(self) -> None:
        """Put the demuxer before the first packet (reopening the file if the container cannot seek there)."""
        self._decoder, self._next_index = None, None
        try:
            self._container.seek(0, backward=True)
        except av.error.FFmpegError:
            source = self._source()
            self._close_container()
            self._container, self._stream = _open_video(source)
            self._stream.thread_type = "AUTO"

    def _packet_index(self) -> _PacketIndex | None:
        """Scan the packets once (no decoding). None when timestamps are missing: seeking then decodes from 0."""
        if not self._index_scanned:
            self._index_scanned = True
            self._rewind()
            self._index = _scan_packets(self._container, self._stream)
            self._rewind()  # the scan consumed the demuxer; the decoder position is unknown until the next seek
        return self._index

    # --- lifetime -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file and the decoder; safe to call twice."""
        self._close_container()
        self._file.close()

    def _close_container(self) -> None:
        if self._container is None:
            return
        try:
            self._stream.codec_context.flush_buffers()  # park decoder threads before they are freed
        finally:
            self._decoder = None
            self._container.close()
            self._container = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __repr__(self) -> str:
        width, height = self.size if self._container is not None else (0, 0)
        return f"VideoReader({str(self.path)!r}, {width}x{height}, fps={self.fps if self._container else 0:.3f})"


def _keyframe_before(index: _PacketIndex, position: int) -> int | None:
    slot = int(np.searchsorted(index.keyframes, position, side="right")) - 1
    return int(index.keyframes[slot]) if slot >= 0 else None


def _scan_packets(container, stream) -> _PacketIndex | None:
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:  # flush packets; samples an edit list drops
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        keys.append(packet.is_keyframe)
    if not pts:
        return None
    pts_array = np.asarray(pts, dtype=np.int64)
    order = np.argsort(pts_array, kind="stable")
    keyframes = np.flatnonzero(np.asarray(keys, dtype=bool)[order])
    return _PacketIndex(pts=pts_array[order], keyframes=keyframes)
