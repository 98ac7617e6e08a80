"""Body models (Anny; SMPL, SMPL+H, SMPL-X with the user's files), rotation formats and the SMPLify-style fit
(pure: no schema). Importing the package registers the SMPL-stage methods in `pose_pipeline.stages.SMPL`; torch,
roma, smplx and anny are imported only when a model is built (``pip install pose_pipeline[bodymodels]``)."""

from . import estimators, methods  # noqa: F401 - register the methods: the fit's, the released estimators'

DEFAULT_SMPL = "smplify"
