"""Synthetic multi-camera scenes for the skeleton model: exact ground truth, then detector-like damage.

A subject (its own bone lengths and marker offsets, drawn around the definition's) moves smoothly: every free
bone axis follows a sum of slow sinusoids in the unbounded parameter space (so the angles respect the limits),
and the body walks along a curved path, heading where it goes. Four (or more) overhead cameras with OpenCV
distortion look at the arena. Detections get Gaussian pixel noise, occlusion episodes (markers missing for runs of
frames) and outliers of the kinds detectors make: left/right swaps, a jump to another marker, a random spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinematics as kin
from .camera import Cameras
from .definitions import SkeletonDefinition


def ring_cameras(count: int = 4, radius: float = 0.6, height: float = 0.7, size=(1280, 1024), fov_deg: float = 55.0,
                 distortion=(-0.12, 0.03, 0.0005, -0.0005, 0.0)) -> Cameras:  # fmt: skip
    """Cameras on a ring around the origin, looking at the arena centre, with OpenCV distortion."""
    from pose_pipeline.synthetic.camera import Camera

    cams = []
    for c in range(count):
        angle = 2 * np.pi * (c + 0.5) / count
        cam = Camera.look_at(
            (radius * np.cos(angle), radius * np.sin(angle), height), (0, 0, 0.03), *size, fov_deg, name=f"cam{c}"
        )
        cams.append({**cam.to_dict(), "dist": list(distortion)})
    return Cameras.from_dicts(cams)


def subject_anatomy(skeleton: SkeletonDefinition, rng, length_spread=0.08, offset_noise=0.003) -> kin.Anatomy:
    """A subject: every bone length scaled by a factor within +-``length_spread`` (the same on both sides, within
    the bounds) and every free marker offset moved by up to ``offset_noise`` metres (mirrored on the right)."""
    from .anatomy import symmetry_maps

    bone_index, free_bones, marker_index, sign, free_markers = symmetry_maps(skeleton)
    lengths = skeleton.rest_lengths()
    bounds = skeleton.length_bounds()
    factors = rng.uniform(1 - length_spread, 1 + length_spread, len(free_bones))
    params = np.clip(lengths[free_bones] * factors, bounds[free_bones, 0], bounds[free_bones, 1])
    out_lengths = np.where(bone_index >= 0, params[np.maximum(bone_index, 0)], 0.0)
    offsets = skeleton.marker_offsets()[free_markers]
    limit = np.array([skeleton.markers[m].bounds() for m in free_markers])
    offsets = np.clip(offsets + rng.uniform(-offset_noise, offset_noise, offsets.shape), -limit, limit)
    return kin.Anatomy(out_lengths, offsets[marker_index] * sign)


def motion(model: kin.KinematicModel, frames: int, rate_hz: float, rng, amplitude=0.35, speed=0.08, height=0.06):
    """Smooth states (T, S): angles from sums of sinusoids (0.3-2.5 Hz), a walk along a curve at ``speed`` m/s."""
    t = np.arange(frames) / rate_hz
    n = model.n_angles
    params = np.zeros((frames, n))
    for _ in range(3):
        freq = rng.uniform(0.3, 2.5, n)
        phase = rng.uniform(0, 2 * np.pi, n)
        params += (amplitude / 3) * rng.uniform(0.5, 1.5, n) * np.sin(2 * np.pi * freq * t[:, None] + phase)
    half = np.where(model.bounded, (model.high - model.low) / 2, 1.0)
    rest_params = kin.angles_to_params(model, np.zeros(n))
    params = rest_params + params * np.minimum(half, 1.0)
    heading = 0.6 * np.sin(2 * np.pi * 0.15 * t) + rng.uniform(-np.pi, np.pi)
    step = speed / rate_hz * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    xy = np.cumsum(step, axis=0)
    xy -= xy.mean(axis=0)
    states = np.zeros((frames, model.n_state))
    states[:, :2] = xy
    states[:, 2] = height + 0.005 * np.sin(2 * np.pi * 1.2 * t)
    states[:, 3:6] = np.stack([0.05 * np.sin(2 * np.pi * 0.7 * t), 0.05 * np.cos(2 * np.pi * 0.5 * t), heading], axis=1)
    states[:, 6:] = params
    return states


@dataclass(frozen=True, eq=False)
class Scene:
    """Ground truth and detections of one synthetic recording."""

    skeleton: SkeletonDefinition
    cameras: Cameras
    anatomy: kin.Anatomy  # the subject's true anatomy
    states: np.ndarray  # (T, S) true states
    joints: np.ndarray  # (T, J, 3) true joint positions, metres
    markers: np.ndarray  # (T, M, 3) true marker positions
    true_pixels: np.ndarray  # (T, C, M, 2)
    pixels: np.ndarray  # (T, C, M, 2) detections, NaN where missed
    confidence: np.ndarray  # (T, C, M)
    occluded: np.ndarray  # (T, C, M) bool: hidden (no detection)
    outlier: np.ndarray  # (T, C, M) bool: a wrong detection


def detections(true_pixels, skeleton: SkeletonDefinition, rng, noise_px=2.0, occlusion=0.15, episode=15, outliers=0.02,
               image_size=(1280, 1024)):  # fmt: skip
    """Damage exact pixels (T, C, M, 2) the way a detector does. Returns (pixels, confidence, occluded, outlier)."""
    T, C, M, _ = true_pixels.shape
    pixels = true_pixels + rng.normal(0, noise_px, true_pixels.shape)
    # occlusion episodes: a two-state Markov chain per (camera, marker) with mean run length ``episode`` frames
    leave = 1.0 / episode
    enter = occlusion * leave / (1 - occlusion)
    occluded = np.zeros((T, C, M), bool)
    state = rng.random((C, M)) < occlusion
    for t in range(T):
        flip = rng.random((C, M)) < np.where(state, leave, enter)
        state = state ^ flip
        occluded[t] = state
    outlier = (rng.random((T, C, M)) < outliers) & ~occluded
    mirror = {
        skeleton.marker_names.index(a): skeleton.marker_names.index(b)
        for pair in skeleton.marker_pairs
        for a, b in (pair, pair[::-1])
    }
    for t, c, m in zip(*np.nonzero(outlier)):
        kind = rng.integers(3)
        if kind == 0 and m in mirror:  # left/right swap
            pixels[t, c, m] = true_pixels[t, c, mirror[m]] + rng.normal(0, noise_px, 2)
        elif kind <= 1:  # jumps to another marker
            pixels[t, c, m] = true_pixels[t, c, rng.integers(M)] + rng.normal(0, noise_px, 2)
        else:  # a random spot
            pixels[t, c, m] = rng.uniform((0, 0), image_size)
    confidence = np.clip(rng.normal(0.97, 0.02, (T, C, M)), 0, 1)
    confidence[outlier] = rng.uniform(0.85, 1.0, outlier.sum())  # detectors are often sure of wrong answers
    confidence[occluded] = rng.uniform(0.0, 0.5, occluded.sum())
    pixels[occluded] = np.nan
    return pixels, confidence, occluded, outlier


def scene(skeleton: SkeletonDefinition, frames: int = 200, rate_hz: float = 100.0, cameras: Cameras | None = None,
          seed: int = 0, **damage) -> Scene:  # fmt: skip
    """A synthetic recording of a subject of ``skeleton``."""
    rng = np.random.default_rng(seed)
    cameras = ring_cameras() if cameras is None else cameras
    model = kin.compile_model(skeleton)
    anatomy = subject_anatomy(skeleton, rng)
    states = motion(model, frames, rate_hz, rng)
    joints, markers = (np.asarray(a) for a in kin.forward_sequence(model, anatomy, states))
    true_pixels = np.asarray(kin.project_sequence(model, anatomy, cameras, states))
    pixels, confidence, occluded, outlier = detections(true_pixels, skeleton, rng, **damage)
    return Scene(
        skeleton, cameras, anatomy, states, joints, markers, true_pixels, pixels, confidence, occluded, outlier
    )
