"""One subject's anatomy (bone lengths, marker offsets) learned from labelled frames, as the study does.

All frames' poses and the subject's skeletal parameters are fitted together with L-BFGS-B on the squared
reprojection error of the labelled markers (pixels). Left/right pairs share one bone length and one marker
offset (the right one mirrored in the body's x-z plane), so only one side is free. Bone lengths stay within the
definition's bounds (the rodent limb bones' allometric +-10 s.d.), marker offsets within each marker's
``offset_bound``. Poses start from per-frame fits of the generic skeleton (several yaws, best kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from . import fitting
from . import kinematics as kin
from .camera import Cameras
from .definitions import SkeletonDefinition


def symmetry_maps(skeleton: SkeletonDefinition):
    """Parameter sharing: bone parameter per joint (J,), -1 for the root; marker parameter per marker (M,) and
    the sign (M, 3) applied to it (y negated for right-side markers)."""
    joints, markers = skeleton.joint_names, skeleton.marker_names
    right_of = {r: l for l, r in skeleton.joint_pairs}
    bone_index, free = np.full(len(joints), -1), []
    for j, name in enumerate(joints):
        if j == 0 or name in right_of:
            continue
        bone_index[j] = len(free)
        free.append(j)
    for j, name in enumerate(joints):
        if name in right_of:
            bone_index[j] = bone_index[joints.index(right_of[name])]
    right_marker = {r: l for l, r in skeleton.marker_pairs}
    marker_index, sign, free_markers = np.full(len(markers), -1), np.ones((len(markers), 3)), []
    for m, name in enumerate(markers):
        if name not in right_marker:
            marker_index[m] = len(free_markers)
            free_markers.append(m)
    for m, name in enumerate(markers):
        if name in right_marker:
            marker_index[m] = marker_index[markers.index(right_marker[name])]
            sign[m, 1] = -1.0
    return bone_index, np.array(free), marker_index, sign, np.array(free_markers)


@dataclass(frozen=True, eq=False)
class AnatomyFit:
    anatomy: kin.Anatomy
    states: np.ndarray  # (F, S) the labelled frames' fitted poses
    rms_px: float  # root-mean-square reprojection error over labelled coordinates
    iterations: int
    message: str


def learn_anatomy(
    skeleton: SkeletonDefinition,
    cameras: Cameras,
    pixels,
    init_states=None,
    relax: bool = False,
    max_iter: int = 2000,
    marker_offsets=None,
) -> AnatomyFit:
    """Fit bone lengths and marker offsets to labelled frames ``pixels`` (F, C, M, 2), NaN where unlabelled.
    ``marker_offsets`` (M, 3): known offsets (say, measured on a scan), then only bone lengths are learned."""
    pixels = np.asarray(pixels, dtype=float)
    if pixels.ndim != 4 or pixels.shape[1:] != (len(cameras), len(skeleton.markers), 2):
        raise ValueError(
            f"labelled pixels must have shape (frames, {len(cameras)} cameras, {len(skeleton.markers)} markers, 2), "
            f"got {pixels.shape}"
        )
    mask = fitting.observed(pixels)
    if mask.sum() == 0:
        raise ValueError("no labelled marker in any frame")
    unseen = [skeleton.marker_names[m] for m in np.flatnonzero(mask.sum(axis=(0, 1)) == 0)]
    model = kin.compile_model(skeleton, relax=relax)
    rest = kin.rest_anatomy(skeleton)
    if init_states is None:
        init_states, _ = fitting.fit_first_frames(model, rest, cameras, pixels, mask)
    init_states = np.asarray(init_states, dtype=float)
    bone_index, free_bones, marker_index, sign, free_markers = symmetry_maps(skeleton)
    n_states, n_bones = init_states.size, len(free_bones)

    length_bounds = skeleton.length_bounds()[free_bones]
    bounds = [(None, None)] * n_states
    bounds += [(max(lo, 1e-4), None if not np.isfinite(hi) else hi) for lo, hi in length_bounds]
    for m in free_markers:
        bounds += [(-limit, limit) for limit in skeleton.markers[m].bounds()]
    start_offsets = rest.marker_offsets if marker_offsets is None else np.asarray(marker_offsets, float)
    x0 = np.concatenate([init_states.ravel(), rest.bone_lengths[free_bones], start_offsets[free_markers].ravel()])
    if marker_offsets is not None:
        bounds = bounds[: n_states + n_bones] + [(v, v) for v in x0[n_states + n_bones :]]
    # a marker never labelled keeps its definition offset
    for m in free_markers:
        if skeleton.marker_names[m] in unseen:
            k = n_states + n_bones + 3 * int(np.flatnonzero(free_markers == m)[0])
            bounds[k : k + 3] = [(v, v) for v in x0[k : k + 3]]

    y, w = fitting.flatten_detections(model, pixels, mask)
    y, w = jnp.asarray(y), jnp.asarray(w)
    arrays = cameras.arrays()
    bone_index_j = jnp.asarray(np.maximum(bone_index, 0))
    is_root = jnp.asarray(bone_index < 0)

    def unpack(x):
        states = x[:n_states].reshape(init_states.shape)
        lengths = jnp.where(is_root, 0.0, x[n_states : n_states + n_bones][bone_index_j])
        offsets = x[n_states + n_bones :].reshape(-1, 3)[jnp.asarray(marker_index)] * jnp.asarray(sign)
        return states, lengths, offsets

    def loss(x):
        states, lengths, offsets = unpack(x)
        predicted = jax.vmap(lambda s: kin.pixels(model, lengths, offsets, arrays, s))(states)
        return jnp.sum(w * (predicted - y) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    # the optimiser works in centimetres for translations, lengths and offsets, radians for angles
    scale = np.concatenate(
        [np.broadcast_to(fitting.state_scale(model), init_states.shape).ravel(), np.full(len(x0) - n_states, 0.01)]
    )
    count = float(w.sum())

    def fun(x):
        value, grad = value_and_grad(jnp.asarray(x * scale))
        return float(value) / count, np.asarray(grad, dtype=float) * scale / count

    scaled_bounds = [
        (None if lo is None else lo / s, None if hi is None else hi / s) for (lo, hi), s in zip(bounds, scale)
    ]
    result = minimize(
        fun, x0 / scale, jac=True, method="L-BFGS-B", bounds=scaled_bounds,
        options={"maxiter": max_iter, "maxfun": 2 * max_iter, **fitting.LBFGS_OPTIONS},
    )  # fmt: skip
    states, lengths, offsets = (np.asarray(a) for a in unpack(jnp.asarray(result.x * scale)))
    rms = float(np.sqrt(result.fun))
    return AnatomyFit(kin.Anatomy(lengths, offsets), states, rms, int(result.nit), str(result.message))
