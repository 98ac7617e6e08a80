"""Skeleton definitions for the anatomically constrained skeleton model, as plain JSON-able data.

A definition is a tree of joints. Every joint but the root ends one bone that starts at its parent; the bone's rest
vector (parent to joint, metres, in the body frame) gives its rest direction and its nominal length. Body frame:
x anterior (forward), y to the animal's left, z up. A bone rotates about its start joint in a local frame whose
z axis points along the bone at rest and whose x axis is the body's lateral (y) axis made orthogonal to the bone:
rotation about local x is flexion/extension, about local y abduction/adduction, about local z internal/external
rotation (Monsees et al. 2022, Methods "Defining a 3D skeleton model"). Angles are intrinsic x-y-z Euler angles
relative to the rest pose. With this frame a right-side bone mirrors its left partner with the same x angle and the
y and z angles negated, which is how the right-side limits below are made.

Limits per axis: ``[low, high]`` degrees with low < 0 < high (the rest pose must lie inside), ``[0, 0]`` for an
axis that does not move, or ``None`` for no limit. Bone-length bounds: ``[low, high]`` metres, ``high`` None for
no upper bound. Markers sit rigidly at an offset (metres, body frame at rest) from the joint they are attached to
and move with the bone that ends at that joint (the root's markers move with the global rotation).

Sources: rat limb-bone lengths are linear in body weight (Lammers & German 2002, as used by the study; the study
allows +-10 s.d.); mouse limb-bone lengths are adult means from Marchini et al. 2019 (PeerJ 7:e7180); rodent
joint-angle ranges are the domestic-cat ranges the study adopted (its Supplementary Table 1), head/spine/tail
bones +-90 deg about x and y and none about z, clavicle and pelvis fixed. Human segment lengths are fractions of
stature from Drillis & Contini (1966) as tabulated in Winter, Biomechanics and Motor Control of Human Movement
(4th ed., 2009, Fig. 4.1); human ranges of motion from the AAOS normal values (Greene & Heckman 1994).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

FIXED = (0.0, 0.0)
SPINE_LIMITS = ((-90.0, 90.0), (-90.0, 90.0), FIXED)  # the study's assumption for head, spine and tail bones
ALL_FIXED = (FIXED, FIXED, FIXED)


def _number(value) -> float:
    return float(value) + 0.0  # -0.0 + 0.0 is 0.0


def _bound(value):
    return float(value) if np.ndim(value) == 0 else tuple(float(v) for v in value)


class SkeletonDefinitionError(ValueError):
    """A skeleton definition that cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class Joint:
    """One joint; for every joint but the root, the bone from its parent to it."""

    name: str
    parent: str | None  # None for the root
    rest: tuple[float, float, float] = (0.0, 0.0, 0.0)  # bone vector parent -> joint at rest (m, body frame)
    limits: tuple | None = None  # per local axis (x, y, z): (low, high) degrees, (0, 0) fixed, None free
    length_bounds: tuple[float, float | None] | None = None  # metres; None: (0, no upper bound)


@dataclass(frozen=True)
class Marker:
    """A surface marker rigidly attached to a joint."""

    name: str
    joint: str
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres, body frame at rest, from the joint
    # the anatomy fit keeps each offset coordinate within +-this (metres); three values bound x, y, z apart
    # (a 0 fixes that coordinate, as the study fixed all but the lateral one for markers on limb joints)
    offset_bound: float | tuple[float, float, float] = 0.03

    def bounds(self) -> np.ndarray:
        """(3,) per-axis bound."""
        return np.broadcast_to(np.asarray(self.offset_bound, dtype=float), (3,)).copy()


