"""Windowed 2D -> 3D lifters exported to ONNX, run with onnxruntime (VideoPose3D-style temporal models).

Interface of the exports (the one VideoPose3D's ``TemporalModel`` has when traced with a fixed receptive field):
one input float32 [N, W, 17, 2] (N windows of W frames of H36M-17 2D joints, normalised) and one output float32
[N, 1, 17, 3] or [N, 17, 3]: the 3D joints of each window's centre frame, relative to the root up to the model's
own offset, in the model's units. The window W is declared by the method (243 for VideoPose3D's released
Human3.6M model) and must be the model's: a fixed input length is compared, a dynamic one is probed with one
window of W frames, which must give one frame.

A model whose input length is dynamic and which maps T frames to T - W + 1 (a fully convolutional temporal model,
as ``scripts/export_lifter_onnx.py`` exports VideoPose3D and GAST-Net: probed with W + 2 frames) is run in
*sequence* mode: each padded stretch goes in whole instead of one window per frame, the same result without
recomputing the shared receptive field for every frame (about 100x faster for VideoPose3D's 243 frames).

Processing of one subject's 2D keypoints (frames, joints, 3: x, y pixels, confidence):

1. refused at once when the joint set cannot be converted (`joints.to_h36m` names both sets) or no frame is usable;
2. converted to H36M-17 (the ``conversion`` recorded per row), short gaps filled (`gaps.fill_gaps`, ``max_gap``);
3. normalised as the model was trained: ``screen`` (VideoPose3D ``normalize_screen_coordinates``:
   ``x / w * 2 - 1``, ``y / w * 2 - h / w``, with w, h the video's size) or ``pose`` (the project's lifter: each
   frame minus its root, divided by its RMS joint distance from the root);
4. each stretch of usable frames padded at both ends by repeating its end frames (``edge``, as VideoPose3D's
   evaluation does), cut into one window per frame, run ``batch`` windows at a time (memory does not grow with
   the clip's length), or in sequence mode run as one input per ``CHUNK`` frames;
5. with ``flip``, also run on the mirrored input (x negated, left and right joints swapped) and the mirrored
   output averaged in (VideoPose3D's test-time augmentation);
6. the output minus its root joint, times ``output_scale`` (metres per model unit): root-relative metres in the
   camera's axes (x right, y down, z forward). Frames that were not usable are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pose_pipeline.formats import Keypoints3D
from pose_pipeline.onnx_session import open_session, static_dim
from pose_pipeline.skeletons import H36M17
from pose_pipeline.weights import WeightsError, file_sha256, load_manifest, note_model_file, require_weights

from .gaps import NoUsableFramesError, fill_gaps
from .joints import STANDARD, conversion_name, to_h36m

NORMALISATIONS = ("screen", "pose")
UNITS = "m"
CHUNK = 4096  # frames lifted at a time
FRAME = "camera axes, root-relative"
# H36M-17 left/right pairs for the flip augmentation
_LEFT = [H36M17.index(n) for n in ("left_hip", "left_knee", "left_foot", "left_shoulder", "left_elbow", "left_wrist")]
_RIGHT = [H36M17.index(n.replace("left", "right")) for n in np.array(H36M17.joints)[_LEFT]]
_SWAP = np.arange(len(H36M17))
_SWAP[_LEFT + _RIGHT] = _RIGHT + _LEFT


@dataclass
class LiftedPose(Keypoints3D):
    """`Keypoints3D` (H36M-17, metres, root-relative) with what a user needs to read them: the input joint set,
    the conversion applied to it, the frame status (0 complete, 1 gap-filled, 2 missing: NaN) and the frame."""

    input_joint_set: str = ""
    conversion: str = ""
    frame_status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    units: str = UNITS
    frame: str = FRAME


def normalise(keypoints: np.ndarray, mode: str, image_size) -> np.ndarray:
    """H36M-17 pixel coordinates (frames, 17, 2) in the model's input space (module docstring, step 3)."""
    xy = np.asarray(keypoints, dtype=float)[..., :2]
    if mode == "screen":
        width, height = image_size
        return xy / width * 2 - np.array([1.0, height / width])
    if mode == "pose":
        centred = xy - xy[:, :1]
        radius = np.sqrt((centred**2).sum(axis=-1).mean(axis=-1))
        return centred / np.where(radius > 0, radius, 1.0)[:, None, None]
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {mode!r}")


