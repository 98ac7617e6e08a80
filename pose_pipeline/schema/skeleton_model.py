"""Skeleton-model stage: skeleton definitions as data, subjects' learned anatomies, and the validation of the
skeleton model's regimes against ground truth.

Skeleton (Lookup: one row per definition; the built-in rat, mouse and human_coco17 stored on activation;
`insert_skeleton` adds a user's, validated)
Skeleton + a recording's 2D and calibration ─► SubjectAnatomy (bone lengths and marker offsets of one subject,
learned from a recording's detections by `learn_subject_anatomy`)

The regimes (``acm_*`` methods of `pose_pipeline.schema.multicam.Triangulated3D`) read both through the
``skeleton`` and ``skeleton_anatomy`` resolvers, so every worker process sees the same definitions.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from .. import resolvers
from ..skeleton_model.definitions import BUILTIN, SkeletonDefinition, SkeletonDefinitionError
from ..skeleton_model.methods import ANATOMY, SKELETON, StoredAnatomy
from . import codecs as _codecs  # noqa: F401 - registers <array>
from .multicam import triangulation_inputs

STAGE = "skeleton"
schema = dj.Schema()


class SkeletonConflictError(ValueError):
    """A skeleton name stored with another definition; definitions are never changed under a name."""


@schema
class Skeleton(dj.Lookup):
    """One skeleton definition (`pose_pipeline.skeleton_model.definitions`): bone tree, rest pose, joint-angle
    limits, bone-length bounds, left/right pairs and markers, as its canonical JSON with its checksum."""

    definition = """
    skeleton                 : varchar(64)
    ---
    sha256                   : char(64)       # of the canonical JSON (SkeletonDefinition.to_json)
    definition               : json           # SkeletonDefinition.definition()
    num_joints               : int16
    num_markers              : int16
    source=""                : varchar(1000)  # where the lengths and ranges come from
    """


@schema
class SubjectAnatomy(dj.Manual):
    """One subject's anatomy for one skeleton: bone lengths and marker offsets learned by L-BFGS-B on the
    reprojection error of a recording's detections (`learn_subject_anatomy`), and which frames it used."""

    definition = """
    subject                  : varchar(64)    # the name the regimes' ``anatomy`` parameter gives
    ---
    -> Skeleton
    skeleton_sha256          : char(64)       # the definition it was learned for
    bone_lengths             : <blob>         # (joints,) metres, the root's 0
    marker_offsets           : <blob>         # (markers, 3) metres, body frame at rest
    source                   : json           # the detections: recording, two_d, calibration (Triangulated3DMethod)
    frames                   : <blob>         # the recording's frame indices used
    rms_px=null              : float64        # root-mean-square reprojection error of the fit, pixels
    learned_at=CURRENT_TIMESTAMP : datetime
    """


def insert_skeleton(definition: SkeletonDefinition | dict | str) -> str:
    """Store a skeleton definition (the object, its ``definition()`` dict or its JSON) after validating it: a
    loop, an unknown joint or a marker not attached to a joint raise `SkeletonDefinitionError` naming it. A name
    already stored with another definition raises `SkeletonConflictError`. Returns the name."""
    import json

    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as error:
            raise SkeletonDefinitionError(f"skeleton definition is not JSON: {error}") from None
    if isinstance(definition, dict):
        definition = SkeletonDefinition.from_definition(definition)  # validates
    name, sha256 = definition.name, definition.sha256()
    if len(name) > 64:
        raise SkeletonDefinitionError(f"skeleton name {name!r} is longer than 64 characters")
    stored = (Skeleton & {"skeleton": name}).to_arrays("sha256")
    if len(stored) and stored[0] != sha256:
        raise SkeletonConflictError(f"skeleton {name!r} is stored with another definition (checksum "
                                    f"{stored[0][:12]}..., this one {sha256[:12]}...); give it another name")  # fmt: skip
    Skeleton.insert1({"skeleton": name, "sha256": sha256, "definition": definition.definition(),
                      "num_joints": len(definition.joints), "num_markers": len(definition.markers),
                      "source": definition.source[:1000]}, skip_duplicates=True)  # fmt: skip
    return name


