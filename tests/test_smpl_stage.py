"""The body-model stage against a real database: Anny fitted to the synthetic walker's 2D keypoints (and to its
lifted 3D), the row read back in a fresh process with its mesh recomputed, the .npz export, bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
from pose_pipeline.schema.lifting import LiftingMethod, LiftingPerson
from pose_pipeline.schema.smpl import SMPLMethod, SMPLMethodLookup, SMPLPerson, export_smpl_npz
from tests.walker import tracked_walker

N_FRAMES = 10
FAST = {"iterations": 25}


@pytest.fixture
def subject(db, tmp_path):
    person, _ = tracked_walker(tmp_path, "smpl", N_FRAMES)
    TopDownMethod.insert1({**person, "top_down_method": "synthetic_pose"})
    TopDownPerson.populate(person)
    [two_d] = (TopDownPerson & person).keys()
    return two_d


@pytest.mark.all_backends
def test_anny_fit_stored_and_read_in_a_fresh_process(db, subject, tmp_path):
    assert "smplify" in SMPLMethodLookup.to_pandas().index.get_level_values(0)
    SMPLMethod.insert1({**subject, "smpl_method": "smplify", "params": FAST})
    SMPLPerson.populate(subject)
    row = (SMPLPerson & subject).fetch1()
    assert (row["model_type"], row["gender"], row["camera_model"]) == ("anny", "neutral", "perspective")
    assert row["pose"].shape == (N_FRAMES, 103, 3) and len(row["pose_joints"]) == 103
    assert row["betas"].shape == (6,) and row["global_orient"].shape == (N_FRAMES, 3)
    assert row["keypoints_3d"].shape == (N_FRAMES, 17, 3) and row["keypoints_2d"].shape == (N_FRAMES, 17, 3)
    assert (row["joint_set"], row["input_joint_set"]) == ("COCO-17", "COCO-17")
    fitted = row["frame_status"] == 0
    assert fitted.sum() == N_FRAMES - row["num_missing"] > 0
    assert (row["keypoints_3d"][fitted][..., 2] > 0).all()  # in front of the camera
    width = 640
    assert np.allclose(row["camera_params"][fitted][:, 0], np.hypot(width, 480))  # default focal: the diagonal
    # the 2D model's keypoints on a synthetic stick figure: the body model follows them within a few pixels
    assert row["reprojection_error"] < 20, row["reprojection_error"]
    [method] = row["provenance"]["methods"]
    assert method["method"] == "smplify" and method["params"]["iterations"] == 25
    [model_file] = method["model_files"]
    assert model_file["name"].startswith("anny 0.6") and len(model_file["sha256"]) == 64

    # a fresh process reads the row and recomputes the mesh from it
    script = (
        "import json, numpy as np; from pose_pipeline import schema; schema.activate(); "
        "from pose_pipeline.schema.smpl import SMPLPerson, smpl_vertices; [key] = SMPLPerson.keys(); "
        "row = (SMPLPerson & key).fetch1(); v = smpl_vertices(key, frames=[0, 1]); "
        "print(json.dumps({'betas': row['betas'].tolist(), 'shape': list(v.shape), "
        "'finite': bool(np.isfinite(v[0]).all()), 'z': float(np.nanmean(v[0][:, 2]))}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=db.subprocess_env(),
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.allclose(read["betas"], row["betas"]) and read["shape"][0] == 2 and read["shape"][2] == 3
    assert read["finite"] == bool(fitted[0])
    if fitted[0]:  # the mesh sits around the stored joints
        assert abs(read["z"] - np.nanmean(row["keypoints_3d"][0][:, 2])) < 0.3

    path = export_smpl_npz(subject | {"smpl_method": "smplify"}, tmp_path / "walker_smpl.npz")
    run = CliRunner().invoke(main, ["export", "smpl-npz", "--video", "walker.mp4", "--out", str(tmp_path)])
    assert run.exit_code == 0, run.output
    [written] = tmp_path.glob("walker_s0_smplify_*.npz")
    with np.load(written) as npz, np.load(path) as direct:
        assert np.array_equal(npz["poses"], direct["poses"], equal_nan=True)
    with np.load(path) as npz:
        assert npz["poses"].shape == (N_FRAMES, 3 + 103 * 3) and npz["trans"].shape == (N_FRAMES, 3)
        assert np.allclose(npz["poses"][:, 3:].reshape(N_FRAMES, 103, 3)[fitted], row["pose"][fitted], atol=1e-6)
        assert str(npz["surface_model_type"]) == "anny" and float(npz["mocap_framerate"]) > 0


def test_fit_with_the_lifted_3d_and_bad_input(db, subject, tmp_path):
    LiftingMethod.insert1({**subject, "lifting_method": "synthetic_lifter"})
    SMPLMethod.insert1({**subject, "smpl_method": "smplify", "params": {**FAST, "lifting_method": "synthetic_lifter"}})
    errors = SMPLPerson.populate(subject, suppress_errors=True)["error_list"]
    assert errors and "populate LiftingPerson first" in errors[0][1]
    LiftingPerson.populate(subject)
    SMPLPerson.populate(subject)
    row = (SMPLPerson & subject).fetch1()
    assert row["lifting_method"] == "synthetic_lifter" and row["num_frames"] == N_FRAMES

    # SMPL without the user's files: the error names the file and the folder, and nothing is stored
    folder = tmp_path / "no_body_models"
    SMPLMethod.insert1(
        {**subject, "smpl_method": "smplify", "params": {**FAST, "model": "smpl", "model_folder": str(folder)}}
    )
    errors = SMPLPerson.populate(subject, suppress_errors=True)["error_list"]
    [message] = [m for _, m in errors]
    assert "SMPL_NEUTRAL.pkl" in message and str(folder / "smpl") in message
    assert len(SMPLPerson & subject) == 1

    keypoints = (TopDownPerson & subject).fetch1("keypoints")
    TopDownPerson.update1({**subject, "keypoints": np.full_like(keypoints, np.nan)})
    SMPLMethod.insert1({**subject, "smpl_method": "smplify", "params": {**FAST, "camera": "weak_perspective"}})
    errors = SMPLPerson.populate(subject, suppress_errors=True)["error_list"]
    assert len(errors) == 2  # both open requests (the SMPL one too: the 2D is checked before any model is built)
    for _, message in errors:
        assert "no usable 2D frames to fit" in message and "filename=walker.mp4" in message and "smplify" in message


def test_overlay_draws_the_mesh_on_the_blurred_video(db, subject):
    from pose_pipeline.schema.overlays import BlurMethod, BlurredVideo
    from pose_pipeline.schema.smpl import SMPLPersonVideo
    from pose_pipeline.schema.tracking import TrackingBbox
    from pose_pipeline.video import VideoReader

    SMPLMethod.insert1({**subject, "smpl_method": "smplify", "params": FAST})
    SMPLPerson.populate(subject)
    tracking = {k: subject[k] for k in TrackingBbox.primary_key}
    BlurMethod.insert1({**tracking, "face_method": "synthetic_pose"})
    BlurredVideo.populate(tracking)
    SMPLPersonVideo.populate(subject)
    [key] = (SMPLPersonVideo & subject).keys()
    status, points = (SMPLPerson & subject).fetch1("frame_status", "keypoints_2d")
    with VideoReader(SMPLPersonVideo.fetch_path(key)) as overlay, VideoReader(BlurredVideo.fetch_path(key)) as blurred:
        pairs = list(zip(overlay, blurred))
    assert len(pairs) == N_FRAMES
    for index, (drawn, source) in enumerate(pairs):
        changed = np.abs(drawn.astype(int) - source.astype(int)).sum(axis=2) > 40
        if status[index] == 0:  # the mesh covers the fitted hips, and stays near the fitted body
            x, y = np.nanmean(points[index, 11:13, :2], axis=0).astype(int)
            assert changed[y - 2 : y + 3, x - 2 : x + 3].mean() > 0.5, index
            xs, ys = points[index, :, 0], points[index, :, 1]
            inside = changed[int(np.nanmin(ys)) - 40 : int(np.nanmax(ys)) + 40,
                             max(int(np.nanmin(xs)) - 40, 0) : int(np.nanmax(xs)) + 40].sum()  # fmt: skip
            assert inside > 0.9 * changed.sum(), index
        else:
            assert changed.mean() < 0.001, index
