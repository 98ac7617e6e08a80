"""Multi-camera stage: synchronised recordings, their calibrations, and 3D keypoints triangulated from each
camera's 2D keypoints.

Video ─► Recording (Manual; a part per camera, synchronisation checked from VideoInfo timestamps on insert)
Calibration (Manual; imported from anipose/Pose2Sim TOML or Qualisys .qca.txt; a part per camera)
Recording × Calibration ─► RecordingCalibration (which calibration camera is each recording camera; sizes checked)
Recording × TopDownPerson ─► Recording2D (which subject's 2D result of each camera; one person per recording)
Recording × BoardCalibrationRequest ─► BoardCalibration (board videos; `store_board_calibration` -> Calibration)
Calibration ─► CalibrationAccept (Manual: who accepted a calibration flagged for its reprojection error, and why)
Calibration × known Calibration ─► CalibrationAccuracyRequest ─► CalibrationAccuracy (position, rotation, focal, centre)
Recording2D × RecordingCalibration ─► Triangulated3DMethod ─► Triangulated3D (frames × joints × 3, metres, world)
Triangulated3D × RecordingGroundTruth ─► Triangulated3DAccuracy (position error in mm, overall and per joint)
Triangulated3D × Reference3D (another tool's 3D, e.g. a .trc) ─► Triangulated3DComparison (mm per marker)

Every insert helper checks everything first and writes master and parts in one transaction: a recording that is
not synchronised, a calibration that lacks a camera or does not fit a video's size, 2D results of several people
or of different joint sets are refused naming the cameras, and nothing is stored half-way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import datajoint as dj
import numpy as np

from .. import multicam as _multicam  # noqa: F401 - registers the triangulation methods
from ..multicam.calibration import (
    CalibrationError,
    CameraModel,
    CameraSet,
    read_calibration,
    write_anipose_toml,
    write_pose2sim_toml,
    write_qualisys,
)
from ..multicam.sync import check_synchronisation
from ..registry import MethodCall
from ..stages import TRIANGULATION
from . import LOOKUP_DEFINITION
from . import codecs as _codecs  # noqa: F401 - registers <array>
from .joint_sets import JointSet  # noqa: F401 - named in definitions
from .keypoints import TopDownPerson
from .requests import MethodRequest
from .runs import PROVENANCE_DEFINITION, run_stage
from .video import Video, VideoInfo

STAGE = "multicam"
schema = dj.Schema()


class RecordingError(ValueError):
    """A recording, calibration or set of 2D results that cannot be used together; the message names cameras."""


@schema
class Recording(dj.Manual):
    """One synchronised multi-camera recording: frame ``i`` of every camera's video is the same instant (checked
    from the videos' own timestamps when inserted by `insert_recording`)."""

    definition = """
    recording_project        : varchar(64)
    recording                : varchar(64)
    ---
    num_frames               : int32          # frames of every camera
    fps                      : float64        # the reference camera's average rate
    reference_camera         : varchar(32)    # offsets are measured from this camera
    sync_tolerance           : float64        # seconds: frame times of all cameras agreed within this
    """

    class Camera(dj.Part):
        """One camera of the recording: its video and its timing relative to the reference camera."""

        definition = """
        -> master
        camera_name          : varchar(32)
        ---
        -> Video
        time_offset          : float64        # seconds added to the video's timestamps (declared)
        measured_offset      : float64        # seconds, median difference from the reference camera's frame times
        drift                : float64        # seconds, peak-to-peak change of that difference over the recording
        """


@schema
class Calibration(dj.Manual):
    """One calibrated camera set in one world frame (metres): imported from a file (`import_calibration`) or
    computed."""

    definition = """
    calibration              : varchar(64)
    ---
    world_frame              : varchar(255)   # what the world axes are (lab frame z up, camera 0's axes, a floor board)
    source                   : varchar(32)    # anipose_toml, pose2sim_toml, qualisys_qca, computed
    source_file=""           : varchar(1024)  # the file imported (informational)
    source_sha256=""         : varchar(64)    # its checksum
    metadata                 : json           # what the source said (its error, residuals)
    """

    class Camera(dj.Part):
        """One camera of the set (OpenCV model: world to camera ``R @ X + t``, pixels through K and distortion)."""

        definition = """
        -> master
        camera_name          : varchar(32)
        ---
        camera_index         : int16          # order in the source
        matrix               : <blob>         # (3, 3) K, pixels
        distortion           : <blob>         # OpenCV coefficients (k1, k2, p1, p2[, k3 ...])
        rotation             : <blob>         # (3,) Rodrigues vector, world to camera
        translation          : <blob>         # (3,) metres, world to camera
        width                : int32          # pixels the calibration is for
        height               : int32
        fisheye              : bool
        """


# a calibration whose median reprojection error (pixels) is above this is flagged when stored (the threshold is
# stored with it, so every worker judges it the same way) and needs a CalibrationAccept row before it is used
MAX_CALIBRATION_ERROR_PX = 1.0


@schema
class CalibrationAccept(dj.Manual):
    """A person's explicit acceptance of a calibration flagged for its reprojection error (`accept_calibration`):
    who accepted it and why. Without it, `Triangulated3D` refuses to use a flagged calibration."""

    definition = """
    -> Calibration
    ---
    accepted_by              : varchar(64)
    reason                   : varchar(1024)
    accepted_at=CURRENT_TIMESTAMP : datetime
    """


@schema
class BoardCalibrationRequest(dj.Manual):
    """A request: calibrate the cameras of a recording of a ChArUco board or checkerboard (its synchronised board
    videos) with this board and these detection settings (`pose_pipeline.multicam.board_calibration`)."""

    definition = """
    -> Recording
    board_request            : varchar(64)    # a name for the board and settings
    ---
    board                    : json           # BoardSpec fields (kind, squares, square and marker side m, dictionary)
    min_views                : int16          # a camera with fewer frames showing the board is refused by name
    min_corners              : int16          # corners a detection needs
    frame_step               : int16          # every n-th frame is read
    """


