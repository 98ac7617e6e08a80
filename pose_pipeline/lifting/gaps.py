"""Missing frames before lifting: short gaps filled by linear interpolation, long ones left missing and marked.

A lifter needs every joint in every frame of its window. Per joint, a run of missing frames (NaN x or y) of at
most ``max_gap`` frames with known frames on both sides is filled linearly in time; longer runs, and runs at the
start or end of the clip, stay missing. A frame is usable when all its joints are known after filling. The lifter
then runs on each stretch of consecutive usable frames on its own (with its window padding at the stretch's ends),
and frames that are not usable come out NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILLED, MISSING = 1, 2  # frame status codes stored per lifted frame (0: the 2D input was complete)


class NoUsableFramesError(ValueError):
    """Nothing in the 2D input can be lifted."""


@dataclass
class FilledKeypoints:
    """2D keypoints after gap filling: ``keypoints`` (frames, joints, C), ``status`` (frames,) int8 (0 complete,
    `FILLED` some joint interpolated, `MISSING` not usable) and the stretches of usable frames ``[start, end)``."""

    keypoints: np.ndarray
    status: np.ndarray

    @property
    def usable(self) -> np.ndarray:
        return self.status != MISSING

    def segments(self) -> list[tuple[int, int]]:
        """``[start, end)`` of each run of consecutive usable frames, in order."""
        usable = np.r_[False, self.usable, False].astype(np.int8)
        edges = np.flatnonzero(np.diff(usable))
        return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _runs(missing: np.ndarray) -> list[tuple[int, int]]:
    padded = np.r_[False, missing, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def fill_gaps(keypoints: np.ndarray, max_gap: int) -> FilledKeypoints:
    """Fill per-joint gaps of at most ``max_gap`` frames between known frames (module docstring)."""
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0 frames, got {max_gap}")
    out = np.array(keypoints, copy=True)
    if out.dtype not in (np.float32, np.float64):
        out = out.astype(float)
    if out.ndim != 3 or out.shape[2] < 2:
        raise ValueError(f"2D keypoints must be (frames, joints, >= 2), got {out.shape}")
    n = len(out)
    filled_frames = np.zeros(n, bool)
    for joint in range(out.shape[1]):
        missing = ~np.isfinite(out[:, joint, :2]).all(axis=1)
        for start, end in _runs(missing):
            if start == 0 or end == n or end - start > max_gap:
                continue
            before, after = out[start - 1, joint], out[end, joint]
            weight = (np.arange(start, end) - (start - 1)) / (end - (start - 1))
            out[start:end, joint] = before + weight[:, None] * (after - before)
            filled_frames[start:end] = True
    usable = np.isfinite(out[:, :, :2]).all(axis=(1, 2))
    status = np.where(usable, np.where(filled_frames, FILLED, 0), MISSING).astype(np.int8)
    out[~usable] = np.nan
    return FilledKeypoints(out, status)
