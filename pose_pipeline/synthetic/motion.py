"""3D walking motion of a COCO-17 skeleton from a parametric gait.

World frame: metres, z up, floor at z = 0 (see ``camera``). A walker moves along a straight line on the
floor; ``heading`` is the walking direction in radians, counter-clockwise from +x (0 = +x, pi/2 = +y).

The body is built in a body frame (a = forward, b = left, c = up) and moved to the world by the root (the hip
midpoint) position and heading. Gait phase ``phi`` advances 2*pi per stride (two steps). The left hip flexes
with ``sin(phi)``, the right half a stride later; arms swing opposite to the same-side leg; the knee flexes in
swing; pelvis and shoulders counter-rotate. The root height is set every frame so that the lower ankle sits at
ankle height, which gives the vertical bob of walking without feet sinking into or floating above the floor.
Gait amplitudes scale with speed, so ``speed=0`` is a person standing still.

Face joints lie on a head sphere that faces the walking direction. The ears are placed symmetrically about
the head centre, so the renderer takes the ear midpoint as the head centre.
"""

from __future__ import annotations

import numpy as np

from pose_pipeline.skeletons import COCO17

# Body dimensions in metres for scale 1.0 (a person about 1.75 m tall).
HIP_HALF_WIDTH = 0.10
THIGH = 0.44
SHIN = 0.43
ANKLE_HEIGHT = 0.08
TRUNK = 0.50  # hip midpoint to shoulder midpoint
SHOULDER_HALF_WIDTH = 0.17
UPPER_ARM = 0.29
FOREARM = 0.26
NECK = 0.08  # shoulder midpoint to head bottom
HEAD_RADIUS = 0.11

# Radii (metres at scale 1.0) the renderer uses for the body parts.
LIMB_RADIUS = {"upper_arm": 0.045, "forearm": 0.038, "thigh": 0.07, "shin": 0.052, "neck": 0.05, "torso": 0.08}

NOMINAL_SPEED = 1.3  # m/s at which gait amplitudes reach their nominal values

J = {name: i for i, name in enumerate(COCO17.joints)}


def stride_length(speed: float, scale: float = 1.0) -> float:
    """Metres per stride (two steps) at a walking speed: grows with speed as in human walking."""
    return scale * (0.8 + 0.45 * speed)


def _rotate_z(vectors: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate body-frame vectors (T, 3) about the vertical by per-frame angles (T,)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * vectors[:, 0] - s * vectors[:, 1], s * vectors[:, 0] + c * vectors[:, 1], vectors[:, 2]], 1)


def _sagittal(flexion: np.ndarray, abduction: float = 0.0, side: float = 1.0) -> np.ndarray:
    """Unit vectors (T, 3) pointing down, rotated forward by ``flexion`` and outward (side +1 left) by abduction."""
    ca = np.cos(abduction)
    return np.stack([np.sin(flexion) * ca, np.full_like(flexion, side * np.sin(abduction)), -np.cos(flexion) * ca], 1)


def walking_joints(
    times,
    *,
    scale: float = 1.0,
    start=(0.0, 0.0),
    heading: float = 0.0,
    speed: float = 1.2,
    phase: float = 0.0,
) -> np.ndarray:
    """World COCO-17 joint positions (T, 17, 3) in metres of a person walking a straight line.

    ``times`` (T,) seconds; ``start`` (x, y) is the root (hip midpoint) floor position at time 0; ``phase`` is
    the gait phase in radians at time 0.
    """
    t = np.asarray(times, dtype=float)
    n = t.shape[0]
    s = float(scale)
    if speed < 0:
        raise ValueError("walking speed must be >= 0; turn the heading to walk the other way")
    amp = min(speed / NOMINAL_SPEED, 1.5)
    phi = 2 * np.pi * speed / stride_length(speed, s) * t + phase

    body = np.zeros((n, 17, 3))
    side = {"left": 1.0, "right": -1.0}

    # Legs: hip flexion (forward positive), knee flexion peaking early in swing.
    leg_drop = {}
    for name, leg_phi in (("left", phi), ("right", phi + np.pi)):
        hip_flex = np.radians(25) * amp * np.sin(leg_phi)
        knee_flex = np.radians(5 + 55 * np.clip(np.cos(leg_phi + np.pi / 4), 0, None) ** 3) * amp
        thigh = _sagittal(hip_flex)
        shin = _sagittal(hip_flex - knee_flex)
        leg_drop[name] = -(THIGH * thigh[:, 2] + SHIN * shin[:, 2]) * s
        body[:, J[f"{name}_knee"]] = THIGH * s * thigh
        body[:, J[f"{name}_ankle"]] = (THIGH * thigh + SHIN * shin) * s
    root_height = ANKLE_HEIGHT * s + np.maximum(leg_drop["left"], leg_drop["right"])

    pelvis_yaw = -np.radians(5) * amp * np.sin(phi)  # left hip forward while the left leg swings forward
    shoulder_yaw = -pelvis_yaw * 0.8
    for name, sgn in side.items():
        hip = _rotate_z(np.tile([0.0, sgn * HIP_HALF_WIDTH * s, 0.0], (n, 1)), pelvis_yaw)
        for joint in ("hip", "knee", "ankle"):
            body[:, J[f"{name}_{joint}"]] += hip

    # Trunk with a slight forward lean that grows with speed.
    lean = np.radians(4) * amp
    shoulder_mid = np.array([TRUNK * s * np.sin(lean), 0.0, TRUNK * s * np.cos(lean)])
    for name, sgn in side.items():
        shoulder = shoulder_mid + _rotate_z(np.tile([0.0, sgn * SHOULDER_HALF_WIDTH * s, 0.0], (n, 1)), shoulder_yaw)
        leg_phi = phi if name == "left" else phi + np.pi
        arm_flex = -np.radians(20) * amp * np.sin(leg_phi)  # opposite to the same-side leg
        elbow_flex = np.radians(15) + np.radians(25) * amp * np.clip(-np.sin(leg_phi), 0, None)
        upper = _sagittal(arm_flex, np.radians(8), sgn)
        fore = _sagittal(arm_flex + elbow_flex, np.radians(6), sgn)
        body[:, J[f"{name}_shoulder"]] = shoulder
        body[:, J[f"{name}_elbow"]] = shoulder + UPPER_ARM * s * upper
        body[:, J[f"{name}_wrist"]] = shoulder + (UPPER_ARM * upper + FOREARM * fore) * s

    # Head: a sphere above the neck, facing forward; offsets in head radii (forward, left, up).
    head_center = shoulder_mid + np.array([0.02 * s, 0.0, (NECK + HEAD_RADIUS) * s])
    face = {
        "nose": (0.95, 0.0, -0.05),
        "left_eye": (0.8, 0.32, 0.28),
        "right_eye": (0.8, -0.32, 0.28),
        "left_ear": (0.0, 0.75, 0.0),  # symmetric about the head centre: the renderer relies on it
        "right_ear": (0.0, -0.75, 0.0),
    }
    for name, offset in face.items():
        body[:, J[name]] = head_center + np.array(offset) * HEAD_RADIUS * s

    # Body frame -> world: rotate by heading, translate root along the path and up to root height.
    c, sn = np.cos(heading), np.sin(heading)
    rotation = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
    root = np.zeros((n, 3))
    root[:, 0] = start[0] + speed * t * c
    root[:, 1] = start[1] + speed * t * sn
    root[:, 2] = root_height
    return body @ rotation.T + root[:, None, :]