@schema
class BoardCalibration(dj.Computed):
    """The camera set calibrated from one recording's board videos (aniposelib, bundle adjustment), in the
    reference camera's frame in metres; the part holds each camera's intrinsics, extrinsics, board detections and
    median reprojection error. A camera with too few board views fails the job by name and nothing is stored.
    `store_board_calibration` makes it a `Calibration` recordings can use."""

    definition = """
    -> BoardCalibrationRequest
    ---
    median_error             : float64        # pixels, median over every camera's board corners
    world_frame              : varchar(255)
    provenance               : json           # pose_pipeline, aniposelib and OpenCV versions
    seconds                  : float64        # wall time of the calibration (board detection included)
    """

    class Camera(dj.Part):
        """One calibrated camera (OpenCV model, world to camera) and what the calibration saw of the board."""

        definition = """
        -> master
        -> Recording.Camera
        ---
        camera_index         : int16
        matrix               : <blob>     # (3, 3) K, pixels
        distortion           : <blob>     # OpenCV coefficients
        rotation             : <blob>     # (3,) Rodrigues, world to camera
        translation          : <blob>     # (3,) metres
        width                : int32
        height               : int32
        detections           : int32      # frames where the board was found
        median_error=null    : float64    # pixels
        """

    def make(self, key):
        import time
        from importlib.metadata import version

        import cv2

        from .. import __version__
        from ..multicam.board import BoardSpec
        from ..multicam.board_calibration import calibrate_board
        from .video import open_video

        start = time.perf_counter()
        request = (BoardCalibrationRequest & key).fetch1()
        spec = BoardSpec(**request["board"])
        parts = sorted((Recording.Camera & key).to_dicts(), key=lambda r: r["camera_name"])
        views, sizes = {}, {}
        for part in parts:
            video = {k: part[k] for k in ("video_project", "filename")}
            sizes[part["camera_name"]] = tuple(int(v) for v in (VideoInfo & video).fetch1("width", "height"))
            with open_video(video) as reader:
                views[part["camera_name"]] = [frame for i, frame in enumerate(reader) if i % request["frame_step"] == 0]
        result = calibrate_board(views, sizes, spec, min_views=request["min_views"],
                                 min_corners=request["min_corners"])  # fmt: skip
        self.insert1({**key, "median_error": result.median_error, "world_frame": result.cameras.world_frame[:255],
                      "provenance": {"pose_pipeline": __version__, "aniposelib": version("aniposelib"),
                                     "opencv": cv2.__version__}, "seconds": time.perf_counter() - start})  # fmt: skip
        self.Camera.insert(
            [{**key, "camera_name": c.name, "camera_index": i, "matrix": c.matrix, "distortion": c.distortion,
              "rotation": c.rotation, "translation": c.translation, "width": c.size[0], "height": c.size[1],
              "detections": result.detections[c.name], "median_error": result.errors[c.name]}
             for i, c in enumerate(result.cameras.cameras)]
        )  # fmt: skip


@schema
class CalibrationAccuracyRequest(dj.Manual):
    """A request: compare one calibration with a known calibration of the same cameras (matched by name; e.g. a
    synthetic scene's true cameras, or a motion-capture lab's), after one alignment of their world frames
    (`pose_pipeline.multicam.calibration_error`: ``none``, ``rigid`` or ``similarity``)."""

    definition = """
    -> Calibration
    -> Calibration.proj(reference_calibration="calibration")
    alignment                : varchar(16)    # none, rigid, similarity
    """


@schema
class CalibrationAccuracy(dj.Computed):
    """How far one calibration's cameras are from the known ones, after aligning the world frames as requested:
    mean and maximum over the cameras of the position (mm), rotation (degrees), focal length (% absolute) and
    principal point (pixels) errors; the part holds each camera's."""

    definition = """
    -> CalibrationAccuracyRequest
    ---
    description              : varchar(512)   # the two world frames and how one was aligned to the other
    scale                    : float64        # applied to the calibration (1 unless similarity)
    alignment_residual       : float64        # mm, RMS distance of the camera centres after the alignment
    mean_position_error      : float64        # mm
    max_position_error       : float64        # mm
    mean_rotation_error      : float64        # degrees
    max_rotation_error       : float64        # degrees
    mean_focal_error         : float64        # percent, of the absolute error
    max_focal_error          : float64        # percent
    mean_principal_point_error : float64      # pixels
    max_principal_point_error  : float64      # pixels
    """

    class Camera(dj.Part):
        """One camera's errors against its known model."""

        definition = """
        -> master
        camera_name          : varchar(32)
        ---
        position_error       : float64    # mm, aligned centre to true centre
        rotation_error       : float64    # degrees
        focal_error          : float64    # percent, signed: (estimated / true - 1) x 100 of the mean of fx and fy
        principal_point_error : float64   # pixels
        """

    def make(self, key):
        from ..multicam.calibration_error import compare_calibrations

        result = compare_calibrations(fetch_camera_set(key["calibration"]),
                                      fetch_camera_set(key["reference_calibration"]), key["alignment"])  # fmt: skip
        self.insert1({**key, "description": result.description[:512], "scale": result.scale,
                      "alignment_residual": result.residual_mm, **result.overall()})  # fmt: skip
        self.Camera.insert(
            [{**key, "camera_name": c.name, "position_error": c.position_mm, "rotation_error": c.rotation_deg,
              "focal_error": c.focal_percent, "principal_point_error": c.principal_point_px} for c in result.cameras]
        )  # fmt: skip