@dataclass(frozen=True)
class SkeletonDefinition:
    """A skeleton: joints (a tree), markers on them, and left/right pairs of joints and of markers."""

    name: str
    joints: tuple[Joint, ...]
    markers: tuple[Marker, ...]
    joint_pairs: tuple[tuple[str, str], ...] = ()  # (left, right) joint names: mirrored bone lengths and limits
    marker_pairs: tuple[tuple[str, str], ...] = ()  # (left, right) marker names: mirrored offsets
    source: str = ""
    params: dict = field(default_factory=dict)  # what the definition was made from (species, body weight, ...)

    def __post_init__(self):
        validate(self)

    # ---- plain data ----
    def definition(self) -> dict:
        """The definition as plain JSON-able data (what the database stores); -0.0 is written 0.0, which a
        database's JSON type (PostgreSQL jsonb) would make of it anyway, so the checksum survives the round trip."""
        return {
            "name": self.name,
            "joints": [
                {
                    "name": j.name,
                    "parent": j.parent,
                    "rest": [_number(v) for v in j.rest],
                    "limits": None
                    if j.limits is None
                    else [None if a is None else [_number(v) for v in a] for a in j.limits],
                    "length_bounds": None
                    if j.length_bounds is None
                    else [
                        _number(j.length_bounds[0]),
                        None if j.length_bounds[1] is None else _number(j.length_bounds[1]),
                    ],
                }
                for j in self.joints
            ],
            "markers": [
                {
                    "name": m.name,
                    "joint": m.joint,
                    "offset": [_number(v) for v in m.offset],
                    "offset_bound": _number(m.offset_bound)
                    if np.ndim(m.offset_bound) == 0
                    else [_number(v) for v in m.offset_bound],
                }
                for m in self.markers
            ],
            "joint_pairs": [list(p) for p in self.joint_pairs],
            "marker_pairs": [list(p) for p in self.marker_pairs],
            "source": self.source,
            "params": dict(self.params),
        }

    @classmethod
    def from_definition(cls, data: dict) -> SkeletonDefinition:
        """Inverse of `definition`; raises SkeletonDefinitionError naming what is wrong."""
        try:
            joints = tuple(
                Joint(
                    name=j["name"],
                    parent=j.get("parent"),
                    rest=tuple(float(v) for v in j.get("rest", (0, 0, 0))),
                    limits=None
                    if j.get("limits") is None
                    else tuple(None if a is None else (float(a[0]), float(a[1])) for a in j["limits"]),
                    length_bounds=None if j.get("length_bounds") is None else tuple(j["length_bounds"]),
                )
                for j in data["joints"]
            )
            markers = tuple(
                Marker(
                    name=m["name"],
                    joint=m["joint"],
                    offset=tuple(float(v) for v in m.get("offset", (0, 0, 0))),
                    offset_bound=_bound(m.get("offset_bound", 0.03)),
                )
                for m in data.get("markers", [])
            )
            joint_pairs = tuple((str(a), str(b)) for a, b in data.get("joint_pairs", []))
            marker_pairs = tuple((str(a), str(b)) for a, b in data.get("marker_pairs", []))
            name = data["name"]
        except (KeyError, TypeError, IndexError) as exc:
            raise SkeletonDefinitionError(f"malformed skeleton definition: {exc!r}") from None
        return cls(
            name, joints, markers, joint_pairs, marker_pairs, data.get("source", ""), dict(data.get("params", {}))
        )

    def to_json(self) -> str:
        return json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    # ---- derived arrays (joints in the stored order, which validation makes parent-first) ----
    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def marker_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.markers)

    @property
    def parents(self) -> np.ndarray:
        """Parent index per joint, -1 for the root."""
        index = {n: i for i, n in enumerate(self.joint_names)}
        return np.array([-1 if j.parent is None else index[j.parent] for j in self.joints])

    def rest_vectors(self) -> np.ndarray:
        """(joints, 3) bone vectors parent -> joint at rest; zeros for the root."""
        return np.array([j.rest for j in self.joints], dtype=float)

    def rest_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.rest_vectors(), axis=1)

    def rest_positions(self) -> np.ndarray:
        """(joints, 3) joint positions at rest, root at the origin."""
        vectors, parents = self.rest_vectors(), self.parents
        positions = np.zeros_like(vectors)
        for i in range(1, len(vectors)):
            positions[i] = positions[parents[i]] + vectors[i]
        return positions

    def marker_joints(self) -> np.ndarray:
        index = {n: i for i, n in enumerate(self.joint_names)}
        return np.array([index[m.joint] for m in self.markers], dtype=int)

    def marker_offsets(self) -> np.ndarray:
        return np.array([m.offset for m in self.markers], dtype=float).reshape(-1, 3)

    def angle_limits(self, relax: bool = False) -> np.ndarray:
        """(joints, 3, 2) limits in radians: NaN for a free axis, equal bounds for a fixed one. The root row is
        free (the global rotation). ``relax``: drop every limit that is not a fixed axis (the study's regimes
        without anatomical constraints)."""
        out = np.full((len(self.joints), 3, 2), np.nan)
        for i, joint in enumerate(self.joints):
            if joint.parent is None or joint.limits is None:
                continue
            for axis, lim in enumerate(joint.limits):
                if lim is None or (relax and lim[0] != lim[1]):
                    continue
                out[i, axis] = np.radians(lim)
        return out

    def length_bounds(self) -> np.ndarray:
        """(joints, 2) bone-length bounds in metres (root row: 0, 0); +inf where there is no upper bound."""
        out = np.zeros((len(self.joints), 2))
        for i, joint in enumerate(self.joints):
            if joint.parent is None:
                continue
            low, high = joint.length_bounds if joint.length_bounds is not None else (0.0, None)
            out[i] = (low, np.inf if high is None else high)
        return out


