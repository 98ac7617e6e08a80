"""Ground truth of a rendered synthetic video: arrays, save/load (npz) and MOT export."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import Camera

_ARRAYS = ("track_ids", "boxes", "keypoints2d", "visibility", "joints3d", "visible_fraction", "colors")


@dataclass(eq=False)
class GroundTruth:
    """Exact labels of a synthetic video; F = frames, P = people (same order as the scene's ``people``).

    Units and conventions: pixels with integer coordinates at pixel centres (OpenCV), world metres with z up.
    Missing = NaN: a person absent from a frame (outside its frame range) has NaN joints3d; keypoints2d are NaN
    wherever visibility is 0 (not in the image or behind the camera); boxes and visible_fraction are NaN when
    none of the person's pixels is in the image. joints3d are finite whenever the person is in the scene, even
    outside the image.
    """

    track_ids: np.ndarray  # (P,) int, stable per person, 1-based (MOT convention)
    boxes: np.ndarray  # (F, P, 4) float x, y, w, h: tight amodal box of the person's in-image pixels
    keypoints2d: np.ndarray  # (F, P, 17, 2) float pixels (u = column, v = row)
    visibility: np.ndarray  # (F, P, 17) int8: 0 not labelled / outside, 1 occluded by another person, 2 visible
    joints3d: np.ndarray  # (F, P, 17, 3) float world metres, z up
    visible_fraction: np.ndarray  # (F, P) float: share of the person's in-image pixels not covered by others
    colors: np.ndarray  # (P, 3) uint8 clothing colour (RGB) of each person
    camera: Camera
    fps: float
    joint_set: str = "COCO-17"
    config: dict = field(default_factory=dict)  # the scene configuration, as JSON-compatible data

    @property
    def n_frames(self) -> int:
        """Number of frames F."""
        return self.boxes.shape[0]

    @property
    def n_people(self) -> int:
        """Number of people P."""
        return self.boxes.shape[1]

    def save(self, path) -> Path:
        """Write to a compressed ``.npz`` file (no pickles: camera and config are stored as JSON)."""
        path = Path(path)
        meta = {"camera": self.camera.to_dict(), "fps": self.fps, "joint_set": self.joint_set, "config": self.config}
        with open(path, "wb") as f:  # a file object keeps numpy from appending ".npz" to other suffixes
            np.savez_compressed(f, meta=np.array(json.dumps(meta)), **{name: getattr(self, name) for name in _ARRAYS})
        return path

    @classmethod
    def load(cls, path) -> GroundTruth:
        """Read a file written by ``save``."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in _ARRAYS}
        return cls(
            **arrays,
            camera=Camera.from_dict(meta["camera"]),
            fps=meta["fps"],
            joint_set=meta["joint_set"],
            config=meta["config"],
        )

    def to_mot(self) -> np.ndarray:
        """MOT-challenge rows (N, 10) float: frame (1-based), id, x, y, w, h, conf=1, -1, -1, -1.

        One row per person and frame where the box is defined (some pixel of the person is in the image),
        sorted by frame then id. x, y is the box's top-left corner, in this package's pixel convention (pixel
        centres at integers). Fully occluded people still get a row; filter with ``visible_fraction`` if needed.
        """
        frames, people = np.nonzero(np.isfinite(self.boxes).all(axis=-1))
        rows = np.empty((frames.size, 10))
        rows[:, 0] = frames + 1
        rows[:, 1] = self.track_ids[people]
        rows[:, 2:6] = self.boxes[frames, people]
        rows[:, 6] = 1.0
        rows[:, 7:] = -1.0
        return rows

    def equals(self, other: GroundTruth) -> bool:
        """Exact equality of every array and of camera, fps, joint set and config (NaN equal to NaN)."""
        same_arrays = all(np.array_equal(getattr(self, n), getattr(other, n), equal_nan=True) for n in _ARRAYS)
        same_meta = (self.camera, self.fps, self.joint_set, self.config) == (
            other.camera,
            other.fps,
            other.joint_set,
            other.config,
        )
        return same_arrays and same_meta
