"""Body models behind one interface: SMPL / SMPL+H / SMPL-X from generated files of the real shapes (no licensed
file), Anny from its package; clear errors for missing or unreadable files."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from pose_pipeline.bodymodels.models import (
    KEYPOINT_NAMES,
    SKELETONS,
    BodyModelFilesError,
    body_model,
)
from pose_pipeline.bodymodels.rotations import axis_angle_to_matrix
from pose_pipeline.weights import weights_status

from .body_model_files import model_arrays, write_model_file

CASES = [("smpl", "neutral", 23), ("smplh", "male", 51), ("smplx", "female", 54)]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("body_models")
    for model_type, gender, _ in CASES:
        write_model_file(folder, model_type, gender)
    return folder


@pytest.mark.parametrize("model_type, gender, n_pose", CASES)
def test_smpl_family_forward_from_generated_files(model_folder, model_type, gender, n_pose):
    model = body_model(model_type, gender, folder=model_folder)
    data = model_arrays(model_type)
    assert len(model.pose_joint_names) == n_pose and model.joint_names == SKELETONS[model_type]
    assert model.keypoint_names == KEYPOINT_NAMES and model.faces.shape == data["f"].shape
    n = 3
    rest = model(np.zeros((1, 10)), np.zeros((n, n_pose, 3)), np.zeros((n, 3)), np.zeros((n, 3)))
    assert rest.vertices.shape == (n, len(data["v_template"]), 3)
    # at rest with mean shape the skeleton is the regressor applied to the template
    assert np.allclose(rest.joints[0].detach().numpy(), data["J_regressor"] @ data["v_template"], atol=1e-6)
    assert np.allclose(rest.vertices[0].detach().numpy(), data["v_template"], atol=1e-6)
    # keypoints by name: skeleton joints for the limbs, smplx's vertex keypoints for the face
    keypoints = rest.keypoints[0].detach().numpy()
    assert np.allclose(keypoints[KEYPOINT_NAMES.index("left_elbow")], rest.joints[0, 18].detach().numpy())
    nose_vertex = 9120 if model_type == "smplx" else 332
    assert np.allclose(keypoints[0], data["v_template"][nose_vertex])
    # global orientation turns the body about its root joint, then translation moves it (smplx's convention)
    rotation = axis_angle_to_matrix(np.array([[0.0, np.pi / 2, 0.0]]))
    moved = model(np.zeros((1, 10)), np.zeros((1, n_pose, 3)), np.array([[0.0, np.pi / 2, 0.0]]),
                  np.array([[0.1, 0.2, 0.3]]))  # fmt: skip
    root = rest.joints[0, 0].detach().numpy()
    expected = (rest.joints[0].detach().numpy() - root) @ rotation[0].T + root + [0.1, 0.2, 0.3]
    assert np.allclose(moved.joints[0].detach().numpy(), expected, atol=1e-6)
    # a bent joint moves the vertices; gradients reach the pose
    pose = torch.zeros((1, n_pose, 3), dtype=torch.float64, requires_grad=True)
    bent = model(torch.ones((1, 10)), pose + 0.3, torch.zeros((1, 3)), torch.zeros((1, 3)))
    bent.keypoints.sum().backward()
    assert not np.allclose(bent.vertices.detach().numpy(), rest.vertices[:1].numpy())
    assert pose.grad is not None and pose.grad.abs().sum() > 0


def test_missing_files_name_the_file_and_the_folder(tmp_path, monkeypatch):
    with pytest.raises(BodyModelFilesError) as error:
        body_model("smplx", "neutral", folder=tmp_path)
    assert "SMPLX_NEUTRAL.npz" in str(error.value) and str(tmp_path / "smplx") in str(error.value)
    assert "smpl-x.is.tue.mpg.de" in str(error.value)
    # through the manifest: every weights directory's body_models/<type>/ is named
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", str(tmp_path))
    with pytest.raises(BodyModelFilesError) as error:
        body_model("smpl", "female")
    assert "SMPL_FEMALE.pkl" in str(error.value) and str(tmp_path / "body_models" / "smpl") in str(error.value)
    # ... and once the file is there, it is found and listed by `pose-pipeline weights`
    write_model_file(tmp_path / "body_models", "smpl", "female")
    assert body_model("smpl", "female").path == tmp_path / "body_models" / "smpl" / "SMPL_FEMALE.pkl"
    status = weights_status().set_index("name")
    assert status.loc["smpl_female", "status"] == "unverified" and status.loc["smplx_male", "status"] == "missing"


def test_unreadable_files_are_refused_with_their_path(tmp_path):
    path = write_model_file(tmp_path, "smpl", "neutral")
    chumpy = types.ModuleType("chumpy")

    class Ch:  # what the original downloads pickle
        pass

    Ch.__module__, Ch.__qualname__ = "chumpy", "Ch"
    chumpy.Ch = Ch
    sys.modules["chumpy"] = chumpy
    try:
        payload = pickle.dumps({"v_template": Ch()})
    finally:
        del sys.modules["chumpy"]
    path.write_bytes(payload)
    with pytest.raises(BodyModelFilesError, match="chumpy pickle") as error:
        body_model("smpl", "neutral", folder=tmp_path)
    assert str(path) in str(error.value)
    path.write_bytes(b"\x80\x02}q\x00(X")  # truncated
    with pytest.raises(BodyModelFilesError, match="cannot be read as a smpl model file"):
        body_model("smpl", "neutral", folder=tmp_path)
    data = model_arrays("smpl")
    data["J_regressor"] = data["J_regressor"][:10]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(BodyModelFilesError, match=r"J_regressor should be \(24, 6890\)"):
        body_model("smpl", "neutral", folder=tmp_path)
    with pytest.raises(ValueError, match="smplh has no gender 'neutral'"):
        body_model("smplh", "neutral", folder=tmp_path)


def test_anny_forward_in_the_common_frame():
    model = body_model("anny")
    assert model.keypoint_names == KEYPOINT_NAMES and model.num_betas == 6
    assert len(model.pose_joint_names) == 103 and model.faces.shape[1] == 3
    n = 2
    out = model(model.default_betas[None], np.zeros((n, 103, 3)), np.zeros((n, 3)), np.zeros((n, 3)))
    keypoints = out.keypoints[0].detach().numpy()
    k = {name: keypoints[i] for i, name in enumerate(KEYPOINT_NAMES)}
    height = out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min()
    assert 1.5 < height < 1.9  # metres, the average phenotype
    assert k["nose"][1] > k["left_hip"][1] > k["left_ankle"][1]  # y up
    assert k["nose"][2] > k["left_ear"][2] and k["left_big_toe"][2] > k["left_heel"][2]  # facing +z
    assert k["left_shoulder"][0] > k["right_shoulder"][0]  # x to the body's left
    # knee flexion (+x on the shin bone) moves the ankle backwards and up
    pose = np.zeros((1, 103, 3))
    pose[0, model.pose_joint_names.index("lowerleg01.L"), 0] = 1.0
    bent = model(model.default_betas[None], pose, np.zeros((1, 3)), np.zeros((1, 3)), vertices=False)
    ankle = KEYPOINT_NAMES.index("left_ankle")
    moved = bent.keypoints[0, ankle].detach().numpy() - keypoints[ankle]
    assert moved[2] < -0.2 and moved[1] > 0.05 and bent.vertices is None
    # taller phenotype, taller body
    tall = model(np.array([[0.5, 0.5, 0.5, 0.5, 1.0, 0.5]]), np.zeros((1, 103, 3)), np.zeros((1, 3)), np.zeros((1, 3)))
    assert tall.vertices[0, :, 1].max() - tall.vertices[0, :, 1].min() > height + 0.05


@pytest.mark.parametrize("model_type, gender, n_pose", [CASES[0], CASES[2]])
def test_npz_export_runs_unchanged_in_smplx(model_folder, tmp_path, model_type, gender, n_pose):
    """The exported file's smplx keys, given straight to smplx's own model, give the same body."""
    import smplx

    from pose_pipeline.export.smpl import write_smpl_npz

    model = body_model(model_type, gender, folder=model_folder)
    rng = np.random.default_rng(1)
    n = 4
    betas, pose = rng.normal(0, 1, 10), rng.normal(0, 0.3, (n, n_pose, 3))
    orient, transl = rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 3))
    ours = model(betas[None], pose, orient, transl)
    path = write_smpl_npz(tmp_path / "fit.npz", model_type, gender, betas, pose, orient, transl, fps=30.0)
    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    assert arrays["poses"].shape == (n, 3 * (n_pose + 1)) and str(arrays["gender"]) == gender
    names = ["global_orient", "body_pose", "transl"]
    names += (
        ["left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose"] if model_type == "smplx" else []
    )
    kwargs = {name: torch.as_tensor(arrays[name]) for name in names}
    kwargs["betas"] = torch.as_tensor(np.tile(arrays["betas"], (n, 1)))
    options = {"use_pca": False, "flat_hand_mean": True} if model_type == "smplx" else {}
    theirs = smplx.create(str(model_folder), model_type, gender=gender, dtype=torch.float64, batch_size=n, **options)
    out = theirs(**kwargs)
    assert np.allclose(out.vertices.detach().numpy(), ours.vertices.detach().numpy(), atol=1e-8)
