"""Top-down 2D keypoint estimators; importing this package registers them in `pose_pipeline.stages.TOP_DOWN`.

An estimator is a factory: ``TOP_DOWN.build(name, params)`` returns an object; ``estimator(frames, boxes)`` takes RGB
uint8 frames and one (N_i, 4) x, y, w, h array per frame (the people to read) and returns one (N_i, J, 3) array per
frame: x, y in full-frame pixels and confidence in [0, 1], NaN for boxes that cannot be read.
``estimator.joint_set`` names the joints (`pose_pipeline.skeletons`).

- ``rtmpose_onnx``, ``rtmw_onnx``: RTMPose / RTMW SimCC models, mmdeploy ONNX exports on onnxruntime (`onnx_topdown`);
- ``heatmap_onnx``: heatmap models (ViTPose with UDP, HRNet) in ONNX (`onnx_topdown`);
- ``combined``: joints of one method replaced or extended by named joints of another (`combine`);
- ``mmpose``: any MMPose 1.x top-down model, if mmpose is installed (`mmpose`);
- ``blazepose``: MediaPipe's BlazePose full landmark model (shipped, ONNX), BlazePose-33 or COCO-17 joints (`blazepose`);
- ``synthetic_pose``: the project's own model trained on its synthetic figures, for the demo and tests (`synthetic`);
- ``imported``: another tool's result file read instead of a model (`pose_pipeline.imports`).

Cropping (`crop`) and decoding (`decode`) follow mmpose 1.x. Only OpenCV and numpy are imported here; onnxruntime,
torch and mmpose load when an estimator is built.
"""

from ..dlc import estimator as _dlc_estimator  # noqa: F401  (registers the 'dlc' method)
from ..imports import method as _imported  # noqa: F401  (registers the 'imported' method)
from . import blazepose, combine, mmpose, onnx_topdown, synthetic
from .combine import CombinedEstimator
from .onnx_topdown import OnnxTopDownEstimator

DEFAULT_TOP_DOWN = "rtmpose_onnx"

__all__ = [
    "DEFAULT_TOP_DOWN",
    "CombinedEstimator",
    "OnnxTopDownEstimator",
    "blazepose",
    "combine",
    "mmpose",
    "onnx_topdown",
    "synthetic",
]
