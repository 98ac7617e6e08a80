"""The skeleton model's four regimes as registered 3D methods (`pose_pipeline.stages.TRIANGULATION`), beside
plain triangulation: ``acm_full``, ``acm_temporal_only``, ``acm_angle_limits_only`` and ``acm_naive``.

Each factory returns a triangulator ``(cameras, keypoints, joint_set) -> WorldKeypoints3D`` like the
triangulation methods: ``keypoints`` (cameras, frames, joints, 3) pixels and a confidence. The skeleton's markers
are the 2D joint set's joints (same names; the result is in the joint set's order); detections below
``min_confidence`` are masked. The skeleton is read through the ``skeleton`` resolver (the database's `Skeleton`
table once the schema is active), else from the built-in definitions. The subject's anatomy is the stored one named
``anatomy`` (resolver ``skeleton_anatomy``), or, with ``anatomy`` empty, learned from the detections themselves
(`learn_from_detections`: the ``anatomy_frames`` frames with the most markers seen by two cameras; not stored,
`pose_pipeline.schema.skeleton_model.learn_subject_anatomy` stores one). The result holds the model's marker
positions in every frame from the first to the last with a marker seen by two cameras, also where fewer than two
cameras saw a marker (``cameras_used`` then says so); the reprojection error is over the cameras whose detection
was used.

Wrappers are pure: no schema import; JAX is imported when a method runs, not when it is registered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..formats import SkeletonFit, WorldKeypoints3D
from ..resolvers import SKELETON, SKELETON_ANATOMY
from ..stages import TRIANGULATION

log = logging.getLogger(__name__)

ANATOMY = SKELETON_ANATOMY

REGIME_OF_METHOD = {
    "acm_full": "full_model",
    "acm_temporal_only": "temporal_only",
    "acm_angle_limits_only": "angle_limits_only",
    "acm_naive": "naive",
}


class SkeletonMethodError(ValueError):
    """Detections, cameras or a stored anatomy that the skeleton model cannot use; the message names them."""


@dataclass(frozen=True)
class StoredAnatomy:
    """A subject's stored anatomy: the skeleton it is for (name and definition checksum) and its arrays."""

    name: str
    skeleton: str
    skeleton_sha256: str
    bone_lengths: np.ndarray
    marker_offsets: np.ndarray


def get_skeleton(name: str):
    """The definition named ``name``: from the database when the schema registered its resolver, else built in."""
    from .. import resolvers
    from .definitions import BUILTIN

    if resolvers.has_resolver(SKELETON):
        return resolvers.resolve(SKELETON, name)
    if name not in BUILTIN:
        raise SkeletonMethodError(f"unknown skeleton {name!r}; built in: {', '.join(sorted(BUILTIN))}")
    return BUILTIN[name]()


def to_cameras(camera_set):
    """A `pose_pipeline.multicam.calibration.CameraSet` as the skeleton model's `Cameras` (OpenCV pinhole with
    k1, k2, p1, p2, k3). Fisheye cameras and rational/thin-prism coefficients that are not zero are refused by
    camera name (the model's projection does not have them)."""
    from .camera import Cameras

    dicts = []
    for camera in camera_set.cameras:
        if camera.fisheye:
            raise SkeletonMethodError(f"camera {camera.name!r} is a fisheye camera; the skeleton model needs pinholes")
        if np.any(camera.distortion[5:] != 0):
            raise SkeletonMethodError(
                f"camera {camera.name!r} has {camera.distortion.size} distortion coefficients, of which those after "
                "k3 are not zero; the skeleton model uses k1, k2, p1, p2, k3 only"
            )
        dicts.append({"K": camera.matrix, "dist": camera.distortion, "rvec": camera.rotation,
                      "t": camera.translation, "name": camera.name})  # fmt: skip
    return Cameras.from_dicts(dicts)


def never_detected(pixels, skeleton) -> list[str]:
    """The skeleton's markers that no camera detected in any frame of ``pixels`` (frames, cameras, markers, 2):
    the regimes place them from the skeleton alone, which a user should know."""
    seen = np.isfinite(pixels).all(axis=-1).any(axis=(0, 1))
    return [skeleton.marker_names[m] for m in np.flatnonzero(~seen)]


