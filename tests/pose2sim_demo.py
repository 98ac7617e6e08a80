"""Readers for the Pose2Sim demo recording (../shared/data/pose2sim_demo, see its SOURCE.md): OpenPose BODY_25B
JSON per camera and frame, and Pose2Sim's own 3D (.trc)."""

from __future__ import annotations

import json

import numpy as np

from pose_pipeline.skeletons import JointSet, register_joint_set
from tests.multicam_scene import POSE2SIM_DEMO

# OpenPose BODY_25B, in its output order (openpose_train experimental_models); 17 is the upper neck, 18 the head top
BODY_25B_JOINTS = ("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
                   "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "UpperNeck", "HeadTop", "LBigToe",
                   "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")  # fmt: skip
BODY_25B = register_joint_set(JointSet(
    "Pose2Sim-demo-BODY_25B", BODY_25B_JOINTS,
    ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (15, 19), (19, 20), (15, 21), (16, 22),
     (22, 23), (16, 24), (5, 6), (11, 12), (17, 18), (0, 17)),
))  # fmt: skip
# Pose2Sim's .trc marker -> BODY_25B index, as Pose2Sim's own skeleton tree names them (Neck 17, Head 18)
TRC_TO_BODY_25B = {"RHip": 12, "RKnee": 14, "RAnkle": 16, "RBigToe": 22, "RSmallToe": 23, "RHeel": 24, "LHip": 11,
                   "LKnee": 13, "LAnkle": 15, "LBigToe": 19, "LSmallToe": 20, "LHeel": 21, "Neck": 17, "Head": 18,
                   "Nose": 0, "RShoulder": 6, "RElbow": 8, "RWrist": 10, "LShoulder": 5, "LElbow": 7, "LWrist": 9}  # fmt: skip
CAMERAS = ("cam01", "cam02", "cam03", "cam04")


def read_openpose(camera: str) -> tuple[np.ndarray, int]:
    """(frames, 25, 3) x, y, score of one camera; where OpenPose found several people, the one with the highest
    mean score (the demo has one subject; the others are spurious). Also returns how many frames had several."""
    files = sorted((POSE2SIM_DEMO / "pose_body25b" / f"{camera}_json").glob("*.json"))
    out = np.full((len(files), 25, 3), np.nan)
    several = 0
    for index, path in enumerate(files):
        people = [
            np.array(p["pose_keypoints_2d"], float).reshape(25, 3) for p in json.loads(path.read_text())["people"]
        ]
        several += len(people) > 1
        if people:
            best = max(people, key=lambda p: p[:, 2].mean())
            best[best[:, 2] == 0] = np.nan  # OpenPose writes 0, 0, 0 for a joint it did not find
            out[index] = best
    return out, several


def read_trc(name: str = "S00_P00_T01_BalancingTrial_0-100.trc") -> dict[str, np.ndarray]:
    """Pose2Sim's 3D markers: name -> (frames, 3) in the calibration's world frame (the .trc is Y up:
    trc (X, Y, Z) = world (y, z, x))."""
    lines = (POSE2SIM_DEMO / "pose3d_pose2sim" / name).read_text().splitlines()
    markers = [m for m in lines[3].split("\t")[2:] if m]
    data = np.array([[float(v) for v in line.split("\t")[2:]] for line in lines[5:] if line.strip()])
    trc = data.reshape(len(data), len(markers), 3)
    world = trc[..., [2, 0, 1]]
    return {marker: world[:, i] for i, marker in enumerate(markers)}
