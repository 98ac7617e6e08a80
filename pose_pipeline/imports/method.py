"""The ``imported`` 2D method: a stored result file read for one subject instead of running a model.

``TopDownMethod.insert1({**person_key, "top_down_method": "imported", "params": {"file": sha256, "format": "dlc",
"individual": None, "joint_set": None, "pixel_origin": "centre"}})``, then ``TopDownPerson.populate()``: the file is
the one stored under that sha256 (`pose_pipeline.schema.imports.ImportedFile`, looked up through
`pose_pipeline.resolvers`, fetched into the cache and checksum-verified on whichever machine runs the job). The
estimator reads no frames: ``TopDownPerson.make`` calls its ``read_subject(boxes, video)`` instead of decoding.
"""

from __future__ import annotations

import numpy as np

from .. import resolvers
from ..formats import Keypoints2D
from ..stages import TOP_DOWN
from ..weights import note_model_file
from . import import_pose
from .common import VideoFacts


class ImportedResult:
    """A stored result file, ready to be read for one subject of one video (`read_subject`)."""

    reads_frames = False  # TopDownPerson.make: call read_subject, decode nothing

    def __init__(self, stored: resolvers.StoredFile, fmt: str, individual, joint_set, pixel_origin: str):
        self.stored, self.format = stored, fmt or stored.format
        self.individual, self.requested_joint_set, self.pixel_origin = individual, joint_set, pixel_origin
        self.joint_set = joint_set  # the set actually used is known once the file is read
        self.source: dict = {}

    def read_subject(self, boxes: np.ndarray, video: VideoFacts) -> Keypoints2D:
        """The subject's keypoints from the file, checked against ``video``; ``boxes`` (frames, 4) are the
        subject's tracked boxes (OpenPose's ``individual='box'`` chooses people by them)."""
        result, target, pose, chosen = import_pose(
            self.stored.path, self.format, video, boxes=boxes, individual=self.individual,
            joint_set=self.requested_joint_set, pixel_origin=self.pixel_origin, name=self.stored.name,
            video_name=video.name,
        )  # fmt: skip
        self.joint_set = target.name
        self.source = {"file": self.stored.name, "source_path": self.stored.source_path,
                       "sha256": self.stored.sha256, "format": pose.format, "reader": pose.reader,
                       "reader_version": pose.reader_version, "individual": chosen,
                       "pixel_origin": self.pixel_origin}  # fmt: skip
        return result

    def __call__(self, frames, boxes):
        raise TypeError("the 'imported' method reads a stored file, not frames: call read_subject(boxes, video)")


@TOP_DOWN.register(
    "imported",
    version="1.0",
    params={"file": None, "format": None, "individual": None, "joint_set": None, "pixel_origin": "centre"},
    description="Keypoints read from another tool's result file (DeepLabCut .h5/.csv, SLEAP .slp, NWB ndx-pose, "
    "OpenPose JSON, COCO keypoint JSON) kept in the stores under its sha256 (ImportedFile), checked against the video; no model runs.",
)
def imported(file=None, format=None, individual=None, joint_set=None, pixel_origin="centre") -> ImportedResult:
    """Build an `ImportedResult` for the stored file whose sha256 is ``file`` (fetched and verified here)."""
    if not file:
        raise ValueError("imported: give file, the sha256 of a file registered with import_results")
    stored = resolvers.resolve(resolvers.IMPORTED_FILE, file)
    note_model_file(stored.path, stored.sha256, name=f"imported {stored.format}: {stored.name}")
    return ImportedResult(stored, format, individual, joint_set, pixel_origin)