def marker_order(skeleton, joint_set: str, joint_names) -> np.ndarray:
    """Index into the 2D joints of each skeleton marker; refuses a skeleton whose markers are not the joint set's
    joints, naming both and the names that differ."""
    markers, joints = list(skeleton.marker_names), list(joint_names)
    missing, extra = sorted(set(markers) - set(joints)), sorted(set(joints) - set(markers))
    if missing or extra:
        parts = [f"markers not in the joint set: {', '.join(missing)}" if missing else "",
                 f"joints without a marker: {', '.join(extra)}" if extra else ""]  # fmt: skip
        raise SkeletonMethodError(
            f"skeleton {skeleton.name!r} does not match joint set {joint_set!r}: its markers must be the 2D joints "
            f"({'; '.join(p for p in parts if p)})"
        )
    return np.array([joints.index(m) for m in markers])


def detections(keypoints, order, min_confidence: float):
    """(cameras, frames, joints, 3) keypoints -> pixels (frames, cameras, markers, 2), NaN where missing or below
    ``min_confidence``, and confidences (frames, cameras, markers)."""
    keypoints = np.asarray(keypoints, dtype=float)[:, :, order]
    pixels = np.moveaxis(keypoints[..., :2], 0, 1).copy()
    confidence = np.nan_to_num(np.moveaxis(keypoints[..., 2], 0, 1))
    low = ~(confidence >= min_confidence) | ~(confidence > 0) | ~np.isfinite(pixels).all(axis=-1)
    pixels[low] = np.nan
    return pixels, np.where(low, 0.0, confidence)


def anatomy_frames(pixels, count: int) -> np.ndarray:
    """The ``count`` frames with the most markers seen by two or more cameras (ties: spread over the recording),
    in time order."""
    seen = (np.isfinite(pixels).all(axis=-1).sum(axis=1) >= 2).sum(axis=1)
    ranked = np.lexsort((np.random.default_rng(0).random(len(seen)), -seen))
    chosen = ranked[: max(1, int(count))]
    return np.sort(chosen[seen[chosen] > 0])


_LEARNED: dict[str, tuple] = {}  # anatomies learned in this process, by their inputs' checksum (the regimes of
# one recording run one after another in a worker: the anatomy is learned once)


def learn_from_detections(skeleton, cameras, pixels, frames: int = 8, max_iter: int = 300, outliers=None):
    """A subject's anatomy (`pose_pipeline.skeleton_model.anatomy.learn_anatomy`) from the ``frames`` best-seen
    frames of the detections, leaving out ``outliers`` (frames, cameras, markers) bool; returns (AnatomyFit, the
    frame indices used)."""
    import hashlib

    from .anatomy import learn_anatomy

    pixels = np.asarray(pixels, dtype=float)
    if outliers is not None:
        pixels = np.where(np.asarray(outliers)[..., None], np.nan, pixels)
    digest = hashlib.sha256()
    for part in (skeleton.sha256().encode(), cameras.K, cameras.dist, cameras.R, cameras.t, pixels,
                 np.array([frames, max_iter])):  # fmt: skip
        digest.update(part if isinstance(part, bytes) else np.ascontiguousarray(part, dtype=float).tobytes())
    key = digest.hexdigest()
    if key not in _LEARNED:
        chosen = anatomy_frames(pixels, frames)
        if chosen.size == 0:
            raise SkeletonMethodError(f"skeleton {skeleton.name!r}: no frame has a marker seen by two cameras")
        if len(_LEARNED) >= 8:
            _LEARNED.pop(next(iter(_LEARNED)))
        _LEARNED[key] = (learn_anatomy(skeleton, cameras, pixels[chosen], max_iter=max_iter), chosen)
    return _LEARNED[key]


def ransac_outliers(camera_set, keypoints, order, min_confidence: float, threshold_px: float = 15.0):
    """(frames, cameras, markers) bool: confident detections that `dlt_ransac` left out of a point it
    triangulated (they disagree with the other cameras by more than ``threshold_px``)."""
    from ..multicam.methods import dlt_ransac

    result = dlt_ransac(min_confidence, threshold_px, 2)(camera_set, keypoints, "")
    present = np.isfinite(np.asarray(keypoints, float)[..., :2]).all(axis=-1)
    present &= np.nan_to_num(np.asarray(keypoints, float)[..., 2]) >= min_confidence  # (cameras, frames, joints)
    triangulated = np.isfinite(result.keypoints).all(axis=-1)  # (frames, joints)
    left_out = present & ~np.moveaxis(result.cameras_used, -1, 0) & triangulated[None]
    return np.moveaxis(left_out[:, :, order], 0, 1)


