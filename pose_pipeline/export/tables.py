"""A stage's arrays as pandas tables, the way users read DeepLabCut output: tidy (one row per frame and joint,
or per box) or wide (one row per frame, a column per joint and coordinate). Coordinates stay in this project's
pixel convention (origin at the top-left pixel's corner); missing values stay NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

COORDS = ("x", "y", "score")


def keypoints_long(keypoints: np.ndarray, joints: Sequence[str], timestamps: np.ndarray | None = None) -> pd.DataFrame:
    """One row per frame and joint: ``frame``, ``time`` (seconds, when given), ``joint``, ``x``, ``y``, ``score``.

    ``keypoints`` is (frames, joints, 3) as the 2D contract stores it. Frames where the subject is absent keep
    their rows with NaN, so every frame has every joint.
    """
    keypoints = np.asarray(keypoints, dtype=float)
    n_frames, n_joints = keypoints.shape[:2]
    if n_joints != len(joints):
        raise ValueError(f"keypoints have {n_joints} joints, the joint names {len(joints)}")
    table = pd.DataFrame({"frame": np.repeat(np.arange(n_frames), n_joints)})
    if timestamps is not None:
        table["time"] = np.repeat(np.asarray(timestamps, dtype=float), n_joints)
    table["joint"] = pd.Categorical(np.tile(np.asarray(joints, dtype=object), n_frames), categories=list(joints))
    flat = keypoints.reshape(-1, 3)
    for index, name in enumerate(COORDS):
        table[name] = flat[:, index]
    return table


def keypoints_wide(keypoints: np.ndarray, joints: Sequence[str], timestamps: np.ndarray | None = None) -> pd.DataFrame:
    """One row per frame (index ``frame``), columns ``(joint, coord)`` with coords ``x``, ``y``, ``score``, in
    joint order, plus ``("time", "")`` when timestamps are given: DeepLabCut's layout without the scorer level."""
    keypoints = np.asarray(keypoints, dtype=float)
    n_frames, n_joints = keypoints.shape[:2]
    if n_joints != len(joints):
        raise ValueError(f"keypoints have {n_joints} joints, the joint names {len(joints)}")
    columns = pd.MultiIndex.from_product([list(joints), list(COORDS)], names=["joint", "coord"])
    table = pd.DataFrame(keypoints.reshape(n_frames, -1), columns=columns, index=pd.RangeIndex(n_frames, name="frame"))
    if timestamps is not None:
        table.insert(0, ("time", ""), np.asarray(timestamps, dtype=float))
    return table


def boxes_long(frame: np.ndarray, boxes: np.ndarray, timestamps: np.ndarray | None = None, **columns) -> pd.DataFrame:
    """One row per box: ``frame``, ``time`` (when given: looked up by frame), ``x``, ``y``, ``w``, ``h`` (top-left
    corner and size, pixels) and any further per-box ``columns`` (``track_id``, ``confidence``, ...)."""
    frame = np.asarray(frame, dtype=int)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    table = pd.DataFrame({"frame": frame})
    if timestamps is not None:
        table["time"] = np.asarray(timestamps, dtype=float)[frame]
    for name, values in columns.items():
        table[name] = np.asarray(values)
    for index, name in enumerate(("x", "y", "w", "h")):
        table[name] = boxes[:, index]
    return table
