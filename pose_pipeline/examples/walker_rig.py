"""A synthetic walker filmed by a calibrated ring of cameras, taken through the multi-camera tables: each camera's
video rendered, imported, tracked and read in 2D by the project's own model, grouped into one `Recording` with
the rig's known calibration and the scene's 3D joints as ground truth. The demo's multi-camera step and the
tables' many-camera test use it; a lab's own recording follows the same calls (README, "Multi-camera").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..multicam.calibration import CameraModel, CameraSet
from ..schema.keypoints import TopDownMethod, TopDownPerson
from ..schema.multicam import (
    RecordingGroundTruth,
    attach_calibration,
    insert_camera_set,
    insert_recording,
    insert_recording_2d,
)
from ..schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, annotate, auto_annotate
from ..schema.video import VideoInfo, insert_local_video
from ..synthetic.camera import Camera
from ..synthetic.scene import PersonSpec, SceneConfig, render_scene

WORLD_FRAME = "synthetic scene: z up, floor at z = 0"
TWO_D_METHOD = "synthetic_pose"


@dataclass(frozen=True)
class RigRecording:
    recording: dict  # the Recording's key
    calibration: dict  # the RecordingCalibration key (recording + calibration)
    two_d: dict  # the Recording2D key
    truth: np.ndarray  # (frames, 17, 3) metres, the scene's COCO-17 joints in the world frame


def ring(n_cameras: int, size: tuple[int, int], radius: float = 4.5) -> list[Camera]:
    """``n_cameras`` pinhole cameras on a circle around the origin at 1.6-2.0 m, looking at (0, 0, 0.9)."""
    angles = 2 * np.pi * np.arange(n_cameras) / n_cameras + 0.2
    return [Camera.look_at((radius * np.cos(a), radius * np.sin(a), 1.6 + 0.2 * (i % 3)), (0.0, 0.0, 0.9), *size,
                           vertical_fov_deg=40.0, name=f"cam{i}") for i, a in enumerate(angles)]  # fmt: skip


def camera_set(cameras: list[Camera], size: tuple[int, int]) -> CameraSet:
    return CameraSet(tuple(CameraModel(c.name, c.K, c.dist, cv2.Rodrigues(c.R)[0].ravel(), c.t, size)
                           for c in cameras), WORLD_FRAME)  # fmt: skip


def _track_one_camera(path: Path, project: str) -> dict:
    """Import one camera's video, track it (motion detector + ByteTrack), choose the walker and read its 2D."""
    key = insert_local_video(path, project)
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking, skip_duplicates=True)
    TrackingBbox.populate(key)
    tracking = TrackingBboxMethod.request_key(tracking)
    if not auto_annotate(tracking)["annotated"]:  # the motion detector split the walker: keep the longest tracklet
        ids, counts = np.unique(TrackingBbox.tracks(tracking).track_id, return_counts=True)
        annotate(tracking, 0, [int(ids[np.argmax(counts)])], annotator="walker_rig script")
    subject = {**tracking, "subject_id": 0}
    PersonBbox.populate(subject)
    TopDownMethod.insert1({**subject, "top_down_method": TWO_D_METHOD}, skip_duplicates=True)
    TopDownPerson.populate(subject)
    return key


def walker_rig_recording(folder, project: str, recording: str, *, n_cameras: int = 4, n_frames: int = 30,
                         size: tuple[int, int] = (320, 240), seed: int = 7) -> RigRecording:  # fmt: skip
    """Render, import, track and read the walker in every camera of the ring, and store the recording, its
    known calibration (named ``recording``) and ground truth; returns the keys a triangulation request needs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cameras = ring(n_cameras, size)
    person = PersonSpec(start=(-0.3, -0.2), heading=0.6, speed=1.0)
    videos, truth = {}, None
    for camera in cameras:
        config = SceneConfig(*size, fps=30.0, n_frames=n_frames, people=(person,), camera=camera, noise_sigma=1.0,
                             seed=seed)  # fmt: skip
        path = folder / f"{recording}_{camera.name}.mp4"
        truth = render_scene(config, path)
        videos[camera.name] = _track_one_camera(path, project)
    rec = insert_recording(project, recording, videos)
    insert_camera_set(camera_set(cameras, size), recording, source="known")
    pair = attach_calibration(rec, recording)
    two_d = insert_recording_2d(rec, TWO_D_METHOD, TWO_D_METHOD)
    joints = truth.joints3d[:, 0]
    RecordingGroundTruth.insert1({**rec, "keypoints_3d": joints, "joint_set": "COCO-17", "world_frame": WORLD_FRAME,
                                  "source": "the synthetic scene"})  # fmt: skip
    return RigRecording(rec, pair, two_d, joints)