def validate(skeleton: SkeletonDefinition) -> None:
    """Raise SkeletonDefinitionError for a definition that cannot be used, naming the joint, marker or pair."""
    name = skeleton.name
    names = [j.name for j in skeleton.joints]
    if not names:
        raise SkeletonDefinitionError(f"skeleton {name!r} has no joints")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SkeletonDefinitionError(f"skeleton {name!r}: joint names repeated: {', '.join(duplicates)}")
    known = set(names)
    roots = [j.name for j in skeleton.joints if j.parent is None]
    if len(roots) != 1:
        raise SkeletonDefinitionError(f"skeleton {name!r} must have exactly one root joint, has {roots or 'none'}")
    for joint in skeleton.joints:
        if joint.parent is not None and joint.parent not in known:
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: joint {joint.name!r} has unknown parent {joint.parent!r}"
            )
        if joint.parent == joint.name:
            raise SkeletonDefinitionError(f"skeleton {name!r}: joint {joint.name!r} is its own parent (a loop)")
    parent = {j.name: j.parent for j in skeleton.joints}
    for start in names:  # every chain of parents must reach the root without revisiting a joint
        seen, node = [], start
        while node is not None:
            if node in seen:
                loop = " -> ".join([*seen[seen.index(node) :], node])
                raise SkeletonDefinitionError(f"skeleton {name!r} has a loop: {loop}")
            seen.append(node)
            node = parent[node]
    position = {n: i for i, n in enumerate(names)}
    for joint in skeleton.joints:
        if joint.parent is not None and position[joint.parent] > position[joint.name]:
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: joint {joint.name!r} comes before its parent {joint.parent!r}; list parents first"
            )
        if len(joint.rest) != 3 or not np.all(np.isfinite(joint.rest)):
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: joint {joint.name!r} rest vector must be 3 finite numbers"
            )
        if joint.parent is not None and np.linalg.norm(joint.rest) <= 0:
            raise SkeletonDefinitionError(f"skeleton {name!r}: bone to joint {joint.name!r} has zero rest length")
        if joint.limits is not None:
            if len(joint.limits) != 3:
                raise SkeletonDefinitionError(f"skeleton {name!r}: joint {joint.name!r} needs limits for 3 axes")
            for axis, lim in zip("xyz", joint.limits):
                if lim is None:
                    continue
                low, high = lim
                if not (low == high == 0 or low < 0 < high):
                    raise SkeletonDefinitionError(
                        f"skeleton {name!r}: joint {joint.name!r} {axis} limits {lim} must satisfy low < 0 < high "
                        "(the rest pose inside) or be (0, 0) for a fixed axis"
                    )
        if joint.length_bounds is not None:
            low, high = joint.length_bounds
            length = float(np.linalg.norm(joint.rest))
            if low < 0 or (high is not None and not low <= length <= high):
                raise SkeletonDefinitionError(
                    f"skeleton {name!r}: joint {joint.name!r} rest length {length:.4f} m is outside its bounds "
                    f"{list(joint.length_bounds)}"
                )
    marker_names = [m.name for m in skeleton.markers]
    duplicates = sorted({n for n in marker_names if marker_names.count(n) > 1})
    if duplicates:
        raise SkeletonDefinitionError(f"skeleton {name!r}: marker names repeated: {', '.join(duplicates)}")
    for marker in skeleton.markers:
        if marker.joint not in known:
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: marker {marker.name!r} is attached to {marker.joint!r}, which is not a joint"
            )
        if np.shape(marker.offset_bound) not in ((), (3,)):
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: marker {marker.name!r} offset bound must be 1 or 3 numbers"
            )
        if np.any(np.abs(np.asarray(marker.offset)) > marker.bounds() + 1e-12):
            raise SkeletonDefinitionError(
                f"skeleton {name!r}: marker {marker.name!r} offset {marker.offset} exceeds its bound {marker.offset_bound}"
            )
    for kind, pairs, items in (
        ("joint", skeleton.joint_pairs, {j.name: j.rest for j in skeleton.joints}),
        ("marker", skeleton.marker_pairs, {m.name: m.offset for m in skeleton.markers}),
    ):
        for left, right in pairs:
            for side in (left, right):
                if side not in items:
                    raise SkeletonDefinitionError(
                        f"skeleton {name!r}: {kind} pair ({left!r}, {right!r}) names unknown {kind} {side!r}"
                    )
            if not np.allclose(np.asarray(items[left]) * (1, -1, 1), items[right], atol=1e-9):
                raise SkeletonDefinitionError(
                    f"skeleton {name!r}: {kind}s {left!r} and {right!r} are a pair but are not mirror images in the "
                    "body's x-z plane"
                )


