"""Gap filling before lifting: short gaps interpolated, long gaps and clip ends left missing and marked."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.lifting.gaps import FILLED, MISSING, fill_gaps


def track(n=10, joints=2) -> np.ndarray:
    t = np.arange(n, dtype=float)
    points = np.stack([np.stack([t * (j + 1), 2 * t + j, np.full(n, 0.9)], axis=1) for j in range(joints)], 1)
    return points


def test_short_gap_is_interpolated_linearly():
    points = track()
    points[3:5, 1] = np.nan  # two frames of joint 1
    filled = fill_gaps(points, max_gap=2)
    np.testing.assert_allclose(filled.keypoints, track())  # the track is linear in time: exact
    assert filled.status.tolist() == [0, 0, 0, FILLED, FILLED, 0, 0, 0, 0, 0]
    assert filled.segments() == [(0, 10)]


def test_long_gap_stays_missing_and_splits_segments():
    points = track()
    points[3:6, 0, :2] = np.nan  # three frames
    filled = fill_gaps(points, max_gap=2)
    assert filled.status.tolist() == [0, 0, 0, MISSING, MISSING, MISSING, 0, 0, 0, 0]
    assert np.isnan(filled.keypoints[3:6]).all()  # the whole frame, every joint
    assert filled.segments() == [(0, 3), (6, 10)]
    assert fill_gaps(points, max_gap=3).segments() == [(0, 10)]


def test_gaps_at_the_ends_are_not_extrapolated():
    points = track()
    points[:1, 0] = np.nan
    points[-2:, 1] = np.nan
    filled = fill_gaps(points, max_gap=5)
    assert filled.status.tolist() == [MISSING] + [0] * 7 + [MISSING, MISSING]
    assert filled.segments() == [(1, 8)]


def test_all_missing_and_bad_arguments():
    filled = fill_gaps(np.full((4, 17, 3), np.nan), max_gap=10)
    assert not filled.usable.any() and filled.segments() == []
    with pytest.raises(ValueError, match="max_gap"):
        fill_gaps(track(), max_gap=-1)
