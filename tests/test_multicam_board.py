"""ChArUco calibration (aniposelib) of 4 synthetic cameras from rendered board views, against the known cameras;
a camera that never sees the board is named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose_pipeline.multicam.board_calibration import BoardNotFoundError, calibrate_board
from pose_pipeline.multicam.calibration import CameraModel, CameraSet
from pose_pipeline.multicam.calibration_error import compare_calibrations
from pose_pipeline.synthetic.board import BoardSpec, board_poses, render_board_views
from pose_pipeline.synthetic.camera import Camera

SPEC = BoardSpec(5, 7, 0.12, 0.09)
SIZE = (800, 600)


def rig() -> list[Camera]:
    angles = np.linspace(0, 2 * np.pi, 4, endpoint=False) + 0.3
    return [Camera.look_at((2.0 * np.cos(a), 2.0 * np.sin(a), 1.4 + 0.1 * i), (0.0, 0.0, 1.0), *SIZE,
                           vertical_fov_deg=58 + 2 * i, name=f"cam{i}") for i, a in enumerate(angles)]  # fmt: skip


@pytest.fixture(scope="module")
def views():
    poses = board_poses(60, seed=3)
    return {camera.name: render_board_views(camera, SPEC, poses) for camera in rig()}


def relative(R, t, R0, t0):
    rotation = R @ R0.T
    return rotation, t - rotation @ t0


def test_cameras_recovered_from_board_views(views):
    result = calibrate_board(views, {name: SIZE for name in views}, SPEC)
    assert all(n >= 10 for n in result.detections.values()), result.detections
    assert result.median_error < 0.5 and max(result.errors.values()) < 0.8, result.errors
    assert result.cameras.world_frame.startswith("camera cam0's axes")
    truth = rig()
    for camera, known in zip(result.cameras.cameras, truth, strict=True):
        focal = camera.matrix[[0, 1], [0, 1]].mean()
        assert focal == pytest.approx(known.K[0, 0], rel=0.02)
        rotation, translation = relative(known.R, known.t, truth[0].R, truth[0].t)
        angle = np.degrees(np.linalg.norm(cv2.Rodrigues(camera.R @ rotation.T)[0]))
        assert angle < 0.5, (camera.name, angle)
        # camera centres in camera 0's frame, metres (the board's square length sets the scale)
        assert np.linalg.norm(-camera.R.T @ camera.translation - (-rotation.T @ translation)) < 0.03
    # the same through compare_calibrations, against the true cameras in the room's frame (rigid alignment)
    known = CameraSet(tuple(CameraModel(c.name, c.K, c.dist, cv2.Rodrigues(c.R)[0].ravel(), c.t, SIZE) for c in truth))
    errors = compare_calibrations(result.cameras, known).overall()
    assert errors["max_rotation_error"] < 0.5 and errors["max_position_error"] < 30 and errors["max_focal_error"] < 2


def test_known_intrinsics_are_held_fixed(views):
    known = CameraSet(tuple(CameraModel(c.name, c.K, np.zeros(5), np.zeros(3), np.zeros(3), SIZE) for c in rig()))
    result = calibrate_board(views, {name: SIZE for name in views}, SPEC, intrinsics=known)
    for camera, given in zip(result.cameras.cameras, known.cameras, strict=True):
        np.testing.assert_array_equal(camera.matrix, given.matrix)
    assert result.median_error < 0.5


def test_a_camera_without_the_board_is_named(views):
    blind = {**views, "cam2": [np.full_like(frame, 128) for frame in views["cam2"]]}
    with pytest.raises(BoardNotFoundError, match=r"cam2 0; never found by cam2: check the board size \(5 x 7"):
        calibrate_board(blind, {name: SIZE for name in views}, SPEC)


def test_world_frame_from_a_floor_board(views):
    from pose_pipeline.multicam.board_calibration import floor_frame

    calibrated = calibrate_board(views, {name: SIZE for name in views}, SPEC).cameras
    # the board flat on the floor (z = 0), centred on the origin, its x along world x, seen from above
    width, height = SPEC.squares_x * SPEC.square_length, SPEC.squares_y * SPEC.square_length
    board_axes = np.diag([1.0, -1.0, -1.0])  # columns: board x, y, z (z into the floor) in world coordinates
    origin = -board_axes @ np.array([width / 2, height / 2, 0.0])
    floor_views = {camera.name: render_board_views(camera, SPEC, [(board_axes, origin)])[0] for camera in rig()}
    cameras, residual = floor_frame(calibrated, floor_views, SPEC)
    assert residual < 0.003 and cameras.world_frame.startswith("floor board")
    corner = origin + board_axes @ np.array([SPEC.square_length, SPEC.square_length, 0.0])  # its first inner corner
    for camera, known in zip(cameras.cameras, rig(), strict=True):
        assert np.linalg.norm(camera.center - (known.center - corner)) < 0.03, camera.name
        assert camera.center[2] > 1.0  # z up: the cameras are 1.4-1.7 m above the floor
