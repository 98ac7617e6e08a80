"""The registries of the pipeline's algorithm stages.

Each stage's wrappers register themselves here (see `pose_pipeline.registry`); the stage's Lookup table takes
its contents from the registry and its ``make()`` dispatches through it.
"""

from .formats import Keypoints2D, Keypoints3D, SMPLParams, Tracks
from .registry import Registry

TRACKING = Registry("tracking", output=Tracks)
TOP_DOWN = Registry("top_down", output=Keypoints2D)
LIFTING = Registry("lifting", output=Keypoints3D)
SMPL = Registry("smpl", output=SMPLParams)

REGISTRIES = {registry.stage: registry for registry in (TRACKING, TOP_DOWN, LIFTING, SMPL)}
