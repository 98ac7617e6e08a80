"""Synchronisation check: unsynchronised cameras are refused by name, measured offsets and drift returned."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.multicam.sync import SynchronisationError, check_synchronisation


def clock(n=300, fps=100.0, jitter=0.0, seed=0):
    t = np.arange(n) / fps
    return t + np.random.default_rng(seed).normal(0, jitter, n) * (np.arange(n) > 0)


def test_synchronised_cameras_pass_with_measured_offsets():
    times = {"left": clock(), "right": clock(jitter=1e-4, seed=1), "top": clock() + 0.001}
    report = check_synchronisation(times, {"top": -0.001})
    assert report.reference == "left" and report.num_frames == 300 and report.fps == pytest.approx(100.0)
    assert report.offsets["left"] == 0 and abs(report.offsets["top"]) < 1e-12
    assert 0 < report.drifts["right"] < 1e-3 and report.tolerance == pytest.approx(0.0025)


def test_different_frame_counts_are_refused_by_name():
    with pytest.raises(SynchronisationError, match="different frame counts: left 300, right 299"):
        check_synchronisation({"left": clock(), "right": clock(299)})


def test_different_rates_are_refused_by_name():
    with pytest.raises(SynchronisationError, match=r"from camera 'a'.s 100 fps .*: c 50 fps"):
        check_synchronisation({"a": clock(), "b": clock(), "c": clock(fps=50.0)})


def test_drift_and_offset_beyond_tolerance_are_refused_by_name():
    drifting = np.arange(300) / 100.0 * (1 + 0.0015)  # 0.15 % fast: 4.5 ms apart by the end, rate within 0.2 %
    with pytest.raises(SynchronisationError, match=r"frames do not correspond within 2.5 ms: b drifts: frame 299"):
        check_synchronisation({"a": clock(), "b": drifting})
    with pytest.raises(SynchronisationError, match="c is offset"):
        check_synchronisation({"a": clock(), "c": clock()}, {"c": 0.01})
    report = check_synchronisation({"a": clock(), "b": drifting}, tolerance=0.005)  # a looser tolerance passes
    assert report.drifts["b"] == pytest.approx(2.99 * 0.0015, rel=1e-6)


def test_bad_timestamps_and_unknown_cameras():
    with pytest.raises(SynchronisationError, match="not finite and increasing for camera.s. b"):
        check_synchronisation({"a": clock(), "b": clock()[::-1]})
    with pytest.raises(SynchronisationError, match="not in the recording: z"):
        check_synchronisation({"a": clock(), "b": clock()}, {"z": 0.0})
    with pytest.raises(SynchronisationError, match="at least two cameras"):
        check_synchronisation({"a": clock()})
