"""A user schema module kept under its own schema prefix (``SCHEMA_PREFIX``) on the pipeline's database. The prefix
is derived from the test run's, so that runs sharing a server do not share it; a lab would write e.g. "mylab"."""

import os

import datajoint as dj

from pose_pipeline.schema.experiments import ReferencesVideo
from pose_pipeline.schema.video import Video, VideoInfo  # noqa: F401 - Video is named in a definition

STAGE = "visits"
SCHEMA_PREFIX = "lab_" + os.environ["POSE_PIPELINE_SCHEMA_PREFIX"]
schema = dj.Schema()


@schema
class Visit(ReferencesVideo, dj.Manual):
    """One visit, recorded as one video."""

    definition = """
    visit      : int16
    ---
    -> Video
    """


@schema
class VisitLength(dj.Computed):
    """How many frames a visit's video has (from the pipeline's VideoInfo)."""

    definition = """
    -> Visit
    ---
    num_frames : int32
    """

    def make(self, key):
        video = (Visit & key).fetch1("video_project", "filename")
        frames = (VideoInfo & dict(zip(("video_project", "filename"), video))).fetch1("num_frames")
        self.insert1({**key, "num_frames": frames})


ROOT_TABLES = (Visit,)
