"""The output contracts: what every wrapper of a stage returns, checked before anything is inserted.

Conventions shared by all contracts:

- pixel coordinates are full-frame pixels of the stored video, x to the right, y down, origin at the top-left
  corner of the top-left pixel;
- boxes are ``x, y, w, h``: top-left corner and size in pixels;
- missing values are NaN (never 0, never -1);
- 3D coordinates are metres;
- a keypoint array's joint axis follows a named joint set (`pose_pipeline.skeletons`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .skeletons import get_joint_set


class ContractError(ValueError):
    """A wrapper's output does not match its stage's contract."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def _check_array(name: str, array: np.ndarray, ndim: int, trailing: tuple[int | None, ...] = ()) -> None:
    _check(isinstance(array, np.ndarray), f"{name} must be a numpy array, got {type(array).__name__}")
    _check(array.ndim == ndim, f"{name} must have {ndim} dimensions, got shape {array.shape}")
    for axis, expected in zip(range(ndim - len(trailing), ndim), trailing):
        if expected is not None:
            _check(
                array.shape[axis] == expected, f"{name} axis {axis} must have size {expected}, got shape {array.shape}"
            )


def _check_frames(name: str, actual: int, n_frames: int | None) -> None:
    if n_frames is not None:
        _check(actual == n_frames, f"{name} covers {actual} frames, the video has {n_frames}")


