"""The study's measures of a 3D result against ground truth (pure numpy): position errors over the points both
have, and the joints' speeds and accelerations between consecutive frames."""

from __future__ import annotations

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
