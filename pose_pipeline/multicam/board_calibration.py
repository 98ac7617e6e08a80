"""Calibration of a camera set from ChArUco or checkerboard views, with aniposelib (board detection through
OpenCV's aruco module or ``findChessboardCorners``, initial intrinsics and extrinsics, iterative bundle
adjustment).

Counted per camera: the frames where the board was found (at least ``min_corners`` corners); a camera with fewer
than ``min_views`` is refused by name before anything is optimised, with the likely reasons when it never saw the
board. Reported: each camera's median reprojection error of the board corners, and the median over all. The world
frame is camera ``reference``'s (the first camera's unless named): the result is re-expressed so that this camera
sits at the origin with identity rotation, in metres (the board's square length sets the scale).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from .board import BoardSpec
from .calibration import CalibrationError, CameraModel, CameraSet


class BoardNotFoundError(CalibrationError):
    """A camera saw the board in too few frames; the message names it and the likely reasons."""


@dataclass(frozen=True)
class BoardCalibration:
    """A calibrated camera set and what the calibration saw: frames with the board per camera, each camera's
    median reprojection error (pixels) and the median over all cameras' board corners."""

    cameras: CameraSet
    detections: dict[str, int]
    errors: dict[str, float]
    median_error: float


def _aniposelib_board(spec: BoardSpec):
    from aniposelib.boards import CharucoBoard, Checkerboard

    if spec.kind == "checkerboard":  # aniposelib counts a checkerboard's inner corners
        return Checkerboard(*spec.inner_corners, square_length=spec.square_length)
    return CharucoBoard(spec.squares_x, spec.squares_y, spec.square_length, spec.marker_length,
                        marker_bits=spec.marker_bits, dict_size=spec.dict_size)  # fmt: skip


CHECKERBOARD_FLAGS = cv2.CALIB_CB_NORMALIZE_IMAGE + cv2.CALIB_CB_ADAPTIVE_THRESH + cv2.CALIB_CB_FAST_CHECK
SUBPIXEL_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01)


def _detect(board, image: np.ndarray):
    """(corners (n, 1, 2) float32, ids (n, 1)) of the board in a grey image, or (None, None). Checkerboards through
    OpenCV here with aniposelib's flags: aniposelib's own ``Checkerboard.detect_image`` hands ``cornerSubPix`` the
    array ``findChessboardCorners`` returns, which OpenCV 5 refuses ("Layout of the output array corners is
    incompatible"); only a board found whole is kept."""
    from aniposelib.boards import Checkerboard

    if not isinstance(board, Checkerboard):
        return board.detect_image(image)
    found, corners = cv2.findChessboardCorners(image, board.get_size(), flags=CHECKERBOARD_FLAGS)
    if not found or corners is None or len(corners) != len(board.ids):
        return None, None
    corners = cv2.cornerSubPix(image, np.ascontiguousarray(corners, np.float32).reshape(-1, 1, 2), (3, 3), (-1, -1),
                               SUBPIXEL_CRITERIA)  # fmt: skip
    return corners, board.ids.reshape(-1, 1).copy()


def _never_found_reasons(spec: BoardSpec, min_corners: int) -> str:
    """The likely reasons a camera never found the board."""
    if spec.kind == "checkerboard":
        columns, rows = spec.inner_corners
        return (f"check the board size ({spec.squares_x} x {spec.squares_y} squares, so {columns} x {rows} inner "
                "corners), that the whole board is in view (a checkerboard is found only when every inner corner "
                "is visible), that a light margin surrounds its outer squares, and that squares are large enough "
                "(about 10 pixels or more)")  # fmt: skip
    return (f"check the board size ({spec.squares_x} x {spec.squares_y} squares), the dictionary ({spec.marker_bits}"
            f"x{spec.marker_bits}, {spec.dict_size} markers), that at least {min_corners} corners are visible and "
            "that markers are large enough (about 10 pixels or more)")  # fmt: skip


