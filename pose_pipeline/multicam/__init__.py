"""Multi-camera recordings: calibrated camera sets, synchronisation checks and triangulation (pure functions and
data types; the tables are in `pose_pipeline.schema.multicam`)."""

from . import methods  # noqa: F401 - registers the triangulation methods
