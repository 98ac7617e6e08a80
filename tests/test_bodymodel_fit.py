"""The SMPLify-style fit against synthetic ground truth: Anny's keypoints of a known gait, projected through a
known camera with 2 px noise and 10 % of the joints missing, fitted back; and the inputs it refuses."""

import numpy as np
import pytest

from pose_pipeline.bodymodels.fit import (
    FITTED,
    MISSING,
    NoUsableFramesError,
    UnmappableJointSetError,
    fit_body_model,
)
from pose_pipeline.bodymodels.models import body_model
from pose_pipeline.lifting.metrics import lifting_accuracy
from pose_pipeline.skeletons import COCO17, H36M17
from pose_pipeline.synthetic.bodymodel import body_model_sequence


@pytest.fixture(scope="module")
def anny():
    return body_model("anny")


def _accuracy(fit, sequence):
    """Root-relative (mid-hip) MPJPE and PA-MPJPE in mm on COCO-17, by the lifting stage's metrics."""
    coco = [fit.keypoint_names.index(name) for name in COCO17.joints]

    def relative(points):
        return points - 0.5 * (points[:, [11]] + points[:, [12]])

    return lifting_accuracy(relative(fit.keypoints_3d[:, coco]), relative(sequence.coco_3d), bones=COCO17.bones,
                            root=None)  # fmt: skip


def test_fit_recovers_a_known_body_through_a_perspective_camera(anny):
    sequence = body_model_sequence(anny, 5, seed=1)
    assert np.isnan(sequence.keypoints_2d).any()  # some joints are missing
    fit = fit_body_model(anny, sequence.keypoints_2d, COCO17.joints, sequence.image_size,
                         focal_length=sequence.focal_length, iterations=60)  # fmt: skip
    accuracy = _accuracy(fit, sequence)
    # measured: MPJPE 56 mm, PA-MPJPE 27 mm, reprojection 1.4 px (the 2D noise is 2 px)
    assert accuracy["mpjpe"] < 80 and accuracy["pa_mpjpe"] < 40, accuracy
    assert fit.reprojection_error < 3.0
    assert (fit.frame_status == FITTED).all() and fit.camera == "perspective"
    assert np.allclose(fit.camera_params, [1000, 1000, 640, 360])
    assert fit.pose.shape == (5, 103, 3) and fit.betas.shape == (6,) and ((fit.betas > 0) & (fit.betas < 1)).all()
    assert np.isfinite(fit.keypoints_3d).all() and (fit.keypoints_3d[..., 2] > 2).all()  # in front of the camera
    # the body stands upright facing the camera's way: its head above its ankles in the image (y down)
    k = fit.keypoint_names
    assert (fit.keypoints_2d[:, k.index("nose"), 1] < fit.keypoints_2d[:, k.index("left_ankle"), 1]).all()


def test_weak_perspective_lifted_initialisation_and_missing_frames(anny):
    sequence = body_model_sequence(anny, 5, seed=2, yaw=2.6)  # facing mostly away from the camera
    keypoints = sequence.keypoints_2d.copy()
    keypoints[2] = np.nan  # a frame the 2D method lost
    weak = fit_body_model(anny, keypoints, COCO17.joints, sequence.image_size, camera="weak_perspective",
                          iterations=40)  # fmt: skip
    assert list(weak.frame_status) == [FITTED, FITTED, MISSING, FITTED, FITTED]
    assert np.isnan(weak.pose[2]).all() and np.isnan(weak.keypoints_3d[2]).all()
    assert weak.reprojection_error < 5.0 and np.allclose(weak.camera_params[[0, 1, 3, 4], 0],
                                                         weak.camera_params[[0, 1, 3, 4], 1])  # fmt: skip
    # a lifter's 3D (here the truth on H36M-17's joints with 2 cm noise, root-relative) fixes the heading
    rng = np.random.default_rng(0)
    h36m = np.full((5, 17, 3), np.nan)
    for j, name in enumerate(H36M17.joints):
        coco = {"left_foot": "left_ankle", "right_foot": "right_ankle"}.get(name, name)
        if coco in COCO17.joints:
            h36m[:, j] = sequence.coco_3d[:, COCO17.joints.index(coco)]
    h36m = h36m - np.nanmean(h36m[:, [1, 4]], 1, keepdims=True) + rng.normal(0, 0.02, h36m.shape)
    lifted = fit_body_model(anny, sequence.keypoints_2d, COCO17.joints, sequence.image_size,
                            focal_length=sequence.focal_length, iterations=40, lifted=h36m,
                            lifted_names=H36M17.joints)  # fmt: skip
    accuracy = _accuracy(lifted, sequence)
    assert accuracy["pa_mpjpe"] < 40 and "lifting" in lifted.losses, accuracy