def detect_board(frames: Iterable[np.ndarray], spec: BoardSpec, min_corners: int = 8) -> list[dict]:
    """aniposelib detection rows (frame number, corners, ids) of the frames (RGB or grey) showing the board with at
    least ``min_corners`` corners."""
    board = _aniposelib_board(spec)
    rows = []
    for index, frame in enumerate(frames):
        image = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        corners, ids = _detect(board, image)
        if corners is not None and len(corners) >= min_corners:
            rows.append({"framenum": index, "corners": corners, "ids": ids})
    return board.fill_points_rows(rows)


def calibrate_board(views: dict[str, Iterable[np.ndarray]], sizes: dict[str, tuple[int, int]], spec: BoardSpec, *,
                    min_views: int = 10, min_corners: int = 8, intrinsics: CameraSet | None = None,
                    reference: str | None = None) -> BoardCalibration:  # fmt: skip
    """Calibrate the cameras ``views`` names (name -> frames of the board, the same frame indices being the same
    instant in every camera) of image ``sizes`` (name -> (width, height)). With ``intrinsics`` (a camera set naming
    the same cameras) their matrices and distortions are held fixed and only the extrinsics are optimised."""
    from aniposelib.boards import extract_points, merge_rows
    from aniposelib.cameras import CameraGroup

    names = list(views)
    rows = {name: detect_board(views[name], spec, min_corners) for name in names}
    detections = {name: len(r) for name, r in rows.items()}
    few = [name for name in names if detections[name] < min_views]
    if few:
        never = [name for name in few if detections[name] == 0]
        reasons = f"; never found by {', '.join(never)}: {_never_found_reasons(spec, min_corners)}" if never else ""
        raise BoardNotFoundError(
            f"too few board views (fewer than {min_views} frames with {min_corners} corners or more): "
            + ", ".join(f"{name} {detections[name]}" for name in few) + reasons
        )  # fmt: skip
    groups = _camera_groups({name: {r["framenum"] for r in rows[name]} for name in names})
    if len(groups) > 1:
        raise BoardNotFoundError(
            "the cameras fall into groups that never saw the board at the same time: "
            + " | ".join(", ".join(group) for group in groups)
            + "; show the board where cameras of different groups see it together (their views must overlap)"
        )  # fmt: skip
    board = _aniposelib_board(spec)
    group = CameraGroup.from_names(names)
    for camera, name in zip(group.cameras, names):
        camera.set_size(tuple(int(v) for v in sizes[name]))
        if intrinsics is not None:
            camera.set_camera_matrix(intrinsics[name].matrix.copy())
            camera.set_distortions(intrinsics[name].distortion.copy())
    all_rows = [list(rows[name]) for name in names]
    with contextlib.redirect_stdout(io.StringIO()):  # aniposelib prints its progress unconditionally
        group.calibrate_rows(all_rows, board, init_intrinsics=intrinsics is None, init_extrinsics=True,
                             verbose=False, only_extrinsics=intrinsics is not None)  # fmt: skip
        merged = merge_rows([[r for r in camera_rows if r["ids"].size >= min_corners] for camera_rows in all_rows])
        points, _ = extract_points(merged, board, min_cameras=2)
        errors = np.linalg.norm(group.reprojection_error(group.triangulate(points), points), axis=-1)
    cameras = _in_reference_frame(group, names, reference or names[0])
    per_camera = {name: float(np.nanmedian(errors[i])) for i, name in enumerate(names)}
    return BoardCalibration(cameras, detections, per_camera, float(np.nanmedian(errors)))


def _camera_groups(frames: dict[str, set[int]]) -> list[list[str]]:
    """Cameras linked, directly or through others, by frames where both found the board (connected components)."""
    groups: list[list[str]] = []
    for name, seen in frames.items():
        linked = [g for g in groups if any(seen & frames[other] for other in g)]
        merged = [name] + [other for g in linked for other in g]
        groups = [g for g in groups if g not in linked] + [merged]
    order = list(frames)
    return sorted((sorted(g, key=order.index) for g in groups), key=lambda g: order.index(g[0]))


