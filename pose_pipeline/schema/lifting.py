"""3D lifting stage: each subject's 2D keypoints lifted to 3D joints, and their accuracy where 3D truth exists.

TopDownPerson ─► LiftingMethod (which lifter, which parameters) ─► LiftingPerson (frames × 17 × [x, y, z])
LiftingPerson × LiftingGroundTruth ─► LiftingAccuracy (MPJPE, PA-MPJPE, N-MPJPE, MPJVE, acceleration, bone CV)
LiftingPerson × BlurredVideo ─► LiftingPersonVideo (the 2D skeleton on the blurred video, a 3D panel in its corner)

Every LiftingPerson row says what its numbers are: the joint set (H36M-17, stored in the joint-set table), the
units (metres), the coordinate frame (the camera's axes, x right, y down, z forward, relative to the root joint),
the 2D joint set it was lifted from and the conversion applied to it (`pose_pipeline.lifting.joints`), and per
frame whether the 2D input was complete, gap-filled or missing.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from .. import lifting as _lifting  # noqa: F401 - registers the lifting methods
from ..lifting.gaps import MISSING, NoUsableFramesError, fill_gaps
from ..lifting.joints import STANDARD, JointSetMismatchError, to_h36m
from ..lifting.metrics import METRICS
from ..registry import MethodCall
from ..skeletons import H36M17, get_joint_set
from ..stages import LIFTING
from ..video import VideoReader
from . import LOOKUP_DEFINITION, nan_to_null
from . import codecs as _codecs  # noqa: F401 - registers <array>
from .joint_sets import JointSet, store_joint_set  # noqa: F401 - JointSet is named in definitions
from .keypoints import TopDownPerson
from .overlays import BlurredVideo, _fetch_video_field, _write_overlay  # noqa: F401 - BlurredVideo is named in a definition
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .tracking import PersonBbox, PersonBboxValid, TrackingBbox
from .video import VideoInfo, fetch_video

STAGE = "lifting"
schema = dj.Schema()


@schema
class LiftingMethodLookup(dj.Lookup):
    """One registered 2D -> 3D lifting method (rows come from `pose_pipeline.stages.LIFTING`)."""

    registry = LIFTING
    name_attribute = "lifting_method"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class LiftingMethod(MethodRequest, dj.Manual):
    """A request: lift one 2D result (one subject, one 2D method and parameter set) with one lifter and one
    parameter set. Insert only the parameters you override; the merged parameters are hashed into the key."""

    methods = (("lifting_method", LIFTING, "params"),)
    hash_attribute = "lifting_params_hash"
    definition = """
    -> TopDownPerson
    -> LiftingMethodLookup
    lifting_params_hash      : char(32)   # hash of the merged parameters (canonical JSON)
    ---
    params                   : json       # the lifter's parameters, defaults merged in
    """


@schema
class LiftingPerson(dj.Computed):
    """3D joints of one subject by one lifter: frames × joints × [x, y, z] in ``units`` and ``coordinate_frame``,
    NaN in frames whose 2D input was missing for longer than the lifter's ``max_gap``."""

    definition = (
        """
    -> LiftingMethod
    ---
    keypoints_3d             : <array@derived>  # (frames, joints, 3) float32, in the derived store, uncompressed
    -> JointSet
    units                    : varchar(8)     # m
    coordinate_frame         : varchar(64)    # camera axes (x right, y down, z forward), root-relative
    root_joint=null          : varchar(64)    # the joint at the origin; NULL for world coordinates
    -> JointSet.proj(input_joint_set="joint_set")
    conversion               : varchar(32)    # 2D joint conversion applied: identity, h36m_standard, gastnet
    frame_status             : <blob>     # (frames,) int8: 0 complete 2D, 1 gap-filled, 2 missing (NaN)
    num_frames               : int32
    num_missing              : int32          # frames left NaN
    """
        + PROVENANCE_DEFINITION
    )

    def make(self, key):
        params = (LiftingMethod & key).fetch1("params")
        keypoints, joint_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        width, height = (VideoInfo & key).fetch1("width", "height")
        _refuse_unliftable(key, keypoints, joint_set, params)  # before any model is loaded

        def lift(lifter):
            if getattr(lifter, "needs_video", False):  # lifts from the frames (blazepose_world), not the 2D row
                boxes = (PersonBbox & key).fetch1("boxes")
                with VideoReader(fetch_video(key)) as frames:
                    return lifter.lift_video(frames, boxes)
            return lifter(keypoints, joint_set, (width, height))

        result, columns = run_stage(lift, MethodCall(LIFTING, key["lifting_method"], params), n_frames=len(keypoints))
        self.insert1(
            {
                **key,
                "keypoints_3d": np.asarray(result.keypoints, np.float32),
                "joint_set": result.joint_set,
                "units": result.units,
                "coordinate_frame": result.frame,
                "root_joint": result.root_joint,
                "input_joint_set": result.input_joint_set,
                "conversion": result.conversion,
                "frame_status": result.frame_status.astype(np.int8),
                "num_frames": len(keypoints),
                "num_missing": int((result.frame_status == MISSING).sum()),
                **columns,
            }
        )


