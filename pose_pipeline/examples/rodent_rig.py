"""The synthetic rodent recording through the multi-camera tables: a rat of the skeleton model's definition
(`pose_pipeline.skeleton_model.synthetic.scene`: its own bone lengths and marker offsets, moving along a curved
path) filmed by a ring of overhead cameras with lens distortion, as a DeepLabCut lab records one.

Each camera's video is rendered (bones and markers drawn on a textured floor), imported and tracked with the
``whole_frame`` detector (one animal in a fixed arena). Its 2D markers are a *simulated detector's*: the true
projections damaged the way detectors fail (pixel noise, occlusion episodes with low confidence, confident
left/right swaps, jumps to another marker and random spots; `skeleton_model.synthetic.detections`), written as a
DeepLabCut ``.h5`` per camera and imported as the ``imported`` 2D method, exactly as a lab imports its own
DeepLabCut output. No 2D model of the project is involved, so what is measured downstream is the 3D stage's
handling of realistic detector damage. The recording keeps the cameras' known calibration and the true marker
positions as ground truth. Needs the ``acm`` extra (JAX) for the scene's kinematics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..export import Result2D, write_dlc_h5
from ..formats import Keypoints2D
from ..multicam.calibration import CameraModel, CameraSet
from ..schema.imports import import_results
from ..schema.multicam import (
    RecordingGroundTruth,
    attach_calibration,
    insert_camera_set,
    insert_recording,
    insert_recording_2d,
)
from ..schema.skeleton_model import SkeletonGroundTruth
from ..schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, auto_annotate
from ..schema.video import VideoInfo, insert_local_video
from ..skeletons import JointSet
from ..video.writer import VideoWriter

WORLD_FRAME = "synthetic arena: z up, floor at z = 0"
SCORER = "simulated_detector"  # the DeepLabCut files' scorer: the imported joint set is "DLC:simulated_detector"
TWO_D = "simulated_detector"
# ByteTrack confirms the arena's track on its first match; the trackers package still gives a new track its id
# from its second frame on, so frame 0 has no box
WHOLE_FRAME_TRACKING = {"minimum_consecutive_frames": 1}


@dataclass(frozen=True)
class RodentRecording:
    recording: dict  # the Recording's key
    calibration: dict  # the RecordingCalibration key
    two_d: dict  # the Recording2D key
    markers: np.ndarray  # (frames, markers, 3) metres, the true marker positions
    joints: np.ndarray  # (frames, joints, 3) metres, the true joint positions
    outlier: np.ndarray  # (frames, cameras, markers) bool: which detections the simulated detector got wrong
    joint_set: str  # the markers' joint set, as imported


def camera_set(cameras, size: tuple[int, int]) -> CameraSet:
    """The skeleton model's `Cameras` as the multi-camera stage's `CameraSet`."""
    return CameraSet(tuple(CameraModel(name, cameras.K[i], cameras.dist[i], cv2.Rodrigues(cameras.R[i])[0].ravel(),
                                       cameras.t[i], size) for i, name in enumerate(cameras.names)),
                     WORLD_FRAME)  # fmt: skip


def _floor(size: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(90, 150, (size[1] // 16 + 1, size[0] // 16 + 1)).astype(np.float32)
    floor = cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC)
    return np.repeat(np.clip(floor, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _pixel(point) -> tuple[int, int]:
    return tuple(np.rint(point).astype(int).tolist())


def render_camera(path, joints_px, markers_px, parents, size, fps: float, seed: int = 0) -> Path:
    """Draw one camera's view: bones (joint to parent) as thick light lines, markers as dark dots, per frame."""
    floor = _floor(size, seed)
    with VideoWriter(path, fps=fps, size=size) as writer:
        for joints, markers in zip(joints_px, markers_px, strict=True):
            frame = floor.copy()
            for child, parent in enumerate(parents):
                if parent >= 0 and np.isfinite(joints[[child, parent]]).all():
                    a, b = (_pixel(joints[j]) for j in (child, parent))
                    cv2.line(frame, a, b, (235, 225, 205), 6, cv2.LINE_AA)
            for point in markers[np.isfinite(markers).all(axis=1)]:
                cv2.circle(frame, _pixel(point), 2, (60, 40, 30), -1, cv2.LINE_AA)
            writer.write(frame)
    return Path(path)


