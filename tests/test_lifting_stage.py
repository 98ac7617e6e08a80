"""The 3D lifting stage against real databases: the project's own lifter on a synthetic walker, its accuracy
against the scene's 3D joints, two lifters compared in one query, bad input refused, a fresh process reading it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pose_pipeline import fsck
from pose_pipeline.lifting.metrics import lifting_accuracy
from pose_pipeline.schema.joint_sets import JointSet
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
from pose_pipeline.schema.lifting import (
    LiftingAccuracy,
    LiftingGroundTruth,
    LiftingMethod,
    LiftingPerson,
    insert_lifting_ground_truth,
    synthetic_ground_truth,
)
from pose_pipeline.schema.tracking import TrackingBbox
from pose_pipeline.skeletons import H36M17
from pose_pipeline.weights import file_sha256, require_weights
from tests.lifting_onnx_models import probe_lifter
from tests.walker import tracked_walker

N_FRAMES = 30
# measured through the pipeline (synthetic_pose 2D -> synthetic_lifter) on this scene: PA-MPJPE 91 mm. The 2D model's
# errors dominate (its PCK@0.1 box is 0.81 here); from the scene's true 2D the lifter gets 8.7 mm
# (tests/test_lifting_model.py)
THRESHOLD_PA_MPJPE = 120.0


@pytest.fixture
def subject(db, tmp_path):
    """A walker (a test scene: the lifter never saw it), 2D keypoints by the shipped 2D model, 3D ground truth."""
    person, truth = tracked_walker(tmp_path, "lifting", N_FRAMES)
    TopDownMethod.insert1({**person, "top_down_method": "synthetic_pose"})
    TopDownPerson.populate(person)
    [two_d] = (TopDownPerson & person).keys()
    insert_lifting_ground_truth(person, synthetic_ground_truth(truth), "COCO-17", "synthetic walker, seed 3")
    return two_d, truth


@pytest.mark.all_backends
def test_lifted_walker(subject):
    two_d, _ = subject
    lifting_orphans_before = {o.path for o in fsck.check(grace=0, verify=False).orphans if "_lifting" in o.path}
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter"})
    LiftingPerson.populate(two_d)
    row = (LiftingPerson & two_d).fetch1()
    assert row["keypoints_3d"].shape == (N_FRAMES, 17, 3) and row["joint_set"] == "H36M-17"
    assert (row["units"], row["coordinate_frame"], row["root_joint"]) == ("m", "camera axes, root-relative", "root")
    assert (row["input_joint_set"], row["conversion"]) == ("COCO-17", "h36m_standard")
    assert row["num_missing"] == int((row["frame_status"] == 2).sum())
    [method] = row["provenance"]["methods"]
    assert method["method"] == "synthetic_lifter" and method["params"]["flip"] is True
    assert method["model_files"][0]["sha256"] == file_sha256(require_weights("synthetic_lifter_h36m17"))
    assert len(JointSet.Joint & {"joint_set": "H36M-17"}) == 17

    LiftingAccuracy.populate(two_d)
    accuracy = (LiftingAccuracy & two_d).fetch1()
    truth = (LiftingGroundTruth & two_d).fetch1("keypoints_3d")
    expected = lifting_accuracy(row["keypoints_3d"], truth, bones=H36M17.bones)
    assert accuracy["mpjpe"] == pytest.approx(expected["mpjpe"], rel=1e-6)
    assert accuracy["pa_mpjpe"] == pytest.approx(expected["pa_mpjpe"], rel=1e-6)
    assert accuracy["num_frames"] == N_FRAMES - row["num_missing"]
    joints = (LiftingAccuracy.Joint & two_d).to_dicts(order_by="joint_index")
    assert [j["joint_name"] for j in joints] == list(H36M17.joints) and joints[0]["mpjpe"] == pytest.approx(0)
    assert accuracy["pa_mpjpe"] < THRESHOLD_PA_MPJPE, accuracy

    # the 3D array lives in the derived store (<array@derived>): fsck sees it as referenced and intact
    # (files of rows that earlier tests deleted are orphans already; this row's file must not join them)
    report = fsck.check(grace=0)
    new_orphans = {o.path for o in report.orphans if "_lifting" in o.path} - lifting_orphans_before
    assert not new_orphans, report.summary()
    # (other tests' deliberately damaged files may be listed too; only this stage's rows are this test's business)
    assert not [row for row in report.bad_rows if row.table.__module__.endswith(".lifting")], report.summary()


def test_two_lifter_settings_compared_in_one_query(subject):
    two_d, _ = subject
    for flip in (True, False):
        LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter", "params": {"flip": flip}})
    LiftingPerson.populate(two_d)
    LiftingAccuracy.populate(two_d)
    table = (LiftingMethod * LiftingAccuracy & two_d).to_dicts()
    assert len(table) == 2 and {row["params"]["flip"] for row in table} == {True, False}
    assert len({row["lifting_params_hash"] for row in table}) == 2
    assert all(np.isfinite(row["pa_mpjpe"]) for row in table)


def test_bad_input_is_refused_naming_subject_method_and_file(subject, tmp_path):
    two_d, _ = subject
    model = probe_lifter(tmp_path / "window5.onnx", window=5)
    LiftingMethod.insert1({**two_d, "lifting_method": "videopose3d_onnx", "params": {"model_path": str(model)}})
    [(_, message)] = LiftingPerson.populate(two_d, suppress_errors=True)["error_list"]
    assert "window5.onnx" in message and "5 frames" in message and "window=243" in message

    keypoints = (TopDownPerson & two_d).fetch1("keypoints")
    TopDownPerson.update1({**two_d, "keypoints": np.full_like(keypoints, np.nan)})
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter"})
    errors = LiftingPerson.populate(two_d, suppress_errors=True)["error_list"]
    message = next(m for _, m in errors if "synthetic_lifter" in m)
    assert "no usable 2D frames" in message and "filename=walker.mp4" in message
    assert "synthetic_pose" in message
    assert len(LiftingPerson & two_d) == 0


def worker(backend, *tables: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pose_pipeline.cli", "worker", "--idle-timeout", "1", "--poll-interval", "0.2"]
    for table in tables:
        args += ["--table", table]
    return subprocess.run(args, capture_output=True, text=True, env=backend.subprocess_env(), timeout=300, check=False)


def test_a_fresh_worker_lifts_and_this_process_reads(db, subject):
    two_d, _ = subject
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter", "params": {"conversion": "gastnet"}})
    done = worker(db, "LiftingPerson", "LiftingAccuracy")
    assert done.returncode == 0, done.stderr[-3000:]
    row = (LiftingPerson & two_d).fetch1()
    assert row["conversion"] == "gastnet" and row["keypoints_3d"].shape == (N_FRAMES, 17, 3)
    assert np.isfinite((LiftingAccuracy & two_d).fetch1("pa_mpjpe"))
    for table in (LiftingPerson, LiftingAccuracy):
        assert not len(table.jobs.errors), table.jobs.errors.to_dicts()


def test_overlay_draws_the_3d_panel_on_the_blurred_video(subject):
    from pose_pipeline.lifting.panel import panel_box
    from pose_pipeline.schema.lifting import LiftingPersonVideo
    from pose_pipeline.schema.overlays import BlurMethod, BlurredVideo
    from pose_pipeline.video import VideoReader

    two_d, _ = subject
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter"})
    LiftingPerson.populate(two_d)
    tracking = {k: two_d[k] for k in TrackingBbox.primary_key}
    BlurMethod.insert1({**tracking, "face_method": "synthetic_pose"})
    BlurredVideo.populate(tracking)
    LiftingPersonVideo.populate(two_d)
    [key] = (LiftingPersonVideo & two_d).keys()
    status = (LiftingPerson & two_d).fetch1("frame_status")
    with (
        VideoReader(LiftingPersonVideo.fetch_path(key)) as overlay,
        VideoReader(BlurredVideo.fetch_path(key)) as blurred,
    ):
        pairs = list(zip(overlay, blurred))
    assert len(pairs) == N_FRAMES
    x0, y0, size = panel_box(pairs[0][0].shape)
    for index, (drawn, source) in enumerate(pairs):
        panel, behind = drawn[y0 : y0 + size, x0 : x0 + size].astype(int), source[y0 : y0 + size, x0 : x0 + size]
        assert panel.mean() < behind.mean()  # the panel darkens what is behind it
        skeleton = (np.abs(panel - panel.mean(axis=2, keepdims=True)).sum(axis=2) > 60).sum()  # coloured bones
        assert (skeleton > 50) == (status[index] != 2), (index, skeleton)
