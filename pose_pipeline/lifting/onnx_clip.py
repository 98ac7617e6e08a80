"""Whole-clip lifters exported to ONNX (MotionBERT-style): every frame of a clip in, every frame out.

Interface: one input float32 [N, T, 17, 3] (N clips of T frames of H36M-17 joints: normalised x, y and the 2D
confidence) and one output float32 [N, T, 17, 3] in the model's normalised units. T is declared by the method
(243 for MotionBERT) and must be the model's: a fixed length is compared, a dynamic one is probed.

Processing, after the conversion and gap filling of `pose_pipeline.lifting.onnx_lifter`:

1. each stretch of usable frames is cut into consecutive clips of T frames; the last, shorter clip is padded by
   repeating its last frame (MotionBERT's ``infer_wild`` resamples it instead) and the padding dropped after;
2. each clip is normalised as MotionBERT's ``crop_scale`` does: the box around every joint with confidence > 0 in
   the clip, its larger side s, x and y mapped by ``(p - (min + max - s) / 2) / s * 2 - 1`` into [-1, 1];
3. with ``flip``, the mirrored clip (x negated, left and right swapped) is run too and its mirrored output averaged in;
4. the output minus its root joint, then made metric by the rule ``metric_rule``, stored with the row's parameters:
   ``leg_length``: one scale per subject so that the median over usable frames of the mean of both legs'
   hip -> knee -> foot length is ``leg_length`` metres (default 0.85, an adult's). MotionBERT's output has no
   metric scale of its own; this rule gives the subject a plausible one, not a measured one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pose_pipeline.onnx_session import open_session, static_dim
from pose_pipeline.skeletons import H36M17
from pose_pipeline.weights import WeightsError

from .gaps import NoUsableFramesError, fill_gaps
from .joints import STANDARD, conversion_name, to_h36m
from .onnx_lifter import LiftedPose, flip_pose

METRIC_RULES = ("leg_length",)
_LEGS = [[H36M17.index(f"{side}_{j}") for j in ("hip", "knee", "foot")] for side in ("left", "right")]


def crop_scale(clip: np.ndarray) -> np.ndarray:
    """MotionBERT's ``crop_scale`` (scale range [1, 1]) of one clip (T, 17, 3): x, y into [-1, 1], confidence kept."""
    out = np.zeros_like(clip, dtype=np.float32)
    valid = clip[..., 2] > 0
    if valid.sum() < 4:
        return out
    xy = clip[..., :2][valid]
    low, high = xy.min(axis=0), xy.max(axis=0)
    scale = float((high - low).max())
    if scale == 0:
        return out
    corner = (low + high - scale) / 2
    out[..., :2] = np.clip(((clip[..., :2] - corner) / scale - 0.5) * 2, -1, 1)
    out[..., 2] = clip[..., 2]
    return out


def leg_lengths(points: np.ndarray) -> np.ndarray:
    """Mean over both legs of hip -> knee -> foot length, per frame (frames,)."""
    lengths = [np.linalg.norm(np.diff(points[:, leg], axis=1), axis=-1).sum(axis=1) for leg in _LEGS]
    return np.mean(lengths, axis=0)


