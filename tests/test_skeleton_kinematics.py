"""Forward kinematics and camera projection of the skeleton model (JAX), checked against the definition and OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("jax")

from pose_pipeline.skeleton_model import definitions as d
from pose_pipeline.skeleton_model import kinematics as k
from pose_pipeline.skeleton_model.camera import Cameras
from pose_pipeline.synthetic.camera import Camera


@pytest.fixture(scope="module")
def rat():
    skeleton = d.rat()
    return skeleton, k.compile_model(skeleton), k.rest_anatomy(skeleton)


def _rotation(rotvec):
    return cv2.Rodrigues(np.asarray(rotvec, float))[0]


def test_rest_pose_reproduces_the_definition(rat):
    skeleton, model, anatomy = rat
    assert model.n_state == 6 + int(model.free.sum())
    joints, markers = k.forward_sequence(model, anatomy, k.make_state(model)[None])
    np.testing.assert_allclose(joints[0], skeleton.rest_positions(), atol=1e-12)
    expected = skeleton.rest_positions()[skeleton.marker_joints()] + skeleton.marker_offsets()
    np.testing.assert_allclose(markers[0], expected, atol=1e-12)


def test_human_rest_pose():
    human = d.human_coco17(1.8)
    model = k.compile_model(human)
    joints, markers = k.forward_sequence(model, k.rest_anatomy(human), k.make_state(model, (0, 0, 1.0))[None])
    np.testing.assert_allclose(joints[0], human.rest_positions() + (0, 0, 1.0), atol=1e-12)
    nose = markers[0, human.marker_names.index("nose")]
    assert nose[2] > joints[0, human.joint_names.index("thorax"), 2]  # the head is above the shoulders


def test_global_pose_is_a_rigid_transform(rat):
    skeleton, model, anatomy = rat
    rotvec, translation = np.array([0.3, -1.2, 2.0]), np.array([0.1, -0.2, 0.05])
    joints, markers = k.forward_sequence(model, anatomy, k.make_state(model, translation, rotvec)[None])
    R = _rotation(rotvec)
    np.testing.assert_allclose(joints[0], skeleton.rest_positions() @ R.T + translation, atol=1e-12)
    rest_markers = skeleton.rest_positions()[skeleton.marker_joints()] + skeleton.marker_offsets()
    np.testing.assert_allclose(markers[0], rest_markers @ R.T + translation, atol=1e-12)


def test_bone_lengths_kept_and_sequence_vectorised(rat):
    skeleton, model, anatomy = rat
    rng = np.random.default_rng(0)
    states = rng.normal(0, 2.0, (5, model.n_state))
    joints, markers = k.forward_sequence(model, anatomy, states)
    assert joints.shape == (5, len(skeleton.joints), 3) and markers.shape == (5, len(skeleton.markers), 3)
    parents = skeleton.parents
    lengths = np.linalg.norm(np.asarray(joints)[:, 1:] - np.asarray(joints)[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(skeleton.rest_lengths()[1:], lengths.shape), rtol=1e-10)
    one_joints, _ = k.forward_sequence(model, anatomy, states[3:4])
    np.testing.assert_allclose(joints[3], one_joints[0], atol=1e-12)


def test_limits_hold_for_any_state(rat):
    skeleton, model, _ = rat
    params = np.random.default_rng(1).normal(0, 50.0, (200, model.n_angles))
    angles = np.asarray(k.params_to_angles(model, params))
    assert model.bounded.all()  # every moving rodent axis is limited
    assert (angles >= model.low - 1e-12).all() and (angles <= model.high + 1e-12).all()
    relaxed = k.compile_model(skeleton, relax=True)
    assert not relaxed.bounded.any() and relaxed.n_angles == model.n_angles
    inside = np.random.default_rng(2).uniform(model.low + 1e-3, model.high - 1e-3)
    np.testing.assert_allclose(k.params_to_angles(model, k.angles_to_params(model, inside)), inside, atol=1e-9)


def test_flexion_axis_and_mirror_symmetry(rat):
    skeleton, model, anatomy = rat
    names = skeleton.joint_names
    full = np.zeros((len(names), 3))
    rng = np.random.default_rng(3)
    for left, right in skeleton.joint_pairs:
        i, j = names.index(left), names.index(right)
        a = rng.uniform(-0.3, 0.3, 3)
        full[i] = a
        full[j] = (a[0], -a[1], -a[2])  # the mirror convention of the definitions module
    full[~model.free] = 0
    joints, _markers = k.forward_sequence(model, anatomy, k.make_state(model, angles=full[model.free])[None])
    joints = np.asarray(joints[0])
    for left, right in skeleton.joint_pairs:
        np.testing.assert_allclose(joints[names.index(right)], joints[names.index(left)] * (1, -1, 1), atol=1e-12)
    # flexion of the femur (x axis at the hip) keeps the knee in the hip's sagittal plane
    full = np.zeros((len(names), 3))
    full[names.index("knee_left"), 0] = 0.8
    joints, _ = k.forward_sequence(model, anatomy, k.make_state(model, angles=full[model.free])[None])
    hip, knee = np.asarray(joints[0])[[names.index("hip_left"), names.index("knee_left")]]
    rest = skeleton.rest_positions()
    assert knee[1] - hip[1] == pytest.approx(0.0, abs=1e-12)
    assert not np.allclose(knee, rest[names.index("knee_left")])


def test_projection_matches_opencv():
    rng = np.random.default_rng(4)
    cams = []
    for c in range(3):
        cam = Camera.look_at((1.2 * np.cos(c), 1.2 * np.sin(c), 0.8), (0, 0, 0.05), 640, 480, name=f"c{c}")
        cams.append({**cam.to_dict(), "dist": [-0.2, 0.05, 0.001, -0.002, 0.01]})
    cameras = Cameras.from_dicts(cams)
    points = rng.normal(0, 0.1, (20, 3))
    pixels = cameras.project_numpy(points)
    import jax.numpy as jnp

    from pose_pipeline.skeleton_model.camera import project

    np.testing.assert_allclose(np.asarray(project(cameras.arrays(), jnp.asarray(points))), pixels, atol=1e-9)
    for c, cam in enumerate(cams):
        expected, _ = cv2.projectPoints(
            points,
            cv2.Rodrigues(np.asarray(cam["R"]))[0],
            np.asarray(cam["t"]),
            np.asarray(cam["K"]),
            np.asarray(cam["dist"]),
        )
        np.testing.assert_allclose(pixels[:, c], expected[:, 0], atol=1e-6)
    again = Cameras.from_dicts(
        [{"K": c["K"], "rvec": cv2.Rodrigues(np.asarray(c["R"]))[0], "t": c["t"], "dist": c["dist"][:4]} for c in cams]
    )
    assert np.allclose(again.R, cameras.R) and again.dist[0, 4] == 0


def test_emission_order(rat):
    _skeleton, model, anatomy = rat
    cameras = Cameras.from_synthetic(
        [Camera.look_at((1, 0, 1), (0, 0, 0), 640, 480), Camera.look_at((0, 1, 1), (0, 0, 0), 640, 480)]
    )
    state = k.make_state(model, (0, 0, 0.05))
    pixels = np.asarray(k.project_sequence(model, anatomy, cameras, state[None]))[0]
    _, markers = k.forward_sequence(model, anatomy, state[None])
    np.testing.assert_allclose(pixels, np.swapaxes(cameras.project_numpy(np.asarray(markers[0])), 0, 1), atol=1e-9)
    import jax

    flat = np.asarray(jax.jit(k.emission_function(model, anatomy, cameras))(state))
    np.testing.assert_allclose(flat, pixels.reshape(-1))


def test_unsaturate_keeps_angles_and_restores_gradient(rat):
    _, model, _ = rat
    state = k.make_state(model)
    state[6:] = 50.0  # deep in the flat ends
    pulled = k.unsaturate(model, state)
    before = np.asarray(k.params_to_angles(model, state[6:]))
    after = np.asarray(k.params_to_angles(model, pulled[6:]))
    assert np.all(np.abs(after - before) <= 0.014 * (model.high - model.low))
    assert np.all(np.abs(pulled[6:]) < np.abs(state[6:]))
    np.testing.assert_array_equal(pulled[:6], state[:6])