def resolve_anatomy(name: str, skeleton):
    """The stored anatomy ``name``; refused when it was learned for another skeleton (name or definition)."""
    from .. import resolvers
    from .kinematics import Anatomy

    stored = resolvers.resolve(ANATOMY, name)
    if stored.skeleton != skeleton.name or stored.skeleton_sha256 != skeleton.sha256():
        raise SkeletonMethodError(
            f"anatomy {name!r} was learned for skeleton {stored.skeleton!r} ({stored.skeleton_sha256[:12]}), not "
            f"{skeleton.name!r} ({skeleton.sha256()[:12]})"
        )
    return Anatomy(np.asarray(stored.bone_lengths, float), np.asarray(stored.marker_offsets, float).reshape(-1, 3))


@dataclass
class SkeletonRegime:
    """One regime of the skeleton model run on a recording's 2D keypoints (see the module docstring)."""

    regime: str
    skeleton: str
    min_confidence: float
    anatomy: str
    anatomy_frames: int
    anatomy_iterations: int
    outlier_px: float
    options: dict

    def __call__(self, cameras, keypoints, joint_set: str) -> WorldKeypoints3D:
        from ..skeletons import get_joint_set
        from . import regimes

        skeleton = get_skeleton(self.skeleton)
        order = marker_order(skeleton, joint_set, get_joint_set(joint_set).joints)
        model_cameras = to_cameras(cameras)
        pixels, confidence = detections(keypoints, order, self.min_confidence)
        outliers = ransac_outliers(cameras, keypoints, order, self.min_confidence, self.outlier_px or 15.0)
        learned = None
        if self.anatomy:
            anatomy = resolve_anatomy(self.anatomy, skeleton)
        else:
            learned = learn_from_detections(skeleton, model_cameras, pixels, self.anatomy_frames,
                                            self.anatomy_iterations, outliers)  # fmt: skip
            anatomy = learned[0].anatomy
        if self.outlier_px:
            pixels = np.where(outliers[..., None], np.nan, pixels)
        # the regimes start from the first frame: run them over the frames from the first to the last one where
        # some marker is seen by two cameras (a subject entering late), NaN outside
        seen = np.flatnonzero((np.isfinite(pixels).all(axis=-1).sum(axis=1) >= 2).any(axis=1))
        if seen.size == 0:
            raise SkeletonMethodError(
                f"skeleton {skeleton.name!r}: no marker is seen by two cameras in any frame (joint set {joint_set!r})"
            )
        span = slice(seen[0], seen[-1] + 1)
        missing = never_detected(pixels, skeleton)
        if missing:
            log.warning("skeleton %r: no camera detected marker(s) %s in any frame; they are placed from the skeleton "
                        "alone (their cameras_used are all false)", skeleton.name, missing)  # fmt: skip
        # detections below the confidence threshold are NaN already: the regimes' own threshold is 0
        result = regimes.REGIMES[self.regime](pixels[span], model_cameras, skeleton, anatomy, confidence[span], 0.0,
                                              **self.options)  # fmt: skip
        markers = np.full((len(pixels), len(order), 3), np.nan)
        markers[span] = result.markers
        contract = self.contract(markers, model_cameras, pixels, order, joint_set, cameras.names)
        contract.skeleton_fit = self.skeleton_fit(skeleton, anatomy, learned, result, span, len(pixels))
        return contract

    def skeleton_fit(self, skeleton, anatomy, learned, result, span: slice, n_frames: int) -> SkeletonFit:
        """The fitted skeleton over the whole recording (NaN outside ``span``) and the anatomy it used."""
        joints = np.full((n_frames, *np.shape(result.joints)[1:]), np.nan)
        joints[span] = result.joints
        states = np.full((n_frames, np.shape(result.states)[1]), np.nan)
        states[span] = result.states
        info = {k: v for k, v in result.info.items() if k in ("em_iterations", "gated_out", "seconds")}
        if "logliks" in result.info:
            info["logliks"] = [float(v) for v in result.info["logliks"]]
        info["first_frame"] = int(span.start)
        fit, frames = learned if learned is not None else (None, None)
        return SkeletonFit(skeleton.name, skeleton.sha256(), joints, states,
                           np.asarray(anatomy.bone_lengths, float), np.asarray(anatomy.marker_offsets, float),
                           anatomy=self.anatomy, anatomy_frames=None if frames is None else np.asarray(frames),
                           anatomy_rms_px=None if fit is None else float(fit.rms_px), info=info)  # fmt: skip

    @staticmethod
    def contract(markers, model_cameras, pixels, order, joint_set, camera_names) -> WorldKeypoints3D:
        used = np.isfinite(pixels).all(axis=-1)  # (frames, cameras, markers)
        projected = np.moveaxis(model_cameras.project_numpy(markers), -2, 1)  # (frames, cameras, markers, 2)
        distance = np.linalg.norm(projected - pixels, axis=-1)
        with np.errstate(invalid="ignore"):
            error = np.where(used, np.nan_to_num(distance), 0.0).sum(axis=1) / used.sum(axis=1)
        n_frames, n_joints = markers.shape[0], len(order)
        points = np.full((n_frames, n_joints, 3), np.nan)
        points[:, order] = markers
        reprojection = np.full((n_frames, n_joints), np.nan)
        reprojection[:, order] = error
        cameras_used = np.zeros((n_frames, n_joints, len(camera_names)), bool)
        cameras_used[:, order] = np.moveaxis(used, 1, -1)
        return WorldKeypoints3D(points, reprojection, cameras_used, joint_set, tuple(camera_names), model_based=True)