def rodent_rig_recording(folder, project: str, recording: str, *, n_cameras: int = 4, n_frames: int = 40,
                         size: tuple[int, int] = (320, 256), rate_hz: float = 100.0, seed: int = 0,
                         motion: str = "explore") -> RodentRecording:  # fmt: skip
    """Render, import and track every camera's view of the synthetic rat, import the simulated detector's 2D, and
    store the recording with its known calibration (named ``recording``), the true markers as ground truth and the
    true skeleton (joints and bone lengths). ``motion``: "explore" (`synthetic.motion`) or "trot"
    (`gait_synthetic.trot_scene`: a 4 Hz trot of known stride and duty factor, for gait from stored fits)."""
    from ..skeleton_model import definitions, gait_synthetic, synthetic

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rat = definitions.rat()
    cameras = synthetic.ring_cameras(n_cameras, size=size)
    if motion not in ("explore", "trot"):
        raise ValueError(f"motion must be 'explore' or 'trot', not {motion!r}")
    make_scene = synthetic.scene if motion == "explore" else gait_synthetic.trot_scene
    scene = make_scene(rat, frames=n_frames, rate_hz=rate_hz, cameras=cameras, seed=seed, image_size=size)
    joints_px = cameras.project_numpy(scene.joints)  # (T, J, C, 2)
    markers = JointSet(f"DLC:{SCORER}", tuple(rat.marker_names), ())
    timestamps = np.arange(n_frames) / rate_hz
    videos = {}
    for c, name in enumerate(cameras.names):
        video_path = render_camera(folder / f"{recording}_{name}.mp4", joints_px[:, :, c], scene.true_pixels[:, c],
                                   rat.parents, size, rate_hz, seed=seed + c)  # fmt: skip
        key = insert_local_video(video_path, project)
        VideoInfo.populate(key)
        tracking = {
            **key,
            "tracking_method": "bytetrack",
            "detector": "whole_frame",
            "tracker_params": WHOLE_FRAME_TRACKING,
        }
        TrackingBboxMethod.insert1(tracking, skip_duplicates=True)
        TrackingBbox.populate(key)
        auto_annotate(TrackingBboxMethod.request_key(tracking))
        PersonBbox.populate(key)
        detected = np.concatenate([scene.pixels[:, c], scene.confidence[:, c, :, None]], axis=-1)
        result = Result2D(Keypoints2D(detected, markers.name), timestamps, f"{recording} {name} simulated detector",
                          joint_set=markers, width=size[0], height=size[1])  # fmt: skip
        h5 = write_dlc_h5(result, folder / f"{recording}_{name}{SCORER}.h5", scorer=SCORER)
        import_results(key, h5, "dlc")
        videos[name] = key
    rec = insert_recording(project, recording, videos)
    insert_camera_set(camera_set(cameras, size), recording, source="known")
    pair = attach_calibration(rec, recording)
    two_d = insert_recording_2d(rec, TWO_D, "imported")
    RecordingGroundTruth.insert1({**rec, "keypoints_3d": scene.markers, "joint_set": markers.name,
                                  "world_frame": WORLD_FRAME, "source": "synthetic rat: true marker positions"})  # fmt: skip
    SkeletonGroundTruth.insert1({**rec, "skeleton": rat.name, "joints": scene.joints.astype(np.float32),
                                 "bone_lengths": np.asarray(scene.anatomy.bone_lengths, float),
                                 "world_frame": WORLD_FRAME, "source": "synthetic rat: true joint positions"})  # fmt: skip
    return RodentRecording(rec, pair, two_d, scene.markers, scene.joints, scene.outlier, markers.name)
