"""A stored calibration exported back to the files it can be imported from: aniposelib loads the anipose TOML,
and every format reads back (through this project's readers) as the stored cameras."""

from __future__ import annotations

import numpy as np
import pytest
from aniposelib.cameras import CameraGroup

from pose_pipeline.multicam.calibration import read_calibration
from pose_pipeline.schema.multicam import RecordingError, export_calibration, fetch_camera_set, insert_camera_set
from tests.multicam_scene import random_points, ring_of_cameras


@pytest.mark.parametrize(("fmt", "name", "tolerance_px"),
                         [("anipose", "calibration.toml", 1e-9), ("pose2sim", "Calib.toml", 1e-9),
                          ("qualisys", "rig.qca.txt", 0.05)])  # fmt: skip
def test_exported_calibration_reads_back_as_stored(db, tmp_path, fmt, name, tolerance_px):
    cameras = ring_of_cameras(3, size=(640, 480))
    insert_camera_set(cameras, "rig", source="known")
    path = export_calibration("rig", tmp_path / name, fmt)
    back = read_calibration(path)
    points = random_points(5, 6).reshape(-1, 3)
    stored = fetch_camera_set("rig")
    assert np.abs(back.project(points) - stored.project(points)).max() < tolerance_px
    if fmt == "anipose":
        group = CameraGroup.load(str(path))
        assert [camera.get_name() for camera in group.cameras] == stored.names
        assert np.allclose(group.project(points).reshape(3, -1, 2), stored.project(points), atol=1e-6)
        assert back.world_frame == stored.world_frame


def test_exporting_refuses_unknown_formats_and_calibrations(db, tmp_path):
    insert_camera_set(ring_of_cameras(2), "pair", source="known")
    with pytest.raises(ValueError, match="unknown calibration format 'vicon'.*anipose"):
        export_calibration("pair", tmp_path / "x.xcp", "vicon")
    with pytest.raises(RecordingError, match="no calibration 'nowhere'"):
        export_calibration("nowhere", tmp_path / "x.toml")
    assert not list(tmp_path.iterdir())
