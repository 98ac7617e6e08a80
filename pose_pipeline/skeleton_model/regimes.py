"""The study's four regimes as functions on (2D detections per camera, cameras, skeleton, anatomy).

- ``full_model``: angle limits and the temporal model (unscented RTS smoother, noise learned by EM): the ACM.
- ``temporal_only``: the same smoother and EM with every non-fixed angle limit dropped.
- ``angle_limits_only``: each frame fitted alone with the limits, starting from the previous frame's fit.
- ``naive``: each frame fitted alone without limits.

Detections: pixels (T, C, M, 2), NaN where missing, and optionally a confidence (T, C, M); entries below
``threshold`` (the study used 0.9) are masked, i.e. dropped from the fit. Every regime starts from a fit of the
first frame (several yaws, best kept), as the study did. The temporal regimes also drop, step by step, detections
more than ``gate`` predicted standard deviations from the prediction (``GATE``; ``gate=None`` is the study's
formulation).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import fitting, ukf
from . import kinematics as kin
from .camera import Cameras
from .definitions import SkeletonDefinition

# Innovation gate (predicted standard deviations) of the temporal regimes. The study's smoother had none
# (gate=None); on synthetic scenes with 3 % gross outliers (2/3 of them confident enough to pass the 0.9 threshold)
# an ungated update let single outliers push chained tail bones into the saturated ends of their limits, where they
# stayed: 21 % of joint positions more than 1 cm off against 0.7 % with the gate (100 frames, 4 cameras).
GATE = 4.0
# Initial noise (the study initialised every covariance at 0.001 on the diagonal in its units); EM learns them.
INITIAL_STD = {"translation": 0.003, "rotation": 0.03, "angle": 0.05, "pixels": 5.0}


@dataclass(frozen=True, eq=False)
class RegimeResult:
    regime: str
    states: np.ndarray  # (T, S)
    joints: np.ndarray  # (T, J, 3) metres
    markers: np.ndarray  # (T, M, 3) metres
    state_covs: np.ndarray | None = None  # (T, S, S) smoothed covariances (temporal regimes)
    info: dict = field(default_factory=dict)


def observations(pixels, confidence=None, threshold: float = 0.9):
    """Detections -> flat observations (T, C*M*2) and mask, in the emission order (camera, marker, u/v)."""
    pixels = np.asarray(pixels, dtype=float)
    present = fitting.observed(pixels)
    if confidence is not None:
        present &= np.asarray(confidence) >= threshold
    mask = np.repeat(present[..., None], 2, axis=-1).reshape(len(pixels), -1)
    return np.where(mask, pixels.reshape(len(pixels), -1), np.nan), mask, present


def check_detections(pixels, cameras: Cameras, skeleton: SkeletonDefinition, present) -> dict:
    """Refuse detections whose shape does not match the cameras and the skeleton's markers (naming both); flag
    markers no camera ever detected (the smoother then places them from the skeleton alone)."""
    expected = (len(cameras), len(skeleton.markers), 2)
    if np.ndim(pixels) != 4 or np.shape(pixels)[1:] != expected:
        raise ValueError(f"detections must have shape (frames, {expected[0]} cameras, {expected[1]} markers, 2), "
                         f"got {np.shape(pixels)}")  # fmt: skip
    never = [skeleton.marker_names[m] for m in np.flatnonzero(present.sum(axis=(0, 1)) == 0)]
    return {"markers_never_detected": never}


def _finish(regime, model, anatomy, states, covs=None, info=None, frames: int | None = None) -> RegimeResult:
    """The result of the first ``frames`` states (all by default; the kinematics run on every state given, so a
    padded sequence reuses the padded length's compiled function)."""
    joints, markers = (np.asarray(a) for a in kin.forward_sequence(model, anatomy, states))
    keep = slice(0, len(joints) if frames is None else frames)
    covs = None if covs is None else np.asarray(covs)[keep]
    return RegimeResult(regime, np.asarray(states)[keep], joints[keep], markers[keep], covs, info or {})


def initial_params(
    model: kin.KinematicModel, first_state, n_obs: int, initial_std: dict | None = None
) -> ukf.SSMParams:
    """EM's starting point; ``initial_std`` overrides entries of `INITIAL_STD` (per-frame s.d. of the random walk:
    a person walking at 1 m/s filmed at 30 Hz moves 3 cm a frame, ten times the rodent default)."""
    given = {**INITIAL_STD, **(initial_std or {})}
    std = np.concatenate(
        [
            np.full(3, given["translation"]),
            np.full(3, given["rotation"]),
            np.full(model.n_angles, given["angle"]),
        ]
    )
    return ukf.SSMParams(
        jnp.asarray(first_state),
        jnp.diag(jnp.asarray(std**2)),
        jnp.diag(jnp.asarray(std**2)),
        jnp.full(n_obs, given["pixels"] ** 2, dtype=jnp.float64),  # not weak-typed like the M-step output: one compile
    )


def _identity(state):
    return state


@functools.lru_cache(maxsize=32)
def jitted_em_step(
    model: kin.KinematicModel, sigma: ukf.SigmaParams, gate: float | None, learn=("mu0", "V0", "Q", "R")
):
    """The jitted EM iteration ``(bone lengths, marker offsets, camera arrays, frame weights, params, observations,
    mask) -> (new params, smoothed)`` of the temporal regimes: the anatomy and cameras are traced arguments, so it
    compiles once per process for each model, sigma points, gate and learn set (and data shape: `smooth_with_em`
    pads sequences to `ukf.padded_length`), not once per subject or recording."""

    def step(lengths, offsets, camera_arrays, frame_weights, params, observations, mask):
        h = functools.partial(kin.pixels, model, lengths, offsets, camera_arrays)
        return ukf.em_step(_identity, h, params, observations, mask, sigma, learn=learn, gate=gate,
                           frame_weights=frame_weights)  # fmt: skip

    return jax.jit(step)


def smooth_with_em(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, relax=False,
                   em_iterations=10, tol=1e-4, sigma=ukf.DEFAULT_SIGMA, gate=GATE, regime="full_model",
                   initial_std=None) -> RegimeResult:  # fmt: skip
    """The temporal regimes: first-frame fit, then EM on the unscented smoother, then a final smoothing pass."""
    y, mask, present = observations(pixels, confidence, threshold)
    info = check_detections(pixels, cameras, skeleton, present)
    model = kin.compile_model(skeleton, relax=relax)
    started = time.perf_counter()
    first, _ = fitting.fit_first_frames(model, anatomy, cameras, np.where(present[..., None], pixels, np.nan)[:1])
    # masked frames after the end: recordings of similar lengths share one compiled step (ukf.padded_length)
    frames, padded = len(y), ukf.padded_length(len(y))
    y = np.concatenate([y, np.full((padded - frames, y.shape[1]), np.nan)])
    mask = np.concatenate([mask, np.zeros((padded - frames, mask.shape[1]), bool)])
    weights = jnp.asarray(np.arange(padded) < frames, dtype=jnp.float64)
    subject = (jnp.asarray(anatomy.bone_lengths), jnp.asarray(anatomy.marker_offsets), cameras.arrays(), weights)
    step = functools.partial(jitted_em_step(model, sigma, gate), *subject)
    params = initial_params(model, first[0], y.shape[1], initial_std)
    result = ukf.fit_em(
        None, None, params, y, mask, iterations=em_iterations, tol=tol, sigma=sigma, gate=gate, step=step
    )
    info.update(logliks=result.logliks, em_iterations=len(result.logliks), seconds=time.perf_counter() - started)
    info["gated_out"] = int(mask.sum() - np.asarray(result.smoothed.used).sum())
    smoothed = result.smoothed
    return _finish(regime, model, anatomy, smoothed.smoothed_means, smoothed.smoothed_covs, info, frames)


def per_frame(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, relax=False, regime="naive",
              max_iter=200) -> RegimeResult:  # fmt: skip
    """The regimes without a temporal model: each frame fitted alone, starting from the previous one."""
    _, _, present = observations(pixels, confidence, threshold)
    info = check_detections(pixels, cameras, skeleton, present)
    model = kin.compile_model(skeleton, relax=relax)
    started = time.perf_counter()
    pixels = np.where(present[..., None], pixels, np.nan)
    first, _ = fitting.fit_first_frames(model, anatomy, cameras, pixels[:1])
    states = fitting.fit_sequence(model, anatomy, cameras, pixels, first[0], present, max_iter)
    info["seconds"] = time.perf_counter() - started
    return _finish(regime, model, anatomy, states, None, info)


def full_model(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, **kwargs) -> RegimeResult:
    return smooth_with_em(
        pixels, cameras, skeleton, anatomy, confidence, threshold, relax=False, regime="full_model", **kwargs
    )


def temporal_only(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, **kwargs) -> RegimeResult:
    return smooth_with_em(
        pixels, cameras, skeleton, anatomy, confidence, threshold, relax=True, regime="temporal_only", **kwargs
    )


def angle_limits_only(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, **kwargs) -> RegimeResult:
    return per_frame(
        pixels, cameras, skeleton, anatomy, confidence, threshold, relax=False, regime="angle_limits_only", **kwargs
    )


def naive(pixels, cameras, skeleton, anatomy, confidence=None, threshold=0.9, **kwargs) -> RegimeResult:
    return per_frame(pixels, cameras, skeleton, anatomy, confidence, threshold, relax=True, regime="naive", **kwargs)


REGIMES = {
    "full_model": full_model,
    "temporal_only": temporal_only,
    "angle_limits_only": angle_limits_only,
    "naive": naive,
}


def position_errors(result: RegimeResult, true_joints) -> np.ndarray:
    """(T, J) Euclidean joint-position errors, metres."""
    return np.linalg.norm(result.joints - np.asarray(true_joints), axis=-1)
