"""The skeleton model's regimes as registered 3D methods: pure checks of the conversions and refusals, then the
regimes beside plain triangulation on one small rendered 4-camera recording, compared by one query."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from pose_pipeline.multicam.calibration import CameraModel, CameraSet
from pose_pipeline.skeleton_model import definitions as d
from pose_pipeline.skeleton_model import methods as m
from pose_pipeline.stages import TRIANGULATION
from tests.multicam_scene import observe, ring_of_cameras, walker


def test_the_four_regimes_are_registered_with_their_parameters():
    for name in ("acm_full", "acm_temporal_only", "acm_angle_limits_only", "acm_naive"):
        spec = TRIANGULATION.get(name)
        assert spec.params["skeleton"] == "human_coco17" and spec.params["min_confidence"] == 0.3
        assert TRIANGULATION.build(name, {"anatomy_frames": 2}).regime == m.REGIME_OF_METHOD[name]
    assert TRIANGULATION.get("acm_full").params["em_iterations"] == 5
    with pytest.raises(ValueError, match="no parameter"):
        TRIANGULATION.build("acm_naive", {"em_iterations": 2})


def test_cameras_convert_with_their_distortion():
    cameras = ring_of_cameras(3)
    model_cameras = m.to_cameras(cameras)
    points = walker(3).reshape(-1, 3)
    ours = model_cameras.project_numpy(points)  # (points, cameras, 2)
    theirs = np.stack([c.project(points) for c in cameras.cameras], axis=1)
    assert np.abs(ours - theirs).max() < 1e-6
    fish = CameraSet((CameraModel(**{**vars(cameras.cameras[0]), "fisheye": True, "distortion": np.zeros(4)}),))
    with pytest.raises(m.SkeletonMethodError, match="camera 'cam0' is a fisheye"):
        m.to_cameras(fish)


def test_a_skeleton_that_does_not_match_the_joint_set_is_refused_naming_both():
    with pytest.raises(m.SkeletonMethodError, match=r"skeleton 'rat' does not match joint set 'COCO-17'.*snout"):
        m.marker_order(d.rat(), "COCO-17", [f"j{i}" for i in range(17)])
    with pytest.raises(m.SkeletonMethodError, match="skeleton 'human_coco17' does not match joint set 'H36M-17'"):
        TRIANGULATION.build("acm_naive")(ring_of_cameras(2), np.zeros((2, 2, 17, 3)), "H36M-17")


def test_markers_no_camera_detected_are_named():
    rat = d.rat()
    pixels = np.ones((5, 2, len(rat.markers), 2))
    pixels[:, :, rat.marker_names.index("snout")] = np.nan
    pixels[2, 1, rat.marker_names.index("head_top")] = np.nan  # missing once: still detected
    assert m.never_detected(pixels, rat) == ["snout"]


def test_outlier_detections_are_found_by_ransac():
    cameras = ring_of_cameras(4)
    keypoints, bad = observe(cameras, walker(6), noise_px=1.0, outliers=0.05, seed=3)
    order = np.arange(17)
    found = m.ransac_outliers(cameras, keypoints, order, 0.3)  # (frames, cameras, markers)
    bad = np.moveaxis(bad, 0, 1)
    assert found[bad].mean() > 0.8 and found[~bad].mean() < 0.01


def test_the_contract_checks_a_skeleton_fit_against_its_result():
    from pose_pipeline.formats import ContractError, SkeletonFit, WorldKeypoints3D

    rat, frames = d.rat(), 5
    fit = SkeletonFit("rat", rat.sha256(), np.zeros((frames, len(rat.joints), 3)), np.zeros((frames, 52)),
                      rat.rest_lengths(), np.zeros((len(rat.markers), 3)))  # fmt: skip
    points = np.zeros((frames, 17, 3))
    result = WorldKeypoints3D(points, np.zeros((frames, 17)), np.ones((frames, 17, 2), bool), "COCO-17", ("a", "b"),
                              model_based=True, skeleton_fit=fit)  # fmt: skip
    result.validate(frames)
    with pytest.raises(ContractError, match="only a model-based result has a skeleton fit"):
        WorldKeypoints3D(**{**vars(result), "model_based": False}).validate(frames)
    short = SkeletonFit(**{**vars(fit), "joints": fit.joints[:-1]})
    with pytest.raises(ContractError, match="skeleton joints covers 4 frames, the video has 5"):
        WorldKeypoints3D(**{**vars(result), "skeleton_fit": short}).validate(frames)
    with pytest.raises(ContractError, match="skeleton joints axis 1 must have size 29"):
        WorldKeypoints3D(**{**vars(result), "skeleton_fit": SkeletonFit(**{**vars(fit), "joints": points})}).validate(
            frames
        )


def test_a_recording_without_usable_detections_is_refused():
    cameras = ring_of_cameras(3)
    keypoints, _ = observe(cameras, walker(4))
    keypoints[..., 2] = 0.1  # every detection below min_confidence
    with pytest.raises(m.SkeletonMethodError, match="skeleton 'human_coco17': no frame has a marker seen by two"):
        TRIANGULATION.build("acm_full")(cameras, keypoints, "COCO-17")