def _in_reference_frame(group, names: list[str], reference: str) -> CameraSet:
    """The calibrated cameras re-expressed with camera ``reference`` at the origin, axes aligned with it."""
    index = names.index(reference)
    r0 = cv2.Rodrigues(group.cameras[index].get_rotation())[0]
    t0 = group.cameras[index].get_translation()
    cameras = []
    for camera, name in zip(group.cameras, names):
        rotation = cv2.Rodrigues(camera.get_rotation())[0] @ r0.T
        translation = camera.get_translation() - rotation @ t0
        cameras.append(CameraModel(name, camera.get_camera_matrix(), camera.get_distortions(),
                                   cv2.Rodrigues(rotation)[0].ravel(), translation, camera.get_size()))  # fmt: skip
    return CameraSet(tuple(cameras), world_frame=f"camera {reference}'s axes (x right, y down, z forward), metres",
                     metadata={"source": "charuco"})  # fmt: skip


def floor_frame(cameras: CameraSet, views: dict[str, np.ndarray], spec: BoardSpec, *, min_corners: int = 8
                ) -> tuple[CameraSet, float]:  # fmt: skip
    """Re-express calibrated ``cameras`` in the frame of a board lying on the floor, seen in one frame per camera
    (``views``: name -> frame): origin at the board's first inner corner, x along its first row, z up (towards
    the cameras), metres. Returns the cameras and the fit's RMS residual in metres (the board's corners
    triangulated from at least two cameras, then a rigid fit to the board's geometry)."""
    from .triangulate import triangulate_dlt

    board = _aniposelib_board(spec)
    n_corners = len(board.objPoints)
    pixels = np.full((len(cameras), n_corners, 2), np.nan)
    for c, name in enumerate(cameras.names):
        if name not in views:
            continue
        frame = views[name]
        image = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        corners, ids = _detect(board, image)
        if corners is not None and len(corners) >= min_corners:
            pixels[c, ids.ravel()] = corners.reshape(-1, 2)
    seen = [name for c, name in enumerate(cameras.names) if np.isfinite(pixels[c]).any()]
    if len(seen) < 2:
        raise BoardNotFoundError(f"the floor board must be found by at least two cameras; found by {seen or 'none'} "
                                 f"of {', '.join(cameras.names)}")  # fmt: skip
    points = triangulate_dlt(cameras, pixels).points
    ok = np.isfinite(points).all(axis=1)
    if ok.sum() < 4:
        raise BoardNotFoundError(f"only {int(ok.sum())} floor-board corners were seen by two cameras; need 4")
    model, world = board.objPoints[ok], points[ok]
    # Kabsch: world = rotation @ model + translation
    model_mean, world_mean = model.mean(axis=0), world.mean(axis=0)
    u, _, vt = np.linalg.svd((world - world_mean).T @ (model - model_mean))
    rotation = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt
    translation = world_mean - rotation @ model_mean
    residual = float(np.sqrt(np.mean(np.sum((rotation @ model.T + translation[:, None] - world.T) ** 2, axis=0))))
    centres = np.array([camera.center for camera in cameras.cameras])
    if np.mean((centres - translation) @ rotation[:, 2]) < 0:  # board z points into the floor: turn it up
        rotation = rotation @ np.diag([1.0, -1.0, -1.0])
    moved = []
    for camera in cameras.cameras:
        r = camera.R @ rotation
        t = camera.R @ translation + camera.translation
        moved.append(CameraModel(camera.name, camera.matrix, camera.distortion, cv2.Rodrigues(r)[0].ravel(), t,
                                 camera.size, camera.fisheye))  # fmt: skip
    frame_name = "floor board: origin at its first inner corner, x along its first row, z up, metres"
    return CameraSet(tuple(moved), frame_name, dict(cameras.metadata)), residual