@schema
class RecordingCalibration(dj.Manual):
    """The calibration a recording uses, which calibration camera each recording camera is, and the image-size
    differences a person accepted (`attach_calibration`)."""

    definition = """
    -> Recording
    -> Calibration
    ---
    size_notes               : json           # {camera: sentence} for accepted size differences
    """

    class Camera(dj.Part):
        """Recording camera -> calibration camera."""

        definition = """
        -> master
        -> Recording.Camera
        ---
        calibration_camera   : varchar(32)
        """


@schema
class Recording2D(dj.Manual):
    """The 2D keypoints feeding the 3D stage: one subject's `TopDownPerson` row for each camera of a recording
    (one person per recording; `insert_recording_2d`)."""

    definition = """
    -> Recording
    two_d                    : varchar(64)    # a name for this set of 2D results (e.g. the 2D method)
    ---
    -> JointSet
    """

    class Camera(dj.Part):
        """The 2D result of one camera."""

        definition = """
        -> master
        -> Recording.Camera
        ---
        -> TopDownPerson
        """


@schema
class Triangulated3DMethodLookup(dj.Lookup):
    """One registered triangulation method (rows come from `pose_pipeline.stages.TRIANGULATION`)."""

    registry = TRIANGULATION
    name_attribute = "triangulation_method"
    definition = LOOKUP_DEFINITION.format(name=name_attribute)


@schema
class Triangulated3DMethod(MethodRequest, dj.Manual):
    """A request: triangulate one set of 2D results of a recording with one calibration, one method and one
    parameter set (merged parameters hashed into the key)."""

    methods = (("triangulation_method", TRIANGULATION, "params"),)
    hash_attribute = "triangulation_params_hash"
    definition = """
    -> Recording2D
    -> RecordingCalibration
    -> Triangulated3DMethodLookup
    triangulation_params_hash : char(32)   # hash of the merged parameters (canonical JSON)
    ---
    params                   : json       # the method's parameters, defaults merged in
    """


@schema
class Triangulated3D(dj.Computed):
    """3D keypoints of a recording's subject: frames × joints × [x, y, z] metres in the calibration's world frame,
    NaN where fewer than two cameras agreed; per joint the mean reprojection error and the cameras used."""

    definition = (
        """
    -> Triangulated3DMethod
    ---
    keypoints_3d             : <array@derived>  # (frames, joints, 3) float32 metres, world frame
    reprojection_error       : <blob>     # (frames, joints) float32 pixels, mean over the cameras used, NaN
    cameras_used             : <blob>     # (frames, joints, cameras) bool, cameras in camera_names order
    camera_names             : json       # recording camera names, in the order of cameras_used
    -> JointSet
    units                    : varchar(8)     # m
    world_frame              : varchar(255)
    num_frames               : int32
    num_triangulated         : int32          # (frame, joint) points triangulated
    median_reprojection_error=null : float64  # pixels
    """
        + PROVENANCE_DEFINITION
    )

    class SkeletonFit(dj.Part):
        """The skeleton a model-based method (the ``acm_*`` regimes) fitted to this result's detections: its
        joints and state in every frame, and the subject's anatomy it used (a stored `SubjectAnatomy`, or learned
        from these detections: `pose_pipeline.schema.skeleton_model.store_fitted_anatomy` keeps one). The
        skeleton's joint names are its definition's (the ``Skeleton`` row of that name and checksum)."""

        definition = """
        -> master
        ---
        skeleton             : varchar(64)    # a Skeleton row's name
        skeleton_sha256      : char(64)       # its definition's checksum
        joints               : <array@derived>  # (frames, skeleton joints, 3) float32 metres, world frame, NaN
        states               : <blob>         # (frames, state variables) float64, NaN outside the fitted span
        bone_lengths         : <blob>         # (skeleton joints,) metres used, the root's 0
        marker_offsets       : <blob>         # (markers, 3) metres used, body frame at rest
        anatomy              : varchar(64)    # the SubjectAnatomy used; "" when learned from these detections
        anatomy_frames=null  : <blob>         # the frames it was learned from
        anatomy_rms_px=null  : float64        # that fit's reprojection error, pixels
        fit_info             : json           # EM iterations and log-likelihoods, gated-out detections, seconds
        """

    def make(self, key):
        flag = calibration_flag(key["calibration"])
        if flag:
            raise RecordingError(flag)
        params = (Triangulated3DMethod & key).fetch1("params")
        cameras, keypoints, joint_set = triangulation_inputs(key)
        result, columns = run_stage(lambda triangulate: triangulate(cameras, keypoints, joint_set),
                                    MethodCall(TRIANGULATION, key["triangulation_method"], params),
                                    n_frames=keypoints.shape[1])  # fmt: skip
        _refuse_cameras_without_overlap(key, keypoints, result)
        error = result.reprojection_error[np.isfinite(result.reprojection_error)]
        self.insert1(
            {
                **key,
                "keypoints_3d": result.keypoints.astype(np.float32),
                "reprojection_error": result.reprojection_error.astype(np.float32),
                "cameras_used": result.cameras_used,
                "camera_names": list(result.camera_names),
                "joint_set": result.joint_set,
                "units": "m",
                "world_frame": cameras.world_frame[:255],
                "num_frames": int(keypoints.shape[1]),
                "num_triangulated": int(np.isfinite(result.keypoints).all(axis=-1).sum()),
                "median_reprojection_error": float(np.median(error)) if error.size else None,
                **columns,
            }
        )
        fit = result.skeleton_fit
        if fit is not None:
            self.SkeletonFit.insert1({**key, "skeleton": fit.skeleton, "skeleton_sha256": fit.skeleton_sha256,
                                      "joints": fit.joints.astype(np.float32), "states": fit.states,
                                      "bone_lengths": fit.bone_lengths, "marker_offsets": fit.marker_offsets,
                                      "anatomy": fit.anatomy, "anatomy_frames": fit.anatomy_frames,
                                      "anatomy_rms_px": fit.anatomy_rms_px, "fit_info": fit.info or {}})  # fmt: skip


