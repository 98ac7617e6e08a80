"""ROMP as a released SMPL estimator (the ``romp`` extra): its real per-frame output, made by ROMP's own parser
from 6D parameters of a known body, converted to the stored layout and checked through smplx built from generated
SMPL files (no licensed file); the real ROMP network with random weights through the registered method."""

import importlib.util

import numpy as np
import pytest
import torch

from pose_pipeline.bodymodels.estimators import romp as romp_estimator
from pose_pipeline.bodymodels.models import body_model
from pose_pipeline.bodymodels.rotations import axis_angle_to_6d, axis_angle_to_matrix
from pose_pipeline.skeletons import COCO17
from pose_pipeline.stages import SMPL
from pose_pipeline.weights import WeightsError

from .body_model_files import write_model_file

pytestmark = pytest.mark.skipif(importlib.util.find_spec("romp") is None, reason="the romp extra is not installed")

WIDTH, HEIGHT = 640, 480
N_WALKER = 6  # enough for the walker to be tracked (3 are not); ROMP takes 3 s or more a frame on one core


@pytest.fixture(scope="module")
def smpl_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("body_models")
    write_model_file(folder, "smpl", "neutral")
    return folder


@pytest.fixture(scope="module")
def smpl(smpl_folder):
    return body_model("smpl", "neutral", folder=smpl_folder)


def known_bodies(n=2, seed=3):
    """Body poses, orientations (upright, facing the camera), shapes and weak-perspective cameras."""
    rng = np.random.default_rng(seed)
    body = rng.normal(0, 0.3, (n, 21, 3))
    orient = np.array([[np.pi, 0, 0]]) + rng.normal(0, 0.2, (n, 3))
    betas = rng.normal(0, 0.8, (n, 10))
    cam = np.stack([rng.uniform(0.3, 0.6, n), rng.uniform(-0.3, 0.3, n), rng.uniform(-0.2, 0.2, n)], 1)
    return body, orient, betas, cam


def romp_outputs(body, orient, betas, cam):
    """ROMP's per-frame output for these people, made as ROMP makes it: its network's parameter vector (camera,
    global orientation and 21 body rotations in the interleaved 6D layout, betas) through ``pack_params_dict``."""
    _, post_parser, _ = romp_estimator.romp_modules()
    params = np.concatenate([cam, axis_angle_to_6d(orient, "interleaved"),
                             axis_angle_to_6d(body, "interleaved").reshape(len(body), -1), betas], 1)  # fmt: skip
    assert params.shape[1] == 3 + 22 * 6 + 10  # ROMP's head: 145 parameter maps
    outputs = post_parser.pack_params_dict(torch.tensor(params, dtype=torch.float32))
    return {key: value.numpy().astype(np.float64) for key, value in outputs.items()}


def romp_projection(joints, cam):
    """ROMP's own projection of (N, J, 3) joints into the frame (``batch_orth_proj``, then the padding undone)."""
    _, post_parser, utils = romp_estimator.romp_modules()
    _, offsets = utils.padding_image(np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    projected = utils.batch_orth_proj(torch.tensor(joints), torch.tensor(cam), mode="2d")
    return post_parser.convert_proejection_from_input_to_orgimg(projected, offsets).numpy()


@pytest.mark.parametrize("intrinsics", [None, (900.0, 900.0, 330.0, 250.0)])
def test_romp_output_converted_reproduces_its_body_and_projection(smpl, intrinsics):
    body, orient, betas, cam = known_bodies()
    outputs = romp_outputs(body, orient, betas, cam)
    assert outputs["smpl_thetas"].shape == (2, 72) and outputs["smpl_betas"].shape == (2, 10)
    people = [romp_estimator.convert_person(outputs, i, (WIDTH, HEIGHT), intrinsics or
                                            romp_estimator.default_intrinsics((WIDTH, HEIGHT))) for i in range(2)]  # fmt: skip
    # rotations: ROMP's 6D -> its axis-angle -> the stored axis-angle are the same rotations, hands at rest
    for person, b, o in zip(people, body, orient):
        assert np.allclose(axis_angle_to_matrix(person["pose"][:21]), axis_angle_to_matrix(b), atol=1e-5)
        assert np.allclose(person["pose"][21:], 0) and person["pose"].shape == (23, 3)
        assert np.allclose(axis_angle_to_matrix(person["global_orient"]), axis_angle_to_matrix(o), atol=1e-5)
    # each frame one person: the stored row
    params = romp_estimator.romp_to_smpl_params([people[0], None, people[1]], smpl, (WIDTH, HEIGHT), intrinsics)
    params.validate(3)
    assert params.camera == "perspective" and list(params.frame_status) == [0, 2, 0]
    assert np.isnan(params.pose[1]).all() and np.isnan(params.keypoints_3d[1]).all()
    assert np.allclose(params.betas_per_frame[[0, 2]], betas, atol=1e-6)
    assert np.allclose(params.betas, betas.mean(0), atol=1e-6)

    # the joints through smplx: the row's body is ROMP's body (posed with ROMP's thetas) moved by transl
    fitted = [0, 2]
    shape = params.betas[None]
    with torch.no_grad():
        at_origin = smpl(shape, params.pose[fitted], params.global_orient[fitted], np.zeros((2, 3)), vertices=False)
        stored = smpl(shape, params.pose[fitted], params.global_orient[fitted], params.transl[fitted], vertices=False)
        thetas = outputs["smpl_thetas"].reshape(2, 24, 3)
        romp_body = smpl(shape, thetas[:, 1:], thetas[:, 0], np.zeros((2, 3)), vertices=False)
    coco = [smpl.keypoint_names.index(name) for name in COCO17.joints]
    k0 = at_origin.keypoints[:, coco].numpy()
    assert np.allclose(romp_body.keypoints[:, coco].numpy(), k0, atol=1e-6)
    assert np.allclose(params.keypoints_3d[fitted], k0 + params.transl[fitted][:, None], atol=1e-6)
    assert np.allclose(stored.keypoints[:, coco].numpy(), params.keypoints_3d[fitted], atol=1e-6)

    # the camera: the perspective projection of every joint, scaled back to the z = 0 plane, is ROMP's projection
    _, _, cx, cy = params.camera_params[0]
    weak = romp_projection(k0, cam)
    k = params.keypoints_3d[fitted]
    tz = params.transl[fitted][:, 2:3]
    back = np.stack([(params.keypoints_2d[fitted, :, 0] - cx) * k[..., 2] / tz + cx,
                     (params.keypoints_2d[fitted, :, 1] - cy) * k[..., 2] / tz + cy], -1)  # fmt: skip
    assert np.abs(back - weak).max() < 1e-3
    if intrinsics is None:
        assert np.allclose(params.transl[fitted, :2], cam[:, 1:] / cam[:, :1], atol=1e-6)


def test_subject_picked_by_its_box():
    body, orient, betas, cam = known_bodies()
    outputs = romp_outputs(body, orient, betas, cam)
    centres = np.array([[100.0, 300.0], [400.0, 260.0]])  # on ROMP's 512 input
    outputs["center_preds"] = centres
    in_image = romp_estimator.centres_in_image(centres, (WIDTH, HEIGHT))
    assert np.allclose(in_image, centres * 640 / 512 - [0, 80])  # 640 x 480 is padded by 80 rows above
    x, y = in_image[1]
    assert romp_estimator.pick_person(outputs, (x - 50, y - 100, 100, 200), (WIDTH, HEIGHT)) == 1
    assert romp_estimator.pick_person(outputs, (0, 0, WIDTH, HEIGHT), (WIDTH, HEIGHT)) == 1  # nearer the centre
    assert romp_estimator.pick_person(outputs, (0, 0, 20, 20), (WIDTH, HEIGHT)) is None
    assert romp_estimator.pick_person(outputs, np.full(4, np.nan), (WIDTH, HEIGHT)) is None
    assert romp_estimator.pick_person(None, (0, 0, WIDTH, HEIGHT), (WIDTH, HEIGHT)) is None


def test_romp_without_its_checkpoint_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="ROMP.pkl"):
        SMPL.build("romp", {"device": "cpu"})


