"""Board calibration through the tables: rendered ChArUco views of 4 synthetic cameras stored as videos, grouped
into a recording, calibrated (BoardCalibration, per camera intrinsics, extrinsics, detections, errors), stored as
a Calibration and flagged against a strict threshold, compared with the true cameras (CalibrationAccuracy); a
camera that never sees the board is named."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from pose_pipeline.multicam.board_calibration import BoardNotFoundError
from pose_pipeline.multicam.calibration import CameraModel, CameraSet
from pose_pipeline.schema.multicam import (
    BoardCalibration,
    BoardCalibrationRequest,
    Calibration,
    CalibrationAccuracy,
    calibration_flag,
    compare_with_known,
    insert_camera_set,
    insert_recording,
    store_board_calibration,
)
from pose_pipeline.schema.video import insert_local_video
from pose_pipeline.synthetic.board import board_poses, render_board_views
from pose_pipeline.video.writer import VideoWriter
from tests.test_multicam_board import SIZE, SPEC, rig

N_FRAMES = 30


def write(frames, path):
    with VideoWriter(path, fps=30.0, size=SIZE) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def request(recording: dict, **settings) -> dict:
    key = {**recording, "board_request": "charuco"}
    BoardCalibrationRequest.insert1({**key, "board": dataclasses.asdict(SPEC), "min_views": 10, "min_corners": 8,
                                     "frame_step": 1, **settings})  # fmt: skip
    return key


def test_board_videos_calibrate_the_rig(db, tmp_path):
    poses = board_poses(N_FRAMES, seed=3)
    videos = {}
    for camera in rig():
        path = write(render_board_views(camera, SPEC, poses), tmp_path / f"board_{camera.name}.mp4")
        videos[camera.name] = insert_local_video(path, "boards")
    key = request(insert_recording("lab", "board", videos))
    BoardCalibration.populate(key)
    row = (BoardCalibration & key).fetch1()
    parts = {p["camera_name"]: p for p in (BoardCalibration.Camera & key).to_dicts()}
    print("board calibration from H.264 videos:", row["median_error"], {n: (p["detections"], round(p["median_error"], 3))
                                                                        for n, p in parts.items()})  # fmt: skip
    assert row["median_error"] < 0.6 and row["world_frame"].startswith("camera cam0's axes")
    for camera in rig():
        part = parts[camera.name]
        assert part["detections"] >= 10 and part["median_error"] < 1.0
        assert part["matrix"][[0, 1], [0, 1]].mean() == pytest.approx(camera.K[0, 0], rel=0.03)
        assert (part["width"], part["height"]) == SIZE
    np.testing.assert_allclose(parts["cam0"]["translation"], 0, atol=1e-9)

    store_board_calibration(key, "board", max_error_px=row["median_error"] / 2)  # a strict threshold: flagged
    stored = (Calibration & {"calibration": "board"}).fetch1()
    assert stored["source"] == "board" and stored["metadata"]["detections"]["cam3"] == parts["cam3"]["detections"]
    assert "is above" in calibration_flag("board")
    store_board_calibration(key, "board-ok")  # the default threshold (1 px): usable as it is
    assert calibration_flag("board-ok") is None

    # calibration error against the rig's true cameras (room frame, z up): the board calibration is in cam0's frame
    truth = CameraSet(tuple(CameraModel(c.name, c.K, c.dist, cv2.Rodrigues(c.R)[0].ravel(), c.t, SIZE) for c in rig()),
                      "synthetic room: z up, floor at z = 0")  # fmt: skip
    insert_camera_set(truth, "true-rig", source="known")
    accuracy_key = compare_with_known("board-ok", "true-rig", "rigid")
    accuracy = (CalibrationAccuracy & accuracy_key).fetch1()
    per_camera = (CalibrationAccuracy.Camera & accuracy_key).to_pandas()
    assert "camera cam0's axes" in accuracy["description"] and "rigid fit" in accuracy["description"]
    assert len(per_camera) == 4 and accuracy["max_position_error"] < 30 and accuracy["max_rotation_error"] < 0.5
    assert accuracy["max_focal_error"] < 3 and accuracy["max_principal_point_error"] < 15
    assert accuracy["max_position_error"] == pytest.approx(per_camera.position_error.max())

    # a camera that never sees the board: the job fails naming it, nothing stored
    grey = write([np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)] * N_FRAMES, tmp_path / "grey.mp4")
    blind = insert_recording("lab", "blind", {"cam0": videos["cam0"], "cam9": insert_local_video(grey, "boards")})
    blind_key = request(blind)
    with pytest.raises(BoardNotFoundError, match=r"cam9 0; never found by cam9"):
        BoardCalibration.populate(blind_key)
    assert not BoardCalibration & blind_key and not BoardCalibration.Camera & blind_key
