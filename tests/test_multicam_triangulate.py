"""Triangulation: the plain DLT equals aniposelib's, the robust one rejects outliers better than aniposelib's
triangulate_ransac, and the registered methods meet their contract."""

from __future__ import annotations

import numpy as np
import pytest

from pose_pipeline.multicam.calibration import to_aniposelib
from pose_pipeline.multicam.triangulate import TriangulationError, triangulate_dlt, triangulate_robust
from pose_pipeline.registry import MethodCall, run_methods
from pose_pipeline.stages import TRIANGULATION
from tests.multicam_scene import observe, random_points, ring_of_cameras, walker


def test_plain_dlt_equals_aniposelib_triangulate():
    cameras = ring_of_cameras(5)  # each with its own distortion
    truth = random_points(40, 20).reshape(-1, 3)
    keypoints, _ = observe(cameras, truth, noise_px=2.0, missing=0.2)
    pixels = keypoints[..., :2]
    ours = triangulate_dlt(cameras, pixels)
    theirs = to_aniposelib(cameras).triangulate(pixels.copy())
    assert np.array_equal(np.isnan(ours.points), np.isnan(theirs))
    np.testing.assert_allclose(ours.points, theirs, atol=1e-6, rtol=0)
    seen = np.isfinite(pixels).all(axis=-1)
    np.testing.assert_array_equal(ours.cameras_used, seen & np.isfinite(ours.points).all(axis=-1))
    # reprojection error is the mean pixel distance over the cameras used, as aniposelib's mean error
    theirs_error = to_aniposelib(cameras).reprojection_error(theirs, pixels.copy(), mean=True)
    finite = np.isfinite(ours.points).all(axis=-1)
    np.testing.assert_allclose(ours.reprojection_error[finite], theirs_error[finite], rtol=1e-6)


def test_noise_free_points_are_recovered_through_strong_distortion():
    cameras = ring_of_cameras(4, distortion=[-0.3, 0.1, 0.001, -0.001, 0.0])
    truth = random_points(10, 17).reshape(-1, 3)
    result = triangulate_dlt(cameras, cameras.project(truth))
    np.testing.assert_allclose(result.points, truth, atol=1e-8)
    assert np.nanmax(result.reprojection_error) < 1e-6


def test_confidence_weights_the_cameras():
    cameras = ring_of_cameras(4)
    truth = random_points(20, 10).reshape(-1, 3)
    keypoints, _ = observe(cameras, truth, noise_px=0.5)
    keypoints[0, :, :2] += 25.0  # camera 0 is off by 35 pixels
    equal = triangulate_dlt(cameras, keypoints[..., :2])
    weights = np.ones(keypoints.shape[:2])
    weights[0] = 0.05
    weighted = triangulate_dlt(cameras, keypoints[..., :2], weights)
    error = lambda result: np.median(np.linalg.norm(result.points - truth, axis=-1))
    assert error(weighted) < error(equal) / 4
    weights[0] = 0.0  # weight 0: the camera is not used at all
    without = triangulate_dlt(cameras, keypoints[..., :2], weights)
    np.testing.assert_allclose(without.points, triangulate_dlt(cameras.subset(["cam1", "cam2", "cam3"]),
                                                              keypoints[1:, :, :2]).points, atol=1e-9)  # fmt: skip
    assert not without.cameras_used[0].any()


@pytest.mark.parametrize("n_cameras", [4, 16])
def test_robust_rejects_outliers_and_beats_aniposelib_ransac(n_cameras):
    cameras = ring_of_cameras(n_cameras, seed=n_cameras)
    truth = random_points(6, 10, seed=n_cameras).reshape(-1, 3)
    keypoints, bad = observe(cameras, truth, noise_px=1.0, missing=0.1, outliers=0.15)
    pixels = keypoints[..., :2]
    plain = triangulate_dlt(cameras, pixels)
    robust = triangulate_robust(cameras, pixels, threshold=10.0)
    error = lambda points: np.linalg.norm(points - truth, axis=-1) * 1000
    # an outlier far from the truth is never used where good views outnumber the outliers (with 2 or more)
    far = bad & (np.linalg.norm(pixels - cameras.project(truth), axis=-1) > 10.0)
    seen = np.isfinite(pixels).all(axis=-1)
    good, outliers = (seen & ~far).sum(axis=0), (seen & far).sum(axis=0)
    decidable = (good >= 2) & (good > outliers)
    assert not (robust.cameras_used & far)[:, decidable].any()
    assert np.nanmedian(error(robust.points)) < 20 and np.nanpercentile(error(robust.points), 95) < 60
    assert np.nanpercentile(error(robust.points), 95) < np.nanpercentile(error(plain.points), 95) / 5
    if n_cameras == 4:  # aniposelib's per-point search over 2^C camera subsets: 16 per point here
        theirs = to_aniposelib(cameras).triangulate_ransac(pixels.copy())[0]
        both = np.isfinite(theirs).all(axis=-1) & np.isfinite(robust.points).all(axis=-1)
        assert np.median(error(robust.points)[both]) <= np.median(error(theirs)[both])
        assert np.percentile(error(robust.points)[both], 90) <= np.percentile(error(theirs)[both], 90)


