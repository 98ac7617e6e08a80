"""Synthetic calibrated camera rigs and 3D points for the multi-camera tests (no video)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from pose_pipeline.multicam.calibration import CameraModel, CameraSet
from pose_pipeline.synthetic.camera import Camera

# the Pose2Sim demo recording sits beside the checkout (../shared/data), or where POSE2SIM_DEMO says
POSE2SIM_DEMO = Path(os.environ.get("POSE2SIM_DEMO", Path(__file__).resolve().parents[2] / "shared/data/pose2sim_demo"))


def ring_of_cameras(n: int, radius: float = 4.0, height: float = 1.6, size=(640, 480), distortion=None,
                    seed: int = 0) -> CameraSet:  # fmt: skip
    """``n`` cameras on a circle around the origin looking at (0, 0, 1), world z up, each with its own focal
    length and (small) distortion."""
    rng = np.random.default_rng(seed)
    cameras = []
    for i in range(n):
        angle = 2 * np.pi * i / n + rng.uniform(-0.2, 0.2)
        eye = (radius * np.cos(angle), radius * np.sin(angle), height + rng.uniform(-0.3, 0.5))
        pinhole = Camera.look_at(eye, (0.0, 0.0, 1.0), *size, vertical_fov_deg=rng.uniform(50, 65))
        dist = distortion if distortion is not None else [rng.uniform(-0.1, 0.1), rng.uniform(-0.02, 0.02),
                                                          0.0, 0.0, 0.0]  # fmt: skip
        cameras.append(CameraModel(f"cam{i}", pinhole.K, dist, cv2.Rodrigues(pinhole.R)[0].ravel(), pinhole.t, size))
    return CameraSet(tuple(cameras), world_frame="synthetic: z up, floor at z = 0")


def random_points(n_frames: int, n_joints: int, seed: int = 1) -> np.ndarray:
    """(frames, joints, 3) points in a 1 m box around (0, 0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (n_frames, n_joints, 3)) + np.array([0.0, 0.0, 1.0])


def walker(n_frames: int, fps: float = 30.0) -> np.ndarray:
    """(frames, 17, 3) COCO-17 joints of a person walking 1 m/s along x through the origin, world z up."""
    from pose_pipeline.synthetic.motion import walking_joints

    return walking_joints(np.arange(n_frames) / fps, start=(-0.5 * n_frames / fps, 0.0), speed=1.0)


def observe(cameras: CameraSet, points: np.ndarray, noise_px: float = 1.0, missing: float = 0.0,
            outliers: float = 0.0, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(cameras, ..., 3) keypoints (x, y, confidence) of ``points`` (..., 3) seen by ``cameras`` with Gaussian
    pixel noise, a share of missing points (NaN) and a share of outliers (anywhere in the image, confidence
    still high); returns the keypoints and the outlier mask (cameras, ...)."""
    rng = np.random.default_rng(seed)
    pixels = cameras.project(points)
    pixels = pixels + rng.normal(0.0, noise_px, pixels.shape)
    bad = rng.random(pixels.shape[:-1]) < outliers
    sizes = np.array([camera.size for camera in cameras.cameras], dtype=float)
    sizes = sizes.reshape(len(cameras), *([1] * (pixels.ndim - 2)), 2)
    anywhere = rng.uniform(0, 1, pixels.shape) * sizes
    pixels = np.where(bad[..., None], anywhere, pixels)
    pixels[rng.random(pixels.shape[:-1]) < missing] = np.nan
    confidence = np.where(np.isfinite(pixels).all(axis=-1), rng.uniform(0.6, 1.0, pixels.shape[:-1]), 0.0)
    return np.concatenate([pixels, confidence[..., None]], axis=-1), bad