# ---------------------------------------------------------------- builders


def _mirror_limits(limits):
    """Right-side limits from left-side ones: x unchanged, y and z negated (see the module docstring)."""
    if limits is None:
        return None
    x, y, z = limits
    flip = lambda a: None if a is None else (-a[1], -a[0]) if a != FIXED else FIXED
    return (x, flip(y), flip(z))


def _bilateral(joints: list[Joint], markers: list[Marker]):
    """Add the right side of every ``*_left`` joint and marker by mirroring (y -> -y); return both pair lists."""
    pairs, marker_pairs = [], []
    right_joints = []
    for j in joints:
        if j.name.endswith("_left"):
            name = j.name[: -len("left")] + "right"
            parent = j.parent[: -len("left")] + "right" if j.parent and j.parent.endswith("_left") else j.parent
            right_joints.append(
                Joint(name, parent, (j.rest[0], -j.rest[1], j.rest[2]), _mirror_limits(j.limits), j.length_bounds)
            )
            pairs.append((j.name, name))
    right_markers = []
    for m in markers:
        if m.name.endswith("_left"):
            name = m.name[: -len("left")] + "right"
            joint = m.joint[: -len("left")] + "right" if m.joint.endswith("_left") else m.joint
            right_markers.append(Marker(name, joint, (m.offset[0], -m.offset[1], m.offset[2]), m.offset_bound))
            marker_pairs.append((m.name, name))
    return joints + right_joints, markers + right_markers, pairs, marker_pairs


# Rat limb bones, cm per gram of body weight (mean, s.d.): Lammers & German 2002 as used by the study.
RAT_LIMB_CM_PER_G = {
    "humerus": (0.0075, 0.0005),
    "radius": (0.0069, 0.0004),
    "metacarpal": (0.0023, 0.0001),
    "femur": (0.0102, 0.0006),
    "tibia": (0.0114, 0.0006),
    "metatarsal": (0.0053, 0.0003),
}
# Adult mouse limb bones, cm (mean, s.d.): Marchini et al. 2019, as used by the study.
MOUSE_LIMB_CM = {
    "humerus": (1.162, 0.039),
    "radius": (1.531, 0.046),
    "metacarpal": (0.192, 0.009),
    "femur": (1.668, 0.029),
    "tibia": (1.809, 0.052),
    "metatarsal": (0.639, 0.020),
}
# Cat ranges of motion the study adopted (left side, degrees, relative to the rest pose), per bone's end joint.
RODENT_LIMB_LIMITS = {
    "elbow": ((-65.0, 115.0), (-85.0, 25.0), (-35.0, 35.0)),  # humerus, rotated at the shoulder
    "wrist": ((-87.5, 55.0), FIXED, (-100.0, 45.0)),  # radius/ulna at the elbow
    "finger": ((-135.0, 35.0), (-12.5, 37.5), FIXED),  # metacarpal/phalanges at the wrist
    "knee": ((-55.0, 105.0), (-65.0, 25.0), (-85.0, 40.0)),  # femur at the hip
    "ankle": ((-55.0, 105.0), FIXED, FIXED),  # tibia at the knee
    "paw_hind": ((-100.0, 55.0), FIXED, FIXED),  # metatarsus at the ankle
    "toe": (FIXED, FIXED, (-15.0, 35.0)),  # phalanges at the metatarsophalangeal joint
}