def test_points_with_one_good_camera_are_not_invented():
    cameras = ring_of_cameras(3)
    truth = random_points(1, 4).reshape(-1, 3)
    keypoints, _ = observe(cameras, truth, noise_px=0.0)
    pixels = keypoints[..., :2]
    pixels[1:, 0] = [[5.0, 5.0], [600.0, 400.0]]  # point 0: two cameras wildly off
    pixels[1:, 1] = np.nan  # point 1: seen by one camera only
    result = triangulate_robust(cameras, pixels, threshold=5.0)
    assert np.isnan(result.points[:2]).all() and np.isfinite(result.points[2:]).all()
    with pytest.raises(TriangulationError, match="at least two cameras"):
        triangulate_dlt(cameras.subset(["cam0"]), pixels[:1])


@pytest.mark.parametrize("method", ["dlt", "dlt_ransac", "anipose_optim"])
def test_registered_methods_on_a_walker(method):
    cameras = ring_of_cameras(4)
    truth = walker(40, fps=100.0)  # anipose tunes its smoothing for fast cameras
    keypoints, _ = observe(cameras, truth, noise_px=1.5, missing=0.05, outliers=0.03)
    run = run_methods(lambda triangulator: triangulator(cameras, keypoints, "COCO-17"),
                      MethodCall(TRIANGULATION, method), n_frames=40)  # fmt: skip
    result = run.result
    assert result.camera_names == ("cam0", "cam1", "cam2", "cam3") and result.cameras_used.shape == (40, 17, 4)
    errors = np.linalg.norm(result.keypoints - truth, axis=-1) * 1000
    assert np.isfinite(errors).mean() > 0.97
    assert np.nanmedian(errors) < 30
    if method != "dlt":  # the plain DLT keeps the 3 % outliers: its 95th percentile is metres off
        assert np.nanpercentile(errors, 95) < 45, np.nanpercentile(errors, 95)
    assert run.provenance[0].method == method


def test_six_camera_rig_walker():
    """A walker seen by a ring of 6 distorted cameras with noise, gaps and 10 % outliers: the robust method keeps
    centimetre accuracy and uses the cameras that agree, which the plain DLT cannot."""
    cameras = ring_of_cameras(6, seed=6)
    truth = walker(60, fps=60.0)
    keypoints, bad = observe(cameras, truth, noise_px=1.5, missing=0.1, outliers=0.1, seed=6)
    robust = TRIANGULATION.build("dlt_ransac", {"threshold_px": 10.0})(cameras, keypoints, "COCO-17")
    plain = TRIANGULATION.build("dlt", {})(cameras, keypoints, "COCO-17")
    error = lambda points: np.linalg.norm(points - truth, axis=-1) * 1000
    assert robust.keypoints.shape == (60, 17, 3) and robust.cameras_used.shape == (60, 17, 6)
    assert np.isfinite(robust.keypoints).all(axis=-1).mean() > 0.99
    assert np.nanmedian(error(robust.keypoints)) < 15 and np.nanpercentile(error(robust.keypoints), 99) < 40
    assert np.nanpercentile(error(plain.keypoints), 95) > 5 * np.nanpercentile(error(robust.keypoints), 95)
    far = bad & (np.linalg.norm(keypoints[..., :2] - cameras.project(truth), axis=-1) > 10.0)  # (cams, f, j)
    # measured: 1 of 529 far outliers used (a point only two cameras saw within the threshold, one by chance)
    assert (np.moveaxis(robust.cameras_used, -1, 0) & far).sum() <= 0.005 * far.sum()
    assert robust.cameras_used.sum(axis=-1).mean() > 4  # most points use 4-6 agreeing cameras
