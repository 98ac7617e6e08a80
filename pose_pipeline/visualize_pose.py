"""Skeleton overlays for 2D keypoints (the TopDownPersonVideo overlay).

Colours encode confidence with a red-yellow-green map: the hue goes linearly from 0 degrees (red, confidence 0)
through 60 (yellow, 0.5) to 120 (green, confidence 1) at full saturation and value, so low-confidence joints and
bones stand out. A bone takes the lower confidence of its two joints. Frames are RGB, as everywhere in the package.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from pose_pipeline.skeletons import JointSet, get_joint_set


def confidence_color(confidence: float) -> tuple[int, int, int]:
    """RGB colour of a confidence: red (0) -> yellow (0.5) -> green (1); values outside [0, 1] are clipped."""
    c = float(np.clip(confidence, 0.0, 1.0)) if np.isfinite(confidence) else 0.0
    r, g, b = colorsys.hsv_to_rgb(c / 3.0, 1.0, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def draw_skeleton(
    frame: np.ndarray,
    keypoints,
    joint_set,
    min_confidence: float = 0.0,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Draw one person's bones and joints (``keypoints`` (J, 3) x, y, confidence) on ``frame`` in place.

    Joints that are NaN or below ``min_confidence`` are not drawn, nor are bones touching them. Joints are
    filled circles centred on the rounded keypoint (pixel centres at integers), drawn over the bones. ``radius``
    and ``thickness`` default to sizes that grow with the frame (1/200 and 1/400 of its smaller side, at
    least 2 and 1 pixels). Returns ``frame``.
    """
    joint_set = joint_set if isinstance(joint_set, JointSet) else get_joint_set(joint_set)
    keypoints = np.asarray(keypoints, dtype=float)
    if keypoints.shape != (len(joint_set), 3):
        raise ValueError(f"keypoints must be ({len(joint_set)}, 3) for {joint_set.name!r}, got {keypoints.shape}")
    side = min(frame.shape[:2])
    radius = max(2, round(side / 200)) if radius is None else int(radius)
    thickness = max(1, round(side / 400)) if thickness is None else int(thickness)
    with np.errstate(invalid="ignore"):
        shown = np.isfinite(keypoints).all(axis=1) & (keypoints[:, 2] >= min_confidence)
    # cv2 needs int32 coordinates: far-off points are clamped (lines towards them keep their direction closely)
    xy = np.clip(np.nan_to_num(keypoints[:, :2]), -1e5, 1e5)
    points = [(round(x), round(y)) if ok else None for (x, y), ok in zip(xy, shown)]
    for a, b in joint_set.bones:
        if shown[a] and shown[b]:
            colour = confidence_color(min(keypoints[a, 2], keypoints[b, 2]))
            cv2.line(frame, points[a], points[b], colour, thickness, cv2.LINE_AA)
    for point, confidence in zip(points, keypoints[:, 2]):
        if point is not None:
            cv2.circle(frame, point, radius, confidence_color(confidence), -1, cv2.LINE_AA)
    return frame
