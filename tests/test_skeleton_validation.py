"""The study's measures on arrays: position errors over the points both have, speeds and accelerations."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.skeleton_model.validation import (
    detected_points,
    errors_since_detection,
    frames_since_detection,
    motion,
    position_errors,
)


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


def test_detected_needs_two_confident_cameras():
    keypoints = np.ones((3, 2, 1, 3))  # 3 cameras, 2 frames, 1 joint, confidence 1
    keypoints[0, 0, 0, 0] = np.nan  # frame 0: camera 0 lost it, two left
    keypoints[1, 1, 0, 2] = 0.2  # frame 1: camera 1 unsure,
    keypoints[2, 1, 0, 2] = 0.0  # camera 2 gave up
    assert detected_points(keypoints).tolist() == [[True], [True]]  # confidence 0.2 still counts at threshold 0
    assert detected_points(keypoints, min_confidence=0.5).tolist() == [[True], [False]]


def test_errors_grouped_by_frames_since_the_last_detection():
    detected = np.array([[0, 1], [1, 0], [0, 0], [0, 0], [0, 0], [1, 0]], dtype=bool)
    since = frames_since_detection(detected)
    assert since[:, 0].tolist() == [-1, 0, 1, 2, 3, 0]  # undefined before the first detection
    assert since[:, 1].tolist() == [0, 1, 2, 3, 4, 5]
    truth = np.zeros((6, 2, 3))
    points = truth.copy()
    points[..., 0] = since / 1000.0  # the error grows 1 mm a frame since the last detection
    points[0, 0] = 1.0  # before any detection: not counted anywhere
    rows = {r["frames_from"]: r for r in errors_since_detection(points, truth, detected, bins=(1, 2, 4))}
    assert rows[1]["num_points"] == 2 and rows[1]["median_error"] == pytest.approx(1.0)
    assert rows[2]["num_points"] == 4 and rows[2]["median_error"] == pytest.approx(2.5)  # 2, 2, 3, 3
    assert rows[2]["frames_to"] == 4 and rows[4]["frames_to"] is None
    assert rows[4]["num_points"] == 2 and rows[4]["p95_error"] == pytest.approx(4.95)
