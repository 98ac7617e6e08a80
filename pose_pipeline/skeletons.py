"""Named joint sets: joint order, bones for drawing and OKS sigmas for scoring.

The built-in sets live here. A set made at run time (a DeepLabCut model's bodyparts, a ``combined`` method's
joints) is registered in this process by the wrapper that makes it, and stored in the database with every result
that uses it (`pose_pipeline.schema.joint_sets`); `get_joint_set` asks the database for names this process has
not seen, so any process on any machine can read any result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from . import resolvers


@dataclass(frozen=True)
class JointSet:
    """The joints one keypoint array's second axis refers to, in order."""

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # index pairs, for drawing skeletons
    sigmas: tuple[float, ...] | None = None  # per-joint OKS sigmas (COCO convention), None if not defined

    def __len__(self) -> int:
        return len(self.joints)

    def definition(self) -> dict:
        """The definition as plain JSON-able data: what two joint sets of the same name must agree on."""
        return {
            "name": self.name,
            "joints": list(self.joints),
            "bones": [list(bone) for bone in self.bones],
            "sigmas": None if self.sigmas is None else [float(s) for s in self.sigmas],
        }

    def sha256(self) -> str:
        """Checksum of the canonical JSON of `definition`."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(
                f"joint {joint!r} is not in joint set {self.name!r}; it has {', '.join(self.joints)}"
            ) from None


COCO17 = JointSet(
    name="COCO-17",
    joints=(
        "nose",
        "left_eye",
        "right_eye",
        "left_ear",
        "right_ear",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ),
    bones=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),
    # The per-keypoint sigmas pycocotools uses for COCO person keypoints.
    sigmas=(
        0.026,
        0.025,
        0.025,
        0.035,
        0.035,
        0.079,
        0.079,
        0.072,
        0.072,
        0.062,
        0.062,
        0.107,
        0.107,
        0.087,
        0.087,
        0.089,
        0.089,
    ),
)

FACE_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

JOINT_SETS: dict[str, JointSet] = {COCO17.name: COCO17}


def get_joint_set(name: str) -> JointSet:
    """A joint set by name: built-in or registered in this process, else stored in the database (when the schema
    is active); a clear error names the ones known here otherwise."""
    found = JOINT_SETS.get(name)
    if found is not None:
        return found
    if resolvers.has_resolver(resolvers.JOINT_SET):
        try:
            stored = resolvers.resolve(resolvers.JOINT_SET, name)
        except resolvers.UnresolvedError:
            pass
        else:
            return JOINT_SETS.setdefault(name, stored)  # stored definitions never change: keep it
    known = ", ".join(sorted(JOINT_SETS))
    where = "" if resolvers.has_resolver(resolvers.JOINT_SET) else " (the database was not asked: schema not active)"
    raise KeyError(f"unknown joint set {name!r}; known: {known}{where}")


def register_joint_set(joint_set: JointSet) -> JointSet:
    """Add a joint set (e.g. a DeepLabCut model's bodyparts) so outputs can name it."""
    existing = JOINT_SETS.get(joint_set.name)
    if existing is not None and existing != joint_set:
        raise ValueError(f"joint set {joint_set.name!r} is already registered with different joints")
    JOINT_SETS[joint_set.name] = joint_set
    return joint_set


# --- Halpe-26 and COCO-WholeBody-133 ------------------------------------------------------------------------------
# Joint order, links and sigmas as in mmpose 1.x ``configs/_base_/datasets/halpe26.py`` and ``coco_wholebody.py``
# (the orders RTMPose-Halpe26 and RTMW models output). Sigmas: Halpe's cocoeval (halpecocotools) and COCO-WholeBody's
# ``evaluation/myeval_wholebody.py``, as mmpose copies them.

HALPE26 = JointSet(
    name="Halpe-26",
    joints=(
        *COCO17.joints,
        "head",
        "neck",
        "hip",
        "left_big_toe",
        "right_big_toe",
        "left_small_toe",
        "right_small_toe",
        "left_heel",
        "right_heel",
    ),
    bones=(
        (15, 13),
        (13, 11),
        (11, 19),
        (16, 14),
        (14, 12),
        (12, 19),
        (17, 18),
        (18, 19),
        (18, 5),
        (5, 7),
        (7, 9),
        (18, 6),
        (6, 8),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
        (15, 20),
        (15, 22),
        (15, 24),
        (16, 21),
        (16, 23),
        (16, 25),
    ),
    sigmas=(*COCO17.sigmas, 0.026, 0.026, 0.066, 0.079, 0.079, 0.079, 0.079, 0.079, 0.079),
)


def _hand(side: str) -> tuple[str, ...]:
    fingers = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
    return (f"{side}_hand_root", *(f"{side}_{finger}{i}" for finger in fingers for i in range(1, 5)))


def _hand_bones(root: int) -> tuple[tuple[int, int], ...]:
    bones = []
    for finger in range(5):
        chain = [root, *range(root + 1 + 4 * finger, root + 5 + 4 * finger)]
        bones.extend((chain[i], chain[i + 1]) for i in range(4))
    return tuple(bones)


# fmt: off
_WHOLEBODY_FACE_SIGMAS = (
    0.042, 0.043, 0.044, 0.043, 0.040, 0.035, 0.031, 0.025, 0.020, 0.023, 0.029, 0.032, 0.037, 0.038, 0.043, 0.041,
    0.045, 0.013, 0.012, 0.011, 0.011, 0.012, 0.012, 0.011, 0.011, 0.013, 0.015, 0.009, 0.007, 0.007, 0.007, 0.012,
    0.009, 0.008, 0.016, 0.010, 0.017, 0.011, 0.009, 0.011, 0.009, 0.007, 0.013, 0.008, 0.011, 0.012, 0.010, 0.034,
    0.008, 0.008, 0.009, 0.008, 0.008, 0.007, 0.010, 0.008, 0.009, 0.009, 0.009, 0.007, 0.007, 0.008, 0.011, 0.008,
    0.008, 0.008, 0.010, 0.008,
)
_WHOLEBODY_HAND_SIGMAS = (
    0.029, 0.022, 0.035, 0.037, 0.047, 0.026, 0.025, 0.024, 0.035, 0.018, 0.024, 0.022, 0.026, 0.017, 0.021, 0.021,
    0.032, 0.020, 0.019, 0.022, 0.031,
)
# fmt: on

COCO_WHOLEBODY133 = JointSet(
    name="COCO-WholeBody-133",
    joints=(
        *COCO17.joints,
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
        *(f"face-{i}" for i in range(68)),
        *_hand("left"),
        *_hand("right"),
    ),
    # mmpose links body and feet and both hands; the face has no links
    bones=(
        *COCO17.bones,
        (15, 17),
        (15, 18),
        (15, 19),
        (16, 20),
        (16, 21),
        (16, 22),
        *_hand_bones(91),
        *_hand_bones(112),
    ),
    sigmas=(
        *COCO17.sigmas,
        0.068,
        0.066,
        0.066,
        0.092,
        0.094,
        0.094,
        *_WHOLEBODY_FACE_SIGMAS,
        *_WHOLEBODY_HAND_SIGMAS,
        *_WHOLEBODY_HAND_SIGMAS,
    ),
)

JOINT_SETS[HALPE26.name] = HALPE26
JOINT_SETS[COCO_WHOLEBODY133.name] = COCO_WHOLEBODY133

# --- Human3.6M-17 -------------------------------------------------------------------------------------------------
# The 17 joints 3D lifters (VideoPose3D, MotionBERT, GAST-Net) take and return, in that order; names as mmpose 1.x
# ``configs/_base_/datasets/h36m.py``; bones from each joint to its parent in VideoPose3D's skeleton. No OKS sigmas.
_H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M17 = JointSet(
    name="H36M-17",
    joints=(
        "root",
        "right_hip",
        "right_knee",
        "right_foot",
        "left_hip",
        "left_knee",
        "left_foot",
        "spine",
        "thorax",
        "neck_base",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
    ),
    bones=tuple((parent, child) for child, parent in enumerate(_H36M_PARENTS) if parent >= 0),
)
JOINT_SETS[H36M17.name] = H36M17

# --- BlazePose-33 --------------------------------------------------------------------------------------------------
# MediaPipe's pose landmarks in the landmark model's output order (mediapipe ``PoseLandmark``; bones its
# ``POSE_CONNECTIONS``). No OKS sigmas of its own: the 17 joints it shares with COCO map to COCO-17
# (`BLAZEPOSE_TO_COCO17`), where COCO's sigmas apply.
# fmt: off
_BLAZEPOSE_BONES = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (13, 15),
    (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31),
    (30, 32), (27, 31), (28, 32),
)
# fmt: on
BLAZEPOSE33 = JointSet(
    name="BlazePose-33",
    joints=(
        "nose",
        "left_eye_inner",
        "left_eye",
        "left_eye_outer",
        "right_eye_inner",
        "right_eye",
        "right_eye_outer",
        "left_ear",
        "right_ear",
        "mouth_left",
        "mouth_right",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_pinky",
        "right_pinky",
        "left_index",
        "right_index",
        "left_thumb",
        "right_thumb",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "left_heel",
        "right_heel",
        "left_foot_index",
        "right_foot_index",
    ),
    bones=_BLAZEPOSE_BONES,
)
JOINT_SETS[BLAZEPOSE33.name] = BLAZEPOSE33
# BlazePose-33 index of each COCO-17 joint, in COCO-17 order (the same names in both sets).
BLAZEPOSE_TO_COCO17 = tuple(BLAZEPOSE33.index(name) for name in COCO17.joints)