def test_bad_input_is_refused_before_any_work(anny):
    sequence = body_model_sequence(anny, 3, seed=0)
    with pytest.raises(UnmappableJointSetError, match="name only 0 of the body model's keypoints"):
        fit_body_model(anny, np.zeros((3, 5, 3)), ["paw", "digit1", "digit2", "digit3", "pellet"], (640, 480))
    with pytest.raises(NoUsableFramesError, match="no frame of 3 has 6 joints"):
        fit_body_model(anny, np.full((3, 17, 3), np.nan), COCO17.joints, (640, 480))
    low = sequence.keypoints_2d.copy()
    low[..., 2] = 0.1  # every joint below min_confidence
    with pytest.raises(NoUsableFramesError):
        fit_body_model(anny, low, COCO17.joints, sequence.image_size)
    with pytest.raises(ValueError, match="unknown fit parameters"):
        fit_body_model(anny, sequence.keypoints_2d, COCO17.joints, sequence.image_size, iteration=3)


def test_smplify_method_with_the_users_smpl_files(tmp_path):
    """The registered method builds SMPL from the user's folder (its absence named first), and its output meets the
    stage's contract (generated files: random geometry, so only the mechanics are checked)."""
    from pose_pipeline.bodymodels.models import BodyModelFilesError
    from pose_pipeline.registry import MethodCall, run_methods
    from pose_pipeline.stages import SMPL

    from .body_model_files import write_model_file

    params = {"model": "smpl", "model_folder": str(tmp_path), "iterations": 3}
    with pytest.raises(BodyModelFilesError, match=r"needs the file SMPL_NEUTRAL\.pkl in .*smpl"):
        SMPL.build("smplify", params)
    write_model_file(tmp_path, "smpl", "neutral")
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(200, 400, (2, 17, 2)), np.full((2, 17, 1), 0.9)], -1)
    run = run_methods(lambda fitter: fitter(keypoints, COCO17.joints, (640, 480)), MethodCall(SMPL, "smplify", params),
                      n_frames=2)  # fmt: skip
    assert run.result.model_type == "smpl" and run.result.pose.shape == (2, 23, 3)
    assert run.result.pose_joints[0] == "left_hip" and run.result.betas.shape == (10,)
    [provenance] = run.provenance
    assert provenance.model_files[0]["name"] == "smpl_neutral" and len(provenance.model_files[0]["sha256"]) == 64


def test_a_long_subject_is_fitted_in_windows_with_one_shape(anny):
    sequence = body_model_sequence(anny, 9, seed=3)
    keypoints = sequence.keypoints_2d.copy()
    keypoints[4] = np.nan
    fit = fit_body_model(anny, keypoints, COCO17.joints, sequence.image_size, focal_length=sequence.focal_length,
                         iterations=40, window=4, window_overlap=2)  # fmt: skip
    assert fit.pose.shape == (9, 103, 3) and fit.betas.shape == (6,)
    assert list(fit.frame_status) == [FITTED] * 4 + [MISSING] + [FITTED] * 4
    assert np.isfinite(fit.keypoints_3d[fit.frame_status == FITTED]).all()
    accuracy = _accuracy(fit, sequence)
    assert accuracy["pa_mpjpe"] < 45 and fit.reprojection_error < 4.0, (accuracy, fit.reprojection_error)
    with pytest.raises(ValueError, match="window_overlap"):
        fit_body_model(anny, keypoints, COCO17.joints, sequence.image_size, window=4, window_overlap=2 * 2)
