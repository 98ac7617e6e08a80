"""The 3D skeleton panel of the LiftingPersonVideo overlay: drawn in its corner only, fixed axes, empty without a pose."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.lifting.panel import draw_3d_panel, panel_box
from pose_pipeline.skeletons import H36M17


def pose() -> np.ndarray:
    points = np.zeros((17, 3))
    points[H36M17.index("head")] = [0, -0.7, 0]  # up is -y in camera axes
    points[H36M17.index("left_foot")] = [0.1, 0.85, 0]
    points[H36M17.index("right_foot")] = [-0.1, 0.85, 0]
    return points


def test_panel_stays_in_its_corner_and_shows_the_pose():
    frame = np.full((480, 640, 3), 200, np.uint8)
    draw_3d_panel(frame, pose(), "H36M-17")
    x0, y0, size = panel_box(frame.shape)
    outside = np.ones(frame.shape[:2], bool)
    outside[y0 : y0 + size, x0 : x0 + size] = False
    assert (frame[outside] == 200).all()
    empty = np.full_like(frame, 200)
    draw_3d_panel(empty, np.full((17, 3), np.nan), "H36M-17")
    assert (frame != empty).any(axis=2).sum() > 100  # the skeleton, on top of the same grid


def test_axes_are_fixed_a_taller_pose_draws_taller():
    heights = []
    for factor in (1.0, 0.5):
        frame = np.zeros((480, 640, 3), np.uint8)
        draw_3d_panel(frame, pose() * factor, "H36M-17")
        bone = (frame[..., 2] > frame[..., 0] + 50) & (frame[..., 2] > 200)  # the bones' light blue
        rows = np.flatnonzero(bone.any(axis=1))
        heights.append(rows.max() - rows.min())
    assert heights[1] == pytest.approx(heights[0] / 2, rel=0.15)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        draw_3d_panel(np.zeros((100, 100, 3), np.uint8), np.zeros((16, 3)), "H36M-17")