# --- OpenPose's body models ---------------------------------------------------------------------------------------
# Joint order as OpenPose writes ``pose_keypoints_2d`` (``poseParameters.cpp``: BODY_25, COCO, and the experimental
# BODY_25B), in this project's naming so that joints shared with COCO-17 have the same names (OpenPose's ``RShoulder``
# is ``right_shoulder``, ``MidHip`` ``mid_hip``, BODY_25B's ``UpperNeck`` / ``HeadTop`` ``upper_neck`` / ``head_top``).
# Bones as OpenPose draws them. No OKS sigmas: OpenPose defines none for its extra joints.

_OPENPOSE_SIDE = ("shoulder", "elbow", "wrist")
_OPENPOSE_LEG = ("hip", "knee", "ankle")
OPENPOSE_BODY25 = JointSet(
    name="OpenPose-BODY_25",
    joints=(
        "nose",
        "neck",
        *(f"right_{j}" for j in _OPENPOSE_SIDE),
        *(f"left_{j}" for j in _OPENPOSE_SIDE),
        "mid_hip",
        *(f"right_{j}" for j in _OPENPOSE_LEG),
        *(f"left_{j}" for j in _OPENPOSE_LEG),
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ),
    bones=((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
           (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22),
           (22, 23), (11, 24)),
)  # fmt: skip
OPENPOSE_COCO18 = JointSet(
    name="OpenPose-COCO-18",
    joints=(
        "nose",
        "neck",
        *(f"right_{j}" for j in _OPENPOSE_SIDE),
        *(f"left_{j}" for j in _OPENPOSE_SIDE),
        *(f"right_{j}" for j in _OPENPOSE_LEG),
        *(f"left_{j}" for j in _OPENPOSE_LEG),
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
    ),
    bones=((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
           (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)),
)  # fmt: skip
OPENPOSE_BODY25B = JointSet(
    name="OpenPose-BODY_25B",
    joints=(
        *COCO17.joints,  # BODY_25B starts with COCO-17's joints in COCO-17's order
        "upper_neck",
        "head_top",
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ),
    bones=((0, 1), (0, 2), (1, 3), (2, 4), (5, 7), (6, 8), (7, 9), (8, 10), (5, 11), (6, 12), (11, 12), (11, 13),
           (12, 14), (13, 15), (14, 16), (5, 17), (6, 17), (17, 18), (15, 19), (19, 20), (15, 21), (16, 22),
           (22, 23), (16, 24)),
)  # fmt: skip
OPENPOSE = (OPENPOSE_BODY25, OPENPOSE_BODY25B, OPENPOSE_COCO18)
for _openpose in OPENPOSE:
    JOINT_SETS[_openpose.name] = _openpose

# stored in every database at activation
BUILT_IN = (COCO17, HALPE26, COCO_WHOLEBODY133, H36M17, BLAZEPOSE33, *OPENPOSE)