class OnnxClipLifter:
    """A whole-clip lifter in ONNX as a pipeline method (module docstring): ``lifter(keypoints, joint_set,
    image_size)`` -> `LiftedPose`."""

    joint_set = H36M17.name

    def __init__(self, model_path, *, clip: int = 243, flip: bool = False, conversion: str = STANDARD,
                 max_gap: int = 10, metric_rule: str = "leg_length", leg_length: float = 0.85, batch: int = 4,
                 device: str = "auto", threads: int = 0):  # fmt: skip
        if metric_rule not in METRIC_RULES:
            raise ValueError(f"metric_rule must be one of {METRIC_RULES}, got {metric_rule!r}")
        if int(clip) < 1 or leg_length <= 0 or int(batch) < 1 or int(max_gap) < 0:
            raise ValueError("need clip >= 1, leg_length > 0, batch >= 1 and max_gap >= 0")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"ONNX lifter {self.model_path} does not exist")
        self.clip, self.flip, self.conversion = int(clip), bool(flip), conversion
        self.max_gap, self.leg_length, self.batch = int(max_gap), float(leg_length), int(batch)
        self.session, self.provider = open_session(self.model_path, device, threads)
        inputs = self.session.get_inputs()
        shape = list(inputs[0].shape) if inputs else []
        if len(inputs) != 1 or len(shape) != 4 or shape[3] != 3:
            raise ValueError(f"ONNX clip lifter {self.model_path}: expected one input [N, clip, 17, 3], found {shape}")
        self._input, self._output = inputs[0].name, self.session.get_outputs()[0].name
        declared = static_dim(shape[1])
        if declared is not None and declared != self.clip:
            raise ValueError(
                f"ONNX clip lifter {self.model_path} takes clips of {declared} frames, but the method declares "
                f"clip={self.clip}: these weights are for another clip length"
            )
        probe = self._run(np.zeros((1, self.clip, 17, 3), np.float32))
        if probe.shape != (1, self.clip, 17, 3):
            raise ValueError(f"ONNX clip lifter {self.model_path}: a clip of {self.clip} frames gave {probe.shape}")

    def _run(self, clips: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run([self._output], {self._input: clips.astype(np.float32)})[0])

    def lift_segment(self, keypoints: np.ndarray) -> np.ndarray:
        """Normalised model output (frames, 17, 3) for one stretch of usable H36M-17 pixels (frames, 17, 3)."""
        n = len(keypoints)
        starts = list(range(0, n, self.clip))
        out = np.empty((n, 17, 3), np.float32)
        for first in range(0, len(starts), self.batch):
            batch_starts = starts[first : first + self.batch]
            clips = []
            for start in batch_starts:
                clip = keypoints[start : start + self.clip]
                clip = np.pad(clip, ((0, self.clip - len(clip)), (0, 0), (0, 0)), mode="edge")
                clips.append(crop_scale(clip))
            clips = np.stack(clips)
            result = self._run(clips)
            if self.flip:
                result = (result + flip_pose(self._run(flip_pose(clips)))) / 2
            for start, lifted in zip(batch_starts, result):
                out[start : start + self.clip] = lifted[: n - start]
        return out

    def __call__(self, keypoints: np.ndarray, joint_set: str, image_size=None) -> LiftedPose:
        h36m, conversion = to_h36m(keypoints, joint_set, self.conversion)
        if h36m.shape[2] < 3:
            raise ValueError("a clip lifter needs 2D keypoints with a confidence channel (frames, joints, 3)")
        filled = fill_gaps(h36m, self.max_gap)
        if not filled.usable.any():
            raise NoUsableFramesError(f"no usable frames: all {len(h36m)} frames of the 2D input ({joint_set}) miss "
                                      f"a joint for longer than max_gap={self.max_gap} frames")  # fmt: skip
        out = np.full((len(h36m), 17, 3), np.nan, np.float32)
        for start, end in filled.segments():
            lifted = self.lift_segment(filled.keypoints[start:end])
            out[start:end] = lifted - lifted[:, :1]
        usable = filled.usable
        legs = float(np.median(leg_lengths(out[usable])))
        if not legs > 0:
            raise ValueError(f"ONNX clip lifter {self.model_path}: the output's legs have no length; the "
                             f"{self.__class__.__name__} metric rule 'leg_length' cannot scale it")  # fmt: skip
        out *= np.float32(self.leg_length / legs)
        return LiftedPose(out, H36M17.name, root_joint="root", input_joint_set=joint_set,
                          conversion=conversion_name(joint_set, conversion), frame_status=filled.status)  # fmt: skip
