"""Skeleton-model stage: skeleton definitions as data, subjects' learned anatomies, and the validation of the
skeleton model's regimes against ground truth.

Skeleton (Lookup: one row per definition; the built-in rat, mouse and human_coco17 stored on activation;
`insert_skeleton` adds a user's, validated)
Skeleton + a recording's 2D and calibration ─► SubjectAnatomy (bone lengths and marker offsets of one subject,
learned from a recording's detections by `learn_subject_anatomy`)

Triangulated3D × RecordingGroundTruth × ErrorThreshold ─► RegimeValidation (the study's measures per 3D result,
its errors compared with the full model's by a one-sided Kolmogorov-Smirnov test; `regime_validation` gives them
as one pandas frame, `pose_pipeline.skeleton_model.figures.regime_histograms` draws the study's figure)

Triangulated3D.SkeletonFit (the joints and state an ``acm_*`` method fitted, stored with the 3D result)
× SkeletonGroundTruth × ErrorThreshold ─► SkeletonFitValidation (joint errors, per joint in the part);
`fitted_skeleton` and `skeleton_gait` read a stored fit, `store_fitted_anatomy` keeps the anatomy a run learned

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
from .multicam import Recording, RecordingError, RecordingGroundTruth, Triangulated3D, triangulation_inputs

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
    """Store the built-in skeletons (rat, mouse, human_coco17) where missing. A built-in name stored with another
    definition (by an older pose_pipeline) is kept, with a warning: results already made used the stored one."""
    import logging

    for make in BUILTIN.values():
        try:
            insert_skeleton(make())
        except SkeletonConflictError as error:
            logging.getLogger(__name__).warning("%s; the stored definition stays in use", error)


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


@schema
class ErrorThreshold(dj.Lookup):
    """One threshold above which a joint-position error counts as large (the study: 4 cm on rats)."""

    definition = """
    error_threshold          : varchar(32)
    ---
    threshold_mm             : float64
    """
    contents = (("4cm", 40.0),)


@schema
class RegimeValidation(dj.Computed):
    """One 3D result of a recording with ground truth (a skeleton regime or a triangulation) measured as the study
    does: the share of (frame, joint) position errors above the threshold, the errors and the joints' speeds and
    accelerations (summaries, and the values for histograms); the part compares its errors with each full-model
    (``acm_full``) result of the same detections by a one-sided Kolmogorov-Smirnov test."""

    definition = """
    -> Triangulated3D
    -> RecordingGroundTruth
    -> ErrorThreshold
    ---
    num_points               : int32      # (frame, joint) points with both ground truth and a result
    share_above=null         : float64    # share of those whose error is above the threshold
    median_error=null        : float64    # mm
    p95_error=null           : float64    # mm
    errors                   : <blob>     # (num_points,) float32 mm, the errors compared
    speed_median=null        : float64    # m/s over (frame, joint) of the result
    speed_p95=null           : float64
    true_speed_p95=null      : float64    # m/s, the same of the ground truth
    acceleration_median=null : float64    # m/s^2
    acceleration_p95=null    : float64
    true_acceleration_p95=null : float64
    speeds                   : <blob>     # float32 m/s, the result's joint speeds between consecutive frames
    accelerations            : <blob>     # float32 m/s^2, its joint accelerations over three consecutive frames
    """

    class AgainstFull(dj.Part):
        """This result's errors against one full-model result's on the same recording, 2D and calibration:
        ``scipy.stats.ks_2samp(these, full, alternative="less")``, whose alternative is that these errors are
        larger (their distribution function lies below the full model's)."""

        definition = """
        -> master
        full_params_hash     : char(32)   # the acm_full request (triangulation_params_hash) compared with
        ---
        ks_statistic         : float64
        p_value              : float64
        full_share_above=null : float64   # the full model's share above the threshold, for reading beside
        """

    class SinceDetection(dj.Part):
        """The error on points no two cameras detected, by the time since their last detection (frames
        ``frames_from`` to ``frames_to`` - 1; open-ended when null): the study's measure of how long a model
        carries a marker it no longer sees. Triangulation places no such points (``num_points`` 0)."""

        definition = """
        -> master
        frames_from          : int16      # frames since the last detection, at least
        ---
        frames_to=null       : int16      # and fewer than this; null: no upper bound
        num_points           : int32      # undetected (frame, joint) points the result places in this bin
        median_error=null    : float64    # mm
        p95_error=null       : float64    # mm
        """

    @property
    def key_source(self):
        truth = RecordingGroundTruth.proj(gt_joint_set="joint_set")
        return (Triangulated3D * truth & "joint_set = gt_joint_set").proj() * ErrorThreshold.proj()

    def make(self, key):
        from scipy.stats import ks_2samp

        from ..skeleton_model.validation import motion
        from . import nan_to_null

        threshold = (ErrorThreshold & key).fetch1("threshold_mm")
        fps = (Recording & key).fetch1("fps")
        errors = self._errors(key)
        points = (Triangulated3D & key).fetch1("keypoints_3d").astype(float)
        truth = (RecordingGroundTruth & key).fetch1("keypoints_3d").astype(float)
        speeds, accelerations = motion(points, fps)
        true_speeds, true_accelerations = motion(truth, fps)

        row = {
            "share_above": _share(errors, threshold),
            "median_error": _percentile(errors, 50), "p95_error": _percentile(errors, 95),
            "speed_median": _percentile(speeds, 50), "speed_p95": _percentile(speeds, 95), "true_speed_p95": _percentile(true_speeds, 95),
            "acceleration_median": _percentile(accelerations, 50), "acceleration_p95": _percentile(accelerations, 95),
            "true_acceleration_p95": _percentile(true_accelerations, 95),
        }  # fmt: skip
        self.insert1({**key, **nan_to_null(row), "num_points": int(errors.size), "errors": errors.astype(np.float32),
                      "speeds": speeds.astype(np.float32),
                      "accelerations": accelerations.astype(np.float32)})  # fmt: skip
        same = {k: key[k] for k in ("recording_project", "recording", "two_d", "calibration")}
        comparisons = []
        for full in (Triangulated3D & same & {"triangulation_method": "acm_full"}).proj().to_dicts():
            if full["triangulation_params_hash"] == key["triangulation_params_hash"] or not errors.size:
                continue
            full_errors = self._errors({**key, **full})
            if not full_errors.size:
                continue
            test = ks_2samp(errors, full_errors, alternative="less")
            comparisons.append({**key, "full_params_hash": full["triangulation_params_hash"],
                                "ks_statistic": float(test.statistic), "p_value": float(test.pvalue),
                                "full_share_above": float((full_errors > threshold).mean())})  # fmt: skip
        self.AgainstFull.insert(comparisons)
        self.SinceDetection.insert([{**key, **row} for row in self._since_detection(key, points, truth)])

    @staticmethod
    def _since_detection(key, points, truth) -> list[dict]:
        from ..skeleton_model.validation import detected_points, errors_since_detection
        from .multicam import Triangulated3DMethod

        _, keypoints, _ = triangulation_inputs(key)
        min_confidence = float((Triangulated3DMethod & key).fetch1("params").get("min_confidence", 0.0))
        return errors_since_detection(points, truth, detected_points(keypoints, min_confidence))

    @staticmethod
    def _errors(key) -> np.ndarray:
        from ..skeleton_model.validation import position_errors

        points, frame = (Triangulated3D & key).fetch1("keypoints_3d", "world_frame")
        truth, truth_frame = (RecordingGroundTruth & key).fetch1("keypoints_3d", "world_frame")
        if truth_frame != frame:
            raise RecordingError(f"ground truth is in {truth_frame!r}, the result in {frame!r}: not comparable")
        return position_errors(points, truth)


@schema
class SkeletonGroundTruth(dj.Manual):
    """The true skeleton of a recording's subject (a synthetic scene's): joint positions in every frame and,
    where known, the subject's bone lengths, for validating the fitted skeletons (`SkeletonFitValidation`)."""

    definition = """
    -> Recording
    -> Skeleton
    ---
    joints                   : <array@derived>  # (frames, skeleton joints, 3) float32 metres, NaN where unknown
    bone_lengths=null        : <blob>     # (skeleton joints,) metres, the root's 0
    world_frame              : varchar(255)   # must be the calibration's world frame to be compared
    source                   : varchar(255)
    """


@schema
class SkeletonFitValidation(dj.Computed):
    """One fitted skeleton (`Triangulated3D.SkeletonFit`) against the recording's true skeleton: joint-position
    errors (the study reports joints, the markers are in `RegimeValidation`), the share above the threshold,
    the joints' accelerations, and the error of the bone lengths used; per joint in the part."""

    definition = """
    -> Triangulated3D
    -> SkeletonGroundTruth
    -> ErrorThreshold
    ---
    num_points               : int32      # (frame, joint) points with both ground truth and a fitted joint
    share_above=null         : float64    # share of those whose error is above the threshold
    median_error=null        : float64    # mm
    p95_error=null           : float64    # mm
    errors                   : <blob>     # (num_points,) float32 mm
    acceleration_p95=null    : float64    # m/s^2 over (frame, joint) of the fitted joints
    true_acceleration_p95=null : float64  # m/s^2, the same of the true joints
    bone_length_error=null   : float64    # mm, mean absolute error of the bone lengths used (truth has them)
    """

    class Joint(dj.Part):
        """One skeleton joint's errors over the frames."""

        definition = """
        -> master
        joint                : varchar(64)
        ---
        num_points           : int32
        median_error=null    : float64    # mm
        p95_error=null       : float64    # mm
        share_above=null     : float64
        """

    @property
    def key_source(self):
        fits = Triangulated3D.SkeletonFit.proj(fit_skeleton="skeleton")
        return (fits * SkeletonGroundTruth & "skeleton = fit_skeleton").proj() * ErrorThreshold.proj()

    def make(self, key):
        from ..skeleton_model.validation import motion
        from . import nan_to_null

        fit = (Triangulated3D.SkeletonFit & key).fetch1()
        truth = (SkeletonGroundTruth & key).fetch1()
        frame = (Triangulated3D & key).fetch1("world_frame")
        if truth["world_frame"] != frame:
            raise RecordingError(f"true skeleton is in {truth['world_frame']!r}, the fit in {frame!r}: not comparable")
        if fit["skeleton_sha256"] != (Skeleton & key).fetch1("sha256"):
            raise RecordingError(f"the fit used another definition of skeleton {key['skeleton']!r} than the "
                                 "ground truth's")  # fmt: skip
        joints, true_joints = np.asarray(fit["joints"], float), np.asarray(truth["joints"], float)
        if joints.shape != true_joints.shape:
            raise RecordingError(f"fitted joints have shape {joints.shape}, the ground truth {true_joints.shape}")
        threshold = (ErrorThreshold & key).fetch1("threshold_mm")
        fps = (Recording & key).fetch1("fps")
        per_point = np.linalg.norm(joints - true_joints, axis=-1) * 1000  # (frames, joints) mm, NaN
        errors = per_point[np.isfinite(per_point)]
        accelerations, true_accelerations = motion(joints, fps)[1], motion(true_joints, fps)[1]
        bone_error = None
        if truth["bone_lengths"] is not None:
            bone_error = float(np.mean(np.abs(np.asarray(fit["bone_lengths"]) - truth["bone_lengths"])[1:]) * 1000)
        row = {"share_above": _share(errors, threshold), "median_error": _percentile(errors, 50),
               "p95_error": _percentile(errors, 95), "acceleration_p95": _percentile(accelerations, 95),
               "true_acceleration_p95": _percentile(true_accelerations, 95)}  # fmt: skip
        self.insert1({**key, **nan_to_null(row), "num_points": int(errors.size), "errors": errors.astype(np.float32),
                      "bone_length_error": bone_error})  # fmt: skip
        names = load_skeleton(key["skeleton"]).joint_names
        parts = []
        for index, name in enumerate(names):
            values = per_point[:, index][np.isfinite(per_point[:, index])]
            parts.append({**key, "joint": name, "num_points": int(values.size),
                          **nan_to_null({"median_error": _percentile(values, 50), "p95_error": _percentile(values, 95),
                                         "share_above": _share(values, threshold)})})  # fmt: skip
        self.Joint.insert(parts)


def _percentile(values, q) -> float:
    return float(np.percentile(values, q)) if np.size(values) else np.nan


def _share(values, threshold) -> float:
    return float((np.asarray(values) > threshold).mean()) if np.size(values) else np.nan


def fitted_skeleton(key: dict) -> tuple[SkeletonDefinition, np.ndarray, float]:
    """The skeleton a model-based 3D result (a `Triangulated3D` key) fitted: its stored definition, its joints
    (frames, joints, 3) metres (NaN outside the fitted span) and the recording's frame rate."""
    fit = _one_fit(key)
    definition = load_skeleton(fit["skeleton"])
    if definition.sha256() != fit["skeleton_sha256"]:
        raise RecordingError(f"skeleton {definition.name!r} is stored with another definition than the fit used")
    return definition, np.asarray(fit["joints"], float), float((Recording & fit).fetch1("fps"))


def _one_fit(key: dict) -> dict:
    rows = (Triangulated3D.SkeletonFit & key).to_dicts()
    if not rows:
        raise RecordingError(f"no fitted skeleton (Triangulated3D.SkeletonFit) matches {key}; only the acm_* "
                             "methods fit one")  # fmt: skip
    if len(rows) > 1:
        raise RecordingError(f"{len(rows)} skeleton fits match {key}; name one model-based 3D result (acm_*)")
    return rows[0]


def skeleton_gait(key: dict, **options) -> dict:
    """Gait of a stored skeleton fit (`pose_pipeline.skeleton_model.gait.gait` on its joints at the recording's
    rate): limb name -> `LimbGait` (events, cycles, stride, duty factor, averaged joint-angle cycles), over the
    fitted span. ``options`` go to ``gait.gait`` (``only``, ``method``, ``min_cycle_s``...)."""
    from ..skeleton_model import gait

    definition, joints, fps = fitted_skeleton(key)
    fitted = np.flatnonzero(np.isfinite(joints).all(axis=(1, 2)))
    if fitted.size == 0:
        raise RecordingError(f"the skeleton fit of {key} has no fitted frame")
    return gait.gait(joints[fitted[0] : fitted[-1] + 1], definition, rate_hz=fps, **options)


def store_fitted_anatomy(subject: str, key: dict) -> dict:
    """Keep the anatomy a model-based 3D result (a `Triangulated3D` key) learned from its detections as
    ``subject``'s `SubjectAnatomy`, so later runs use it with ``params={"anatomy": subject}``."""
    fit = _one_fit(key)
    if fit["anatomy"]:
        raise RecordingError(f"that fit used the stored anatomy {fit['anatomy']!r}; it learned none")
    SubjectAnatomy.insert1({"subject": subject, "skeleton": fit["skeleton"], "skeleton_sha256": fit["skeleton_sha256"],
                            "bone_lengths": np.asarray(fit["bone_lengths"], float),
                            "marker_offsets": np.asarray(fit["marker_offsets"], float),
                            "source": {k: fit[k] for k in ("recording_project", "recording", "two_d", "calibration",
                                                           "triangulation_method", "triangulation_params_hash")},
                            "frames": np.asarray(fit["anatomy_frames"], np.int64), "rms_px": fit["anatomy_rms_px"]})  # fmt: skip
    return {"subject": subject}


def regime_validation(restriction=None):
    """`RegimeValidation` rows with their threshold and each method's parameters, one query, as a pandas frame
    (one row per 3D result and threshold): the input of `pose_pipeline.skeleton_model.figures.regime_histograms`."""
    from .multicam import Triangulated3DMethod

    query = RegimeValidation * ErrorThreshold * Triangulated3DMethod.proj("params")
    return (query & (restriction or {})).to_pandas().reset_index()


resolvers.register_resolver(SKELETON, load_skeleton)
resolvers.register_resolver(ANATOMY, load_anatomy)

ROOT_TABLES = (SubjectAnatomy,)  # skeletons are shared definitions; emptying the pipeline keeps them
