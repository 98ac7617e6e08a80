"""Body models (Anny; SMPL, SMPL+H, SMPL-X with the user's files), rotation formats and the SMPLify-style fit
(pure: no schema). Importing the package registers the SMPL-stage methods in `pose_pipeline.stages.SMPL`; torch,
roma, smplx and anny are imported only when a model is built (``pip install pose_pipeline[bodymodels]``)."""

from . import methods  # noqa: F401 - registers the methods
from . import estimators  # noqa: F401 - registers the released estimators' methods

DEFAULT_SMPL = "smplify"
