"""Multi-camera recordings: calibrated camera sets, synchronisation checks and triangulation (pure functions and
data types; the tables are in `pose_pipeline.schema.multicam`)."""

from ..skeleton_model import methods as _skeleton_methods  # noqa: F401 - registers the acm_* methods
from . import methods  # noqa: F401 - registers the triangulation methods
