"""The registered lifting methods: VideoPose3D, GAST-Net and MotionBERT exports, the project's own synthetic lifter,
and BlazePose's world landmarks (metric 3D from the frames themselves)."""

from __future__ import annotations

from pose_pipeline.stages import LIFTING

from .blazepose_world import BlazePoseWorldLifter
from .joints import GASTNET, STANDARD
from .onnx_clip import OnnxClipLifter
from .onnx_lifter import OnnxWindowLifter, model_file

COMMON_PARAMS = {
    "flip": True,
    "conversion": STANDARD,
    "max_gap": 10,
    "batch": 256,
    "device": "auto",
    "threads": 0,
}
SYNTHETIC_WEIGHTS = "synthetic_lifter_h36m17"


@LIFTING.register(
    "videopose3d_onnx",
    version="1.0",
    params={
        "weights": "videopose3d_h36m_cpn_243",
        "model_path": None,
        "sha256": None,
        "window": 243,
        "normalisation": "screen",
        "output_scale": 1.0,
        **COMMON_PARAMS,
    },
    description="VideoPose3D temporal model (243-frame window) exported to ONNX, on onnxruntime: COCO -> H36M-17 "
    "conversion, gaps filled, screen normalisation, edge padding, flip augmentation; root-relative metres.",
    device="any",
)
def videopose3d_onnx(weights=None, model_path=None, sha256=None, **params) -> OnnxWindowLifter:
    """Build an `OnnxWindowLifter` from a manifest entry (``weights``) or an ONNX file (``model_path``, checked
    against ``sha256`` when given)."""
    path, _ = model_file(weights, model_path, sha256)
    return OnnxWindowLifter(path, **params)


@LIFTING.register(
    "gastnet_onnx",
    version="1.0",
    params={
        "weights": "gastnet_h36m_27",
        "model_path": None,
        "sha256": None,
        "window": 27,
        "normalisation": "screen",
        "output_scale": 1.0,
        **COMMON_PARAMS,
        "conversion": GASTNET,
    },
    description="GAST-Net (27- or 81-frame window) exported to ONNX, on onnxruntime: GAST-Net's own COCO -> H36M-17 "
    "heuristic by default, screen normalisation, edge padding, flip augmentation; root-relative metres.",
    device="any",
)
def gastnet_onnx(weights=None, model_path=None, sha256=None, **params) -> OnnxWindowLifter:
    """Build an `OnnxWindowLifter` for a GAST-Net export; ``window`` must be the export's (27 or 81)."""
    path, _ = model_file(weights, model_path, sha256)
    return OnnxWindowLifter(path, **params)


@LIFTING.register(
    "motionbert_onnx",
    version="1.0",
    params={
        "weights": "motionbert_h36m_243",
        "model_path": None,
        "sha256": None,
        "clip": 243,
        "flip": True,
        "conversion": STANDARD,
        "max_gap": 10,
        "metric_rule": "leg_length",
        "leg_length": 0.85,
        "batch": 4,
        "device": "auto",
        "threads": 0,
    },
    description="MotionBERT (243-frame clips) exported to ONNX, on onnxruntime: crop_scale normalisation, flip "
    "augmentation; its normalised output made metric by the stored rule (median leg length = leg_length m).",
    device="any",
)
def motionbert_onnx(weights=None, model_path=None, sha256=None, **params) -> OnnxClipLifter:
    """Build an `OnnxClipLifter` from a manifest entry (``weights``) or an ONNX file (``model_path``)."""
    path, _ = model_file(weights, model_path, sha256)
    return OnnxClipLifter(path, **params)


@LIFTING.register(
    "synthetic_lifter",
    version="1.0",
    params=dict(COMMON_PARAMS),
    description="The project's small windowed lifter trained on its synthetic walkers "
    "(scripts/train_synthetic_lifter.py): pose normalisation, H36M-17, root-relative metres; demo and tests.",
)
def synthetic_lifter(**params) -> OnnxWindowLifter:
    """The shipped synthetic lifter (3rdparty/synthetic_lifter); its window and normalisation come from the
    manifest entry."""
    path, extra = model_file(SYNTHETIC_WEIGHTS, None, None)
    return OnnxWindowLifter(path, window=extra["window"], normalisation=extra["normalisation"], **params)


@LIFTING.register(
    "blazepose_world",
    version="1.0",
    params={"model_path": None, "min_pose_score": 0.5, "device": "auto", "threads": 0},
    description="BlazePose's world landmarks (shipped model, onnxruntime) on the subject's box in every frame: "
    "metric, hip-centred (the model's own size estimate, not calibrated), the 17 COCO joints mapped to H36M-17 by "
    "the standard conversion. Lifts from the video frames, not from the 2D row.",
    device="any",
)
def blazepose_world(**params) -> BlazePoseWorldLifter:
    """Build a `BlazePoseWorldLifter` on the shipped, checksum-verified BlazePose model (or ``model_path``)."""
    from pose_pipeline.keypoints.blazepose import blazepose

    return BlazePoseWorldLifter(blazepose(**params))