COMMON = {"skeleton": "human_coco17", "min_confidence": 0.3, "anatomy": "", "anatomy_frames": 8,
          "anatomy_iterations": 300, "outlier_px": 15.0}  # fmt: skip
# the random walk's starting per-frame s.d. (EM learns it): a person at 1 m/s and 30 Hz moves 3 cm a frame
TEMPORAL = {**COMMON, "em_iterations": 5, "gate": 4.0, "initial_std": {"translation": 0.03, "rotation": 0.05,
                                                                        "angle": 0.1}}  # fmt: skip
PER_FRAME = {**COMMON, "max_iter": 200}


def _common(regime, skeleton, min_confidence, anatomy, anatomy_frames, anatomy_iterations, outlier_px, options):
    return SkeletonRegime(regime, str(skeleton), float(min_confidence), str(anatomy or ""), int(anatomy_frames),
                          int(anatomy_iterations), float(outlier_px or 0.0), options)  # fmt: skip


def _temporal(regime, em_iterations, gate, initial_std, **common):
    options = {"em_iterations": int(em_iterations), "gate": None if gate is None else float(gate),
               "initial_std": {k: float(v) for k, v in (initial_std or {}).items()}}  # fmt: skip
    return _common(regime, options=options, **common)


def _per_frame(regime, max_iter, **common):
    return _common(regime, options={"max_iter": int(max_iter)}, **common)


@TRIANGULATION.register("acm_full", version="1.0", requires=("acm",), params=TEMPORAL)
def acm_full(**params) -> SkeletonRegime:
    """The anatomically constrained model (Monsees et al. 2022): skeleton with the subject's bone lengths and
    marker offsets, joint-angle limits, and an unscented RTS smoother whose noise is learned by EM
    (``em_iterations``, starting from ``initial_std``), fitted to every camera's 2D detections at once; detections
    below ``min_confidence`` are masked, and those more than ``gate`` predicted s.d. off are dropped (None: the
    study's ungated smoother). Every regime also masks detections `dlt_ransac` leaves out at ``outlier_px`` (0:
    none, as the study fed its regimes); the anatomy is always learned without them."""
    return _temporal("full_model", **params)


@TRIANGULATION.register("acm_temporal_only", version="1.0", requires=("acm",), params=TEMPORAL)
def acm_temporal_only(**params) -> SkeletonRegime:
    """The skeleton model's smoother and EM without joint-angle limits (the study's temporal-only regime)."""
    return _temporal("temporal_only", **params)


@TRIANGULATION.register("acm_angle_limits_only", version="1.0", requires=("acm",), params=PER_FRAME)
def acm_angle_limits_only(**params) -> SkeletonRegime:
    """The skeleton fitted to each frame alone (L-BFGS-B, ``max_iter``) with joint-angle limits, starting from the
    previous frame's fit (the study's angle-limits-only regime)."""
    return _per_frame("angle_limits_only", **params)


@TRIANGULATION.register("acm_naive", version="1.0", requires=("acm",), params=PER_FRAME)
def acm_naive(**params) -> SkeletonRegime:
    """The skeleton fitted to each frame alone without joint-angle limits (the study's naive regime)."""
    return _per_frame("naive", **params)
