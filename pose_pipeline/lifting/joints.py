"""Joint conversions into Human3.6M-17, the joint set 3D lifters take and return (`pose_pipeline.skeletons.H36M17`).

Two COCO-17 -> H36M-17 mappings are in use and they disagree on the torso and head, so every lifted row records
which one made its input (`CONVERSIONS`):

- ``h36m_standard`` (mmpose 1.x ``convert_keypoint_definition``, the mapping most lifters were trained against):
  root = mid-hips, thorax = mid-shoulders, spine = midpoint of root and thorax, head = mid-eyes, neck_base = nose;
  every other joint is copied.
- ``gastnet`` (GAST-Net ``tools/mpii_coco_h36m.py: coco_h36m``, also used by PoseFormer, MotionAGFormer and
  PosePipe): a heuristic in image coordinates (y down) that moves the head above the eyes, the thorax towards the
  nose and the neck between nose and shoulders, and pushes the spine sideways::

      head.x  = mean(x of both eyes and ears)        head.y = left_eye.y + right_eye.y - nose.y
      thorax  = mid_shoulders + (nose - mid_shoulders) / 3,  then thorax.y -= (mean eye y - nose.y) * 2 / 3
      root    = mid_hips                             spine = mean(both shoulders, both hips)
      spine.x += 2 * (spine.x - (root.x + thorax.x) / 2)
      neck_base = nose - (nose - mid_shoulders) / 4

  It is meant for 2D image keypoints only (it assumes y points down).

Halpe-26 and COCO-WholeBody-133 start with the 17 COCO joints in COCO's order, so they map through that subset.
H36M-17 input is taken as it is (``identity``). Arrays are (frames, joints, C): the first two (or three)
channels are coordinates; a third channel of 2D input is a confidence. A derived joint's confidence is the mean
of the confidences of the joints it is made from (as GAST-Net does); NaN in any input joint gives NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pose_pipeline.skeletons import BLAZEPOSE33, BLAZEPOSE_TO_COCO17, COCO17, H36M17, get_joint_set

IDENTITY, STANDARD, GASTNET = "identity", "h36m_standard", "gastnet"
COCO_SUBSET_SETS = ("COCO-17", "Halpe-26", "COCO-WholeBody-133")  # sets whose first 17 joints are COCO-17's
# sets that hold COCO-17's joints in another order: the indices of COCO-17's joints in them
COCO_PICKS = {BLAZEPOSE33.name: list(BLAZEPOSE_TO_COCO17)}

_C = {name: i for i, name in enumerate(COCO17.joints)}
_H = {name: i for i, name in enumerate(H36M17.joints)}
# H36M joints copied from a COCO joint in both mappings
_COPIED = {
    "right_hip": "right_hip",
    "right_knee": "right_knee",
    "right_foot": "right_ankle",
    "left_hip": "left_hip",
    "left_knee": "left_knee",
    "left_foot": "left_ankle",
    "left_shoulder": "left_shoulder",
    "left_elbow": "left_elbow",
    "left_wrist": "left_wrist",
    "right_shoulder": "right_shoulder",
    "right_elbow": "right_elbow",
    "right_wrist": "right_wrist",
}


class JointSetMismatchError(ValueError):
    """A lifter cannot take keypoints of this joint set (no conversion to the joint set it needs)."""


def _mean(coco: np.ndarray, *names: str) -> np.ndarray:
    return np.mean(coco[:, [_C[n] for n in names]], axis=1)


def _float(keypoints) -> np.ndarray:
    """Float32 input stays float32 (long clips), anything else becomes float64."""
    keypoints = np.asarray(keypoints)
    return keypoints if keypoints.dtype in (np.float32, np.float64) else keypoints.astype(float)


def _copy_joints(coco: np.ndarray) -> np.ndarray:
    out = np.full((coco.shape[0], len(H36M17), coco.shape[2]), np.nan, dtype=coco.dtype)
    for h36m, name in _COPIED.items():
        out[:, _H[h36m]] = coco[:, _C[name]]
    return out


def coco_to_h36m_standard(coco: np.ndarray) -> np.ndarray:
    """COCO-17 (frames, 17, C) -> H36M-17 (frames, 17, C) by the standard mapping (module docstring)."""
    coco = _float(coco)
    out = _copy_joints(coco)
    out[:, _H["root"]] = _mean(coco, "left_hip", "right_hip")
    out[:, _H["thorax"]] = _mean(coco, "left_shoulder", "right_shoulder")
    out[:, _H["spine"]] = (out[:, _H["root"]] + out[:, _H["thorax"]]) / 2
    out[:, _H["head"]] = _mean(coco, "left_eye", "right_eye")
    out[:, _H["neck_base"]] = coco[:, _C["nose"]]
    return out


def coco_to_h36m_gastnet(coco: np.ndarray) -> np.ndarray:
    """COCO-17 2D keypoints (frames, 17, 2 or 3) -> H36M-17 by GAST-Net's heuristic (module docstring)."""
    coco = _float(coco)
    if coco.shape[2] not in (2, 3):
        raise ValueError(f"GAST-Net's mapping is for 2D keypoints (x, y[, confidence]); got {coco.shape[2]} channels")
    out = _copy_joints(coco)
    x, y = 0, 1
    nose = coco[:, _C["nose"], :2]
    mid_shoulders = _mean(coco, "left_shoulder", "right_shoulder")[:, :2]
    eyes_y = _mean(coco, "left_eye", "right_eye")[:, y]
    head, thorax, root, spine = (out[:, _H[n]] for n in ("head", "thorax", "root", "spine"))  # views into out
    head[:, x] = _mean(coco, "left_eye", "right_eye", "left_ear", "right_ear")[:, x]
    head[:, y] = coco[:, _C["left_eye"], y] + coco[:, _C["right_eye"], y] - nose[:, y]
    thorax[:, :2] = mid_shoulders + (nose - mid_shoulders) / 3
    thorax[:, y] -= (eyes_y - nose[:, y]) * 2 / 3
    root[:, :2] = _mean(coco, "left_hip", "right_hip")[:, :2]
    spine[:, :2] = _mean(coco, "left_shoulder", "right_shoulder", "left_hip", "right_hip")[:, :2]
    spine[:, x] += 2 * (spine[:, x] - (root[:, x] + thorax[:, x]) / 2)
    out[:, _H["neck_base"], :2] = nose - (nose - mid_shoulders) / 4
    if coco.shape[2] == 3:  # confidences as GAST-Net's coco_h36m_toe_format sets them
        score = coco[:, :, 2]
        root[:, 2] = np.mean(score[:, [_C["left_hip"], _C["right_hip"]]], axis=1)
        thorax[:, 2] = np.mean(score[:, [_C["left_shoulder"], _C["right_shoulder"]]], axis=1)
        spine[:, 2] = (root[:, 2] + thorax[:, 2]) / 2
        head[:, 2] = np.mean(score[:, [_C[n] for n in ("left_eye", "right_eye", "left_ear", "right_ear")]], axis=1)
        out[:, _H["neck_base"], 2] = score[:, _C["nose"]]
    return out


CONVERSIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    STANDARD: coco_to_h36m_standard,
    GASTNET: coco_to_h36m_gastnet,
}


def conversion_name(input_joint_set: str, conversion: str) -> str:
    """What is recorded per row: ``identity`` for H36M-17 input, else the COCO mapping's name."""
    return IDENTITY if input_joint_set == H36M17.name else conversion


def to_h36m(keypoints: np.ndarray, joint_set: str, conversion: str = STANDARD) -> tuple[np.ndarray, str]:
    """Keypoints of ``joint_set`` (frames, joints, C) as H36M-17 (frames, 17, C), and the conversion's name.

    Raises `JointSetMismatchError` naming both joint sets when ``joint_set`` has no mapping to H36M-17.
    """
    if conversion not in CONVERSIONS:
        raise ValueError(f"unknown joint conversion {conversion!r}; known: {', '.join(CONVERSIONS)}")
    keypoints = _float(keypoints)
    known = (H36M17.name, *COCO_SUBSET_SETS, *COCO_PICKS)
    expected = len(get_joint_set(joint_set)) if joint_set in known else None
    if expected is None:
        raise JointSetMismatchError(
            f"joint set {joint_set!r} cannot be lifted: the lifter takes {H36M17.name!r}, and only "
            f"{', '.join(known[1:])} or {H36M17.name} can be converted to it"
        )
    if keypoints.ndim != 3 or keypoints.shape[1] != expected:
        raise ValueError(
            f"keypoints of joint set {joint_set!r} need shape (frames, {expected}, C), got {keypoints.shape}"
        )
    if joint_set == H36M17.name:
        return keypoints.copy(), IDENTITY
    if joint_set in COCO_PICKS:
        return CONVERSIONS[conversion](keypoints[:, COCO_PICKS[joint_set]]), conversion
    return CONVERSIONS[conversion](keypoints[:, : len(COCO17)]), conversion
