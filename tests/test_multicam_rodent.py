"""The synthetic rodent recording through the multi-camera tables (`pose_pipeline.examples.rodent_rig`): four
rendered overhead cameras of a rat, tracked as one animal in the arena, a simulated detector's DeepLabCut files
imported as 2D, triangulated plainly and robustly, fitted by the anatomically constrained skeleton model
(`acm_full`, the rat skeleton), and stored against the true marker positions; the study's validation measures
compare them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import _empty_tables

pytest.importorskip("jax")

N_FRAMES = 30


@pytest.fixture(scope="module")
def rodent(backend, tmp_path_factory):
    from pose_pipeline.examples.rodent_rig import rodent_rig_recording
    from pose_pipeline.schema.multicam import Triangulated3D, Triangulated3DAccuracy, Triangulated3DMethod

    rig = rodent_rig_recording(tmp_path_factory.mktemp("rodent"), "arena", "rat01", n_frames=N_FRAMES)
    for method, params in (("dlt", {}), ("dlt_ransac", {}), ("acm_full", {"skeleton": "rat", "em_iterations": 2})):
        Triangulated3DMethod.insert1({**rig.two_d, **rig.calibration, "triangulation_method": method,
                                      "params": {"min_confidence": 0.6, **params}})  # fmt: skip
    Triangulated3D.populate(rig.recording)
    Triangulated3DAccuracy.populate(rig.recording)
    yield rig
    _empty_tables()


def test_every_camera_tracked_as_one_animal_and_imported(rodent):
    from pose_pipeline.schema.keypoints import TopDownPerson
    from pose_pipeline.schema.multicam import Recording2D
    from pose_pipeline.schema.tracking import PersonBbox

    parts = (Recording2D.Camera & rodent.two_d).to_dicts()
    assert len(parts) == 4
    for part in parts:
        boxes = (PersonBbox & part).fetch1("boxes")
        # the arena in every frame but the first (the trackers package numbers a track from its second frame)
        assert len(boxes) == N_FRAMES and np.isfinite(boxes[1:]).all() and np.isnan(boxes[0]).all()
        keypoints, joint_set = (TopDownPerson & part).fetch1("keypoints", "joint_set")
        assert joint_set == rodent.joint_set and keypoints.shape == (N_FRAMES, 41, 3)


def test_robust_triangulation_beats_plain_dlt_on_detector_outliers(rodent):
    from pose_pipeline.schema.multicam import Triangulated3D, Triangulated3DAccuracy

    accuracy = (Triangulated3DAccuracy & rodent.recording).to_pandas().reset_index().set_index("triangulation_method")
    assert set(accuracy.index) == {"dlt", "dlt_ransac", "acm_full"}
    robust = (Triangulated3D & rodent.recording & {"triangulation_method": "dlt_ransac"}).fetch1("keypoints_3d")
    errors = np.linalg.norm(robust - rodent.markers, axis=-1) * 1000
    assert accuracy.loc["dlt_ransac", "median_error"] == pytest.approx(np.nanmedian(errors), rel=1e-3)
    # measured (30 frames, 320 x 256, 2 px detector noise on a rat about 100 px long): median 8.0 mm (dlt_ransac)
    # and 8.2 mm (dlt); 95th percentile 16 mm against 27 mm, plain DLT pulled by the confident outliers
    assert accuracy.loc["dlt_ransac", "median_error"] < 10
    assert accuracy.loc["dlt_ransac", "p95_error"] < accuracy.loc["dlt", "p95_error"]
    assert rodent.outlier.any()


def test_skeleton_model_beats_triangulation_as_the_study_measures(rodent):
    from pose_pipeline.schema.skeleton_model import RegimeValidation, regime_validation

    RegimeValidation.populate(rodent.recording)
    frame = regime_validation({**rodent.recording, "error_threshold": "4cm"}).set_index("triangulation_method")
    # measured (30 frames, 2 EM iterations): acm_full median 3.9 mm, 95th percentile 10 mm, 0.1 % above 4 cm;
    # dlt_ransac 8.0 / 16 mm, 0.6 %; dlt 8.2 / 27 mm, 4.4 %; acceleration 95th percentile 197 against 426 and
    # 1,600 m/s^2 (the truth's: 12)
    assert frame.loc["acm_full", "median_error"] < 0.7 * frame.loc["dlt_ransac", "median_error"]
    assert (
        frame.loc["acm_full", "share_above"] <= frame.loc["dlt_ransac", "share_above"] < frame.loc["dlt", "share_above"]
    )
    assert frame.loc["acm_full", "acceleration_p95"] < frame.loc["dlt_ransac", "acceleration_p95"]
    # one-sided KS: triangulation's errors are larger than the full model's
    against = (RegimeValidation.AgainstFull & rodent.recording & {"error_threshold": "4cm"}).to_pandas().reset_index()
    assert set(against.triangulation_method) == {"dlt", "dlt_ransac"} and (against.p_value < 1e-6).all()
    # markers no two cameras detected: the model still places them, close to the truth; triangulation cannot
    since = (RegimeValidation.SinceDetection & rodent.recording & {"error_threshold": "4cm"}).to_pandas().reset_index()
    model = since[since.triangulation_method == "acm_full"]
    assert model.num_points.sum() > 0 and (model.dropna().median_error < 15).all()
    assert since[since.triangulation_method != "acm_full"].num_points.sum() == 0


def test_the_fitted_skeleton_and_its_learned_anatomy_are_stored(rodent):
    from pose_pipeline.schema.multicam import Triangulated3D
    from pose_pipeline.schema.skeleton_model import SkeletonFitValidation
    from pose_pipeline.skeleton_model import definitions

    full = {**rodent.recording, "triangulation_method": "acm_full"}
    fit = (Triangulated3D.SkeletonFit & full).fetch1()
    rat = definitions.rat()
    assert fit["skeleton"] == "rat" and fit["skeleton_sha256"] == rat.sha256()
    assert fit["joints"].shape == (N_FRAMES, len(rat.joints), 3) and fit["states"].shape[0] == N_FRAMES
    assert fit["anatomy"] == "" and 0 < len(fit["anatomy_frames"]) <= 8 and fit["anatomy_rms_px"] < 5
    assert fit["fit_info"]["em_iterations"] == 2 and len(fit["fit_info"]["logliks"]) == 2
    assert not Triangulated3D.SkeletonFit & {**rodent.recording, "triangulation_method": "dlt"}

    # the joints (not only the markers) against the true skeleton: the study's measure
    SkeletonFitValidation.populate(rodent.recording)
    row = (SkeletonFitValidation & full & {"error_threshold": "4cm"}).fetch1()
    errors = np.linalg.norm(fit["joints"].astype(float) - rodent.joints, axis=-1) * 1000
    assert row["num_points"] == np.isfinite(errors).sum() and row["median_error"] == pytest.approx(
        np.nanmedian(errors), rel=1e-4
    )
    assert row["median_error"] < 8 and row["share_above"] < 0.01 and row["bone_length_error"] < 5
    per_joint = (SkeletonFitValidation.Joint & full).to_pandas()
    assert len(per_joint) == len(rat.joints) and (per_joint.num_points == N_FRAMES).all()


def test_a_learned_anatomy_is_kept_and_a_second_worker_reuses_it(rodent, backend):
    import subprocess
    import sys

    from pose_pipeline.schema.multicam import Triangulated3D, Triangulated3DMethod
    from pose_pipeline.schema.skeleton_model import SubjectAnatomy, store_fitted_anatomy

    full = {**rodent.recording, "triangulation_method": "acm_full"}
    learned = (Triangulated3D.SkeletonFit & full).fetch1()
    store_fitted_anatomy("rat01", full)
    stored = (SubjectAnatomy & {"subject": "rat01"}).fetch1()
    assert np.array_equal(stored["bone_lengths"], learned["bone_lengths"]) and stored["source"]["triangulation_method"]
    assert list(stored["frames"]) == list(learned["anatomy_frames"])

    # a fresh process (a second worker) runs the full model with the stored anatomy: the same fit
    request = {**rodent.two_d, **rodent.calibration, "triangulation_method": "acm_full",
               "params": {"min_confidence": 0.6, "skeleton": "rat", "em_iterations": 2, "anatomy": "rat01"}}  # fmt: skip
    Triangulated3DMethod.insert1(request)
    key = Triangulated3DMethod.request_key(request)
    script = (
        "from pose_pipeline import schema; schema.activate(); "
        "from pose_pipeline.schema.multicam import Triangulated3D; "
        f"Triangulated3D.populate({key!r}, reserve_jobs=True, suppress_errors=False)"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], env=backend.subprocess_env(),
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    reused = (Triangulated3D.SkeletonFit & key).fetch1()
    assert reused["anatomy"] == "rat01" and reused["anatomy_frames"] is None
    assert np.allclose(reused["joints"], learned["joints"], atol=1e-5, equal_nan=True)
    with pytest.raises(ValueError, match="used the stored anatomy 'rat01'"):
        store_fitted_anatomy("again", key)
