"""Rotation formats at the body-model boundary: axis-angle is what the pipeline stores.

Every function takes a numpy array or a torch tensor of any leading shape and returns the same kind (torch keeps
gradients, so the fit uses these too). Conversions are roma's (https://github.com/naver/roma).

- **axis-angle** (``rotvec``, ``(..., 3)``): the unit axis times the angle in radians, as SMPL's ``body_pose``
  and ``global_orient``. The stored form.
- **rotation matrix** (``(..., 3, 3)``): acts on column vectors, ``x' = R @ x``.
- **quaternion** (``(..., 4)``): unit quaternions; ``order="xyzw"`` (scalar last: scipy, roma) is the default,
  ``order="wxyz"`` (scalar first: pytorch3d, smplx's helpers, Blender) on request. Quaternions out of these
  functions are returned with w >= 0 (q and -q are the same rotation).
- **6D** (``(..., 6)``, Zhou et al. CVPR 2019): the first two columns (or rows) of the matrix, turned back into a
  matrix by Gram-Schmidt. Three layouts are in use and silently give wrong rotations when mixed up:

  - ``"interleaved"`` (SPIN, VIBE, PARE, TCMR, ...): the 3 x 2 matrix of the first two columns, flattened row by
    row: ``[R00, R01, R10, R11, R20, R21]`` (their ``x.view(-1, 3, 2)``);
  - ``"concatenated"`` (HMR 2.0 / 4D-Humans, ProHMR, Multi-HMR): first column, then second column:
    ``[R00, R10, R20, R01, R11, R21]`` (their ``x.reshape(-1, 2, 3).permute(0, 2, 1)``);
  - ``"rows"`` (pytorch3d's ``matrix_to_rotation_6d``): the first two rows: ``[R00, R01, R02, R10, R11, R12]``.
"""

from __future__ import annotations

import numpy as np

QUATERNION_ORDERS = ("xyzw", "wxyz")
SIX_D_LAYOUTS = ("interleaved", "concatenated", "rows")


def _torch(x):
    import torch

    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def _back(x, was_numpy: bool):
    return x.detach().cpu().numpy() if was_numpy else x


def _check_last(x, sizes: tuple[int, ...], what: str) -> None:
    if tuple(x.shape[len(x.shape) - len(sizes) :]) != sizes or len(x.shape) < len(sizes):
        raise ValueError(f"{what} must have shape (..., {', '.join(map(str, sizes))}), got {tuple(x.shape)}")


def axis_angle_to_matrix(rotvec):
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    import roma

    x, numpy = _torch(rotvec)
    _check_last(x, (3,), "axis-angle")
    return _back(roma.rotvec_to_rotmat(x), numpy)


def matrix_to_axis_angle(matrix):
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angles in [0, pi]."""
    import roma

    x, numpy = _torch(matrix)
    _check_last(x, (3, 3), "rotation matrix")
    return _back(roma.rotmat_to_rotvec(x), numpy)


def _check_order(order: str) -> None:
    if order not in QUATERNION_ORDERS:
        raise ValueError(f"quaternion order must be one of {QUATERNION_ORDERS}, got {order!r}")


def _positive_w(quat_xyzw):
    import torch

    return torch.where(quat_xyzw[..., 3:] < 0, -quat_xyzw, quat_xyzw)


def _to_quaternion(value, order: str, shape: tuple, what: str, convert: str):
    import roma

    _check_order(order)
    x, numpy = _torch(value)
    _check_last(x, shape, what)
    q = _positive_w(getattr(roma, convert)(x))
    return _back(roma.quat_xyzw_to_wxyz(q) if order == "wxyz" else q, numpy)


def _from_quaternion(quat, order: str, convert: str):
    import roma

    _check_order(order)
    x, numpy = _torch(quat)
    _check_last(x, (4,), "quaternion")
    if order == "wxyz":
        x = roma.quat_wxyz_to_xyzw(x)
    return _back(getattr(roma, convert)(roma.quat_normalize(x)), numpy)


def axis_angle_to_quaternion(rotvec, order: str = "xyzw"):
    """(..., 3) axis-angle -> (..., 4) unit quaternions in ``order`` (``"xyzw"`` or ``"wxyz"``), w >= 0."""
    return _to_quaternion(rotvec, order, (3,), "axis-angle", "rotvec_to_unitquat")


def quaternion_to_axis_angle(quat, order: str = "xyzw"):
    """(..., 4) quaternions in ``order`` (normalised here) -> (..., 3) axis-angle."""
    return _from_quaternion(quat, order, "unitquat_to_rotvec")


def matrix_to_quaternion(matrix, order: str = "xyzw"):
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions in ``order``, w >= 0."""
    return _to_quaternion(matrix, order, (3, 3), "rotation matrix", "rotmat_to_unitquat")


def quaternion_to_matrix(quat, order: str = "xyzw"):
    """(..., 4) quaternions in ``order`` (normalised here) -> (..., 3, 3) rotation matrices."""
    return _from_quaternion(quat, order, "unitquat_to_rotmat")


def _check_layout(layout: str) -> None:
    if layout not in SIX_D_LAYOUTS:
        raise ValueError(f"6D layout must be one of {SIX_D_LAYOUTS}, got {layout!r}")


def matrix_to_6d(matrix, layout: str):
    """(..., 3, 3) rotation matrices -> (..., 6) in ``layout`` (``"interleaved"``, ``"concatenated"``, ``"rows"``)."""
    _check_layout(layout)
    x, numpy = _torch(matrix)
    _check_last(x, (3, 3), "rotation matrix")
    lead = x.shape[:-2]
    if layout == "interleaved":
        out = x[..., :, :2].reshape(*lead, 6)
    elif layout == "concatenated":
        out = x[..., :, :2].transpose(-1, -2).reshape(*lead, 6)
    else:
        out = x[..., :2, :].reshape(*lead, 6)
    return _back(out, numpy)


def six_d_to_matrix(six_d, layout: str):
    """(..., 6) in ``layout`` -> (..., 3, 3) rotation matrices (Gram-Schmidt: the first vector keeps its direction,
    the second is made orthogonal to it, the third is their cross product)."""
    import roma

    _check_layout(layout)
    x, numpy = _torch(six_d)
    _check_last(x, (6,), "6D rotation")
    lead = x.shape[:-1]
    if layout == "interleaved":
        columns = x.reshape(*lead, 3, 2)
    elif layout == "concatenated":
        columns = x.reshape(*lead, 2, 3).transpose(-1, -2)
    else:
        columns = x.reshape(*lead, 2, 3).transpose(-1, -2)  # the two rows, as columns of R^T
    matrix = roma.special_gramschmidt(columns)
    if layout == "rows":
        matrix = matrix.transpose(-1, -2)
    return _back(matrix, numpy)


def axis_angle_to_6d(rotvec, layout: str):
    """(..., 3) axis-angle -> (..., 6) in ``layout``."""
    return matrix_to_6d(axis_angle_to_matrix(rotvec), layout)


def six_d_to_axis_angle(six_d, layout: str):
    """(..., 6) in ``layout`` -> (..., 3) axis-angle."""
    return matrix_to_axis_angle(six_d_to_matrix(six_d, layout))