def rodent(species: str = "rat", body_weight_g: float | None = None, sigma_factor: float = 10.0) -> SkeletonDefinition:
    """The study's rodent skeleton (28 bones: head, 4 spine, 5 tail, 4 per fore limb, 5 per hind limb) with 41
    markers, standing at rest. Rat limb-bone means scale with body weight; mouse ones are adult means; bounds are
    mean +- ``sigma_factor`` s.d. (the study's 10). Non-limb bones scale with the humerus and are unbounded."""
    if species == "rat":
        weight = 284.4 if body_weight_g is None else float(body_weight_g)  # the study's average rat
        if weight <= 0:
            raise SkeletonDefinitionError(f"rat body weight must be positive, got {weight} g")
        limb = {k: (m * weight / 100.0, s * weight / 100.0) for k, (m, s) in RAT_LIMB_CM_PER_G.items()}  # metres
    elif species == "mouse":
        weight = body_weight_g
        limb = {k: (m / 100.0, s / 100.0) for k, (m, s) in MOUSE_LIMB_CM.items()}
    else:
        raise SkeletonDefinitionError(f"unknown rodent species {species!r}; known: rat, mouse")
    s = limb["humerus"][0] / 0.0213  # body scale relative to a 284 g rat, for bones without allometric data

    def bounded(key):
        mean, sd = limb[key]
        return (max(0.0, mean - sigma_factor * sd), mean + sigma_factor * sd)

    def vec(direction, length):
        d = np.asarray(direction, dtype=float)
        return tuple(float(v) for v in d / np.linalg.norm(d) * length)

    hum, rad, mc = limb["humerus"][0], limb["radius"][0], limb["metacarpal"][0]
    fem, tib, mt = limb["femur"][0], limb["tibia"][0], limb["metatarsal"][0]
    joints = [
        Joint("spine_thoracolumbar", None),
        Joint("spine_cervicothoracic", "spine_thoracolumbar", vec((1, 0, 0.15), 0.055 * s), SPINE_LIMITS),
        Joint("head_atlas", "spine_cervicothoracic", vec((1, 0, 0.4), 0.03 * s), SPINE_LIMITS),
        Joint("snout", "head_atlas", vec((1, 0, -0.3), 0.045 * s), SPINE_LIMITS),
        Joint("spine_lumbosacral", "spine_thoracolumbar", vec((-1, 0, 0), 0.04 * s), SPINE_LIMITS),
        Joint("tail_base", "spine_lumbosacral", vec((-1, 0, -0.1), 0.025 * s), SPINE_LIMITS),
    ]
    parent = "tail_base"
    for k in range(1, 6):
        joints.append(Joint(f"tail_{k}", parent, vec((-1, 0, -0.05), 0.035 * s), SPINE_LIMITS))
        parent = f"tail_{k}"
    joints += [
        Joint("shoulder_left", "spine_cervicothoracic", vec((0, 1, -0.6), 0.012 * s), ALL_FIXED),
        Joint("elbow_left", "shoulder_left", vec((-0.3, 0, -1), hum), RODENT_LIMB_LIMITS["elbow"], bounded("humerus")),
        Joint("wrist_left", "elbow_left", vec((0.25, 0, -1), rad), RODENT_LIMB_LIMITS["wrist"], bounded("radius")),
        Joint("finger_left", "wrist_left", vec((1, 0, -0.3), mc), RODENT_LIMB_LIMITS["finger"], bounded("metacarpal")),
        Joint("hip_left", "spine_lumbosacral", vec((-0.3, 1, -0.5), 0.014 * s), ALL_FIXED),
        Joint("knee_left", "hip_left", vec((0.6, 0, -1), fem), RODENT_LIMB_LIMITS["knee"], bounded("femur")),
        Joint("ankle_left", "knee_left", vec((-0.7, 0, -1), tib), RODENT_LIMB_LIMITS["ankle"], bounded("tibia")),
        Joint(
            "paw_hind_left", "ankle_left", vec((1, 0, -0.4), mt), RODENT_LIMB_LIMITS["paw_hind"], bounded("metatarsal")
        ),
        Joint("toe_left", "paw_hind_left", vec((1, 0, -0.1), 0.008 * s), RODENT_LIMB_LIMITS["toe"]),
    ]
    b = 0.01 * s  # markers sit on the fur, about a centimetre from the joint of a 284 g rat, and stay within 1.5
    # markers at the tips (snout, finger, toe) are fixed on their joint, as the study fixed leaf markers; markers
    # on limb joints move only laterally (the study's per-axis bounds), which keeps bone lengths identifiable
    LATERAL = (0.0, 0.015 * s, 0.0)
    MIDLINE = (0.015 * s, 0.0, 0.015 * s)  # markers on the back stay on the midline
    VERTICAL = (0.0, 0.0, 0.015 * s)  # tail markers sit on top of their joint; along the tail they would trade
    # with the tail bones' lengths
    markers = [
        Marker("snout", "snout", (0, 0, 0), 0.0),
        Marker("head_top", "head_atlas", (0, 0, 0.6 * b), MIDLINE),
        Marker("spine_1", "spine_cervicothoracic", (0, 0, b), MIDLINE),
        Marker("spine_2", "spine_thoracolumbar", (b, 0, b), MIDLINE),
        Marker("spine_3", "spine_thoracolumbar", (0, 0, b), MIDLINE),
        Marker("spine_4", "spine_lumbosacral", (b, 0, b), MIDLINE),
        Marker("spine_5", "spine_lumbosacral", (0, 0, b), MIDLINE),
        Marker("spine_6", "tail_base", (0, 0, 0.5 * b), MIDLINE),
        Marker("ear_left", "head_atlas", (-0.2 * b, 0.8 * b, 0.5 * b), 0.015 * s),
        Marker("cheek_left", "head_atlas", (1.2 * b, 0.8 * b, -0.3 * b), 0.015 * s),
        Marker("side_left", "spine_thoracolumbar", (0, 1.4 * b, -0.5 * b), 0.015 * s),
        Marker("flank_left", "spine_lumbosacral", (0.5 * b, 1.4 * b, -0.5 * b), 0.015 * s),
        Marker("thigh_left", "hip_left", (0.5 * b, 0.5 * b, -1.0 * b), 0.015 * s),
        Marker("shoulder_left", "shoulder_left", (0, 0.5 * b, 0), LATERAL),
        Marker("elbow_left", "elbow_left", (0, 0.3 * b, 0), LATERAL),
        Marker("wrist_left", "wrist_left", (0, 0.2 * b, 0), LATERAL),
        Marker("finger_left", "finger_left", (0, 0, 0), 0.0),
        Marker("hip_left", "hip_left", (0, 0.5 * b, 0), LATERAL),
        Marker("knee_left", "knee_left", (0, 0.4 * b, 0), LATERAL),
        Marker("ankle_left", "ankle_left", (0, 0.2 * b, 0), LATERAL),
        Marker("paw_hind_left", "paw_hind_left", (0, 0.2 * b, 0), LATERAL),
        Marker("toe_left", "toe_left", (0, 0, 0), 0.0),
    ]
    markers += [Marker(f"tail_{k}", f"tail_{k}", (0, 0, 0.2 * b), VERTICAL) for k in (1, 2, 3, 4, 5)]
    joints, markers, pairs, marker_pairs = _bilateral(joints, markers)
    return SkeletonDefinition(
        name=f"{species}" if body_weight_g is None else f"{species}_{weight:g}g",
        joints=tuple(joints),
        markers=tuple(markers),
        joint_pairs=tuple(pairs),
        marker_pairs=tuple(marker_pairs),
        source="Monsees et al. 2022 (ACM); limb bones: "
        + ("Lammers & German 2002" if species == "rat" else "Marchini et al. 2019")
        + "; ranges: cat data adopted by the study",
        params={"species": species, "body_weight_g": weight, "sigma_factor": sigma_factor},
    )


