"""The registered SMPL-stage methods: ``smplify``, the optimisation fit of a body model (Anny by default, or the
user's SMPL / SMPL+H / SMPL-X files) to a subject's 2D keypoints, optionally helped by its lifted 3D."""

from __future__ import annotations

import numpy as np

from pose_pipeline.formats import SMPLParams
from pose_pipeline.skeletons import COCO17
from pose_pipeline.stages import SMPL

from .fit import DEFAULTS, fit_body_model, map_joints

MODEL_PARAMS = {
    "model": "anny",  # anny, smpl, smplh, smplx
    "gender": "neutral",
    "num_betas": 10,  # SMPL family only; Anny has its 6 phenotypes
    "model_folder": None,  # a folder laid out as smplx expects; None: body_models/ of the weights directories
    "lifting_method": None,  # a LiftingMethod of the same subject to initialise from and fit towards
    "lifting_params_hash": None,  # which of that lifter's parameter sets (None: its only one)
}


class SMPLify:
    """A built body model and fit parameters; ``fitter(keypoints, joint_names, image_size, lifted=None,
    lifted_names=None)`` returns `SMPLParams` with COCO-17 keypoints."""

    def __init__(self, model, fit_params: dict):
        self.model = model
        self.fit_params = fit_params

    def check_input(self, joint_names) -> None:
        map_joints(joint_names)

    def __call__(self, keypoints, joint_names, image_size, lifted=None, lifted_names=None) -> SMPLParams:
        fit = fit_body_model(self.model, keypoints, joint_names, image_size, lifted=lifted, lifted_names=lifted_names,
                             **self.fit_params)  # fmt: skip
        coco = [fit.keypoint_names.index(name) for name in COCO17.joints]
        two_d = fit.keypoints_2d[:, coco]
        ones = np.where(np.isfinite(two_d[..., :1]), 1.0, np.nan)
        return SMPLParams(
            model_type=fit.model_type,
            gender=fit.gender,
            betas=fit.betas,
            pose=fit.pose,
            pose_joints=fit.pose_joint_names,
            global_orient=fit.global_orient,
            transl=fit.transl,
            camera=fit.camera,
            camera_params=fit.camera_params,
            keypoints_3d=fit.keypoints_3d[:, coco],
            keypoints_2d=np.concatenate([two_d, ones], -1),
            joint_set=COCO17.name,
            frame_status=fit.frame_status,
            reprojection_error=fit.reprojection_error,
        )


@SMPL.register(
    "smplify",
    version="1.0",
    params={**MODEL_PARAMS, **DEFAULTS},
    description="SMPLify-style optimisation (PyTorch, Adam) of a body model to the subject's 2D keypoints: "
    "Anny (shipped, CC0 assets) by default, or SMPL / SMPL+H / SMPL-X from the user's files; confidence-weighted "
    "robust reprojection through a perspective (default) or weak-perspective camera, Gaussian pose and shape "
    "priors (no licensed prior files), joint-angle limits, temporal smoothness, one shape per subject, "
    "optionally the subject's lifted 3D. GPU when present.",
    requires=("bodymodels",),
    device="any",
)
def smplify(model="anny", gender="neutral", num_betas=10, model_folder=None, lifting_method=None,
            lifting_params_hash=None, **fit_params) -> SMPLify:  # fmt: skip
    """Build the body model (its files checked and noted for provenance) and keep the fit parameters."""
    from .models import body_model

    return SMPLify(body_model(model, gender, folder=model_folder, num_betas=num_betas), fit_params)
