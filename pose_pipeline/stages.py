"""The registries of the pipeline's algorithm stages.

Each stage's wrappers register themselves here (see `pose_pipeline.registry`); the stage's Lookup table takes
its contents from the registry and its ``make()`` dispatches through it.
"""

from .formats import Detections, Keypoints2D, Keypoints3D, SMPLParams, Tracks, WorldKeypoints3D
from .registry import Registry

DETECTION = Registry("detection", output=Detections)  # factories: detector(frames) -> per-frame (N, 5) boxes
TRACKING = Registry("tracking", output=Tracks)  # factories: tracker.update(boxes (N, 5)) -> (M, 6) with track ids
# factories: estimator(frames, boxes) -> keypoints. ``frames`` a list of RGB frames, ``boxes`` a list of (N_i, 4)
# x, y, w, h arrays (the people to read in each frame); returns a list of (N_i, J, 3) arrays (x, y in full-frame
# pixels, confidence in [0, 1]). ``estimator.joint_set`` names the joints (`pose_pipeline.skeletons`).
TOP_DOWN = Registry("top_down", output=Keypoints2D)
LIFTING = Registry("lifting", output=Keypoints3D)
SMPL = Registry("smpl", output=SMPLParams)
# factories: triangulator(cameras: CameraSet, keypoints (cameras, frames, joints, 3) x, y, confidence, joint_set)
# -> WorldKeypoints3D (`pose_pipeline.multicam.methods`)
TRIANGULATION = Registry("triangulation", output=WorldKeypoints3D)

REGISTRIES = {registry.stage: registry for registry in (DETECTION, TRACKING, TOP_DOWN, LIFTING, SMPL, TRIANGULATION)}
