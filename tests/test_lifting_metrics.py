"""3D accuracy metrics: hand-computed cases and scipy's Procrustes as an independent implementation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from pose_pipeline.lifting.metrics import lifting_accuracy, procrustes_align, scale_align
from pose_pipeline.skeletons import H36M17

BONES = H36M17.bones


def pose(seed=0, frames=5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.3, size=(frames, 17, 3))


def test_constant_offset_by_hand():
    truth = pose()
    truth -= truth[:, :1]  # root at the origin
    predicted = truth.copy()
    predicted[:, 1:, 0] += 0.01  # every non-root joint 10 mm off in x; root-relative, so the root is exact
    acc = lifting_accuracy(predicted, truth, bones=BONES)
    assert acc["mpjpe"] == pytest.approx(10 * 16 / 17)
    np.testing.assert_allclose(acc["per_joint"]["mpjpe"], [0] + [10] * 16, atol=1e-9)
    assert acc["mpjve"] == pytest.approx(0, abs=1e-9) and acc["accel_error"] == pytest.approx(0, abs=1e-9)
    assert acc["n_frames"] == 5 and acc["n_points"] == 85


def test_root_alignment_removes_a_global_translation():
    truth = pose(1)
    acc = lifting_accuracy(truth + [1.0, -2.0, 3.0], truth, bones=BONES)
    assert acc["mpjpe"] == pytest.approx(0, abs=1e-9)


def test_similarity_transform_is_undone_by_pa_only_scale_by_n():
    truth = pose(2)
    rotation = Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix()
    rotated = 1.3 * truth @ rotation.T + [0.2, 0.1, -0.4]
    acc = lifting_accuracy(rotated, truth, bones=BONES)
    assert acc["pa_mpjpe"] == pytest.approx(0, abs=1e-6)
    assert acc["mpjpe"] > 50
    scaled = lifting_accuracy(0.5 * truth, truth, bones=BONES)
    assert scaled["n_mpjpe"] == pytest.approx(0, abs=1e-6) and scaled["mpjpe"] > 50
    assert scaled["pa_mpjpe"] == pytest.approx(0, abs=1e-6)


def test_n_mpjpe_scale_by_hand():
    truth = np.zeros((1, 2, 3))
    truth[0, 1] = [0, 0, 1.0]  # root at the origin, one joint 1 m above
    predicted = np.zeros((1, 2, 3))
    predicted[0, 1] = [1.0, 0, 1.0]  # best scale: (0 + 1) / (1 + 1) = 0.5 -> (0.5, 0, 0.5), error sqrt(0.5) m
    np.testing.assert_allclose(scale_align(predicted, truth)[0, 1], [0.5, 0, 0.5])
    acc = lifting_accuracy(predicted, truth, bones=[(0, 1)])
    assert acc["per_joint"]["n_mpjpe"][1] == pytest.approx(1000 * np.sqrt(0.5))


def test_reflection_is_not_allowed():
    truth = pose(3, frames=1)
    mirrored = truth * [-1, 1, 1]  # a mirror image: a reflection would fit it exactly
    aligned = procrustes_align(mirrored, truth)
    assert np.linalg.norm(aligned - truth) > 0.1
    # the fit is the best proper rotation: check against a brute-force search over rotations
    best = min(
        np.linalg.norm(procrustes_fit_with(mirrored[0], truth[0], r) - truth[0])
        for r in Rotation.random(4000, random_state=0).as_matrix()
    )
    assert np.linalg.norm(aligned[0] - truth[0]) <= best + 1e-9


def procrustes_fit_with(p, g, rotation):
    p0, g0 = p - p.mean(0), g - g.mean(0)
    q = p0 @ rotation
    scale = max((g0 * q).sum() / (q * q).sum(), 0.0)  # a negative scale would be a reflection again
    return scale * q + g.mean(0)


@pytest.mark.parametrize("seed", range(5))
def test_pa_mpjpe_matches_scipy(seed):
    truth = pose(seed, frames=1)[0]
    noisy = truth @ Rotation.random(random_state=seed).as_matrix() * 0.9 + np.random.default_rng(seed).normal(
        scale=0.05, size=truth.shape
    )
    aligned = procrustes_align(noisy[None], truth[None])[0]
    # scipy.linalg: the rotation, then the least-squares scale, written out independently
    p0, g0 = noisy - noisy.mean(0), truth - truth.mean(0)
    rotation, _ = orthogonal_procrustes(p0, g0)
    assert np.linalg.det(rotation) > 0  # no reflection is optimal here, so both must agree
    q = p0 @ rotation
    expected = (g0 * q).sum() / (q * q).sum() * q + truth.mean(0)
    np.testing.assert_allclose(aligned, expected, atol=1e-9)
    # scipy.spatial.procrustes: its disparity is the squared error relative to the truth's spread
    _, _, disparity = scipy_procrustes(truth, noisy)
    assert ((aligned - truth) ** 2).sum() / (g0**2).sum() == pytest.approx(disparity, rel=1e-9)


def test_velocity_and_acceleration_by_hand():
    truth = np.zeros((4, 2, 3))
    predicted = np.zeros((4, 2, 3))
    predicted[:, 1, 0] = [0.0, 0.001, 0.004, 0.009]  # x = t^2 mm: velocity 1, 3, 5 mm/frame; acceleration 2
    acc = lifting_accuracy(predicted, truth, bones=[(0, 1)])
    assert acc["per_joint"]["mpjve"][1] == pytest.approx(3.0)
    assert acc["per_joint"]["accel_error"][1] == pytest.approx(2.0)
    assert acc["mpjve"] == pytest.approx(1.5)  # the root joint has none


def test_bone_cv_by_hand():
    points = np.zeros((2, 2, 3))
    points[0, 1, 2], points[1, 1, 2] = 0.9, 1.1  # lengths 0.9 and 1.1: mean 1, std 0.1
    acc = lifting_accuracy(points, points, bones=[(0, 1)])
    assert acc["bone_cv"] == pytest.approx(0.1)
    assert np.isnan(acc["per_joint"]["bone_cv"][0]) and acc["per_joint"]["bone_cv"][1] == pytest.approx(0.1)


def test_missing_frames_and_joints_are_left_out():
    truth = pose(4)
    predicted = truth.copy()
    predicted[:, 3] += [0.02, 0, 0]
    predicted[2] = np.nan  # a missing frame
    truth[4, 5] = np.nan  # one unlabelled joint
    acc = lifting_accuracy(predicted, truth, bones=BONES)
    assert acc["n_frames"] == 3 and acc["n_points"] == 4 * 17 - 1
    assert acc["per_joint"]["mpjpe"][3] == pytest.approx(20.0)
    assert acc["mpjve"] == pytest.approx(
        0, abs=1e-9
    )  # a constant offset: pairs 0-1 and 3-4 compared, no velocity error
    with pytest.raises(ValueError, match="frames, joints, 3"):
        lifting_accuracy(predicted[:, :16], truth, bones=BONES)
