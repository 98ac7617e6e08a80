"""Named joint sets: joint order, bones for drawing and OKS sigmas for scoring."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JointSet:
    """The joints one keypoint array's second axis refers to, in order."""

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # index pairs, for drawing skeletons
    sigmas: tuple[float, ...] | None = None  # per-joint OKS sigmas (COCO convention), None if not defined

    def __len__(self) -> int:
        return len(self.joints)

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
    """Return a registered joint set by name, with a clear error naming the ones known."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise KeyError(f"unknown joint set {name!r}; known: {', '.join(sorted(JOINT_SETS))}") from None


def register_joint_set(joint_set: JointSet) -> JointSet:
    """Add a joint set (e.g. a DeepLabCut model's bodyparts) so outputs can name it."""
    existing = JOINT_SETS.get(joint_set.name)
    if existing is not None and existing != joint_set:
        raise ValueError(f"joint set {joint_set.name!r} is already registered with different joints")
    JOINT_SETS[joint_set.name] = joint_set
    return joint_set
