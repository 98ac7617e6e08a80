"""Body-model fits as ``.npz`` in the layouts SMPL tools read (pure: arrays in, file out).

One file holds both common layouts, NaN in frames without a fit:

- AMASS's: ``poses`` (frames, 3 + 3P) the root orientation then every joint's axis-angle (SMPL 72, SMPL+H 156,
  SMPL-X 165 values), ``trans`` (frames, 3), ``betas``, ``gender``, ``mocap_framerate``, ``surface_model_type``;
- smplx's keyword arguments: ``global_orient``, ``body_pose`` (frames, 3 x 23 for SMPL, 3 x 21 for SMPL+H and
  SMPL-X), ``left_hand_pose`` / ``right_hand_pose`` (frames, 45, full axis-angle: build the model with
  ``use_pca=False, flat_hand_mean=True``), ``jaw_pose``, ``leye_pose``, ``reye_pose`` (SMPL-X), ``transl``, so
  ``smplx.create(folder, model_type)(**{k: torch.tensor(v) ...})`` reproduces the fit.

The orientation and translation put the body in the camera frame (x right, y down, z forward, metres), with the
camera in ``camera_model`` / ``camera_params`` (frames, 4). Anny fits are written with their own pose layout
(``pose_joints``) in ``poses`` and ``body_pose``; SMPL tools cannot read those.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .result import ExportError


def smpl_npz_arrays(model_type: str, gender: str, betas, pose, global_orient, transl, *, fps: float,
                    pose_joints=(), camera_model: str = "", camera_params=None) -> dict[str, np.ndarray]:  # fmt: skip
    """The arrays of the file (see the module docstring)."""
    pose = np.asarray(pose, dtype=np.float64)
    global_orient = np.asarray(global_orient, dtype=np.float64)
    n = len(pose)
    if n == 0:
        raise ExportError(f"the {model_type} fit has no frames: nothing to export")
    flat = pose.reshape(n, -1)
    arrays = {
        "poses": np.concatenate([global_orient, flat], 1),
        "trans": np.asarray(transl, dtype=np.float64),
        "betas": np.asarray(betas, dtype=np.float64),
        "gender": np.array(gender),
        "mocap_framerate": np.array(float(fps)),
        "surface_model_type": np.array(model_type),
        "global_orient": global_orient,
        "transl": np.asarray(transl, dtype=np.float64),
        "pose_joints": np.array(list(pose_joints)),
        "camera_model": np.array(camera_model),
    }
    if camera_params is not None:
        arrays["camera_params"] = np.asarray(camera_params, dtype=np.float64)
    if model_type == "smpl":
        arrays["body_pose"] = flat
    elif model_type in ("smplh", "smplx"):
        arrays["body_pose"] = pose[:, :21].reshape(n, -1)
        arrays["left_hand_pose"] = pose[:, -30:-15].reshape(n, -1)
        arrays["right_hand_pose"] = pose[:, -15:].reshape(n, -1)
        if model_type == "smplx":
            arrays["jaw_pose"], arrays["leye_pose"], arrays["reye_pose"] = pose[:, 21], pose[:, 22], pose[:, 23]
    else:
        arrays["body_pose"] = flat
    return arrays


def write_smpl_npz(path, *args, **kwargs) -> Path:
    """Write `smpl_npz_arrays` to ``path`` (``.npz``); returns the path."""
    path = Path(path)
    arrays = smpl_npz_arrays(*args, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path
