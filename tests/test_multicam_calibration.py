"""Camera sets: anipose, Pose2Sim and Qualisys files read and written, checked against aniposelib itself."""

from __future__ import annotations

import numpy as np
import pytest
from aniposelib.cameras import CameraGroup

from pose_pipeline.multicam.calibration import (
    CalibrationError,
    CameraSet,
    read_calibration,
    read_toml,
    write_anipose_toml,
    write_pose2sim_toml,
    write_qualisys,
)
from tests.multicam_scene import POSE2SIM_DEMO, random_points, ring_of_cameras

DEMO = POSE2SIM_DEMO
needs_demo = pytest.mark.skipif(not DEMO.exists(), reason="the Pose2Sim demo data is not on this machine")


def assert_same_cameras(a: CameraSet, b: CameraSet, atol=0.0):
    assert a.names == b.names
    for x, y in zip(a.cameras, b.cameras, strict=True):
        assert x.size == y.size and x.fisheye == y.fisheye
        for attribute in ("matrix", "distortion", "rotation", "translation"):
            np.testing.assert_allclose(getattr(x, attribute), getattr(y, attribute), atol=atol, rtol=0)


def test_anipose_toml_round_trip_and_aniposelib_reads_ours(tmp_path):
    cameras = ring_of_cameras(12)  # more than 10: aniposelib orders cam_10 before cam_2
    write_anipose_toml(cameras, tmp_path / "calibration.toml")
    back = read_toml(tmp_path / "calibration.toml")
    assert_same_cameras(cameras, back)  # bit for bit
    assert back.world_frame == cameras.world_frame and back.metadata["source"] == "anipose_toml"

    group = CameraGroup.load(str(tmp_path / "calibration.toml"))
    by_name = {camera.get_name(): camera for camera in group.cameras}
    points = random_points(3, 5).reshape(-1, 3)
    for camera in cameras.cameras:
        theirs = by_name[camera.name].project(points).reshape(-1, 2)
        np.testing.assert_allclose(camera.project(points), theirs, atol=1e-9)


def test_we_read_what_aniposelib_dumps(tmp_path):
    cameras = ring_of_cameras(4)
    group = CameraGroup.from_dicts([camera.as_dict() for camera in cameras.cameras])
    group.dump(str(tmp_path / "anipose.toml"))
    back = read_toml(tmp_path / "anipose.toml")
    assert_same_cameras(cameras, back, atol=1e-12)  # the toml package writes floats as repr too


def test_pose2sim_toml_round_trip(tmp_path):
    cameras = ring_of_cameras(3)
    write_pose2sim_toml(cameras, tmp_path / "Calib.toml")
    text = (tmp_path / "Calib.toml").read_text()
    assert "[cam0]" in text and "fisheye = false" in text and "adjusted = false" in text
    back = read_toml(tmp_path / "Calib.toml")
    assert back.metadata["source"] == "pose2sim_toml"
    assert_same_cameras(cameras, back)


@needs_demo
def test_pose2sim_demo_calibration_and_its_qualisys_source_agree(tmp_path):
    toml = read_calibration(DEMO / "calibration/Calib_qualisys.toml")
    qca = read_calibration(DEMO / "calibration/Calib.qca.txt")
    assert toml.names == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert qca.names == ["cam01", "cam02", "cam03", "cam04"]
    assert all(camera.size == (1088, 1920) for camera in toml.cameras)
    # Pose2Sim converted the .qca.txt into the toml: the same cameras to rounding
    renamed = CameraSet(tuple(camera.__class__(**{**vars(camera), "name": toml.names[i]})
                              for i, camera in enumerate(qca.cameras)))  # fmt: skip
    assert_same_cameras(toml, renamed, atol=1e-12)
    # the cameras are 3-5 m from the lab's origin, above the floor (z up)
    heights = [camera.center[2] for camera in qca.cameras]
    assert all(0.5 < h < 3 for h in heights), heights
    # aniposelib loads our export of the demo calibration
    write_anipose_toml(toml, tmp_path / "demo.toml")
    group = CameraGroup.load(str(tmp_path / "demo.toml"))
    assert group.get_names() == toml.names


