"""Comparing a triangulation with another tool's 3D markers (e.g. Pose2Sim's .trc): marker names mapped to this
project's joint names, and the distance per marker.

Marker names such as OpenPose's and Pose2Sim's ``RHip`` / ``LBigToe`` / ``Nose`` become ``right_hip`` /
``left_big_toe`` / ``nose`` (`joint_name_of`); where a tool names a joint differently (Pose2Sim on BODY_25B
calls the upper neck ``Neck`` and the head top ``Head``), the caller passes overrides, and the mapping used is
stored with the reference.
"""

from __future__ import annotations

import re

import numpy as np

# Pose2Sim writes its .trc with Y up: trc (X, Y, Z) = world (y, z, x) of the calibration's Z-up frame, so world
# axis i is trc column POSE2SIM_TRC_AXES[i].
POSE2SIM_TRC_AXES = (2, 0, 1)
# Pose2Sim's marker names for OpenPose BODY_25B's two extra head joints
POSE2SIM_BODY_25B_NAMES = {"Neck": "upper_neck", "Head": "head_top"}


def joint_name_of(marker: str) -> str:
    """``RHip`` -> ``right_hip``, ``LBigToe`` -> ``left_big_toe``, ``Nose`` -> ``nose`` (names already in this
    project's snake case are kept)."""
    side = ""
    if len(marker) > 1 and marker[0] in "LR" and marker[1].isupper():
        side, marker = ("left_" if marker[0] == "L" else "right_"), marker[1:]
    return side + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", marker).lower()


def marker_joint_names(markers, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """marker -> joint name for every marker (``overrides`` first)."""
    return {m: (overrides or {}).get(m, joint_name_of(m)) for m in markers}


def marker_distances(points: np.ndarray, joints, reference: np.ndarray, markers, names: dict[str, str]) -> dict:
    """Distance (metres) between ``points`` (frames, joints, 3) and ``reference`` (frames, markers, 3) for every
    marker whose mapped joint is in ``joints``: marker -> (joint name, (frames,) distances, NaN where either is
    missing). Markers whose joint the triangulation lacks are left out."""
    if points.shape[0] != reference.shape[0]:
        raise ValueError(f"the triangulation has {points.shape[0]} frames, the reference {reference.shape[0]}")
    index = {name: j for j, name in enumerate(joints)}
    out = {}
    for m, marker in enumerate(markers):
        joint = names.get(marker)
        if joint in index:
            out[marker] = (joint, np.linalg.norm(points[:, index[joint]] - reference[:, m], axis=-1))
    return out
