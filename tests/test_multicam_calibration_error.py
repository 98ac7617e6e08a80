"""Calibration error against known cameras: exact errors for known perturbations, a moved and rescaled copy of the
true cameras recovered by the rigid and similarity alignments, and mismatched camera sets refused by name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_pipeline.multicam.calibration import CalibrationError, CameraModel, CameraSet
from pose_pipeline.multicam.calibration_error import compare_calibrations
from tests.multicam_scene import ring_of_cameras


def moved(cameras: CameraSet, rotation: np.ndarray, shift: np.ndarray, scale: float = 1.0, frame="moved") -> CameraSet:
    """The same cameras in a world frame where X_new = (rotation @ X_old + shift) * scale."""
    out = []
    for c in cameras.cameras:
        r = c.R @ rotation.T
        out.append(CameraModel(c.name, c.matrix, c.distortion, cv2.Rodrigues(r)[0].ravel(),
                               (c.translation - r @ shift) * scale, c.size))  # fmt: skip
    return CameraSet(tuple(out), frame)


def turn(axis, degrees) -> np.ndarray:
    axis = np.asarray(axis, float)
    return cv2.Rodrigues(axis / np.linalg.norm(axis) * np.radians(degrees))[0]


def test_known_perturbations_give_exact_errors():
    truth = ring_of_cameras(4)
    cams = list(truth.cameras)
    c1 = cams[1]  # turned 2 degrees about its own centre
    r = turn((0.2, 1.0, 0.1), 2.0) @ c1.R
    cams[1] = CameraModel(c1.name, c1.matrix, c1.distortion, cv2.Rodrigues(r)[0].ravel(), -r @ c1.center, c1.size)
    k = cams[2].matrix.copy()
    k[0, 0] *= 1.01
    k[1, 1] *= 1.01  # focal length 1 % long
    k[:2, 2] += (3.0, 4.0)  # principal point 5 px off
    cams[2] = CameraModel(**{**vars(cams[2]), "matrix": k})
    c3 = cams[3]  # moved 25 mm
    cams[3] = CameraModel(**{**vars(c3), "translation": c3.translation - c3.R @ np.array([0.0, 0.015, 0.02])})
    result = compare_calibrations(CameraSet(tuple(cams), truth.world_frame), truth, alignment="none")
    errors = {c.name: c for c in result.cameras}
    assert errors["cam1"].rotation_deg == pytest.approx(2.0)
    assert errors["cam1"].position_mm == pytest.approx(0, abs=1e-9)
    assert errors["cam2"].focal_percent == pytest.approx(1.0) and errors["cam2"].principal_point_px == pytest.approx(5)
    assert errors["cam3"].position_mm == pytest.approx(25.0) and errors["cam3"].rotation_deg == pytest.approx(0)
    assert errors["cam0"].position_mm == pytest.approx(0, abs=1e-9) and errors["cam0"].focal_percent == 0
    overall = result.overall()
    assert overall["max_position_error"] == pytest.approx(25.0) and overall["mean_focal_error"] == pytest.approx(0.25)
    assert overall["max_rotation_error"] == pytest.approx(2.0) and result.scale == 1
    assert "nothing moved" in result.description


def test_another_world_frame_is_aligned():
    truth = ring_of_cameras(3)
    rotation, shift = turn((1.0, -0.5, 0.3), 70.0), np.array([0.4, -2.0, 1.1])
    rigid = compare_calibrations(moved(truth, rotation, shift), truth, alignment="rigid")
    assert max(c.position_mm for c in rigid.cameras) < 1e-6 and max(c.rotation_deg for c in rigid.cameras) < 1e-6
    assert rigid.residual_mm < 1e-6 and "rigid fit" in rigid.description and "'moved'" in rigid.description
    # unaligned, the same cameras are metres and tens of degrees off
    assert min(c.position_mm for c in compare_calibrations(moved(truth, rotation, shift), truth, "none").cameras) > 500

    scaled = moved(truth, rotation, shift, scale=0.5)  # e.g. a board whose squares were given twice too long
    rigid = compare_calibrations(scaled, truth, alignment="rigid")
    assert min(c.position_mm for c in rigid.cameras) > 100  # a wrong scale shows as position error
    similar = compare_calibrations(scaled, truth, alignment="similarity")
    assert similar.scale == pytest.approx(2.0) and max(c.position_mm for c in similar.cameras) < 1e-6
    assert max(c.rotation_deg for c in similar.cameras) < 1e-6 and "scale 2.0000" in similar.description


def test_mismatched_sets_are_refused_by_name():
    truth = ring_of_cameras(3)
    with pytest.raises(CalibrationError, match="no camera.s. cam3; it has cam0, cam1, cam2"):
        compare_calibrations(ring_of_cameras(4), truth)
    wide = CameraSet(tuple(CameraModel(**{**vars(c), "size": (1280, 960)}) for c in truth.cameras))
    with pytest.raises(CalibrationError, match="cam0 1280x960 vs 640x480"):
        compare_calibrations(wide, truth)
    with pytest.raises(CalibrationError, match="three cameras or more"):
        compare_calibrations(truth.subset(["cam0", "cam1"]), truth, alignment="similarity")
    with pytest.raises(CalibrationError, match="unknown alignment 'camera0'"):
        compare_calibrations(truth, truth, alignment="camera0")
