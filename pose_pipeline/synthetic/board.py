"""Rendered calibration board videos (ChArUco or checkerboard): a board moved through the space that calibrated
cameras see, one video per camera.

The board is planar: a pixel (u, v) of the board's image (`BoardSpec.image`) is the point (u, v, 0) *
metres-per-pixel in the board's frame (less a checkerboard's margin), so each camera's view is the board image
warped by the homography K [r1 r2 t] diag(s, s, 1). A camera that sees the board from behind sees a grey back (no
mirrored markers).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..multicam.board import BoardSpec
from .camera import Camera

__all__ = ["BoardSpec", "board_poses", "render_board_views"]


def board_poses(n_frames: int, center=(0.0, 0.0, 1.0), seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Board-to-world rotations and translations: the board turns once around the vertical axis over the video,
    tilted and moved a little at random, so that every camera of a ring sees it from the front for a while."""
    rng = np.random.default_rng(seed)
    poses = []
    for k in range(n_frames):
        heading = 2 * np.pi * k / n_frames
        normal = np.array([np.cos(heading), np.sin(heading), rng.uniform(-0.3, 0.3)])
        normal /= np.linalg.norm(normal)
        down = np.array([0.0, 0.0, -1.0])
        x_axis = np.cross(down, normal)
        x_axis /= np.linalg.norm(x_axis)
        y_axis = np.cross(-normal, x_axis)  # right-handed with z = -normal (into the board, away from the viewer)
        spin = rng.uniform(-0.4, 0.4)
        x_axis, y_axis = (np.cos(spin) * x_axis + np.sin(spin) * y_axis, -np.sin(spin) * x_axis + np.cos(spin) * y_axis)
        rotation = np.stack([x_axis, y_axis, -normal], axis=1)  # columns: board axes in world coordinates
        origin = np.asarray(center, float) + rng.uniform(-0.25, 0.25, 3) - rotation @ np.array([0.2, 0.28, 0.0])
        poses.append((rotation, origin))
    return poses


def render_board_views(camera: Camera, spec: BoardSpec, poses, pixels_per_metre: float = 2000.0) -> list[np.ndarray]:
    """The board in ``poses`` as ``camera`` sees it: RGB frames on a mid-grey background (the board frame's origin
    is the top-left corner of its squares)."""
    image = spec.image(pixels_per_metre)
    offset = spec.image_offset_m  # the squares start here; the board's origin is their top-left corner
    metres = np.array([[1 / pixels_per_metre, 0, -offset], [0, 1 / pixels_per_metre, -offset], [0, 0, 1.0]])
    frames = []
    for rotation, origin in poses:
        frame = np.full((camera.height, camera.width), 128, np.uint8)
        in_camera = camera.R @ rotation
        t = camera.R @ origin + camera.t
        facing = (in_camera[:, 2] @ -t) < 0  # the board's +z (into the board) points away from the camera
        if t[2] > 0.1 and facing:
            homography = camera.K @ np.column_stack([in_camera[:, 0], in_camera[:, 1], t]) @ metres
            warped = cv2.warpPerspective(image, homography, (camera.width, camera.height), flags=cv2.INTER_AREA,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=1)  # fmt: skip
            mask = cv2.warpPerspective(np.ones_like(image), homography, (camera.width, camera.height)) > 0
            frame[mask] = warped[mask]
        frames.append(cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB))
    return frames
