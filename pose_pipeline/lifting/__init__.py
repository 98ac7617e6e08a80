"""2D -> 3D lifting: joint conversions, gap filling, windowed ONNX lifters and accuracy metrics (pure: no schema).

Importing the package registers the lifting methods in `pose_pipeline.stages.LIFTING`.
"""

from . import gaps, joints, methods, metrics  # methods registers the lifters
from .onnx_lifter import LiftedPose, OnnxWindowLifter

DEFAULT_LIFTING = "synthetic_lifter"

__all__ = ["DEFAULT_LIFTING", "LiftedPose", "OnnxWindowLifter", "gaps", "joints", "methods", "metrics"]
