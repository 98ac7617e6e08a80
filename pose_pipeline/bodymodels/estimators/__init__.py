"""Released SMPL estimators, each an optional extra, whose outputs are converted to the stored layout
(`pose_pipeline.formats.SMPLParams`): axis-angle per joint, global orientation and translation in metres in the
camera frame, a full-perspective camera. Importing this package registers their SMPL-stage methods; the estimator's
own package is imported only when a method is built."""

from . import romp  # noqa: F401 - registers the romp method
