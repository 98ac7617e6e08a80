"""A synthetic trotting rodent with a known gait, as skeleton states, and its multi-camera scene.

Each limb sweeps with a phase that advances once per stride (``stride_hz``): forward (protraction) during swing,
back during stance, with stance a share ``duty`` of the cycle; the middle joint of the limb flexes further during
swing to lift the paw. Trot: left fore and right hind in phase, the other diagonal half a cycle later. Phase 0 of a
limb is its most protracted moment (foot strike). Everything else (spine, tail, head) rests, with a small body
bob twice per stride, and the body moves forward at ``speed``.
"""

from __future__ import annotations

import numpy as np

from . import kinematics as kin
from . import synthetic as syn
from .definitions import SkeletonDefinition

# limb -> (girdle bone (sweeps the limb), middle bone (flexes in swing)); bones named by their end joint
LIMB_BONES = {
    "shoulder_left": ("elbow_left", "wrist_left"),
    "shoulder_right": ("elbow_right", "wrist_right"),
    "hip_left": ("knee_left", "ankle_left"),
    "hip_right": ("knee_right", "ankle_right"),
}
TROT_PHASE = {"shoulder_left": 0.0, "hip_right": 0.0, "shoulder_right": 0.5, "hip_left": 0.5}
SWEEP_DEG = 25.0  # girdle-bone sweep amplitude
LIFT_DEG = 30.0  # extra flexion of the middle bone at mid-swing


def sweep(phase, duty: float) -> np.ndarray:
    """Protraction in [-1, 1] at phase (cycles, any real): +1 at 0 (strike), down to -1 at ``duty`` (lift-off),
    back up during swing; smooth (zero slope) at both turns."""
    p = np.mod(phase, 1.0)
    stance = np.cos(np.pi * p / duty)
    swing = -np.cos(np.pi * (p - duty) / (1 - duty))
    return np.where(p < duty, stance, swing)


def lift(phase, duty: float) -> np.ndarray:
    """0 in stance, a half-sine bump (peak 1) in swing."""
    p = np.mod(phase, 1.0)
    return np.where(p < duty, 0.0, np.sin(np.pi * (p - duty) / (1 - duty)))


def limb_angles(phase, duty: float):
    """Girdle-bone and middle-bone x angles (radians) of a limb at ``phase``. A positive x angle moves a bone's tip
    backwards (definitions' convention), so protraction is a negative girdle angle; the lift is a positive angle
    that `trot_states` applies with a negative sign, which raises the rat's fore and hind paws alike."""
    return -np.radians(SWEEP_DEG) * sweep(phase, duty), np.radians(LIFT_DEG) * lift(phase, duty)


def trot_states(model: kin.KinematicModel, frames: int, rate_hz: float, stride_hz: float = 4.0, duty: float = 0.6,
                speed: float = 0.2, height: float = 0.07, phase0: float = 0.0) -> np.ndarray:  # fmt: skip
    """States (T, S) of the trot described in the module docstring, walking along +x."""
    t = np.arange(frames) / rate_hz
    names = model.skeleton.joint_names
    angles = np.zeros((frames, len(names), 3))
    for limb, (girdle, middle) in LIMB_BONES.items():
        phase = stride_hz * t + phase0 - TROT_PHASE[limb]
        sweep_angle, lift_angle = limb_angles(phase, duty)
        angles[:, names.index(girdle), 0] = sweep_angle
        angles[:, names.index(middle), 0] = -lift_angle
    free = angles[:, model.free]  # (T, F) in the state's order
    states = np.zeros((frames, model.n_state))
    states[:, 0] = speed * t - speed * t.mean()
    states[:, 2] = height + 0.002 * np.cos(4 * np.pi * stride_hz * t)
    states[:, 6:] = np.stack([kin.angles_to_params(model, a) for a in free])
    return states


def trot_scene(skeleton: SkeletonDefinition, frames: int = 150, rate_hz: float = 100.0, stride_hz: float = 4.0,
               duty: float = 0.6, seed: int = 0, cameras=None, **damage) -> syn.Scene:  # fmt: skip
    """A multi-camera scene (`synthetic.Scene`) of a subject of ``skeleton`` trotting (see `trot_states`)."""
    rng = np.random.default_rng(seed)
    cameras = syn.ring_cameras() if cameras is None else cameras
    model = kin.compile_model(skeleton)
    anatomy = syn.subject_anatomy(skeleton, rng)
    states = trot_states(model, frames, rate_hz, stride_hz, duty)
    joints, markers = (np.asarray(a) for a in kin.forward_sequence(model, anatomy, states))
    true_pixels = np.asarray(kin.project_sequence(model, anatomy, cameras, states))
    pixels, confidence, occluded, outlier = syn.detections(true_pixels, skeleton, rng, **damage)
    return syn.Scene(
        skeleton, cameras, anatomy, states, joints, markers, true_pixels, pixels, confidence, occluded, outlier
    )
