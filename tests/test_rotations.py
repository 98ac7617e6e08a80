"""Rotation formats at the body-model boundary: round trips, quaternion order, and the three 6D layouts checked
against a matrix written out by hand."""

import numpy as np
import pytest
import torch

from pose_pipeline.bodymodels import rotations as rot

RNG = np.random.default_rng(0)
# angles below pi (at pi axis-angle's sign is ambiguous); a few near 0 and near pi
ROTVECS = np.concatenate(
    [
        RNG.normal(size=(50, 3)),
        1e-7 * RNG.normal(size=(3, 3)),
        (np.pi - 1e-3) * np.eye(3),
    ]
)

# 90 degrees about z: x -> y, y -> -x
RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
# a general rotation written out by hand (30 degrees about x, then 90 about z: Rz @ Rx), entries a..i
C, S = np.cos(np.pi / 6), np.sin(np.pi / 6)
HAND = RZ90 @ np.array([[1.0, 0.0, 0.0], [0.0, C, -S], [0.0, S, C]])


def test_axis_angle_matrix_round_trip():
    matrices = rot.axis_angle_to_matrix(ROTVECS)
    assert matrices.shape == (len(ROTVECS), 3, 3)
    assert np.allclose(matrices @ matrices.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(matrices), 1.0)
    assert np.allclose(rot.matrix_to_axis_angle(matrices), ROTVECS, atol=1e-6)
    assert np.allclose(rot.axis_angle_to_matrix(np.array([0, 0, np.pi / 2])), RZ90, atol=1e-12)


@pytest.mark.parametrize("order", ["xyzw", "wxyz"])
def test_quaternion_round_trips_and_order(order):
    quats = rot.axis_angle_to_quaternion(ROTVECS, order)
    assert np.allclose(np.linalg.norm(quats, axis=-1), 1.0)
    assert np.allclose(rot.quaternion_to_axis_angle(quats, order), ROTVECS, atol=1e-6)
    matrices = rot.axis_angle_to_matrix(ROTVECS)
    assert np.allclose(rot.matrix_to_quaternion(matrices, order), quats, atol=1e-9)
    assert np.allclose(rot.quaternion_to_matrix(quats, order), matrices, atol=1e-9)
    # 90 degrees about z is (0, 0, sin 45, cos 45) scalar last and (cos 45, 0, 0, sin 45) scalar first
    q = rot.axis_angle_to_quaternion(np.array([0.0, 0.0, np.pi / 2]), order)
    half = np.sqrt(0.5)
    assert np.allclose(q, [0, 0, half, half] if order == "xyzw" else [half, 0, 0, half])


def test_quaternions_match_scipy():
    from scipy.spatial.transform import Rotation

    scipy_rotations = Rotation.from_rotvec(ROTVECS)
    assert np.allclose(rot.axis_angle_to_quaternion(ROTVECS), scipy_rotations.as_quat(canonical=True), atol=1e-9)
    assert np.allclose(rot.axis_angle_to_matrix(ROTVECS), scipy_rotations.as_matrix(), atol=1e-12)


def test_six_d_layouts_against_a_hand_made_matrix():
    (a, b, c), (d, e, f), (g, h, _i) = HAND
    expected = {
        "interleaved": [a, b, d, e, g, h],  # SPIN / VIBE / PARE: x.view(3, 2), rows of the first two columns
        "concatenated": [a, d, g, b, e, h],  # HMR 2.0: first column, then second
        "rows": [a, b, c, d, e, f],  # pytorch3d: first row, then second
    }
    for layout, six in expected.items():
        assert np.allclose(rot.matrix_to_6d(HAND, layout), six), layout
        assert np.allclose(rot.six_d_to_matrix(np.array(six), layout), HAND), layout
    # the layouts are not interchangeable: reading one as another gives a different rotation
    wrong = rot.six_d_to_matrix(np.array(expected["interleaved"]), "concatenated")
    assert not np.allclose(wrong, HAND, atol=1e-3)


@pytest.mark.parametrize("layout", rot.SIX_D_LAYOUTS)
def test_six_d_round_trips_and_gram_schmidt(layout):
    six = rot.axis_angle_to_6d(ROTVECS, layout)
    assert six.shape == (len(ROTVECS), 6)
    assert np.allclose(rot.six_d_to_axis_angle(six, layout), ROTVECS, atol=1e-6)
    # a network's raw output (not orthonormal, scaled) still gives the rotation whose first vector it points along
    noisy = 3.0 * six + 0.01 * RNG.normal(size=six.shape)
    m = rot.six_d_to_matrix(noisy, layout)
    assert np.allclose(m @ m.transpose(0, 2, 1), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(m), 1.0)
    assert np.allclose(rot.matrix_to_6d(m, layout), six, atol=0.02)


def test_torch_in_torch_out_with_gradients():
    x = torch.tensor(ROTVECS[:4], requires_grad=True)
    m = rot.axis_angle_to_matrix(x)
    assert isinstance(m, torch.Tensor)
    rot.matrix_to_6d(m, "rows").sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_shapes_and_names_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        rot.axis_angle_to_matrix(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="6D layout"):
        rot.matrix_to_6d(np.eye(3), "columns")
    with pytest.raises(ValueError, match="quaternion order"):
        rot.axis_angle_to_quaternion(np.zeros(3), "wzyx")
