"""Multi-camera stage: synchronised recordings, their calibrations, and 3D keypoints triangulated from each
camera's 2D keypoints.

Video ─► Recording (Manual; a part per camera, synchronisation checked from VideoInfo timestamps on insert)
Calibration (Manual; imported from anipose/Pose2Sim TOML or Qualisys .qca.txt; a part per camera)
Recording × Calibration ─► RecordingCalibration (which calibration camera is each recording camera; sizes checked)
Recording × TopDownPerson ─► Recording2D (which subject's 2D result of each camera; one person per recording)
Recording2D × RecordingCalibration ─► Triangulated3DMethod ─► Triangulated3D (frames × joints × 3, metres, world)
Triangulated3D × RecordingGroundTruth ─► Triangulated3DAccuracy (position error in mm, overall and per joint)

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
from ..multicam.calibration import CalibrationError, CameraModel, CameraSet, read_calibration
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

    def make(self, key):
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


@schema
class Triangulated3DAccuracy(dj.Computed):
    """How far one triangulation is from the recording's ground truth (same joint set and world frame), in
    millimetres, over the (frame, joint) points both have; the part holds the same per joint."""

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


def import_calibration(path, calibration: str, *, world_frame: str | None = None) -> dict:
    """Store the calibration file ``path`` (anipose/Pose2Sim TOML, Qualisys .qca.txt) as ``calibration``."""
    path = Path(path)
    cameras = read_calibration(path)
    metadata = {k: v for k, v in cameras.metadata.items() if k != "source"}
    key = {"calibration": calibration}
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with Calibration.connection.transaction:
        Calibration.insert1({**key, "world_frame": (world_frame or cameras.world_frame)[:255],
                             "source": cameras.metadata.get("source", "file"), "source_file": str(path)[:1024],
                             "source_sha256": sha256, "metadata": metadata})  # fmt: skip
        Calibration.Camera.insert([_camera_row(key, i, camera) for i, camera in enumerate(cameras.cameras)])
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


ROOT_TABLES = (Recording, Calibration)
METHOD_LOOKUPS = (Triangulated3DMethodLookup,)
METHOD_REQUESTS = (Triangulated3DMethod,)