def _describe(key: dict) -> str:
    subject = ", ".join(f"{name}={key[name]}" for name in PersonBboxValid.primary_key)
    return f"subject ({subject}), 2D method {key['top_down_method']!r}, lifting method {key['lifting_method']!r}"


def _refuse_unliftable(key: dict, keypoints: np.ndarray, joint_set: str, params: dict) -> None:
    try:
        h36m, _ = to_h36m(keypoints, joint_set, params.get("conversion", STANDARD))
    except JointSetMismatchError as error:
        raise JointSetMismatchError(f"{_describe(key)}: {error}") from None
    complete = np.isfinite(h36m[..., :2]).all(axis=(1, 2)).any()  # one complete frame settles it at once
    if not complete and not fill_gaps(h36m, int(params.get("max_gap", 0))).usable.any():
        raise NoUsableFramesError(
            f"{_describe(key)}: no usable 2D frames to lift (all {len(keypoints)} frames miss a joint for longer than "
            f"max_gap={params.get('max_gap', 0)}; the 2D result may be all NaN)"
        )


@schema
class LiftingGroundTruth(dj.Manual):
    """Ground-truth 3D joints of one annotated subject (a synthetic scene's, or motion capture), in the camera's
    axes (x right, y down, z forward), metres; LiftingAccuracy compares them relative to the root joint."""

    definition = """
    -> PersonBboxValid
    ---
    keypoints_3d             : <blob>     # (frames, joints, 3) metres, camera axes, NaN where unknown
    -> JointSet
    coordinate_frame         : varchar(64)    # camera axes (x right, y down, z forward)
    source                   : varchar(255)
    """


@schema
class LiftingAccuracy(dj.Computed):
    """How well one lifter's 3D joints of one subject match the 3D ground truth (same joint set), in millimetres
    after root alignment; the part holds the same metrics per joint."""

    definition = """
    -> LiftingPerson
    -> LiftingGroundTruth
    ---
    mpjpe=null               : float64    # mean per-joint position error, mm
    pa_mpjpe=null            : float64    # after per-frame similarity Procrustes (no reflection), mm
    n_mpjpe=null             : float64    # after per-frame scale, mm
    mpjve=null               : float64    # mean per-joint velocity error, mm per frame
    accel_error=null         : float64    # acceleration error, mm per frame squared
    bone_cv=null             : float64    # mean coefficient of variation of predicted bone lengths (ratio)
    num_frames               : int32      # frames with every joint in both
    num_points               : int32      # (frame, joint) pairs compared
    """

    class Joint(dj.Part):
        """The metrics of one joint (bone_cv: of the bone ending at it)."""

        definition = """
        -> master
        joint_index          : int16
        ---
        joint_name           : varchar(64)
        mpjpe=null           : float64
        pa_mpjpe=null        : float64
        n_mpjpe=null         : float64
        mpjve=null           : float64
        accel_error=null     : float64
        bone_cv=null         : float64
        """

    @property
    def key_source(self):
        return (LiftingPerson * LiftingGroundTruth.proj(gt_joint_set="joint_set")) & "joint_set = gt_joint_set"

    def make(self, key):
        from ..lifting.metrics import lifting_accuracy

        predicted, joint_set, root = (LiftingPerson & key).fetch1("keypoints_3d", "joint_set", "root_joint")
        truth = (LiftingGroundTruth & key).fetch1("keypoints_3d")
        joints = get_joint_set(joint_set)
        metrics = lifting_accuracy(predicted, truth, bones=joints.bones, root=joints.index(root or joints.joints[0]))
        row = nan_to_null({name: metrics[name] for name in METRICS})
        row.update(num_frames=metrics["n_frames"], num_points=metrics["n_points"])
        self.insert1({**key, **row})
        per_joint = metrics["per_joint"]
        self.Joint.insert(
            [{**key, "joint_index": j, "joint_name": name,
              **nan_to_null({m: float(per_joint[m][j]) for m in METRICS})} for j, name in enumerate(joints.joints)]
        )  # fmt: skip