# Winter 2009 Fig. 4.1 (Drillis & Contini 1966): segment lengths as fractions of stature H.
HUMAN_FRACTIONS = {
    "hip_half_width": 0.191 / 2,
    "shoulder_half_width": 0.259 / 2,
    "trunk": 0.818 - 0.530,  # hip height to shoulder height
    "neck_head": 0.936 - 0.818,  # shoulder height to nose (eye) height
    "upper_arm": 0.186,
    "forearm": 0.146,
    "thigh": 0.245,
    "shank": 0.246,
}
# AAOS normal ranges of motion (degrees), mapped onto the local axes of the module docstring (left side).
# Flexion axis x: positive moves the bone's tip backwards (hip extension, knee flexion, shoulder extension).
HUMAN_LIMITS = {
    "knee": ((-120.0, 30.0), (-45.0, 30.0), (-45.0, 45.0)),  # femur at the hip: flexion 120, ext 30, abd 45, add 30
    "ankle": ((-5.0, 135.0), FIXED, FIXED),  # shank at the knee: flexion 135
    "elbow": ((-180.0, 60.0), (-30.0, 180.0), (-70.0, 90.0)),  # upper arm at the shoulder
    "wrist": ((-150.0, 5.0), FIXED, (-80.0, 80.0)),  # forearm at the elbow: flexion 150, pronation/supination 80
}