@dataclass
class Detections:
    """Person detections, one (N, 5) float array per frame: x, y, w, h (pixels) and score in [0, 1]."""

    boxes: list[np.ndarray]

    def validate(self, n_frames: int | None = None) -> None:
        _check_frames("detections", len(self.boxes), n_frames)
        for index, frame_boxes in enumerate(self.boxes):
            _check_array(f"detections of frame {index}", frame_boxes, 2, (5,))
            _check(bool(np.all(np.isfinite(frame_boxes))), f"detections of frame {index} must be finite")
            _check(bool(np.all(frame_boxes[:, 2:4] > 0)), f"detections of frame {index}: widths, heights must be > 0")
            scores = frame_boxes[:, 4]
            _check(bool(np.all((scores >= 0) & (scores <= 1))), f"detections of frame {index}: score outside [0, 1]")

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The storage form: ``frame`` (N,) int32 frame index of each detection, ``boxes`` (N, 4) float32 x, y, w,
        h and ``score`` (N,) float32, in frame order and, within a frame, in the detector's order.

        The arrays do not say how many frames there were (trailing frames may have no detections): store
        ``len(self.boxes)`` (the video's frame count) with them and give it back to `from_arrays`.
        """
        self.validate()
        counts = [len(frame_boxes) for frame_boxes in self.boxes]
        rows = np.concatenate(self.boxes) if sum(counts) else np.empty((0, 5))
        frame = np.repeat(np.arange(len(self.boxes)), counts).astype(np.int32)
        return frame, rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32)

    @classmethod
    def from_arrays(cls, frame, boxes, score, n_frames: int) -> Detections:
        """Validated `Detections` of ``n_frames`` frames (float64 arrays) from the arrays of `to_arrays`.

        Rows may come in any frame order; within a frame their order is kept. Raises `ContractError` when the
        arrays disagree in length, a frame index is not an integer in [0, ``n_frames``), or a box or score breaks
        the `Detections` contract.
        """
        frame, boxes, score = np.asarray(frame), np.asarray(boxes), np.asarray(score)
        _check_array("frame", frame, 1)
        _check_array("boxes", boxes, 2, (4,))
        _check_array("score", score, 1)
        _check(len(boxes) == len(frame) and len(score) == len(frame),
               f"frame, boxes and score have {len(frame)}, {len(boxes)} and {len(score)} rows")  # fmt: skip
        _check(len(frame) == 0 or np.issubdtype(frame.dtype, np.integer), "frame must hold integers")
        _check(int(n_frames) == n_frames and n_frames >= 0, f"n_frames must be an integer >= 0, got {n_frames}")
        _check(bool(np.all((frame >= 0) & (frame < n_frames))), f"frame index outside the video of {n_frames} frames")
        order = np.argsort(frame, kind="stable")
        rows = np.column_stack([boxes, score]).astype(float)[order]
        per_frame = np.split(rows, np.searchsorted(frame[order], np.arange(1, n_frames))) if n_frames else []
        detections = cls([frame_rows.reshape(-1, 5) for frame_rows in per_frame])
        detections.validate(n_frames=int(n_frames))
        return detections


@dataclass
class Tracks:
    """Tracklets: one row per detection kept by a tracker.

    ``frame`` (0-based frame index), ``track_id`` (>= 0), ``boxes`` (N x 4: x, y, w, h pixels) and
    ``confidence`` (N, in [0, 1]).
    """

    frame: np.ndarray
    track_id: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray

    @property
    def n_tracks(self) -> int:
        return int(np.unique(self.track_id).size)

    def by_frame(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Each frame that has boxes: its boxes (n, 4) and their track ids (n,), in the rows' order."""
        order = np.argsort(self.frame, kind="stable")
        frames, boxes, ids = self.frame[order], self.boxes[order], self.track_id[order]
        starts = np.flatnonzero(np.r_[True, np.diff(frames) != 0]) if len(frames) else np.empty(0, int)
        ends = np.r_[starts[1:], len(frames)]
        return {int(frames[a]): (boxes[a:b], ids[a:b]) for a, b in zip(starts, ends)}

    def validate(self, n_frames: int | None = None) -> None:
        n = len(self.frame)
        for name in ("frame", "track_id", "confidence"):
            _check_array(name, getattr(self, name), 1)
            _check(len(getattr(self, name)) == n, f"{name} has {len(getattr(self, name))} rows, frame has {n}")
        _check_array("boxes", self.boxes, 2, (4,))
        _check(len(self.boxes) == n, f"boxes has {len(self.boxes)} rows, frame has {n}")
        _check(np.issubdtype(self.frame.dtype, np.integer), "frame must hold integers")
        _check(np.issubdtype(self.track_id.dtype, np.integer), "track_id must hold integers")
        _check(bool(np.all(self.track_id >= 0)), "track ids must be >= 0")
        _check(bool(np.all(np.isfinite(self.boxes))), "boxes of kept detections must be finite")
        _check(bool(np.all(self.boxes[:, 2:] > 0)), "box widths and heights must be positive")
        if n_frames is not None and n:
            _check(int(self.frame.min()) >= 0 and int(self.frame.max()) < n_frames, "frame index outside the video")
        pairs = np.stack([self.frame, self.track_id], axis=1) if n else np.empty((0, 2))
        _check(len(np.unique(pairs, axis=0)) == n, "a track has two boxes in one frame")


@dataclass
class PersonBoxes:
    """One box per frame for one subject: ``boxes`` (frames x 4, x, y, w, h; NaN rows where absent)."""

    boxes: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return np.all(np.isfinite(self.boxes), axis=1)

    def validate(self, n_frames: int | None = None) -> None:
        _check_array("boxes", self.boxes, 2, (4,))
        _check_frames("boxes", len(self.boxes), n_frames)
        partial = np.any(np.isnan(self.boxes), axis=1) & ~np.all(np.isnan(self.boxes), axis=1)
        _check(not partial.any(), f"boxes are partly NaN in frames {np.flatnonzero(partial)[:5].tolist()}")
        present = self.present
        _check(bool(np.all(self.boxes[present, 2:] > 0)), "box widths and heights must be positive")


@dataclass
class Keypoints2D:
    """2D keypoints of one subject: ``keypoints`` (frames x joints x 3: x, y pixels and confidence in [0, 1])."""

    keypoints: np.ndarray
    joint_set: str

    def validate(self, n_frames: int | None = None) -> None:
        joints = get_joint_set(self.joint_set)
        _check_array("keypoints", self.keypoints, 3, (len(joints), 3))
        _check_frames("keypoints", len(self.keypoints), n_frames)
        confidence = self.keypoints[..., 2]
        finite = np.isfinite(confidence)
        _check(bool(np.all((confidence[finite] >= 0) & (confidence[finite] <= 1))), "confidence outside [0, 1]")


@dataclass
class RenderedVideo:
    """A video file a stage wrote frame by frame (the face-blurred video): its path and the frames written."""

    path: Path
    num_frames: int

    def validate(self, n_frames: int | None = None) -> None:
        path = Path(self.path)
        _check(path.is_file() and path.stat().st_size > 0, f"video {path} was not written")
        _check_frames("the written video", self.num_frames, n_frames)


@dataclass
class BlurredFaces(RenderedVideo):
    """The face-blurred video (`RenderedVideo`) and the number of face regions blurred in it."""

    faces_blurred: int = 0

    def validate(self, n_frames: int | None = None) -> None:
        super().validate(n_frames)
        _check(self.faces_blurred >= 0, f"faces_blurred must be >= 0, got {self.faces_blurred}")


@dataclass
class Keypoints3D:
    """3D keypoints of one subject: ``keypoints`` (frames x joints x 3) in metres, relative to ``root_joint``."""

    keypoints: np.ndarray
    joint_set: str
    root_joint: str | None = None  # None: world coordinates, not root-relative

    def validate(self, n_frames: int | None = None) -> None:
        joints = get_joint_set(self.joint_set)
        _check_array("keypoints", self.keypoints, 3, (len(joints), 3))
        _check_frames("keypoints", len(self.keypoints), n_frames)
        finite = self.keypoints[np.isfinite(self.keypoints)]
        _check(finite.size == 0 or float(np.abs(finite).max()) < 100, "3D keypoints must be metres (|x| < 100)")
        if self.root_joint is not None:
            root = self.keypoints[:, joints.index(self.root_joint)]
            ok = np.all(np.isfinite(root), axis=1)
            _check(bool(np.allclose(root[ok], 0, atol=1e-6)), f"root joint {self.root_joint!r} must be at the origin")


@dataclass
class SkeletonFit:
    """The skeleton a model-based 3D method fitted (`pose_pipeline.skeleton_model`), kept beside its markers:
    ``joints`` (frames x skeleton joints x 3) metres in the world frame and ``states`` (frames x state variables:
    translation, rotation vector, free joint angles' unbounded parameters), NaN outside the fitted span; the
    skeleton by ``skeleton`` name and definition checksum; the subject's ``bone_lengths`` (joints,) and
    ``marker_offsets`` (markers x 3) metres used, the stored anatomy's name in ``anatomy`` or "" when they were
    learned from these detections (then ``anatomy_frames`` names the frames and ``anatomy_rms_px`` the fit's
    error); ``info``: JSON-able facts of the fit (EM iterations and log-likelihoods, gated-out detections, seconds)."""

    skeleton: str
    skeleton_sha256: str
    joints: np.ndarray
    states: np.ndarray
    bone_lengths: np.ndarray
    marker_offsets: np.ndarray
    anatomy: str = ""
    anatomy_frames: np.ndarray | None = None
    anatomy_rms_px: float | None = None
    info: dict | None = None

    def validate(self, n_frames: int) -> None:
        _check_array("skeleton joints", self.joints, 3, (len(self.bone_lengths), 3))
        _check_frames("skeleton joints", len(self.joints), n_frames)
        _check_array("skeleton states", self.states, 2)
        _check_frames("skeleton states", len(self.states), n_frames)
        _check_array("marker offsets", self.marker_offsets, 2, (3,))


@dataclass
class WorldKeypoints3D:
    """3D keypoints of one subject triangulated from several calibrated cameras: ``keypoints`` (frames x joints x
    3) metres in the calibration's world frame, NaN where not triangulated; ``reprojection_error`` (frames x
    joints) mean pixel distance over the cameras used; ``cameras_used`` (frames x joints x cameras) bool, cameras
    in the order of ``camera_names``. ``model_based``: the points come from a model fitted to the detections (the
    skeleton model's regimes), which places a joint also where fewer than two cameras saw it; such methods also
    return the fitted skeleton (``skeleton_fit``)."""

    keypoints: np.ndarray
    reprojection_error: np.ndarray
    cameras_used: np.ndarray
    joint_set: str
    camera_names: tuple[str, ...]
    model_based: bool = False
    skeleton_fit: SkeletonFit | None = None

    def validate(self, n_frames: int | None = None) -> None:
        joints = get_joint_set(self.joint_set)
        _check_array("keypoints", self.keypoints, 3, (len(joints), 3))
        _check_frames("keypoints", len(self.keypoints), n_frames)
        shape = self.keypoints.shape[:2]
        _check_array("reprojection_error", self.reprojection_error, 2)
        _check(self.reprojection_error.shape == shape, f"reprojection_error must have shape {shape}")
        _check_array("cameras_used", self.cameras_used, 3)
        _check(self.cameras_used.shape == (*shape, len(self.camera_names)) and self.cameras_used.dtype == bool,
               f"cameras_used must be bool with shape {(*shape, len(self.camera_names))}")  # fmt: skip
        finite = self.keypoints[np.isfinite(self.keypoints)]
        _check(finite.size == 0 or float(np.abs(finite).max()) < 1000, "3D keypoints must be metres (|x| < 1000)")
        triangulated = np.isfinite(self.keypoints).all(axis=-1)
        _check(self.model_based or bool(np.all(self.cameras_used[triangulated].sum(axis=-1) >= 2)),
               "every triangulated point needs at least two cameras used")  # fmt: skip
        if self.skeleton_fit is not None:
            _check(self.model_based, "only a model-based result has a skeleton fit")
            self.skeleton_fit.validate(len(self.keypoints))


@dataclass
class SMPLParams:
    """A body-model fit of one subject (`pose_pipeline.bodymodels`).

    ``model_type`` (anny, smpl, smplh, smplx) and ``gender``; ``betas`` (num_betas,) the subject's one shape and
    ``betas_per_frame`` (frames, num_betas) where a method gives them, else None; ``pose`` (frames, P, 3)
    axis-angle per joint, the root excluded, in the order ``pose_joints`` names (the model's pose layout);
    ``global_orient`` (frames, 3) axis-angle turning the model's body frame (y up, facing +z) into the camera frame
    about the root joint, then ``transl`` (frames, 3) metres; ``camera`` (perspective, weak_perspective) and
    ``camera_params`` (frames, 4): fx, fy, cx, cy or s, s, tx, ty in pixels; ``keypoints_3d`` (frames, J, 3)
    metres in the camera frame (x right, y down, z forward) and ``keypoints_2d`` (frames, J, 3) their projection
    (x, y pixels, 1), on ``joint_set``; ``frame_status`` (frames,) 0 fitted, 2 missing (NaN everywhere).
    """

    model_type: str
    gender: str
    betas: np.ndarray
    pose: np.ndarray
    pose_joints: tuple[str, ...]
    global_orient: np.ndarray
    transl: np.ndarray
    camera: str
    camera_params: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    joint_set: str
    frame_status: np.ndarray
    betas_per_frame: np.ndarray | None = None
    reprojection_error: float = float("nan")

    def validate(self, n_frames: int | None = None) -> None:
        _check(self.model_type in ("anny", "smpl", "smplh", "smplx"), f"unknown model type {self.model_type!r}")
        _check(self.camera in ("perspective", "weak_perspective"), f"unknown camera model {self.camera!r}")
        _check_array("betas", self.betas, 1)
        _check(bool(np.isfinite(self.betas).all()), "betas must be finite")
        _check_array("pose", self.pose, 3, (len(self.pose_joints), 3))
        n = len(self.pose)
        joints = get_joint_set(self.joint_set)
        for name, array, trailing in (("global_orient", self.global_orient, (3,)), ("transl", self.transl, (3,)),
                                      ("camera_params", self.camera_params, (4,)),
                                      ("keypoints_3d", self.keypoints_3d, (len(joints), 3)),
                                      ("keypoints_2d", self.keypoints_2d, (len(joints), 3))):  # fmt: skip
            _check_array(name, array, len(trailing) + 1, trailing)
            _check(len(array) == n, f"{name} covers {len(array)} frames, pose {n}")
        if self.betas_per_frame is not None:
            _check_array("betas_per_frame", self.betas_per_frame, 2, (len(self.betas),))
        _check_array("frame_status", self.frame_status, 1)
        _check(len(self.frame_status) == n, f"frame_status covers {len(self.frame_status)} frames, pose {n}")
        fitted = self.frame_status == 0
        _check(bool(np.isfinite(self.pose[fitted]).all() and np.isfinite(self.keypoints_3d[fitted]).all()),
               "fitted frames must be finite")  # fmt: skip
        finite = self.keypoints_3d[np.isfinite(self.keypoints_3d)]
        _check(finite.size == 0 or float(np.abs(finite).max()) < 1000, "3D keypoints must be metres")
        _check_frames("pose", n, n_frames)