@schema
class RecordingGroundTruth(dj.Manual):
    """Ground-truth 3D joints of a recording's subject (a synthetic scene's, or motion capture): frames × joints ×
    3 metres in the world frame named, NaN where unknown."""

    definition = """
    -> Recording
    ---
    keypoints_3d             : <blob>     # (frames, joints, 3) metres
    -> JointSet
    world_frame              : varchar(255)   # must be the calibration's world frame to be compared
    source                   : varchar(255)
    """


PCK_THRESHOLD_PX = 10.0  # Triangulated3DAccuracy.View: a projected joint within this many pixels of the truth's


@schema
class Triangulated3DAccuracy(dj.Computed):
    """How far one triangulation is from the recording's ground truth (same joint set and world frame), in
    millimetres, over the (frame, joint) points both have; parts: the same per joint, PCK of both projected into
    each camera, and each bone's length and its variation over frames."""

    definition = """
    -> Triangulated3D
    -> RecordingGroundTruth
    ---
    mean_error=null          : float64    # mm
    median_error=null        : float64    # mm
    p95_error=null           : float64    # mm, 95th percentile
    bone_cv=null             : float64    # mean coefficient of variation of the triangulated bone lengths
    reprojection_error=null  : float64    # pixels, median over the points compared
    num_points               : int32      # (frame, joint) points compared
    num_missing              : int32      # points with ground truth but not triangulated
    """

    class Joint(dj.Part):
        """The errors of one joint."""

        definition = """
        -> master
        joint_index          : int16
        ---
        joint_name           : varchar(64)
        mean_error=null      : float64    # mm
        median_error=null    : float64    # mm
        num_points           : int32
        """

    class View(dj.Part):
        """One camera: the triangulated and the true joints projected into its image, PCK at a pixel threshold."""

        definition = """
        -> master
        camera_name          : varchar(32)
        ---
        pck_threshold        : float64    # pixels
        pck=null             : float64    # share of the points compared whose projections are within the threshold
        median_pixel_error=null : float64 # pixels
        num_points           : int32
        """

    class Bone(dj.Part):
        """One bone of the joint set: the triangulated length's mean and coefficient of variation over frames,
        against the true length."""

        definition = """
        -> master
        bone_index           : int16
        ---
        bone                 : varchar(130)   # "joint a - joint b"
        mean_length=null     : float64    # mm
        true_length=null     : float64    # mm, mean over frames of the ground truth
        cv=null              : float64    # standard deviation / mean of the triangulated length
        num_frames           : int32
        """

    @property
    def key_source(self):
        return (Triangulated3D * RecordingGroundTruth.proj(gt_joint_set="joint_set")) & "joint_set = gt_joint_set"

    def make(self, key):
        from ..skeletons import get_joint_set
        from . import nan_to_null

        points, joint_set, frame, reprojection = (Triangulated3D & key).fetch1(
            "keypoints_3d", "joint_set", "world_frame", "reprojection_error")  # fmt: skip
        truth, truth_frame = (RecordingGroundTruth & key).fetch1("keypoints_3d", "world_frame")
        if truth_frame != frame:
            raise RecordingError(f"ground truth is in {truth_frame!r}, the triangulation in {frame!r}: not comparable")
        if truth.shape != points.shape:
            raise RecordingError(f"ground truth has shape {truth.shape}, the triangulation {points.shape}")
        errors = np.linalg.norm(points.astype(float) - truth, axis=-1) * 1000
        known = np.isfinite(truth).all(axis=-1)
        both = known & np.isfinite(errors)
        joints = get_joint_set(joint_set)
        lengths = [np.linalg.norm(points[:, a] - points[:, b], axis=-1) for a, b in joints.bones]
        cvs = [np.nanstd(x) / np.nanmean(x) for x in lengths if np.isfinite(x).sum() > 1]
        row = {
            "mean_error": float(errors[both].mean()) if both.any() else np.nan,
            "median_error": float(np.median(errors[both])) if both.any() else np.nan,
            "p95_error": float(np.percentile(errors[both], 95)) if both.any() else np.nan,
            "bone_cv": float(np.mean(cvs)) if cvs else np.nan,
            "reprojection_error": float(np.nanmedian(reprojection[both])) if both.any() else np.nan,
        }
        self.insert1({**key, **nan_to_null(row), "num_points": int(both.sum()),
                      "num_missing": int((known & ~both).sum())})  # fmt: skip
        self.Joint.insert(
            [{**key, "joint_index": j, "joint_name": name, "num_points": int(both[:, j].sum()),
              **nan_to_null({"mean_error": float(errors[both[:, j], j].mean()) if both[:, j].any() else np.nan,
                             "median_error": float(np.median(errors[both[:, j], j])) if both[:, j].any() else np.nan})}
             for j, name in enumerate(joints.joints)]
        )  # fmt: skip
        bones = []
        for b, ((i, j), length) in enumerate(zip(joints.bones, lengths)):
            true = np.linalg.norm(truth[:, i] - truth[:, j], axis=-1)
            finite = length[np.isfinite(length)]
            bones.append({**key, "bone_index": b, "bone": f"{joints.joints[i]} - {joints.joints[j]}"[:130],
                          "num_frames": int(finite.size), **nan_to_null({
                              "mean_length": float(finite.mean() * 1000) if finite.size else np.nan,
                              "true_length": float(np.nanmean(true) * 1000) if np.isfinite(true).any() else np.nan,
                              "cv": float(finite.std() / finite.mean()) if finite.size > 1 else np.nan})})  # fmt: skip
        self.Bone.insert(bones)
        cameras = fetch_camera_set(key["calibration"])
        mapping = {r["camera_name"]: r["calibration_camera"] for r in (RecordingCalibration.Camera & key).to_dicts()}
        views = []
        for name, calibration_camera in sorted(mapping.items()):
            camera = cameras[calibration_camera]
            pixel = np.linalg.norm(camera.project(points[both].astype(float)) - camera.project(truth[both]), axis=-1)
            pixel = pixel[np.isfinite(pixel)]
            views.append({**key, "camera_name": name, "pck_threshold": PCK_THRESHOLD_PX, "num_points": int(pixel.size),
                          **nan_to_null({"pck": float((pixel <= PCK_THRESHOLD_PX).mean()) if pixel.size else np.nan,
                                         "median_pixel_error": float(np.median(pixel)) if pixel.size else np.nan})})  # fmt: skip
        self.View.insert(views)