@schema
class LiftingPersonVideo(dj.Computed):
    """An overlay video of one subject's lifted 3D joints: its 2D skeleton on the face-blurred video and a 3D
    skeleton panel with fixed axes in the frame's top-right corner (`pose_pipeline.lifting.panel`)."""

    definition = """
    -> LiftingPerson
    -> BlurredVideo
    ---
    overlay                  : <object@derived>   # H.264 MP4
    sha256                   : char(64)   # of the stored file, verified whenever it is fetched
    """

    def make(self, key):
        from ..lifting.panel import draw_3d_panel
        from ..visualize_pose import draw_skeleton

        points, joint_set = (LiftingPerson & key).fetch1("keypoints_3d", "joint_set")
        keypoints, two_d_set = (TopDownPerson & key).fetch1("keypoints", "joint_set")
        missing = np.full(points.shape[1:], np.nan)

        def draw(frame, index):
            if index < len(keypoints):
                draw_skeleton(frame, keypoints[index], two_d_set)
            draw_3d_panel(frame, points[index] if index < len(points) else missing, joint_set)
            return frame

        _write_overlay(self, key, draw, "lifting_overlay.mp4")

    @staticmethod
    def fetch_path(key):
        """Local path of the overlay video (fetched once into the cache, checksum-verified)."""
        return _fetch_video_field(LiftingPersonVideo, key, "overlay")


def insert_lifting_ground_truth(key: dict, keypoints_3d: np.ndarray, joint_set: str, source: str) -> None:
    """Store 3D ground truth (camera axes, metres) for the annotated subject ``key``; COCO-17 (and sets starting
    with it) is stored as H36M-17 by the standard mapping, so it compares with every lifter's output."""
    n_frames = (TrackingBbox & key).fetch1("num_frames")
    if keypoints_3d.ndim != 3 or keypoints_3d.shape[0] != n_frames or keypoints_3d.shape[2] != 3:
        raise ValueError(f"3D ground truth has shape {keypoints_3d.shape}; the video has {n_frames} frames")
    h36m, _ = to_h36m(keypoints_3d, joint_set, STANDARD)
    subject = {k: v for k, v in key.items() if k in PersonBboxValid.primary_key}
    if len(PersonBboxValid & subject) != 1:
        raise ValueError(f"{key} names {len(PersonBboxValid & subject)} annotated subjects, not one")
    with LiftingGroundTruth.connection.transaction:
        store_joint_set(H36M17.name)
        LiftingGroundTruth.insert1({**subject, "keypoints_3d": h36m.astype(np.float32), "joint_set": H36M17.name,
                                    "coordinate_frame": "camera axes", "source": source[:255]})  # fmt: skip


def synthetic_ground_truth(truth, person: int = 0) -> np.ndarray:
    """A synthetic scene's COCO-17 3D joints of one person (`GroundTruth.joints3d`) in its camera's axes."""
    return truth.camera.to_camera(truth.joints3d[:, person])


METHOD_LOOKUPS = (LiftingMethodLookup,)
METHOD_REQUESTS = (LiftingMethod,)
