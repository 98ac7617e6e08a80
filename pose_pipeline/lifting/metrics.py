"""Accuracy of lifted 3D joints against 3D ground truth, in millimetres, overall and per joint.

Inputs are (frames, joints, 3) arrays in metres on the same joint set, NaN where missing. Both are made relative
to the root joint first (Human3.6M protocol 1), so a root-relative prediction and a world-frame ground truth
compare; the errors then are:

- ``mpjpe``: mean per-joint position error, mean Euclidean distance over every (frame, joint) finite in both;
- ``pa_mpjpe``: after a similarity Procrustes alignment (scale, rotation, translation) of each predicted frame onto
  the true one; the rotation is kept proper (det +1): a reflection is never allowed to "explain" a mirrored pose;
- ``n_mpjpe``: after one least-squares scale per frame (VideoPose3D's N-MPJPE), no rotation;
- ``mpjve``: mean per-joint velocity error: distance between first differences over time, mm per frame;
- ``accel_error``: distance between second differences over time, mm per frame squared;
- ``bone_cv``: the coefficient of variation (std / mean over frames) of each predicted bone's length, a ratio
  without unit (a rigid skeleton scores 0); overall the mean over bones, per joint the bone ending at that joint.

Frames missing any joint in either array are left out of the Procrustes and scale alignments; velocity and
acceleration need two and three consecutive finite frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MM = 1000.0
METRICS = ("mpjpe", "pa_mpjpe", "n_mpjpe", "mpjve", "accel_error", "bone_cv")


def _checked(predicted, truth) -> tuple[np.ndarray, np.ndarray]:
    predicted, truth = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if predicted.shape != truth.shape or predicted.ndim != 3 or predicted.shape[2] != 3:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} must both be (frames, joints, 3)")
    return predicted, truth


def root_relative(points: np.ndarray, root: int | None) -> np.ndarray:
    """``points`` minus their root joint in each frame (unchanged when ``root`` is None)."""
    return points if root is None else points - points[:, root : root + 1]


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def _nanmean(values: np.ndarray, axis=None):
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def procrustes_align(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each predicted frame (frames, joints, 3) moved onto the true one by the similarity transform (scale s,
    rotation R with det +1, translation t) minimising the squared error; frames with a NaN give NaN."""
    predicted, truth = _checked(predicted, truth)
    ok = np.isfinite(predicted).all(axis=(1, 2)) & np.isfinite(truth).all(axis=(1, 2))
    out = np.full_like(predicted, np.nan)
    if not ok.any():
        return out
    p, g = predicted[ok], truth[ok]
    mu_p, mu_g = p.mean(axis=1, keepdims=True), g.mean(axis=1, keepdims=True)
    p0, g0 = p - mu_p, g - mu_g
    h = np.einsum("fji,fjk->fik", p0, g0)  # (frames, 3, 3) = p0^T g0
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("fij,fjk->fik", u, vt)))  # -1 where the best fit would reflect
    d[d == 0] = 1.0
    flip = np.ones_like(s)
    flip[:, -1] = d
    rotation = np.einsum("fij,fj,fjk->fik", u, flip, vt)  # p0 @ rotation ≈ g0 / scale
    variance = np.einsum("fji,fji->f", p0, p0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(variance > 0, (s * flip).sum(axis=1) / variance, 0.0)
    out[ok] = scale[:, None, None] * np.einsum("fji,fik->fjk", p0, rotation) + mu_g
    return out


def scale_align(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each predicted frame times the scale minimising its squared error to the true one (VideoPose3D's
    N-MPJPE: ``s = sum(truth * predicted) / sum(predicted ** 2)``); frames with a NaN give NaN."""
    predicted, truth = _checked(predicted, truth)
    ok = np.isfinite(predicted).all(axis=(1, 2)) & np.isfinite(truth).all(axis=(1, 2))
    out = np.full_like(predicted, np.nan)
    p, g = predicted[ok], truth[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.einsum("fjk,fjk->f", g, p) / np.einsum("fjk,fjk->f", p, p)
    out[ok] = np.nan_to_num(scale)[:, None, None] * p
    return out


def bone_lengths(points: np.ndarray, bones: Sequence[tuple[int, int]]) -> np.ndarray:
    """Lengths (frames, bones) of each bone in each frame."""
    bones = np.asarray(bones, dtype=int).reshape(-1, 2)
    return np.linalg.norm(points[:, bones[:, 1]] - points[:, bones[:, 0]], axis=-1)


def bone_cv(points: np.ndarray, bones: Sequence[tuple[int, int]]) -> np.ndarray:
    """Coefficient of variation over frames (std / mean, population std) of each bone's length, (bones,)."""
    lengths = bone_lengths(np.asarray(points, dtype=float), bones)
    mean = _nanmean(lengths, axis=0)
    std = np.sqrt(_nanmean((lengths - mean) ** 2, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, std / mean, np.nan)


def lifting_accuracy(predicted, truth, *, bones: Sequence[tuple[int, int]], root: int | None = 0) -> dict:
    """Every metric of the module docstring: ``{name: overall value}`` for `METRICS` (mm, bone_cv a ratio), plus
    ``per_joint`` ``{name: (joints,) array}``, ``n_frames`` (frames with every joint finite in both) and
    ``n_points`` (finite (frame, joint) pairs compared)."""
    predicted, truth = _checked(predicted, truth)
    p, g = root_relative(predicted, root), root_relative(truth, root)
    errors = {
        "mpjpe": _distances(p, g),
        "pa_mpjpe": _distances(procrustes_align(p, g), g),
        "n_mpjpe": _distances(scale_align(p, g), g),
        "mpjve": _distances(np.diff(p, axis=0), np.diff(g, axis=0)),
        "accel_error": _distances(np.diff(p, 2, axis=0), np.diff(g, 2, axis=0)),
    }
    result = {name: float(_nanmean(e)) * MM for name, e in errors.items()}
    per_joint = {name: _nanmean(e, axis=0) * MM for name, e in errors.items()}
    cv = bone_cv(predicted, bones)
    result["bone_cv"] = float(_nanmean(cv))
    joint_cv = np.full(predicted.shape[1], np.nan)
    for (_, child), value in zip(np.asarray(bones, dtype=int).reshape(-1, 2), cv):
        joint_cv[child] = value
    per_joint["bone_cv"] = joint_cv
    result["per_joint"] = per_joint
    result["n_frames"] = int((np.isfinite(p).all(axis=(1, 2)) & np.isfinite(g).all(axis=(1, 2))).sum())
    result["n_points"] = int(np.isfinite(errors["mpjpe"]).sum())
    return result