@schema
class Reference3D(dj.Manual):
    """3D markers of a recording's subject made by another tool (e.g. Pose2Sim's own triangulation, a .trc), in
    the world frame named, with the joint name of this project each marker is compared as
    (`import_reference_trc`)."""

    definition = """
    -> Recording
    reference                : varchar(64)
    ---
    keypoints_3d             : <blob>     # (frames, markers, 3) metres, world frame, NaN where missing
    marker_names             : json       # the file's marker names, in keypoints_3d order
    joint_names              : json       # {marker: joint name in this project's naming}
    world_frame              : varchar(255)   # must be the triangulation's to be compared
    source_file              : varchar(1024)  # informational
    source_sha256            : char(64)
    """


@schema
class Triangulated3DComparison(dj.Computed):
    """How far one triangulation is from one reference's 3D markers (same recording and world frame), per marker
    whose joint the triangulation has; distances in millimetres over the frames both have."""

    definition = """
    -> Triangulated3D
    -> Reference3D
    ---
    num_markers              : int16      # markers compared
    median_distance=null     : float64    # mm, median over the markers of each marker's median distance
    max_marker_distance=null : float64    # mm, the largest of the markers' median distances
    """

    class Marker(dj.Part):
        """One marker: its median distance over the frames both have."""

        definition = """
        -> master
        marker               : varchar(64)
        ---
        joint_name           : varchar(64)
        median_distance=null : float64    # mm
        p90_distance=null    : float64    # mm, 90th percentile over frames
        num_frames           : int32      # frames with both
        """

    def make(self, key):
        from ..multicam.compare import marker_distances
        from ..skeletons import get_joint_set
        from . import nan_to_null

        points, joint_set, frame = (Triangulated3D & key).fetch1("keypoints_3d", "joint_set", "world_frame")
        reference = (Reference3D & key).fetch1()
        if reference["world_frame"] != frame:
            raise RecordingError(f"reference {reference['reference']} is in {reference['world_frame']!r}, the "
                                 f"triangulation in {frame!r}: not comparable")  # fmt: skip
        distances = marker_distances(points.astype(float), get_joint_set(joint_set).joints, reference["keypoints_3d"],
                                     reference["marker_names"], reference["joint_names"])  # fmt: skip
        rows = []
        for marker, (joint, d) in distances.items():
            d = d[np.isfinite(d)] * 1000
            rows.append({**key, "marker": marker, "joint_name": joint, "num_frames": int(d.size),
                         **nan_to_null({"median_distance": float(np.median(d)) if d.size else np.nan,
                                        "p90_distance": float(np.percentile(d, 90)) if d.size else np.nan})})  # fmt: skip
        medians = [r["median_distance"] for r in rows if r["median_distance"] is not None]
        self.insert1({**key, "num_markers": len(rows), **nan_to_null({
            "median_distance": float(np.median(medians)) if medians else np.nan,
            "max_marker_distance": float(np.max(medians)) if medians else np.nan})})  # fmt: skip
        self.Marker.insert(rows)


def _refuse_cameras_without_overlap(key: dict, keypoints: np.ndarray, result) -> None:
    """A camera that saw the subject but was never used agrees with no other camera: its views do not overlap
    theirs, or its calibration or synchronisation is wrong."""
    seen = np.isfinite(keypoints[..., :2]).all(axis=-1).sum(axis=(1, 2))
    used = result.cameras_used.sum(axis=(0, 1))
    lonely = [f"{name} ({int(s)} 2D points)" for name, s, u in zip(result.camera_names, seen, used) if s and not u]
    if lonely:
        raise RecordingError(
            f"recording {key['recording_project']}/{key['recording']}: camera(s) {', '.join(lonely)} agree with no "
            "other camera on any point: their views do not overlap, or their calibration or synchronisation is wrong"
        )


# ------------------------------------------------------------------------------------------------ inputs


def fetch_camera_set(calibration: str) -> CameraSet:
    """The stored calibration ``calibration`` as a `CameraSet` (cameras in their source order)."""
    master = (Calibration & {"calibration": calibration}).fetch1()
    rows = sorted((Calibration.Camera & {"calibration": calibration}).to_dicts(), key=lambda r: r["camera_index"])
    cameras = tuple(
        CameraModel(r["camera_name"], r["matrix"], r["distortion"], r["rotation"], r["translation"],
                    (r["width"], r["height"]), bool(r["fisheye"]))
        for r in rows
    )  # fmt: skip
    return CameraSet(cameras, master["world_frame"], dict(master["metadata"] or {}))


