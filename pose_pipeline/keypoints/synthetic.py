"""The project's own 2D model, trained on its synthetic renderings, registered as a method of its own.

It runs through the generic heatmap wrapper with the shipped weights (3rdparty/synthetic_pose, reproduced by
scripts/train_synthetic_pose.py). It knows only the synthetic figures: the demo and the tests use it because
no pretrained weights can be downloaded where they run.
"""

from ..stages import TOP_DOWN
from .onnx_topdown import COMMON_PARAMS, heatmap_onnx

WEIGHTS = "synthetic_pose_coco17"


@TOP_DOWN.register(
    "synthetic_pose",
    version="1.0",
    params={k: v for k, v in COMMON_PARAMS.items() if k not in ("weights", "model_path", "joint_set", "input_size")},
    description="The project's small COCO-17 heatmap model trained on its synthetic figures "
    "(scripts/train_synthetic_pose.py); for the demo and tests, not for real videos.",
)
def synthetic_pose(**params):
    """The heatmap wrapper on the shipped synthetic-figure weights."""
    return heatmap_onnx(weights=WEIGHTS, joint_set="COCO-17", **params)
