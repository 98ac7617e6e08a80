"""The Pose2Sim demo end to end through the tables: the 4 real videos as a Recording, the Qualisys-converted
calibration attached (the two cameras that decode 1080 wide accepted by name), the subject tracked and annotated
per camera, each camera's OpenPose BODY_25B files imported as the ``imported`` 2D method and BlazePose run per
camera, both triangulated (dlt, dlt_ransac), and stored comparisons with Pose2Sim's own 3D (.trc)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.multicam_scene import POSE2SIM_DEMO

# the module fixture tracks and runs BlazePose on 4 x 100 frames of 1088x1920 (about 1 min of CPU); leave room
# on a busy machine
pytestmark = [
    pytest.mark.skipif(not (POSE2SIM_DEMO / "videos").is_dir(), reason="the Pose2Sim demo is not here"),
    pytest.mark.timeout(1800),
]
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
TRC = "S00_P00_T01_BalancingTrial_0-100.trc"


@pytest.fixture(scope="module")
def demo(backend):
    """Recording, calibration, per-camera subjects, both 2D sets and four triangulations, stored once."""
    from pose_pipeline.multicam.compare import POSE2SIM_BODY_25B_NAMES, POSE2SIM_TRC_AXES
    from pose_pipeline.schema.imports import ImportedFile, import_results
    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
    from pose_pipeline.schema.multicam import (
        Calibration,
        Recording,
        Triangulated3D,
        Triangulated3DComparison,
        Triangulated3DMethod,
        attach_calibration,
        import_calibration,
        import_reference_trc,
        insert_recording,
        insert_recording_2d,
    )
    from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, annotate
    from pose_pipeline.schema.video import Video, insert_local_video

    videos = {c: insert_local_video(POSE2SIM_DEMO / f"videos/{c}.mp4", "pose2sim") for c in CAMERAS}
    try:
        rec = insert_recording("pose2sim", "balancing", videos)
        import_calibration(POSE2SIM_DEMO / "calibration/Calib.qca.txt", "qualisys")
        pair = attach_calibration(rec, "qualisys", accept_size_mismatch=("cam01", "cam02"))
        for camera, key in videos.items():
            TrackingBboxMethod.insert1(key)  # the shipped YOLOX-Nano and ByteTrack
            TrackingBbox.populate(key)
            tracks = TrackingBbox.tracks(key)
            # the subject: the tracklet with the largest boxes (the demo's person fills most of the portrait frame)
            areas = {int(t): float(np.median(np.prod(tracks.boxes[tracks.track_id == t, 2:], axis=1)))
                     for t in np.unique(tracks.track_id)}  # fmt: skip
            subject = annotate(key, 0, [max(areas, key=areas.get)], annotator="test")
            PersonBbox.populate(subject)
            import_results(key, POSE2SIM_DEMO / f"pose_body25b/{camera}_json", joint_set="OpenPose-BODY_25B",
                           individual="box")  # fmt: skip
            TopDownMethod.insert1({**subject, "top_down_method": "blazepose", "params": {"joint_set": "COCO-17"}})
            TopDownPerson.populate(subject)
        openpose = insert_recording_2d(rec, "openpose", "imported")
        blazepose = insert_recording_2d(rec, "blazepose", "blazepose")
        for two_d in (openpose, blazepose):
            # Pose2Sim's own settings for this trial: likelihood threshold 0.3, reprojection threshold 15 px
            Triangulated3DMethod.insert1({**two_d, **pair, "triangulation_method": "dlt",
                                          "params": {"min_confidence": 0.3}})  # fmt: skip
            Triangulated3DMethod.insert1({**two_d, **pair, "triangulation_method": "dlt_ransac",
                                          "params": {"min_confidence": 0.3, "threshold_px": 15.0}})  # fmt: skip
        Triangulated3D.populate()
        import_reference_trc(rec, POSE2SIM_DEMO / f"pose3d_pose2sim/{TRC}", "pose2sim", axes=POSE2SIM_TRC_AXES,
                             joint_names=POSE2SIM_BODY_25B_NAMES)  # fmt: skip
        Triangulated3DComparison.populate()
        yield rec
    finally:
        for table in (Recording, Calibration, Video & {"video_project": "pose2sim"}, ImportedFile):
            table.delete(prompt=False)


def comparison(two_d: str, method: str) -> tuple[dict, dict]:
    from pose_pipeline.schema.multicam import Triangulated3DComparison

    query = Triangulated3DComparison & {"two_d": two_d, "triangulation_method": method, "reference": "pose2sim"}
    row = query.fetch1()
    markers = {
        r["marker"]: r["median_distance"] / 10 for r in (Triangulated3DComparison.Marker & query.proj()).to_dicts()
    }
    print(f"{two_d} {method} vs Pose2Sim (cm):", {m: round(v, 2) for m, v in markers.items()})
    return row, markers


def test_every_stage_stored(demo):
    from pose_pipeline.schema.multicam import Recording2D, Triangulated3D, Triangulated3DComparison

    assert len(Recording2D.Camera & demo) == 8
    assert len(Triangulated3D & demo) == 4 and len(Triangulated3DComparison & demo) == 4
    for row in (Triangulated3D & demo).to_dicts():
        assert row["keypoints_3d"].shape[:2] == (100, 25 if row["two_d"] == "openpose" else 17)
        assert row["units"] == "m" and row["world_frame"] == "Qualisys lab frame (z up)"
        print(row["two_d"], row["triangulation_method"], "median reprojection px", row["median_reprojection_error"])


def test_imported_openpose_reproduces_pose2sim(demo):
    """The same 2D points Pose2Sim triangulated, now through import, tracking boxes and the tables: its 21 markers
    mapped to BODY_25B joints (Neck -> upper_neck, Head -> head_top)."""
    row, markers = comparison("openpose", "dlt")
    assert row["num_markers"] == 21
    # the weighted DLT on all cameras is Pose2Sim's own computation wherever Pose2Sim kept every camera: 12 markers
    # within 0.5 mm before import; the import's 0.5 px pixel-origin shift (centre -> corner) moves them ~1 mm
    close = [m for m, cm in markers.items() if cm < 0.2]
    assert len(close) >= 10 and {"RAnkle", "LAnkle", "RWrist", "LWrist"} <= set(close), markers
    assert max(markers.values()) < 8, markers
    row, markers = comparison("openpose", "dlt_ransac")
    assert row["num_markers"] == 21 and max(markers.values()) < 6 and row["median_distance"] < 35, markers


def test_blazepose_per_camera_near_pose2sim(demo):
    """The project's own 2D model in each view, triangulated: the 13 markers COCO-17 shares with Pose2Sim's."""
    row, markers = comparison("blazepose", "dlt_ransac")
    assert row["num_markers"] == 13 and "Neck" not in markers
    assert row["median_distance"] < 100, markers  # mm: a different 2D model, not the same points