def human_coco17(height_m: float | None = None, tolerance: float = 0.15) -> SkeletonDefinition:
    """A human skeleton whose markers are the COCO-17 keypoints. Joints: pelvis (root, mid-hip), hips, knees,
    ankles, thorax (mid-shoulder), shoulders, elbows, wrists and head (at the nose); eyes and ears are markers on
    the head. Lengths are Winter's fractions of stature; bounds +-``tolerance`` around them for a known height,
    or the fractions of 1.45-2.05 m when the height is unknown."""
    h = 1.70 if height_m is None else float(height_m)
    if h <= 0:
        raise SkeletonDefinitionError(f"human height must be positive, got {h} m")
    low_h, high_h = (h * (1 - tolerance), h * (1 + tolerance)) if height_m is not None else (1.45, 2.05)
    f = HUMAN_FRACTIONS

    def bounds(key):
        return (f[key] * low_h, f[key] * high_h)

    joints = [
        Joint("pelvis", None),
        Joint(
            "thorax", "pelvis", (0, 0, f["trunk"] * h), ((-90.0, 30.0), (-30.0, 30.0), (-45.0, 45.0)), bounds("trunk")
        ),
        Joint("head", "thorax", (0.06 * h / 1.7, 0, f["neck_head"] * h), ((-60.0, 60.0), (-45.0, 45.0), (-80.0, 80.0))),
        Joint("hip_left", "pelvis", (0, f["hip_half_width"] * h, 0), ALL_FIXED, bounds("hip_half_width")),
        Joint("knee_left", "hip_left", (0, 0, -f["thigh"] * h), HUMAN_LIMITS["knee"], bounds("thigh")),
        Joint("ankle_left", "knee_left", (0, 0, -f["shank"] * h), HUMAN_LIMITS["ankle"], bounds("shank")),
        Joint(
            "shoulder_left", "thorax", (0, f["shoulder_half_width"] * h, 0), ALL_FIXED, bounds("shoulder_half_width")
        ),
        Joint("elbow_left", "shoulder_left", (0, 0, -f["upper_arm"] * h), HUMAN_LIMITS["elbow"], bounds("upper_arm")),
        Joint("wrist_left", "elbow_left", (0, 0, -f["forearm"] * h), HUMAN_LIMITS["wrist"], bounds("forearm")),
    ]
    u = 0.03 * h / 1.7
    markers = [
        Marker("nose", "head", (0.5 * u, 0, 0), 0.06),
        Marker("left_eye", "head", (0, 1.1 * u, 0.6 * u), 0.08),
        Marker("right_eye", "head", (0, -1.1 * u, 0.6 * u), 0.08),
        Marker("left_ear", "head", (-2.5 * u, 2.4 * u, 0), 0.1),
        Marker("right_ear", "head", (-2.5 * u, -2.4 * u, 0), 0.1),
    ]
    for side in ("left", "right"):
        for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
            markers.append(Marker(f"{side}_{joint}", f"{joint}_{side}", (0, 0, 0), 0.06))
    order = [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle",
    ]  # fmt: skip
    by_name = {m.name: m for m in markers}
    joints, _, pairs, _ = _bilateral(joints, [])
    marker_pairs = [
        (f"left_{n}", f"right_{n}") for n in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    ]
    return SkeletonDefinition(
        name="human_coco17" if height_m is None else f"human_coco17_{h:g}m",
        joints=tuple(joints),
        markers=tuple(by_name[n] for n in order),
        joint_pairs=tuple(pairs),
        marker_pairs=tuple(marker_pairs),
        source="segment lengths: Winter 2009 / Drillis & Contini 1966; ranges of motion: AAOS",
        params={"species": "human", "height_m": height_m, "tolerance": tolerance},
    )


def rat(body_weight_g: float | None = None) -> SkeletonDefinition:
    return rodent("rat", body_weight_g)


def mouse() -> SkeletonDefinition:
    return rodent("mouse")


BUILTIN = {"rat": rat, "mouse": mouse, "human_coco17": human_coco17}
