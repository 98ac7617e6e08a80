"""Per-frame skeleton fits on 2D detections: the initial pose, the anatomy fit's first stage and the study's
regimes without a temporal model.

Detections: pixels (T, C, M, 2) with NaN where a marker is missing; the objective is the squared reprojection
error over the present entries (pixels^2), minimised with scipy's L-BFGS-B on JAX gradients. Frames are
independent, so many frames are fitted in one call by summing their objectives.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from . import kinematics as kin
from .camera import Cameras


def observed(pixels) -> np.ndarray:
    """(T, C, M) bool: both coordinates present."""
    return np.isfinite(np.asarray(pixels)).all(axis=-1)


def triangulate(cameras: Cameras, pixels, mask=None) -> np.ndarray:
    """Linear (DLT) triangulation ignoring distortion, for initialisation: (T, C, M, 2) -> (T, M, 3), NaN where
    fewer than two cameras see a marker."""
    pixels = np.asarray(pixels, dtype=float)
    mask = observed(pixels) if mask is None else np.asarray(mask)
    P = cameras.K @ np.concatenate([cameras.R, cameras.t[..., None]], axis=2)  # (C, 3, 4)
    T, C, M, _ = pixels.shape
    u, v = pixels[..., 0, None], pixels[..., 1, None]  # (T, C, M, 1)
    p0, p1, p2 = (P[None, :, None, i] for i in range(3))  # (1, C, 1, 4)
    rows = np.stack([u * p2 - p0, v * p2 - p1], axis=-2)  # (T, C, M, 2, 4)
    rows = np.where(mask[..., None, None], np.nan_to_num(rows), 0.0)
    system = np.moveaxis(rows, 1, 2).reshape(T, M, 2 * C, 4)
    _, _, vt = np.linalg.svd(system)
    points = vt[..., -1, :3] / vt[..., -1, 3:]
    points[mask.sum(axis=1) < 2] = np.nan
    return points


def initial_states(model: kin.KinematicModel, cameras: Cameras, pixels, yaw: float = 0.0) -> np.ndarray:
    """Rest-pose states (T, S) placed at the centroid of each frame's triangulated markers, turned by ``yaw``
    about the vertical; frames with fewer than two triangulated markers take the nearest frame's centroid."""
    points = triangulate(cameras, pixels)
    with np.errstate(all="ignore"):
        centroid = np.nanmedian(points, axis=1)
    good = np.isfinite(centroid).all(axis=1)
    if not good.any():
        raise ValueError("no frame has a marker seen by two cameras: cannot place the skeleton")
    index = np.arange(len(centroid))
    nearest = np.array([index[good][np.argmin(np.abs(index[good] - i))] for i in index])
    centroid = centroid[nearest]
    rest = kin.make_state(model, rotvec=(0.0, 0.0, yaw))
    states = np.tile(rest, (len(centroid), 1))
    states[:, :3] = centroid
    return states


@functools.lru_cache(maxsize=32)
def _frames_objective(model: kin.KinematicModel):
    def loss(states, lengths, offsets, arrays, pixels, weights):
        predicted = jax.vmap(lambda s: kin.pixels(model, lengths, offsets, arrays, s))(states)
        return jnp.sum(weights * (predicted - pixels) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    per_frame = jax.jit(
        lambda states, lengths, offsets, arrays, pixels, weights: jnp.sum(
            weights * (jax.vmap(lambda s: kin.pixels(model, lengths, offsets, arrays, s))(states) - pixels) ** 2,
            axis=1,
        )
    )
    return value_and_grad, per_frame


def flatten_detections(model, pixels, mask):
    """Detections (T, C, M, 2) -> flat (T, C*M*2) observations and weights in the emission order."""
    pixels = np.asarray(pixels, dtype=float)
    mask = observed(pixels) if mask is None else np.asarray(mask, bool)
    weights = np.repeat(mask[..., None], 2, axis=-1).reshape(len(pixels), -1).astype(float)
    return np.nan_to_num(pixels).reshape(len(pixels), -1), weights


LBFGS_OPTIONS = {"ftol": 1e-14, "gtol": 1e-9, "maxcor": 20}
TRANSLATION_SCALE = 0.01  # the optimisers see centimetres: translation steps comparable to angle steps


def state_scale(model) -> np.ndarray:
    """Per state entry, the unit the optimisers work in."""
    return np.concatenate([np.full(3, TRANSLATION_SCALE), np.ones(model.n_state - 3)])


def fit_frames(model, anatomy, cameras, pixels, init_states, mask=None, max_iter: int = 300):
    """Fit each frame's state independently (jointly in one L-BFGS-B run): returns (states (T, S), per-frame
    summed squared pixel errors (T,))."""
    y, w = flatten_detections(model, pixels, mask)
    value_and_grad, per_frame = _frames_objective(model)
    lengths, offsets = jnp.asarray(anatomy.bone_lengths), jnp.asarray(anatomy.marker_offsets)
    args = (lengths, offsets, cameras.arrays(), jnp.asarray(y), jnp.asarray(w))
    shape = np.shape(init_states)
    scale = np.broadcast_to(state_scale(model), shape).ravel()
    count = max(float(w.sum()), 1.0)

    def fun(x):
        value, grad = value_and_grad(jnp.asarray((x * scale).reshape(shape)), *args)
        return float(value) / count, np.asarray(grad, dtype=float).ravel() * scale / count

    x0 = np.asarray(init_states, float).ravel() / scale
    result = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, **LBFGS_OPTIONS})
    states = (result.x * scale).reshape(shape)
    return states, np.array(per_frame(jnp.asarray(states), *args))


def fit_first_frames(
    model, anatomy, cameras, pixels, mask=None, yaws=(0.0, np.pi / 2, np.pi, -np.pi / 2), max_iter=300
):
    """Per-frame fits from rest poses turned by several yaws; each frame keeps its best start."""
    best_states, best_errors = None, None
    for yaw in yaws:
        states, errors = fit_frames(
            model, anatomy, cameras, pixels, initial_states(model, cameras, pixels, yaw), mask, max_iter
        )
        if best_states is None:
            best_states, best_errors = states, errors
        else:
            better = errors < best_errors
            best_states[better], best_errors[better] = states[better], errors[better]
    return best_states, best_errors


def fit_sequence(model, anatomy, cameras, pixels, first_state, mask=None, max_iter: int = 200) -> np.ndarray:
    """The study's regimes without a temporal model: each frame fitted alone, starting from the previous frame's
    fit (the first from ``first_state``). Returns states (T, S)."""
    pixels = np.asarray(pixels, dtype=float)
    mask = observed(pixels) if mask is None else np.asarray(mask, bool)
    states = np.empty((len(pixels), model.n_state))
    previous = np.asarray(first_state, dtype=float)
    for t in range(len(pixels)):
        fitted, _ = fit_frames(model, anatomy, cameras, pixels[t : t + 1], previous[None], mask[t : t + 1], max_iter)
        states[t] = fitted[0]
        previous = kin.unsaturate(model, fitted[0])  # a start deep in a limit's flat end would stay there
    return states
