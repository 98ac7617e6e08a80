"""The one way the project draws on videos: read a source, let a callback draw on each frame, write H.264."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .reader import VideoReader
from .writer import VideoWriter

__all__ = ["video_map", "video_overlay"]

OverlayCallback = Callable[[np.ndarray, int], np.ndarray]
FramesTransform = Callable[[Iterator[np.ndarray]], Iterable[np.ndarray]]


def video_overlay(video, out, callback: OverlayCallback, *, fps: float | None = None, progress: bool = False) -> Path:
    """Write `out` (H.264 MP4): every frame of `video` passed through ``callback(frame, index) -> frame``.

    The callback gets an RGB uint8 (height, width, 3) array it may draw on in place and return, or it may return a
    new uint8 array of the same shape. Frame `index` of the output is frame `index` of the source, written at
    `fps` (default: the source's average frame rate; variable-rate timing is not copied). Sources with an odd
    width or height are padded with black on the right/bottom to the even size H.264 needs, so pixel coordinates
    are unchanged. The output is written under a temporary name and renamed when complete: if anything raises,
    no partial file is left and an existing `out` is untouched. The source is only read.
    """

    def each_frame(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for index, frame in enumerate(frames):
            yield callback(frame, index)

    return video_map(video, out, each_frame, fps=fps, progress=progress)


def video_map(video, out, transform: FramesTransform, *, fps: float | None = None, progress: bool = False) -> Path:
    """`video_overlay` for transforms that work on a stream: ``transform(frames)`` gets an iterator over the
    source's frames and returns an iterable of the output frames, one per source frame, in order. It may read
    ahead (e.g. to run a model on a batch of frames), so only the frames it holds are in memory.

    The output frames are checked and written as in `video_overlay` (same size, padding, frame rate, and no file
    left behind on an error). A transform that yields more or fewer frames than the source has, or stops before
    reading the whole source, raises ValueError.
    """
    video, out = Path(video), Path(out)
    if out.exists() and video.exists() and out.resolve() == video.resolve():
        raise ValueError(f"{out}: the overlay would overwrite its source video")
    partial = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix or '.mp4'}")
    read = {"count": 0, "done": False, "shape": None}

    def source(frames):
        for frame in frames:
            read["count"] += 1
            read["shape"] = frame.shape
            yield frame
        read["done"] = True

    try:
        with VideoReader(video) as reader:
            width, height = reader.size
            even_size = (width + width % 2, height + height % 2)
            frames = reader.iter_frames()
            if progress:
                from tqdm.auto import tqdm

                frames = tqdm(frames, total=len(reader), desc=out.name, unit="frame")
            written = 0
            with VideoWriter(partial, fps or reader.fps, even_size) as writer:
                for index, drawn in enumerate(transform(source(frames))):
                    if index >= read["count"]:
                        raise ValueError(f"the transform yielded frame {index} before reading it from the source")
                    writer.write(_checked(drawn, read["shape"], index, even_size))
                    written += 1
                if not read["done"] or written != read["count"]:
                    raise ValueError(
                        f"the transform yielded {written} frames for the source's {read['count']}"
                        + ("" if read["done"] else " (it stopped reading before the end)")
                    )
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out


def _checked(drawn, shape: tuple[int, ...], index: int, even_size: tuple[int, int]) -> np.ndarray:
    """Validate the callback's frame and pad it to the writer's even size."""
    if not isinstance(drawn, np.ndarray):
        raise TypeError(
            f"overlay callback must return the frame (a numpy array), got {type(drawn).__name__} at frame {index}"
        )
    if drawn.shape != shape or drawn.dtype != np.uint8:
        raise ValueError(
            f"overlay callback returned {drawn.dtype} {drawn.shape} at frame {index}, expected uint8 {shape}"
        )
    width, height = even_size
    if (width, height) != (shape[1], shape[0]):
        drawn = np.pad(drawn, ((0, height - shape[0]), (0, width - shape[1]), (0, 0)))
    return drawn
