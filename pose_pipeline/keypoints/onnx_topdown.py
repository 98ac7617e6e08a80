"""Top-down 2D keypoint models exported to ONNX, run with onnxruntime: RTMPose and RTMW (SimCC), ViTPose and HRNet
(heatmaps).

The exports' interface (mmdeploy ``configs/mmpose/pose-detection_simcc_onnxruntime_dynamic.py`` and
``_base_/onnx_config.py``): one input ``input`` float32 (N, 3, H, W), batch axis dynamic; SimCC models output
``simcc_x`` (N, J, W k) and ``simcc_y`` (N, J, H k) with split ratio k = 2 (post-processing not exported); heatmap
models output (N, J, H / 4, W / 4). The first input is used whatever its name; SimCC outputs are taken by name
when so named, else the first two are x and y; a heatmap model's first output is its heatmaps.

Pre-processing, from the models' mmpose 1.x configs (``rtmpose-m_8xb256-420e_body8-256x192.py``,
``rtmw-x_8xb320-270e_cocktail14-384x288.py``, ``td-hm_ViTPose-base_8xb64-210e_coco-256x192.py``,
``td-hm_hrnet-w32_8xb64-210e_coco-256x192.py``): the crop of `pose_pipeline.keypoints.crop` (padding 1.25, aspect
ratio fixed to the input's, bilinear ``cv2.warpAffine``; ViTPose with ``use_udp=True``), then
``PoseDataPreprocessor(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)``: mmpose
reads images with OpenCV (BGR) and converts them, so the network sees RGB, normalised with those per-channel values
in R, G, B order. mmdeploy writes the same into the exports' ``pipeline.json`` (``Normalize`` with
``to_rgb=bgr_to_rgb``). Frames here are RGB already and go in as they are. (rtmlib normalises the frame it is given,
without converting; its examples pass OpenCV's BGR frames, so it feeds these models BGR.)

Decoding: `pose_pipeline.keypoints.decode`. No flip test (mmpose's test configs average with the mirrored crop;
rtmlib does not), so results differ slightly from mmpose's ``inference_topdown`` with ``flip_test=True``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pose_pipeline.onnx_session import input_geometry, open_session, static_dim
from pose_pipeline.skeletons import get_joint_set
from pose_pipeline.stages import TOP_DOWN
from pose_pipeline.weights import WeightsError, load_manifest, require_weights

from .crop import PADDING, Crop, estimator_inputs, make_crops, valid_boxes, warp
from .decode import decode_heatmaps, decode_simcc

DEVICES = ("auto", "cpu", "cuda")
MEAN = (123.675, 116.28, 103.53)  # R, G, B (mmpose PoseDataPreprocessor; the ImageNet statistics times 255)
STD = (58.395, 57.12, 57.375)
SIMCC_OUTPUTS = ("simcc_x", "simcc_y")


class OnnxTopDownEstimator:
    """A top-down keypoint model in ONNX as a pipeline estimator (see the module docstring).

    ``estimator(frames, boxes)``: ``frames`` RGB uint8 (H, W, 3) images, ``boxes`` one (N_i, 4) array of x, y, w, h
    per frame; returns one (N_i, J, 3) array per frame: x, y in full-frame pixels and confidence in [0, 1]. A box
    that is not finite or has no area gives NaN for that person. All crops of a call go through the model together,
    ``max_batch`` at a time (or the model's fixed batch size).

    ``decoder`` is ``"simcc"``, ``"msra"`` or ``"udp"`` (`pose_pipeline.keypoints.decode`). Attributes: ``joint_set``
    (name), ``n_joints``, ``input_size`` (W, H), ``provider`` (onnxruntime execution provider in use), ``batched``
    (several crops per model call), ``model_path``.
    """

    def __init__(
        self,
        model_path,
        *,
        joint_set: str,
        decoder: str = "simcc",
        input_size: Sequence[int] | None = None,
        size_hint: Sequence[int] | None = None,
        default_size: Sequence[int] = (192, 256),
        mean: Sequence[float] = MEAN,
        std: Sequence[float] = STD,
        channel_order: str = "rgb",
        padding: float = PADDING,
        simcc_split_ratio: float = 2.0,
        blur_kernel_size: int = 11,
        device: str = "auto",
        max_batch: int = 16,
        threads: int = 0,
    ):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        if decoder not in ("simcc", "msra", "udp"):
            raise ValueError(f"decoder must be 'simcc', 'msra' or 'udp', got {decoder!r}")
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        if int(max_batch) < 1 or padding <= 0 or simcc_split_ratio <= 0 or blur_kernel_size % 2 != 1:
            raise ValueError("need max_batch >= 1, padding > 0, simcc_split_ratio > 0 and an odd blur_kernel_size")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")
        self.joint_set = get_joint_set(joint_set).name
        self.n_joints = len(get_joint_set(joint_set))
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise WeightsError(f"ONNX model {self.model_path} does not exist")
        self.decoder = decoder
        self.padding = float(padding)
        self.simcc_split_ratio = float(simcc_split_ratio)
        self.blur_kernel_size = int(blur_kernel_size)
        self.max_batch = int(max_batch)
        self.channel_order = channel_order
        self._mean = np.array(mean, np.float32)[:, None, None]
        self._std = np.array(std, np.float32)[:, None, None]

        self.session, self.provider = open_session(self.model_path, device, threads)
        self._check_interface(input_size, size_hint, default_size)

    # --- loading ------------------------------------------------------------------------------------------------

    def _check_interface(self, input_size, size_hint, default_size) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        found = ", ".join(f"{i.name!r} {i.type} {list(i.shape)}" for i in inputs)
        shape = list(inputs[0].shape) if inputs else []
        image_like = len(shape) == 4 and static_dim(shape[1]) in (None, 3)
        if len(inputs) != 1 or inputs[0].type != "tensor(float)" or not image_like:
            raise ValueError(
                f"ONNX model {self.model_path}: expected one float input [N, 3, H, W] (a top-down pose model), "
                f"found {found}"
            )
        self._input_name = inputs[0].name
        self._static_batch, self.input_size = input_geometry(
            shape, self.model_path, input_size, size_hint or default_size
        )
        self.batched = self._static_batch != 1
        self._chunk = self._static_batch or self.max_batch

        names = [o.name for o in outputs]
        if self.decoder == "simcc":
            self._output_names = list(SIMCC_OUTPUTS) if set(SIMCC_OUTPUTS) <= set(names) else names[:2]
            if len(self._output_names) != 2:
                raise ValueError(
                    f"ONNX model {self.model_path}: a SimCC model needs outputs {list(SIMCC_OUTPUTS)}, found {names}"
                )
        else:
            self._output_names = names[:1]
        by_name = {o.name: list(o.shape) for o in outputs}
        shapes = [by_name[name] for name in self._output_names]
        expected_rank = 3 if self.decoder == "simcc" else 4
        if any(len(s) != expected_rank for s in shapes):
            raise ValueError(
                f"ONNX model {self.model_path}: outputs {self._output_names} have shapes {shapes}; a "
                f"{'SimCC' if self.decoder == 'simcc' else 'heatmap'} model's are {expected_rank}-dimensional"
            )
        if any(static_dim(d) is None for s in shapes for d in s[1:]):  # symbolic sizes: look at one real output
            shapes = [list(a.shape) for a in self._run(np.zeros((1, 3, self.input_size[1], self.input_size[0])))]
        self._check_joints(shapes)

    def _check_joints(self, shapes) -> None:
        joints = {s[1] for s in shapes}
        if joints != {self.n_joints}:
            raise ValueError(
                f"ONNX model {self.model_path} outputs {sorted(joints)} joints, but joint set {self.joint_set!r} has "
                f"{self.n_joints}: give the joint_set this model was trained for"
            )
        if self.decoder == "simcc":
            width, height = self.input_size
            expected = [round(width * self.simcc_split_ratio), round(height * self.simcc_split_ratio)]
            if [shapes[0][2], shapes[1][2]] != expected:
                raise ValueError(
                    f"ONNX model {self.model_path}: SimCC lengths {shapes[0][2]}, {shapes[1][2]} do not match input "
                    f"{width}x{height} with split ratio {self.simcc_split_ratio} (expected {expected[0]}, "
                    f"{expected[1]})"
                )

    # --- running ------------------------------------------------------------------------------------------------

    def preprocess(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The model input (N, 3, H, W) float32 for RGB uint8 crops (H, W, 3): channel order, mean, std."""
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
        if self.channel_order == "bgr":
            batch = batch[:, ::-1]
        return (batch - self._mean) / self._std

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        n = len(batch)
        if self._static_batch and n < self._static_batch:  # a fixed batch > 1: pad the last chunk
            batch = np.concatenate([batch, np.zeros((self._static_batch - n, *batch.shape[1:]), batch.dtype)])
        outputs = self.session.run(self._output_names, {self._input_name: batch.astype(np.float32)})
        return [np.asarray(o)[:n] for o in outputs]

    def decode(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Keypoints (N, J, 3) in model-input pixels from one batch of model outputs."""
        if self.decoder == "simcc":
            return decode_simcc(outputs[0], outputs[1], self.simcc_split_ratio)
        return decode_heatmaps(outputs[0], self.input_size, self.decoder, self.blur_kernel_size)

    def _crops(self, frames, boxes) -> Iterator[tuple[int, int, Crop, np.ndarray]]:
        for i, (frame, frame_boxes) in enumerate(zip(frames, boxes)):
            keep = np.flatnonzero(valid_boxes(frame_boxes))
            for n, crop in zip(keep, make_crops(frame_boxes[keep], self.input_size, self.padding, self.udp)):
                yield i, n, crop, warp(frame, crop, self.input_size)

    @property
    def udp(self) -> bool:
        """Whether crops use mmpose's UDP warp (ViTPose's ``use_udp=True``)."""
        return self.decoder == "udp"

    def __call__(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keypoints of the people in ``boxes`` (one (N_i, 4) x, y, w, h array per frame), one (N_i, J, 3) array
        per frame: x, y full-frame pixels, confidence in [0, 1]; NaN for boxes that cannot be read."""
        frames, boxes = estimator_inputs(frames, boxes)
        results = [np.full((len(b), self.n_joints, 3), np.nan) for b in boxes]
        pending: list[tuple[int, int, Crop, np.ndarray]] = []

        def flush() -> None:
            keypoints = self.decode(self._run(self.preprocess([item[3] for item in pending])))
            for (i, n, crop, _), points in zip(pending, keypoints):
                results[i][n, :, :2] = crop.to_frame(points[:, :2])
                results[i][n, :, 2] = points[:, 2]
            pending.clear()

        for item in self._crops(frames, boxes):
            pending.append(item)
            if len(pending) == self._chunk:
                flush()
        if pending:
            flush()
        return results


def _model_file(weights: str | None, model_path) -> tuple[Path, dict]:
    """The ONNX file (``model_path`` wins over the manifest entry ``weights``) and the entry's extra keys."""
    if model_path:
        return Path(model_path), {}
    if not weights:
        raise ValueError("give either weights (a manifest entry name) or model_path")
    path = require_weights(weights)  # raises WeightsError (missing / corrupt) before anything is loaded
    return path, load_manifest()[weights].extra


COMMON_PARAMS = {
    "model_path": None,
    "joint_set": None,
    "input_size": None,
    "device": "auto",
    "max_batch": 16,
    "threads": 0,
}


def _build(weights, model_path, joint_set, default_joint_set, default_size, decoder, **params):
    path, extra = _model_file(weights, model_path)
    return OnnxTopDownEstimator(
        path,
        joint_set=joint_set or extra.get("joint_set") or default_joint_set,
        decoder=decoder or extra.get("decoder") or "msra",
        size_hint=extra.get("input_size"),
        default_size=default_size,
        **params,
    )


@TOP_DOWN.register(
    "rtmpose_onnx",
    version="1.0",
    params={"weights": "rtmpose_m_body7_coco17", **COMMON_PARAMS, "simcc_split_ratio": 2.0},
    description="RTMPose (SimCC) top-down keypoints, mmdeploy ONNX export on onnxruntime (default RTMPose-m Body7, "
    "COCO-17, 256x192): mmpose crop with padding 1.25, RGB, ImageNet mean/std; CUDA when available.",
    device="any",
)
def rtmpose_onnx(weights=None, model_path=None, joint_set=None, **params) -> OnnxTopDownEstimator:
    """Build an RTMPose `OnnxTopDownEstimator` from a manifest entry (``weights``) or an ONNX file (``model_path``);
    ``joint_set`` defaults to the entry's, else COCO-17."""
    return _build(weights, model_path, joint_set, "COCO-17", (192, 256), "simcc", **params)


@TOP_DOWN.register(
    "rtmw_onnx",
    version="1.0",
    params={"weights": "rtmw_l_cocktail14_384x288", **COMMON_PARAMS, "simcc_split_ratio": 2.0},
    description="RTMW whole-body (SimCC, COCO-WholeBody 133 joints) top-down keypoints, mmdeploy ONNX export on "
    "onnxruntime (default RTMW-l 384x288): mmpose crop with padding 1.25, RGB, ImageNet mean/std.",
    device="any",
)
def rtmw_onnx(weights=None, model_path=None, joint_set=None, **params) -> OnnxTopDownEstimator:
    """Build an RTMW `OnnxTopDownEstimator` from a manifest entry (``weights``) or an ONNX file (``model_path``);
    ``joint_set`` defaults to the entry's, else COCO-WholeBody-133."""
    return _build(weights, model_path, joint_set, "COCO-WholeBody-133", (288, 384), "simcc", **params)


@TOP_DOWN.register(
    "heatmap_onnx",
    version="1.0",
    params={"weights": "vitpose_b_coco", **COMMON_PARAMS, "decoder": None, "blur_kernel_size": 11},
    description="Heatmap top-down keypoints (ViTPose, HRNet) in ONNX on onnxruntime (default ViTPose++-B COCO-17, "
    "256x192): mmpose crop (UDP for ViTPose), RGB, ImageNet mean/std; decoder 'udp' (DARK-UDP) or 'msra' (argmax "
    "+ quarter shift).",
    device="any",
)
def heatmap_onnx(weights=None, model_path=None, joint_set=None, decoder=None, **params) -> OnnxTopDownEstimator:
    """Build a heatmap `OnnxTopDownEstimator`; ``decoder`` defaults to the manifest entry's, else ``"msra"``
    (mmpose's default heatmap codec; ViTPose needs ``"udp"``), ``joint_set`` to the entry's, else COCO-17."""
    return _build(weights, model_path, joint_set, "COCO-17", (192, 256), decoder, **params)
