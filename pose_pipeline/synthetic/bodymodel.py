"""Synthetic body-model sequences with ground truth: a body model walking on the spot in front of a known
pinhole camera, its keypoints projected to 2D with noise and missing joints (for fit tests, the demo and
benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bodymodels.fit import FIT_JOINTS, PRIOR_POSE, _heading
from ..bodymodels.models import KEYPOINT_NAMES, BodyModel
from ..skeletons import COCO17

# (joint, axis, amplitude rad, phase) of the gait: hips and knees flex, arms swing against the legs
_GAIT = {
    "anny": (("upperleg01.L", 0, -0.45, 0.0), ("upperleg01.R", 0, -0.45, np.pi), ("lowerleg01.L", 0, 0.5, 1.2),
             ("lowerleg01.R", 0, 0.5, 1.2 + np.pi), ("upperarm01.L", 0, 0.35, np.pi), ("upperarm01.R", 0, 0.35, 0.0),
             ("lowerarm01.L", 0, -0.4, np.pi), ("lowerarm01.R", 0, -0.4, 0.0)),
    "smpl": (("left_hip", 0, -0.45, 0.0), ("right_hip", 0, -0.45, np.pi), ("left_knee", 0, 0.5, 1.2),
             ("right_knee", 0, 0.5, 1.2 + np.pi), ("left_shoulder", 0, 0.35, np.pi), ("right_shoulder", 0, 0.35, 0.0),
             ("left_elbow", 1, -0.4, np.pi), ("right_elbow", 1, 0.4, 0.0)),
}  # fmt: skip
_GAIT["smplh"] = _GAIT["smplx"] = _GAIT["smpl"]


@dataclass
class BodyModelSequence:
    """Ground truth and observations: parameters (``betas``, ``pose``, ``global_orient``, ``transl`` in the camera
    frame), ``keypoints_3d`` (frames, 23, 3) the model's keypoints in the camera frame, ``keypoints_2d`` (frames,
    17, 3) COCO-17 x, y, confidence as a 2D method would give them (noise, NaN where missing), the camera
    (``focal_length``, ``image_size``; principal point at the image centre)."""

    betas: np.ndarray
    pose: np.ndarray
    global_orient: np.ndarray
    transl: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    focal_length: float
    image_size: tuple[int, int]

    @property
    def coco_3d(self) -> np.ndarray:
        """(frames, 17, 3) the true COCO-17 joints in the camera frame."""
        return self.keypoints_3d[:, [KEYPOINT_NAMES.index(name) for name in COCO17.joints]]


def body_model_sequence(
    model: BodyModel,
    n_frames: int = 8,
    *,
    seed: int = 0,
    fps: float = 30.0,
    stride_hz: float = 1.0,
    yaw: float = 0.4,
    distance: float = 4.0,
    focal_length: float = 1000.0,
    image_size: tuple[int, int] = (1280, 720),
    noise_px: float = 2.0,
    missing_fraction: float = 0.1,
    betas: np.ndarray | None = None,
) -> BodyModelSequence:
    """A gait on the spot, seen at ``distance`` metres, turned ``yaw`` radians from facing the camera."""
    import torch

    rng = np.random.default_rng(seed)
    if betas is None:
        betas = (
            rng.uniform(0.3, 0.7, model.num_betas) if model.model_type == "anny" else rng.normal(0, 1, model.num_betas)
        )
    t = np.arange(n_frames) / fps
    pose = np.zeros((n_frames, len(model.pose_joint_names), 3))
    for name, axis, amplitude, phase in _GAIT[model.model_type]:
        pose[:, model.pose_joint_names.index(name), axis] = amplitude * (
            0.5 + 0.5 * np.sin(2 * np.pi * stride_hz * t + phase)
        )
    for name, value in PRIOR_POSE.get(model.model_type, {}).items():
        pose[:, model.pose_joint_names.index(name)] += value
    for name in FIT_JOINTS[model.model_type]:  # a little of every fitted joint, so nothing is exactly at rest
        pose[:, model.pose_joint_names.index(name)] += rng.normal(0, 0.05, 3)
    orient = np.tile(_heading(yaw), (n_frames, 1))
    transl = np.stack([0.2 * np.sin(2 * np.pi * 0.3 * t), 0.1 + 0 * t, distance + 0.3 * t], -1)
    with torch.no_grad():
        out = model(betas[None], pose, orient, transl, vertices=False)
    points = out.keypoints.cpu().numpy()
    width, height = image_size
    uv = points[..., :2] / points[..., 2:] * focal_length + np.array([width / 2, height / 2])
    coco = [KEYPOINT_NAMES.index(name) for name in COCO17.joints]
    observed = np.concatenate([uv[:, coco] + rng.normal(0, noise_px, (n_frames, 17, 2)),
                               rng.uniform(0.6, 1.0, (n_frames, 17, 1))], -1)  # fmt: skip
    observed[rng.random((n_frames, 17)) < missing_fraction] = np.nan
    return BodyModelSequence(betas, pose, orient, transl, points, observed, focal_length, image_size)