def store_built_in() -> None:
    """Store the built-in skeletons (rat, mouse, human_coco17) where missing."""
    for make in BUILTIN.values():
        insert_skeleton(make())


def load_skeleton(name: str) -> SkeletonDefinition:
    """The stored skeleton ``name``; `resolvers.UnresolvedError` if none is stored under it."""
    if Skeleton.database is None:
        raise resolvers.UnresolvedError(f"skeleton {name!r}: the pipeline's schema is not active")
    rows = (Skeleton & {"skeleton": name}).to_dicts()
    if not rows:
        known = ", ".join(sorted(Skeleton.to_arrays("skeleton")))
        raise resolvers.UnresolvedError(f"no skeleton {name!r} is stored; stored: {known}")
    loaded = SkeletonDefinition.from_definition(rows[0]["definition"])
    if loaded.sha256() != rows[0]["sha256"]:
        raise resolvers.UnresolvedError(f"skeleton {name!r}: the stored definition does not match its checksum")
    return loaded


def load_anatomy(subject: str) -> StoredAnatomy:
    """The stored anatomy of ``subject``; `resolvers.UnresolvedError` if none is stored."""
    if SubjectAnatomy.database is None:
        raise resolvers.UnresolvedError(f"anatomy {subject!r}: the pipeline's schema is not active")
    rows = (SubjectAnatomy & {"subject": subject}).to_dicts()
    if not rows:
        raise resolvers.UnresolvedError(f"no anatomy of subject {subject!r} is stored")
    row = rows[0]
    return StoredAnatomy(subject, row["skeleton"], row["skeleton_sha256"], np.asarray(row["bone_lengths"], float),
                         np.asarray(row["marker_offsets"], float))  # fmt: skip


def learn_subject_anatomy(subject: str, key: dict, skeleton: str = "human_coco17", *, frames: int = 8,
                          max_iter: int = 300, min_confidence: float = 0.3, outlier_px: float = 15.0) -> dict:  # fmt: skip
    """Learn ``subject``'s anatomy for ``skeleton`` from the 2D detections ``key`` names (a recording, its
    ``two_d`` and ``calibration``, e.g. a `Triangulated3DMethod` key): the ``frames`` best-seen frames, detections
    below ``min_confidence`` or left out by `dlt_ransac` at ``outlier_px`` dropped. Stores and returns the
    `SubjectAnatomy` key; the regimes use it with ``params={"anatomy": subject}``."""
    from ..skeleton_model import methods
    from ..skeletons import get_joint_set

    definition = load_skeleton(skeleton)
    camera_set, keypoints, joint_set = triangulation_inputs(key)
    order = methods.marker_order(definition, joint_set, get_joint_set(joint_set).joints)
    cameras = methods.to_cameras(camera_set)
    pixels, _ = methods.detections(keypoints, order, min_confidence)
    outliers = methods.ransac_outliers(camera_set, keypoints, order, min_confidence, outlier_px)
    fit, chosen = methods.learn_from_detections(definition, cameras, pixels, frames, max_iter, outliers)
    row = {"subject": subject, "skeleton": skeleton, "skeleton_sha256": definition.sha256(),
           "bone_lengths": np.asarray(fit.anatomy.bone_lengths, float),
           "marker_offsets": np.asarray(fit.anatomy.marker_offsets, float),
           "source": {k: key[k] for k in ("recording_project", "recording", "two_d", "calibration")},
           "frames": np.asarray(chosen, np.int64), "rms_px": float(fit.rms_px)}  # fmt: skip
    SubjectAnatomy.insert1(row)
    return {"subject": subject}


resolvers.register_resolver(SKELETON, load_skeleton)
resolvers.register_resolver(ANATOMY, load_anatomy)

ROOT_TABLES = (SubjectAnatomy,)  # skeletons are shared definitions; emptying the pipeline keeps them
