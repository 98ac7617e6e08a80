"""A 3D skeleton panel drawn into a video frame (the LiftingPersonVideo overlay).

The panel is a square in the frame's top-right corner (``PANEL_FRACTION`` of the frame's smaller side), darkened,
with fixed axes (drawing is clipped to the panel): the pose (root-relative, camera axes: x right, y down, z forward, metres) is seen from a
viewpoint turned ``VIEW_YAW`` degrees about the vertical and ``VIEW_PITCH`` degrees down, orthographically, with
``EXTENT`` metres from the root to the panel's edge, so the scale is the same in every frame and every video. A
floor-level grid (0.5 m squares, 1 m below the root) shows the depth direction. Frames without a pose (NaN) get the
empty panel.
"""

from __future__ import annotations

import cv2
import numpy as np

from pose_pipeline.skeletons import JointSet, get_joint_set

PANEL_FRACTION = 0.45
EXTENT = 1.25  # metres from the root to the panel's side edges
ROOT_HEIGHT = 0.4  # the root sits this far down the panel (a fraction of its side), leaving room for the legs
VIEW_YAW, VIEW_PITCH = 35.0, 15.0  # degrees
BONE_COLOUR, JOINT_COLOUR, GRID_COLOUR = (80, 200, 255), (255, 255, 255), (90, 90, 90)


def _view() -> np.ndarray:
    yaw, pitch = np.radians(VIEW_YAW), np.radians(VIEW_PITCH)
    turn = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    return tilt @ turn


def panel_box(frame_shape) -> tuple[int, int, int]:
    """(x0, y0, size) of the panel in a frame of ``frame_shape``."""
    height, width = frame_shape[:2]
    size = int(min(height, width) * PANEL_FRACTION)
    return width - size, 0, size


def _to_panel(points: np.ndarray, size: int) -> np.ndarray:
    """Panel pixel coordinates (relative to its top-left corner) of root-relative points (N, 3)."""
    seen = points @ _view().T  # x right, y down in the panel
    scale = size / 2 / EXTENT
    return np.stack([size / 2 + seen[:, 0] * scale, ROOT_HEIGHT * size + seen[:, 1] * scale], 1)


def draw_3d_panel(frame: np.ndarray, points3d, joint_set) -> np.ndarray:
    """Draw the panel with one pose (``points3d`` (J, 3) metres, root-relative camera axes) on ``frame`` in place."""
    joint_set = joint_set if isinstance(joint_set, JointSet) else get_joint_set(joint_set)
    points3d = np.asarray(points3d, dtype=float)
    if points3d.shape != (len(joint_set), 3):
        raise ValueError(f"3D points must be ({len(joint_set)}, 3) for {joint_set.name!r}, got {points3d.shape}")
    x0, y0, size = panel_box(frame.shape)
    region = frame[y0 : y0 + size, x0 : x0 + size]  # a view: drawing on it draws on the frame, clipped
    region[:] = (region * 0.35).astype(np.uint8)
    thickness = max(1, size // 150)
    for offset in np.arange(-1.0, 1.01, 0.5):  # floor grid 1 m below the root (y points down)
        for line in (
            np.array([[offset, 1.0, -1.0], [offset, 1.0, 1.0]]),
            np.array([[-1.0, 1.0, offset], [1.0, 1.0, offset]]),
        ):
            a, b = np.round(_to_panel(line, size)).astype(int)
            cv2.line(region, tuple(a), tuple(b), GRID_COLOUR, 1, cv2.LINE_AA)
    shown = np.isfinite(points3d).all(axis=1)
    xy = np.round(np.clip(_to_panel(np.nan_to_num(points3d), size), -1e5, 1e5)).astype(int)
    for a, b in joint_set.bones:
        if shown[a] and shown[b]:
            cv2.line(region, tuple(xy[a]), tuple(xy[b]), BONE_COLOUR, thickness + 1, cv2.LINE_AA)
    for point, ok in zip(xy, shown):
        if ok:
            cv2.circle(region, tuple(point), thickness + 1, JOINT_COLOUR, -1, cv2.LINE_AA)
    return frame