def flip_pose(points: np.ndarray) -> np.ndarray:
    """Mirror H36M-17 points (..., 17, C): x negated, left and right joints swapped (a new array)."""
    out = points[..., _SWAP, :]  # fancy indexing copies
    out[..., 0] *= -1
    return out


def _windows(padded: np.ndarray, window: int) -> np.ndarray:
    """A read-only (frames, window, joints, C) view of every window of ``padded`` (frames + window - 1, joints, C)."""
    n = len(padded) - window + 1
    return np.lib.stride_tricks.as_strided(
        padded, shape=(n, window, *padded.shape[1:]), strides=(padded.strides[0], *padded.strides), writeable=False
    )


class OnnxWindowLifter:
    """A windowed lifter in ONNX as a pipeline method (module docstring).

    ``lifter(keypoints, joint_set, image_size)`` -> `LiftedPose`. Attributes: ``window``, ``joint_set``
    (H36M-17, the output), ``model_path``, ``provider``, ``sequence`` (whole stretches in one run).
    """

    joint_set = H36M17.name

    def __init__(self, model_path, *, window: int, normalisation: str = "screen", flip: bool = False,
                 output_scale: float = 1.0, conversion: str = STANDARD, max_gap: int = 10, batch: int = 256,
                 device: str = "auto", threads: int = 0):  # fmt: skip
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
        if int(window) < 1 or int(window) % 2 != 1:
            raise ValueError(f"window must be an odd number of frames >= 1, got {window}")
        if output_scale <= 0 or int(batch) < 1 or int(max_gap) < 0:
            raise ValueError("need output_scale > 0, batch >= 1 and max_gap >= 0")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"ONNX lifter {self.model_path} does not exist")
        self.window, self.normalisation, self.flip = int(window), normalisation, bool(flip)
        self.output_scale, self.conversion = float(output_scale), conversion
        self.max_gap, self.batch = int(max_gap), int(batch)
        self.session, self.provider = open_session(self.model_path, device, threads)
        self._check_interface()

    def _check_interface(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = list(inputs[0].shape) if inputs else []
        if len(inputs) != 1 or len(shape) != 4 or static_dim(shape[2]) not in (None, 17) or shape[3] != 2:
            found = ", ".join(f"{i.name!r} {list(i.shape)}" for i in inputs)
            raise ValueError(f"ONNX lifter {self.model_path}: expected one input [N, window, 17, 2], found {found}")
        self._input, self._output = inputs[0].name, outputs[0].name
        declared = static_dim(shape[1])
        if declared is not None and declared != self.window:
            raise ValueError(
                f"ONNX lifter {self.model_path} takes windows of {declared} frames, but the method declares "
                f"window={self.window}: these weights are for another window"
            )
        probe = self._run(np.zeros((1, self.window, 17, 2), np.float32))
        if probe.shape != (1, 17, 3):
            frames = probe.shape[1] if probe.ndim == 4 and probe.shape[2:] == (17, 3) else 0
            own = f" (its own window is {self.window - frames + 1} frames)" if 1 < frames < self.window else ""
            raise ValueError(
                f"ONNX lifter {self.model_path}: a window of {self.window} frames gave output {list(probe.shape)}, "
                f"not one frame of 17 x 3 joints: the weights do not match the declared window{own}"
            )
        self.sequence = declared is None and self._gives_a_frame_per_window()

    def _gives_a_frame_per_window(self) -> bool:
        """Whether W + 2 input frames give 3 output frames (sequence mode, module docstring)."""
        try:
            probe = self._run(np.zeros((1, self.window + 2, 17, 2), np.float32))
        except Exception:  # noqa: BLE001 - onnxruntime's own error types: a model fixed to W frames inside
            return False
        return probe.shape == (1, 3, 17, 3)

    def _run(self, windows: np.ndarray) -> np.ndarray:
        out = np.asarray(self.session.run([self._output], {self._input: windows.astype(np.float32)})[0])
        if out.ndim == 4 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _run_sequence(self, padded: np.ndarray) -> np.ndarray:
        """Sequence mode: (frames + window - 1, 17, 2) in, (frames, 17, 3) out, in one run."""
        out = self.session.run([self._output], {self._input: padded[None].astype(np.float32)})[0]
        return np.asarray(out).reshape(-1, 17, 3)

    def lift_segment(self, normalised: np.ndarray) -> np.ndarray:
        """Model output (frames, 17, 3) for one stretch of usable normalised frames (steps 4 and 5)."""
        pad = self.window // 2
        return self._lift_padded(np.pad(normalised.astype(np.float32), ((pad, pad), (0, 0), (0, 0)), mode="edge"))

    def _lift_padded(self, padded: np.ndarray) -> np.ndarray:
        """Model output for the centre of every window of ``padded`` (frames + window - 1, 17, 2)."""
        if self.sequence:
            out = self._run_sequence(padded)
            if self.flip:
                out = (out + flip_pose(self._run_sequence(flip_pose(padded)))) / 2
            return out
        # (frames, window, 17, 2) views: each batch is then copied window by window, contiguously
        views = [_windows(padded, self.window)]
        if self.flip:  # mirroring the stretch once mirrors every window of it
            views.append(_windows(flip_pose(padded), self.window))
        n = len(views[0])
        out = np.empty((n, 17, 3), np.float32)
        for start in range(0, n, self.batch):
            end = min(start + self.batch, n)
            result = self._run(np.ascontiguousarray(views[0][start:end]))
            if self.flip:
                result = (result + flip_pose(self._run(np.ascontiguousarray(views[1][start:end])))) / 2
            out[start:end] = result
        return out

    def __call__(self, keypoints: np.ndarray, joint_set: str, image_size) -> LiftedPose:
        """3D joints of one subject from its 2D keypoints (frames, joints, 3) of ``joint_set`` in a video of
        ``image_size`` (width, height) pixels.

        Stretches are lifted ``CHUNK`` frames at a time (with their window's context), so the memory a call needs
        beyond its input and output arrays does not grow with the clip.
        """
        h36m, conversion = to_h36m(keypoints, joint_set, self.conversion)  # refuses an unliftable joint set
        filled = fill_gaps(h36m, self.max_gap)
        del h36m
        if not filled.usable.any():
            raise NoUsableFramesError(
                f"no usable frames: all {len(filled.status)} frames of the 2D input ({joint_set}) miss a joint for "
                f"longer than max_gap={self.max_gap} frames"
            )
        out = np.full((len(filled.status), 17, 3), np.nan, np.float32)
        pad = self.window // 2
        for first, last in filled.segments():
            for start in range(first, last, CHUNK):
                end = min(start + CHUNK, last)
                lo, hi = max(first, start - pad), min(last, end + pad)  # the context the windows need
                part = normalise(filled.keypoints[lo:hi], self.normalisation, image_size).astype(np.float32)
                # edge padding only where the context runs out: at the ends of the stretch
                part = np.pad(part, ((pad - (start - lo), pad - (hi - end)), (0, 0), (0, 0)), mode="edge")
                lifted = self._lift_padded(part)
                out[start:end] = (lifted - lifted[:, :1]) * np.float32(self.output_scale)
        return LiftedPose(out, H36M17.name, root_joint="root", input_joint_set=joint_set,
                          conversion=conversion_name(joint_set, conversion), frame_status=filled.status)  # fmt: skip


def model_file(weights: str | None, model_path, sha256: str | None) -> tuple[Path, dict]:
    """The ONNX file, verified: a manifest entry (``weights``, checked by `require_weights`) or ``model_path``
    (checked against ``sha256`` when given). Raises `WeightsError` naming the file before anything is loaded."""
    if model_path:
        path = Path(model_path)
        if not path.is_file():
            raise WeightsError(f"ONNX lifter {path} does not exist")
        if sha256 and file_sha256(path) != sha256.lower():
            raise WeightsError(f"ONNX lifter {path}: sha256 {file_sha256(path)} does not match the expected {sha256}")
        note_model_file(path, sha256)
        return path, {}
    if not weights:
        raise ValueError("give either weights (a manifest entry name) or model_path")
    return require_weights(weights), load_manifest()[weights].extra
