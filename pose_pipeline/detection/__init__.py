"""Person detectors for the tracking stage; importing this package registers them in `pose_pipeline.stages.DETECTION`.

A detector is a factory: ``DETECTION.build(name, params)`` returns an object that takes a list of consecutive RGB
uint8 frames of one video and returns one (N, 5) float array per frame (x, y, w, h in pixels, score in [0, 1],
see `pose_pipeline.formats.Detections`); frames go in video order, and ``reset()`` starts another video.

- ``yolox_raw_onnx`` (default): YOLOX with the raw head, decoded here; the shipped YOLOX-Nano COCO (`yolox_raw`);
- ``motion`` (no weights): background subtraction for static cameras such as lab videos (`motion`);
- ``whole_frame`` (no weights): the whole frame, for single-animal arena videos (`whole_frame`);
- ``yolox_onnx``, ``rtmdet_onnx``: mmdeploy ONNX exports on onnxruntime, weights from the manifest (`onnx`);
- ``mmdet``: any MMDetection 3.x detector, if mmdet is installed (`mmdet`).

Only OpenCV and numpy are imported here; onnxruntime, torch and mmdet load when a detector is built.
"""

from . import mmdet, motion, onnx, whole_frame, yolox_raw
from .motion import MotionDetector
from .onnx import OnnxPersonDetector
from .yolox_raw import YoloxRawDetector

DEFAULT_DETECTOR = "yolox_raw_onnx"  # a tracking request that names no detector gets this one

__all__ = [
    "DEFAULT_DETECTOR",
    "MotionDetector",
    "OnnxPersonDetector",
    "YoloxRawDetector",
    "mmdet",
    "motion",
    "onnx",
    "whole_frame",
    "yolox_raw",
]