def triangulation_inputs(key: dict) -> tuple[CameraSet, np.ndarray, str]:
    """The camera set (named as the recording's cameras, in their order), the (cameras, frames, joints, 3) 2D
    keypoints and their joint set for a Triangulated3DMethod ``key``."""
    recording = {"recording_project": key["recording_project"], "recording": key["recording"]}
    mapping = {r["camera_name"]: r["calibration_camera"]
               for r in (RecordingCalibration.Camera & recording & {"calibration": key["calibration"]}).to_dicts()}  # fmt: skip
    names = sorted(mapping)
    calibration = fetch_camera_set(key["calibration"])
    cameras = CameraSet(tuple(CameraModel(**{**vars(calibration[mapping[n]]), "name": n}) for n in names),
                        calibration.world_frame, calibration.metadata)  # fmt: skip
    two_d = Recording2D.Camera & recording & {"two_d": key["two_d"]}
    joint_set = (Recording2D & recording & {"two_d": key["two_d"]}).fetch1("joint_set")
    parts = {row["camera_name"]: row for row in two_d.to_dicts()}
    keypoints = []
    for name in names:
        person = {k: parts[name][k] for k in TopDownPerson.primary_key}
        keypoints.append((TopDownPerson & person).fetch1("keypoints"))
    return cameras, np.stack(keypoints).astype(float), joint_set


# ------------------------------------------------------------------------------------------------ helpers


def insert_recording(recording_project: str, recording: str, videos: dict[str, dict], *,
                     time_offsets: dict[str, float] | None = None, tolerance: float | None = None) -> dict:  # fmt: skip
    """Group synchronised videos (camera name -> `Video` key) into a recording after checking their per-frame
    timestamps (`pose_pipeline.multicam.sync.check_synchronisation`; VideoInfo is computed where missing).
    Returns the Recording key; an unsynchronised set raises `SynchronisationError` naming the cameras."""
    if len(videos) < 2:
        raise RecordingError(f"recording {recording_project}/{recording}: needs at least two cameras")
    keys = {name: {"video_project": v["video_project"], "filename": v["filename"]} for name, v in videos.items()}
    missing = [name for name, k in keys.items() if not (Video & k)]
    if missing:
        raise RecordingError(f"recording {recording_project}/{recording}: no video for camera(s) {', '.join(missing)}")
    for k in keys.values():
        if not (VideoInfo & k):
            VideoInfo.populate(k)
    names = sorted(keys)
    timestamps = {name: (VideoInfo & keys[name]).fetch1("timestamps") for name in names}
    report = check_synchronisation(timestamps, time_offsets, tolerance=tolerance)
    key = {"recording_project": recording_project, "recording": recording}
    with Recording.connection.transaction:
        Recording.insert1({**key, "num_frames": report.num_frames, "fps": report.fps,
                           "reference_camera": report.reference, "sync_tolerance": report.tolerance})  # fmt: skip
        Recording.Camera.insert(
            [{**key, "camera_name": name, **keys[name], "time_offset": float((time_offsets or {}).get(name, 0.0)),
              "measured_offset": report.offsets[name], "drift": report.drifts[name]} for name in names]
        )  # fmt: skip
    return key


def import_calibration(path, calibration: str, *, world_frame: str | None = None,
                       max_error_px: float = MAX_CALIBRATION_ERROR_PX) -> dict:  # fmt: skip
    """Store the calibration file ``path`` (anipose/Pose2Sim TOML, Qualisys .qca.txt) as ``calibration``; where
    the file states a median reprojection error (``median_reprojection_error``), one above ``max_error_px`` is
    flagged (`calibration_flag`)."""
    path = Path(path)
    cameras = read_calibration(path)
    metadata = {k: v for k, v in cameras.metadata.items() if k != "source"} | {"max_error_px": float(max_error_px)}
    key = {"calibration": calibration}
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with Calibration.connection.transaction:
        Calibration.insert1({**key, "world_frame": (world_frame or cameras.world_frame)[:255],
                             "source": cameras.metadata.get("source", "file"), "source_file": str(path)[:1024],
                             "source_sha256": sha256, "metadata": metadata})  # fmt: skip
        Calibration.Camera.insert([_camera_row(key, i, camera) for i, camera in enumerate(cameras.cameras)])
    return key


CALIBRATION_WRITERS = {"anipose": write_anipose_toml, "pose2sim": write_pose2sim_toml, "qualisys": write_qualisys}


def export_calibration(calibration: str, path, fmt: str = "anipose") -> Path:
    """Write the stored calibration ``calibration`` as ``fmt`` (`CALIBRATION_WRITERS`: an anipose/aniposelib TOML
    that ``CameraGroup.load`` reads, a Pose2Sim ``Calib.toml``, a Qualisys ``.qca.txt``); returns the path. The
    world frame and metadata travel in the TOML files' ``[metadata]``."""
    if fmt not in CALIBRATION_WRITERS:
        raise ValueError(f"unknown calibration format {fmt!r}; known: {sorted(CALIBRATION_WRITERS)}")
    if not Calibration & {"calibration": calibration}:
        raise RecordingError(f"no calibration {calibration!r} is stored")
    path = Path(path)
    CALIBRATION_WRITERS[fmt](fetch_camera_set(calibration), path)
    return path


def insert_camera_set(cameras: CameraSet, calibration: str, *, source: str = "computed") -> dict:
    """Store a camera set made in Python (e.g. a synthetic scene's true cameras, source ``known``) as the
    `Calibration` ``calibration``, with its world frame and metadata."""
    key = {"calibration": calibration}
    metadata = {k: v for k, v in cameras.metadata.items() if k != "source"}
    with Calibration.connection.transaction:
        Calibration.insert1({**key, "world_frame": cameras.world_frame[:255], "source": source[:32],
                             "metadata": metadata})  # fmt: skip
        Calibration.Camera.insert([_camera_row(key, i, camera) for i, camera in enumerate(cameras.cameras)])
    return key


def compare_with_known(calibration: str, reference_calibration: str, alignment: str = "rigid") -> dict:
    """Request and compute the `CalibrationAccuracy` of ``calibration`` against the known ``reference_calibration``
    (alignments: `pose_pipeline.multicam.calibration_error`); returns its key."""
    key = {"calibration": calibration, "reference_calibration": reference_calibration, "alignment": alignment}
    CalibrationAccuracyRequest.insert1(key, skip_duplicates=True)
    CalibrationAccuracy.populate(key)
    return key


