"""What a writer takes: one subject's result (the stage's output contract) with the joint set, timestamps and
metadata a file describes it by, and the pixel convention every writer converts to.

This project puts the origin at the top-left *corner* of the top-left pixel (`pose_pipeline.formats`);
DeepLabCut, COCO, SLEAP / sleap-io and NWB files written by them put it at that pixel's *centre*. A point at
x = 10.0 here is x = 9.5 there: writers subtract `PIXEL_CENTRE_SHIFT` from x and y (boxes, which describe an
area rather than a point, keep their corner convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..formats import Keypoints2D, Keypoints3D
from ..skeletons import JointSet, get_joint_set

PIXEL_CENTRE_SHIFT = 0.5  # this project's x, y minus this = the same point with the origin at the pixel centre


class ExportError(ValueError):
    """A result cannot be written: it has no frames, or its arrays disagree with its joint set or timestamps."""


def to_pixel_centre(xy: np.ndarray) -> np.ndarray:
    """Pixel coordinates with the origin moved from the top-left pixel's corner to its centre (NaN stays NaN)."""
    return np.asarray(xy, dtype=float) - PIXEL_CENTRE_SHIFT


def from_pixel_centre(xy: np.ndarray) -> np.ndarray:
    """The inverse of `to_pixel_centre`: pixel-centre coordinates back to this project's corner origin."""
    return np.asarray(xy, dtype=float) + PIXEL_CENTRE_SHIFT


@dataclass
class Result2D:
    """One subject's 2D keypoints by one method, and what an exported file says about them.

    ``keypoints`` is the stage's contract (frames x joints x [x, y, confidence], this project's pixel convention,
    NaN where absent); ``timestamps`` (frames,) seconds from the video's first frame; ``name`` says which result
    this is in errors and descriptions (e.g. ``"study/walk.mp4 synthetic_pose subject 0"``).
    """

    keypoints: Keypoints2D
    timestamps: np.ndarray
    name: str
    joint_set: JointSet | None = None  # default: `get_joint_set(keypoints.joint_set)`
    video_path: str = ""  # the source video, as the file should name it
    width: int | None = None  # video size in pixels
    height: int | None = None
    boxes: np.ndarray | None = None  # (frames, 4) the subject's box x, y, w, h; NaN where absent
    method: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    subject: str = "0"

    def __post_init__(self):
        if self.joint_set is None:
            self.joint_set = get_joint_set(self.keypoints.joint_set)
        self.timestamps = np.asarray(self.timestamps, dtype=float)

    @property
    def n_frames(self) -> int:
        return len(self.keypoints.keypoints)

    def check(self, path=None) -> None:
        """Raise `ExportError` naming the result (and the file) if it cannot be written."""
        where = f"{self.name}" + (f" -> {path}" if path is not None else "")
        array = self.keypoints.keypoints
        if array.ndim != 3 or len(array) == 0:
            raise ExportError(
                f"{where}: the result has no frames (keypoints of shape {array.shape}); nothing to export"
            )
        if array.shape[1:] != (len(self.joint_set), 3):
            raise ExportError(f"{where}: keypoints of shape {array.shape} do not match joint set "
                              f"{self.joint_set.name!r} of {len(self.joint_set)} joints")  # fmt: skip
        if self.timestamps.shape != (len(array),):
            raise ExportError(f"{where}: {len(self.timestamps)} timestamps for {len(array)} frames")
        if self.boxes is not None and np.shape(self.boxes) != (len(array), 4):
            raise ExportError(f"{where}: boxes of shape {np.shape(self.boxes)} for {len(array)} frames")

    def description(self) -> str:
        """The method and its parameters, for a file's free-text description."""
        import json

        params = json.dumps(self.params, sort_keys=True, default=str)
        return f"{self.name}: 2D keypoints by method {self.method or 'unknown'} with parameters {params}"


def check_3d(keypoints: Keypoints3D, timestamps: np.ndarray, name: str, path=None,
             markers: Sequence[str] | None = None) -> tuple[str, ...]:  # fmt: skip
    """The marker names of a 3D result, one per joint: ``markers`` if given (joints that are not a registered
    joint set, e.g. a fitted skeleton's), else its joint set's; `ExportError` naming the result if it has no
    frames or mismatched arrays."""
    where = f"{name}" + (f" -> {path}" if path is not None else "")
    array = keypoints.keypoints
    if array.ndim != 3 or len(array) == 0:
        raise ExportError(f"{where}: the result has no frames (keypoints of shape {array.shape}); nothing to export")
    if markers is None:
        joint_set = get_joint_set(keypoints.joint_set)
        names, what = joint_set.joints, f"joint set {joint_set.name!r}"
    else:
        names, what = tuple(markers), f"{len(markers)} markers"
    if array.shape[1:] != (len(names), 3):
        raise ExportError(f"{where}: keypoints of shape {array.shape} do not match {what}")
    if np.shape(timestamps) != (len(array),):
        raise ExportError(f"{where}: {len(timestamps)} timestamps for {len(array)} frames")
    return names
