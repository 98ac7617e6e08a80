"""Gait from a stored skeleton fit: a synthetic rat trotting at a known stride (4 Hz, duty factor 0.6) is rendered
for four cameras (640 x 512), its simulated detector's 2D imported, fitted by the full skeleton model through the tables, and
its gait read from the stored joints by `skeleton_gait`, as a lab would after its workers finished."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import _empty_tables

pytest.importorskip("jax")

N_FRAMES = 70  # 2.8 strides at 4 Hz and 100 Hz: two whole cycles per limb


@pytest.fixture(scope="module")
def trotting(backend, tmp_path_factory):
    from pose_pipeline.examples.rodent_rig import rodent_rig_recording
    from pose_pipeline.schema.multicam import Triangulated3D, Triangulated3DMethod

    rig = rodent_rig_recording(
        tmp_path_factory.mktemp("trot"), "arena", "trot01", n_frames=N_FRAMES, motion="trot", size=(640, 512)
    )
    request = {**rig.two_d, **rig.calibration, "triangulation_method": "acm_full",
               "params": {"min_confidence": 0.6, "skeleton": "rat", "em_iterations": 2}}  # fmt: skip
    Triangulated3DMethod.insert1(request)
    Triangulated3D.populate(rig.recording)
    yield rig, Triangulated3DMethod.request_key(request)
    _empty_tables()


def test_stride_and_knee_cycle_from_the_stored_fit_match_the_truth(trotting):
    from pose_pipeline.schema.skeleton_model import skeleton_gait
    from pose_pipeline.skeleton_model import definitions, gait

    rig, key = trotting
    fitted = skeleton_gait(key, only=["hip_left", "shoulder_right"])
    truth = gait.gait(rig.joints, definitions.rat(), rate_hz=100.0, only=["hip_left", "shoulder_right"])
    # measured (640 x 512, 2 px detector noise, 2 EM iterations): cycles 0.247-0.262 s (truth 0.25), duty factors
    # 0.61-0.66 (truth's events 0.63-0.65), knee cycle 7 degrees off on average (range 30), correlation 0.92
    for limb in ("hip_left", "shoulder_right"):
        assert len(fitted[limb].durations_s) >= 2
        assert fitted[limb].stride_hz == pytest.approx(truth[limb].stride_hz, rel=0.05)
        assert fitted[limb].duty_factor == pytest.approx(truth[limb].duty_factor, abs=0.05)
    knee, true_knee = fitted["hip_left"].angles["knee_left"], truth["hip_left"].angles["knee_left"]
    assert np.abs(knee.mean - true_knee.mean).mean() < 10.0 and np.corrcoef(knee.mean, true_knee.mean)[0, 1] > 0.8


def test_gait_of_a_result_without_a_skeleton_is_refused(trotting):
    from pose_pipeline.schema.multicam import RecordingError
    from pose_pipeline.schema.skeleton_model import skeleton_gait

    _, key = trotting
    with pytest.raises(RecordingError, match=r"no fitted skeleton \(Triangulated3D.SkeletonFit\) matches"):
        skeleton_gait({**key, "triangulation_method": "dlt"})
