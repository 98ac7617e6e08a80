"""The study's measures of a 3D result against ground truth (pure numpy): position errors over the points both
have, and the joints' speeds and accelerations between consecutive frames."""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def position_errors(points, truth) -> np.ndarray:
    """(frames, joints, 3) result and ground truth, metres -> the Euclidean errors in millimetres of the
    (frame, joint) points both have, flat."""
    points, truth = np.asarray(points, dtype=float), np.asarray(truth, dtype=float)
    if points.shape != truth.shape:
        raise ValueError(f"result has shape {points.shape}, the ground truth {truth.shape}")
    errors = np.linalg.norm(points - truth, axis=-1) * 1000
    return errors[np.isfinite(errors)]


def motion(points, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint speeds (m/s) and accelerations (m/s^2) from (frames, joints, 3) metres sampled at ``fps``: first and
    second differences over consecutive frames, flat, where every frame involved has the joint."""
    points = np.asarray(points, dtype=float)
    velocity = np.diff(points, axis=0) * fps
    acceleration = np.diff(points, n=2, axis=0) * fps**2
    speeds = np.linalg.norm(velocity, axis=-1)
    accelerations = np.linalg.norm(acceleration, axis=-1)
    return speeds[np.isfinite(speeds)], accelerations[np.isfinite(accelerations)]


# frames since a point was last detected, grouped as the bins [1, 2), [2, 4), [4, 8), ... (the last one open)
SINCE_DETECTION_BINS = (1, 2, 4, 8, 16, 32)


def detected_points(keypoints, min_confidence: float = 0.0) -> np.ndarray:
    """(frames, joints) bool from (cameras, frames, joints, 3) 2D keypoints: the point has a usable detection
    (finite, confidence at least ``min_confidence`` and above 0) in at least two cameras, so it could be
    triangulated."""
    keypoints = np.asarray(keypoints, dtype=float)
    usable = np.isfinite(keypoints[..., :2]).all(axis=-1) & (keypoints[..., 2] >= min_confidence)
    usable &= keypoints[..., 2] > 0
    return usable.sum(axis=0) >= 2


def frames_since_detection(detected) -> np.ndarray:
    """(frames, joints) int: 0 where the point is detected, else the frames since its last detection; -1 before
    its first detection (no last detection to count from)."""
    detected = np.asarray(detected, dtype=bool)
    since = np.full(detected.shape, -1, dtype=int)
    last = np.full(detected.shape[1], -1)
    for t, row in enumerate(detected):
        last = np.where(row, t, last)
        since[t] = np.where(last >= 0, t - last, -1)
    return since


def errors_since_detection(points, truth, detected, bins=SINCE_DETECTION_BINS) -> list[dict]:
    """The study's error on undetected points as a function of the time since their last detection: for each bin
    of frames since the last detection (``bins`` are the lower edges), the number of undetected (frame, joint)
    points the result places and their median and 95th-percentile errors in millimetres."""
    errors = np.linalg.norm(np.asarray(points, dtype=float) - np.asarray(truth, dtype=float), axis=-1) * 1000
    since = frames_since_detection(detected)
    edges = [*bins, np.iinfo(np.int64).max]
    rows = []
    for low, high in pairwise(edges):
        chosen = errors[(since >= low) & (since < high) & np.isfinite(errors)]
        rows.append({"frames_from": int(low), "frames_to": None if high == edges[-1] else int(high),
                     "num_points": int(chosen.size),
                     "median_error": float(np.median(chosen)) if chosen.size else None,
                     "p95_error": float(np.percentile(chosen, 95)) if chosen.size else None})  # fmt: skip
    return rows
