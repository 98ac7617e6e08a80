"""The study's measures on arrays: position errors over the points both have, speeds and accelerations."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.skeleton_model.validation import motion, position_errors


def test_errors_skip_points_either_side_lacks():
    truth = np.zeros((3, 2, 3))
    points = truth + [0.003, 0.004, 0.0]  # 5 mm everywhere
    points[0, 1] = np.nan
    truth[2, 0] = np.nan
    assert position_errors(points, truth) == pytest.approx([5.0] * 4)
    with pytest.raises(ValueError, match=r"shape \(3, 2, 3\), the ground truth \(2, 2, 3\)"):
        position_errors(points, truth[:2])


def test_speed_and_acceleration_of_a_known_motion():
    fps = 50.0
    t = np.arange(10) / fps
    points = np.zeros((10, 1, 3))
    points[:, 0, 0] = 0.5 * 2.0 * t**2  # constant 2 m/s^2 from rest
    points[4, 0] = np.nan
    speeds, accelerations = motion(points, fps)
    assert len(speeds) == 7 and len(accelerations) == 5  # differences touching frame 4 are left out
    assert accelerations == pytest.approx(2.0)
    assert speeds[0] == pytest.approx(2.0 * 0.5 / fps)  # the mean speed over the first interval