@needs_demo
def test_demo_cameras_whose_decoded_size_differs_are_named():
    import av

    calibration = read_calibration(DEMO / "calibration/Calib_qualisys.toml")
    sizes = {}
    for index, name in enumerate(calibration.names, start=1):
        with av.open(str(DEMO / f"videos/cam0{index}.mp4")) as container:
            context = container.streams.video[0].codec_context
            sizes[name] = (context.width, context.height)
    mismatches = calibration.size_mismatches(sizes)
    assert sorted(mismatches) == ["cam_01", "cam_02"]  # H.264 and VP9 files decode 1080 wide, not 1088
    assert "decodes as 1080x1920, the calibration is for 1088x1920" in mismatches["cam_01"]


def test_bad_files_are_refused(tmp_path):
    (tmp_path / "empty.toml").write_text("[metadata]\nerror = 0.0\n")
    with pytest.raises(CalibrationError, match="no camera tables"):
        read_calibration(tmp_path / "empty.toml")
    (tmp_path / "bad.toml").write_text('[cam_0]\nname = "a"\nmatrix = [[1, 0], [0, 1]]\nsize = [10, 10]\n'
                                        "rotation = [0, 0, 0]\ntranslation = [0, 0, 0]\n")  # fmt: skip
    with pytest.raises(CalibrationError, match="'a': matrix"):
        read_calibration(tmp_path / "bad.toml")
    with pytest.raises(CalibrationError, match="unknown calibration format"):
        read_calibration(tmp_path / "calibration.json")
    cameras = ring_of_cameras(2)
    with pytest.raises(CalibrationError, match="repeated: cam0"):
        CameraSet((cameras.cameras[0], cameras.cameras[0]))
    with pytest.raises(CalibrationError, match="no camera.s. cam9"):
        cameras.subset(["cam0", "cam9"])


def test_qualisys_round_trip(tmp_path):
    cameras = ring_of_cameras(3, distortion=[-0.05, 0.01, 0.001, -0.0005])  # k1, k2, p1, p2 as Qualisys
    write_qualisys(cameras, tmp_path / "calibration.qca.txt")
    back = read_calibration(tmp_path / "calibration.qca.txt")
    assert back.world_frame == "Qualisys lab frame (z up)"
    assert_same_cameras(cameras, back, atol=1e-9)
    with pytest.raises(CalibrationError, match="'cam0': only pinhole cameras"):
        write_qualisys(ring_of_cameras(1, distortion=[0.1, 0.0, 0.0, 0.0, 0.2]), tmp_path / "k3.qca.txt")


@needs_demo
def test_demo_qualisys_file_written_back(tmp_path):
    demo = read_calibration(DEMO / "calibration/Calib.qca.txt")
    write_qualisys(demo, tmp_path / "again.qca.txt")
    assert_same_cameras(demo, read_calibration(tmp_path / "again.qca.txt"), atol=1e-9)


@pytest.mark.parametrize("n_coefficients", [0, 4, 5, 8, 12])
def test_numpy_projection_equals_opencv(n_coefficients):
    """The numpy pinhole projection is OpenCV's projectPoints for every coefficient count it handles."""
    import cv2

    from pose_pipeline.multicam.calibration import CameraModel

    rng = np.random.default_rng(n_coefficients)
    distortion = rng.uniform(-0.05, 0.05, n_coefficients)
    distortion[:2] *= 4 if n_coefficients else 1
    camera = CameraModel("c", [[900.0, 0.0, 330.0], [0.0, 910.0, 250.0], [0.0, 0.0, 1.0]], distortion,
                         rng.normal(0, 0.3, 3), [0.1, -0.2, 3.0], (640, 480))  # fmt: skip
    points = rng.uniform(-1, 1, (500, 3))
    ours = camera.project_finite(points)
    theirs, _ = cv2.projectPoints(points.reshape(-1, 1, 3), camera.rotation, camera.translation, camera.matrix,
                                  camera.distortion)  # fmt: skip
    np.testing.assert_allclose(ours, theirs.reshape(-1, 2), rtol=0, atol=1e-8)