def _camera_row(key: dict, index: int, camera: CameraModel) -> dict:
    return {**key, "camera_name": camera.name, "camera_index": index, "matrix": camera.matrix,
            "distortion": camera.distortion, "rotation": camera.rotation, "translation": camera.translation,
            "width": camera.size[0], "height": camera.size[1], "fisheye": camera.fisheye}  # fmt: skip


def attach_calibration(recording_key: dict, calibration: str, cameras: dict[str, str] | None = None, *,
                       accept_size_mismatch: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """Say that ``recording_key`` uses ``calibration``: ``cameras`` maps recording camera -> calibration camera
    (default: the same names). Every recording camera must be in the calibration, and each video's decoded size
    must be the calibration's, except for the cameras listed in ``accept_size_mismatch`` (their note is stored)."""
    recording = {k: recording_key[k] for k in Recording.primary_key}
    parts = (Recording.Camera & recording).to_dicts()
    mapping = {p["camera_name"]: (cameras or {}).get(p["camera_name"], p["camera_name"]) for p in parts}
    camera_set = fetch_camera_set(calibration)
    try:
        camera_set.subset(list(mapping.values()))
    except CalibrationError as error:
        raise RecordingError(f"recording {recording['recording_project']}/{recording['recording']}: {error}") from None
    sizes = {}
    for part in parts:
        width, height = (VideoInfo & part).fetch1("width", "height")
        sizes[part["camera_name"]] = (width, height)
    renamed = CameraSet(tuple(CameraModel(**{**vars(camera_set[c]), "name": r}) for r, c in mapping.items()))
    mismatches = renamed.size_mismatches(sizes)
    refused = {name: note for name, note in mismatches.items() if name not in accept_size_mismatch}
    if refused:
        raise RecordingError(
            "video and calibration sizes differ: " + "; ".join(refused.values())
            + f". If the pixels still correspond (e.g. a decoder that crops 1088 to 1080 rows), pass "
            f"accept_size_mismatch={tuple(sorted(refused))}"
        )  # fmt: skip
    key = {**recording, "calibration": calibration}
    with RecordingCalibration.connection.transaction:
        RecordingCalibration.insert1({**key, "size_notes": mismatches})
        RecordingCalibration.Camera.insert([{**key, "camera_name": r, "calibration_camera": c}
                                            for r, c in mapping.items()])  # fmt: skip
    return key


def insert_recording_2d(recording_key: dict, two_d: str, top_down_method: str, *, params: dict | None = None,
                        subject_id: int | None = None) -> dict:  # fmt: skip
    """Choose, for every camera of the recording, the `TopDownPerson` row of ``top_down_method`` (with the
    merged ``params`` when given) on that camera's video. One person per recording: with ``subject_id`` None,
    each camera must have exactly one annotated subject (>= 0) with that result; several are refused by name."""
    recording = {k: recording_key[k] for k in Recording.primary_key}
    label = f"recording {recording['recording_project']}/{recording['recording']}"
    restriction = {"top_down_method": top_down_method}
    if params is not None:
        from .keypoints import TopDownMethod

        merged = TopDownMethod.merged({"top_down_method": top_down_method, "params": params})
        restriction["top_down_params_hash"] = merged["top_down_params_hash"]
    rows, problems, joint_sets, frames = [], [], {}, {}
    for part in (Recording.Camera & recording).to_dicts():
        video = {k: part[k] for k in ("video_project", "filename")}
        query = TopDownPerson & video & restriction & "subject_id >= 0"
        if subject_id is not None:
            query &= {"subject_id": subject_id}
        found = query.to_dicts()
        name = part["camera_name"]
        if not found:
            problems.append(f"camera {name}: no {top_down_method!r} 2D result")
            continue
        subjects = sorted({r["subject_id"] for r in found})
        if len(found) > 1:
            problems.append(f"camera {name}: {len(found)} 2D results (subjects {subjects}); one person per recording "
                            "is supported: give subject_id (and params)")  # fmt: skip
            continue
        [row] = found
        joint_sets[name], frames[name] = row["joint_set"], row["num_frames"]
        rows.append({**recording, "two_d": two_d, "camera_name": name,
                     **{k: row[k] for k in TopDownPerson.primary_key}})  # fmt: skip
    if not problems and len(set(joint_sets.values())) > 1:
        problems.append("the cameras' 2D results name different joint sets: "
                        + ", ".join(f"{n} {j}" for n, j in joint_sets.items()))  # fmt: skip
    n_frames = (Recording & recording).fetch1("num_frames")
    wrong = [f"{n} {f}" for n, f in frames.items() if f != n_frames]
    if not problems and wrong:
        problems.append(f"2D results must cover the recording's {n_frames} frames: {', '.join(wrong)}")
    if problems:
        raise RecordingError(f"{label}: " + "; ".join(problems))
    key = {**recording, "two_d": two_d}
    with Recording2D.connection.transaction:
        Recording2D.insert1({**key, "joint_set": next(iter(joint_sets.values()))})
        Recording2D.Camera.insert(rows)
    return key


def store_board_calibration(board_key: dict, calibration: str, *,
                            max_error_px: float = MAX_CALIBRATION_ERROR_PX) -> dict:  # fmt: skip
    """Store the `BoardCalibration` ``board_key`` as the `Calibration` ``calibration`` (source ``board``), its
    errors and detections in the metadata; flagged when its median error is above ``max_error_px``."""
    row = (BoardCalibration & board_key).fetch1()
    parts = sorted((BoardCalibration.Camera & board_key).to_dicts(), key=lambda r: r["camera_index"])
    metadata = {"median_reprojection_error": row["median_error"], "max_error_px": float(max_error_px),
                "errors": {p["camera_name"]: p["median_error"] for p in parts},
                "detections": {p["camera_name"]: p["detections"] for p in parts},
                "board_calibration": {k: board_key[k] for k in BoardCalibration.primary_key}}  # fmt: skip
    key = {"calibration": calibration}
    with Calibration.connection.transaction:
        Calibration.insert1({**key, "world_frame": row["world_frame"], "source": "board", "metadata": metadata})
        Calibration.Camera.insert(
            [_camera_row(key, p["camera_index"], CameraModel(p["camera_name"], p["matrix"], p["distortion"],
                         p["rotation"], p["translation"], (p["width"], p["height"]))) for p in parts]
        )  # fmt: skip
    return key


def calibration_flag(calibration: str) -> str | None:
    """Why ``calibration`` may not be used (its median reprojection error above the threshold stored with it, and
    no `CalibrationAccept`), or None."""
    metadata = (Calibration & {"calibration": calibration}).fetch1("metadata") or {}
    error, limit = metadata.get("median_reprojection_error"), metadata.get("max_error_px", MAX_CALIBRATION_ERROR_PX)
    if error is None or error <= limit or CalibrationAccept & {"calibration": calibration}:
        return None
    return (f"calibration {calibration}: median reprojection error {error:.2f} px is above {limit:g} px; "
            "recalibrate, or accept it explicitly with accept_calibration(calibration, accepted_by, reason)")  # fmt: skip


def accept_calibration(calibration: str, accepted_by: str, reason: str) -> dict:
    """Record that ``accepted_by`` accepts the flagged ``calibration`` for ``reason`` (both required)."""
    if not accepted_by.strip() or not reason.strip():
        raise RecordingError(f"calibration {calibration}: an accept needs who (accepted_by) and why (reason)")
    key = {"calibration": calibration}
    CalibrationAccept.insert1({**key, "accepted_by": accepted_by[:64], "reason": reason[:1024]})
    return key


def import_reference_trc(recording_key: dict, path, reference: str, *, axes=(0, 1, 2),
                         joint_names: dict[str, str] | None = None, world_frame: str | None = None) -> dict:  # fmt: skip
    """Store the .trc ``path`` as 3D markers of the recording's subject: world axis ``i`` is the file's column
    ``axes[i]`` (Pose2Sim's Y-up files: `pose_pipeline.multicam.compare.POSE2SIM_TRC_AXES`); markers are compared as
    the joints ``joint_names`` says, else as `joint_name_of` spells them. ``world_frame`` defaults to the frame of
    the calibration attached to the recording (one must be attached, or give it)."""
    from ..export.trc import read_trc
    from ..multicam.compare import marker_joint_names

    path = Path(path)
    recording = {k: recording_key[k] for k in Recording.primary_key}
    values, _, markers, _ = read_trc(path)
    n_frames = (Recording & recording).fetch1("num_frames")
    if values.shape[0] != n_frames:
        raise RecordingError(
            f"{path.name}: {values.shape[0]} frames; recording {recording['recording']} has {n_frames}"
        )
    if world_frame is None:
        frames = {fetch_camera_set(c).world_frame for c in (RecordingCalibration & recording).to_arrays("calibration")}
        if len(frames) != 1:
            raise RecordingError(
                f"{path.name}: say its world_frame (the recording has {len(frames)} calibration frames)"
            )
        world_frame = frames.pop()
    key = {**recording, "reference": reference}
    Reference3D.insert1({**key, "keypoints_3d": values[..., list(axes)], "marker_names": list(markers),
                         "joint_names": marker_joint_names(markers, joint_names), "world_frame": world_frame[:255],
                         "source_file": str(path)[:1024],
                         "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest()})  # fmt: skip
    return key


def write_reprojection_overlay(triangulated_key: dict, camera_name: str, out, *, max_error_px: float = 20.0) -> Path:
    """Draw a `Triangulated3D` result projected into one recording camera on that camera's blurred video (a
    `BlurredVideo` of its video must exist: overlays never show a raw face) and write it to ``out`` (H.264).
    Joints are coloured by their reprojection error: green at 0 px, red at ``max_error_px`` or more."""
    from ..video.overlay import video_overlay
    from ..visualize_pose import draw_skeleton
    from .overlays import BlurredVideo

    # the key only: a fetched row also holds arrays, which cannot restrict a query
    key = {k: triangulated_key[k] for k in Triangulated3D.primary_key}
    row = (Triangulated3D & key).fetch1()
    part = (Recording.Camera & key & {"camera_name": camera_name}).to_dicts()
    if not part:
        raise RecordingError(f"recording {key['recording']} has no camera {camera_name!r}")
    video = {k: part[0][k] for k in ("video_project", "filename")}
    blurred = (BlurredVideo & video).keys()
    if not blurred:
        raise RecordingError(f"camera {camera_name}: no BlurredVideo of {video['filename']}; blur its faces first")
    calibration_camera = (RecordingCalibration.Camera & key & {"camera_name": camera_name}).fetch1("calibration_camera")
    camera = fetch_camera_set(key["calibration"])[calibration_camera]
    pixels = camera.project(row["keypoints_3d"].astype(float))  # (frames, joints, 2)
    score = np.clip(1 - row["reprojection_error"].astype(float) / max_error_px, 0, 1)
    drawn = np.concatenate([pixels, np.where(np.isfinite(pixels[..., :1]), score[..., None], np.nan)], axis=-1)

    def draw(frame, index):
        draw_skeleton(frame, drawn[index], row["joint_set"])
        return frame

    return video_overlay(BlurredVideo.fetch_path(blurred[0]), Path(out), draw)


ROOT_TABLES = (Recording, Calibration)
METHOD_LOOKUPS = (Triangulated3DMethodLookup,)
METHOD_REQUESTS = (Triangulated3DMethod,)