def random_checkpoint(folder, monkeypatch):
    """ROMP's network with random weights saved where the manifest entry romp_v1 is looked for."""
    model, _, _ = romp_estimator.romp_modules()
    torch.manual_seed(0)
    (folder / "romp").mkdir()
    torch.save(model.ROMPv1().state_dict(), folder / "romp" / "ROMP.pkl")
    monkeypatch.setenv("POSE_PIPELINE_WEIGHTS", str(folder))


def test_romp_network_with_random_weights_through_the_method(tmp_path, monkeypatch, smpl_folder):
    random_checkpoint(tmp_path, monkeypatch)
    # random weights rarely pass ROMP's 0.25 centre threshold: take every centre
    estimator = SMPL.build("romp", {"center_thresh": 0.0, "model_folder": str(smpl_folder), "device": "cpu"})
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(2)]
    boxes = np.array([[0, 0, WIDTH, HEIGHT], [np.nan] * 4])  # the second frame has no box: no network run
    outputs = estimator.detect(frames[0])
    assert outputs["smpl_thetas"].shape[1] == 72 and outputs["cam"].shape[1] == 3 and (outputs["cam"][:, 0] > 0).all()
    params = estimator(frames, boxes, (WIDTH, HEIGHT))
    params.validate(2)
    assert list(params.frame_status) == [0, 2] and params.model_type == "smpl"
    assert np.isfinite(params.keypoints_3d[0]).all() and np.isfinite(params.keypoints_2d[0]).all()
    assert (params.keypoints_3d[0, :, 2] > 0).all()  # in front of the camera


def test_smpl_person_by_romp(db, tmp_path, monkeypatch, smpl_folder):
    """The stage gives the estimator the video's frames and the subject's boxes; the row records both files."""
    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
    from pose_pipeline.schema.smpl import SMPLMethod, SMPLPerson
    from tests.walker import tracked_walker

    random_checkpoint(tmp_path, monkeypatch)
    person, _ = tracked_walker(tmp_path, "romp", N_WALKER)
    TopDownMethod.insert1({**person, "top_down_method": "synthetic_pose"})
    TopDownPerson.populate(person)
    [subject] = (TopDownPerson & person).keys()
    params = {"center_thresh": 0.0, "model_folder": str(smpl_folder), "device": "cpu",
              "intrinsics": [700.0, 700.0, 320.0, 240.0]}  # fmt: skip
    SMPLMethod.insert1({**subject, "smpl_method": "romp", "params": params})
    SMPLPerson.populate(subject)
    row = (SMPLPerson & subject).fetch1()
    assert (row["model_type"], row["camera_model"], row["num_frames"]) == ("smpl", "perspective", N_WALKER)
    assert row["pose"].shape == (N_WALKER, 23, 3) and row["betas_per_frame"].shape == (N_WALKER, 10)
    fitted = row["frame_status"] == 0
    assert fitted.any() and np.allclose(row["camera_params"][fitted], [700, 700, 320, 240])
    [method] = row["provenance"]["methods"]
    assert method["method"] == "romp"
    names = sorted(f["name"] for f in method["model_files"])
    assert names == ["romp_v1", "smpl_neutral"], names
