"""OpenSim .trc files from multi-camera 3D rows: a small rendered 3-camera walker (`walker_rig_recording`),
triangulated by dlt (twice, with two parameter sets) and fitted by the skeleton model's cheapest regime (acm_naive),
exported by the Python function and the CLI and read back by OpenSim's own TRCFileAdapter."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.export import ExportError, read_trc
from pose_pipeline.schema.exports import NoResultError, export_triangulated
from pose_pipeline.skeletons import COCO17
from tests.conftest import _empty_tables
from tests.test_export_trc import read_with_opensim

N_FRAMES = 6
RECORDING = "trc_walk"


@pytest.fixture(scope="module")
def triangulated(backend, tmp_path_factory):
    """The recording's request key, with dlt at two confidence thresholds and acm_naive populated."""
    from pose_pipeline.examples.walker_rig import walker_rig_recording
    from pose_pipeline.schema.multicam import Triangulated3D, Triangulated3DMethod

    _empty_tables()
    rig = walker_rig_recording(tmp_path_factory.mktemp("trc3d"), "trc3d", RECORDING, n_cameras=3,
                               n_frames=N_FRAMES, size=(192, 144))  # fmt: skip
    request = {**rig.two_d, **rig.calibration}
    for confidence in (0.3, 0.2):
        Triangulated3DMethod.insert1({**request, "triangulation_method": "dlt",
                                      "params": {"min_confidence": confidence}})  # fmt: skip
    if _has_jax():
        Triangulated3DMethod.insert1({**request, "triangulation_method": "acm_naive",
                                      "params": {"anatomy_frames": 2, "anatomy_iterations": 40, "max_iter": 30}})  # fmt: skip
    Triangulated3D.populate(request)
    yield request
    _empty_tables()


def _has_jax() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def _dlt(request: dict, confidence: float = 0.3) -> tuple[dict, dict]:
    """The dlt row's key and its stored columns (keypoints float64, the recording's fps)."""
    from pose_pipeline.schema.multicam import Recording, Triangulated3D, Triangulated3DMethod

    [key] = [k for k in (Triangulated3DMethod & request & {"triangulation_method": "dlt"}).to_dicts()
             if k["params"]["min_confidence"] == confidence]  # fmt: skip
    key = {k: key[k] for k in Triangulated3D.primary_key}
    row = (Triangulated3D & key).fetch1()
    return key, {"points": row["keypoints_3d"].astype(float), "fps": (Recording & key).fetch1("fps"),
                 "world_frame": row["world_frame"]}  # fmt: skip


@pytest.mark.parametrize("units, scale", [("m", 1.0), ("mm", 1000.0)])
def test_triangulated_trc_round_trip_through_opensim(triangulated, tmp_path, units, scale):
    key, stored = _dlt(triangulated)
    points = stored["points"]
    assert "z up" in stored["world_frame"] and np.isfinite(points).all(axis=-1).sum() > N_FRAMES * 10
    path = export_triangulated(key, tmp_path / f"walk_{units}.trc", units=units)
    values, times, labels, declared = read_with_opensim(path)
    assert (labels, declared) == (COCO17.joints, units)
    np.testing.assert_allclose(times, np.arange(N_FRAMES) / stored["fps"], atol=1e-6)  # frame / Recording.fps
    np.testing.assert_array_equal(np.isnan(values), np.isnan(points))  # not triangulated stays missing
    np.testing.assert_allclose(values / scale, points, atol=1e-6, equal_nan=True)
    ours, _, markers, _ = read_trc(path)
    assert markers == COCO17.joints
    np.testing.assert_allclose(ours, points, atol=1e-6, equal_nan=True)


def test_y_up_is_a_quarter_turn_of_the_z_up_world(triangulated, tmp_path):
    key, stored = _dlt(triangulated)
    x, y, z = np.moveaxis(stored["points"], -1, 0)
    values, *_ = read_with_opensim(export_triangulated(key, tmp_path / "y_up.trc", axes="y-up"))
    np.testing.assert_allclose(values, np.stack([x, z, -y], axis=-1), atol=1e-6, equal_nan=True)
    ankles = values[:, [COCO17.index("left_ankle"), COCO17.index("right_ankle")], 1]
    heads = values[:, COCO17.index("nose"), 1]
    assert np.nanmedian(heads) > np.nanmedian(ankles) + 1.0  # the walker stands along OpenSim's Y
    with pytest.raises(ExportError, match="axes must be one of world, y-up, not 'camera'"):
        export_triangulated(key, tmp_path / "bad.trc", axes="camera")


def test_no_match_several_matches_and_no_skeleton_fit_are_refused(triangulated, tmp_path):
    with pytest.raises(NoResultError, match=r"no triangulated 3D keypoints \(Triangulated3D\) match"):
        export_triangulated({"recording": "nowhere"}, tmp_path / "x.trc")
    several = {"recording": RECORDING, "triangulation_method": "dlt"}
    with pytest.raises(NoResultError, match=f"matches 2 triangulated results, not one: trc3d/{RECORDING} 2D"):
        export_triangulated(several, tmp_path / "x.trc")
    key, _ = _dlt(triangulated)
    with pytest.raises(ExportError, match=rf"trc3d/{RECORDING} .* dlt: no fitted skeleton \(Triangulated3D.Skel"):
        export_triangulated(key, tmp_path / "x.trc", skeleton=True)
    assert not (tmp_path / "x.trc").exists()


def test_cli_writes_the_same_file_and_names_what_it_did_not_find(triangulated, tmp_path):
    key, _ = _dlt(triangulated, confidence=0.2)
    (tmp_path / "cli").mkdir()
    runner = CliRunner()
    out = tmp_path / "cli" / "walk.trc"
    run = runner.invoke(main, ["export-3d", "--recording", RECORDING, "--method", "dlt", "--params-hash",
                               key["triangulation_params_hash"][:8], "--units", "mm", "--axes", "y-up", "--out",
                               str(out)])  # fmt: skip
    assert run.exit_code == 0, run.output
    assert run.output.strip() == f"wrote {out}"
    expected = export_triangulated(key, tmp_path / "walk.trc", units="mm", axes="y-up")
    assert out.read_text() == expected.read_text()

    run = runner.invoke(main, ["export-3d", "--recording", RECORDING, "--method", "dlt", "--out", str(out)])
    assert run.exit_code != 0 and "matches 2 triangulated results, not one" in run.output
    run = runner.invoke(main, ["export-3d", "-r", "nowhere", "--out", str(out)])
    assert run.exit_code != 0 and "no triangulated 3D keypoints (Triangulated3D) match {'recording': 'nowhere'}" in (
        run.output
    )
    run = runner.invoke(main, ["export-3d", "-r", RECORDING, "--params-hash", "x';", "--out", str(out)])
    assert run.exit_code == 2 and "not a (prefix of a) hexadecimal hash" in run.output


def test_skeleton_fit_written_with_the_skeleton_joint_names(triangulated, tmp_path):
    pytest.importorskip("jax")
    from pose_pipeline.schema.multicam import Recording, Triangulated3D
    from pose_pipeline.schema.skeleton_model import load_skeleton

    request = {**triangulated, "triangulation_method": "acm_naive"}
    fit = (Triangulated3D.SkeletonFit & request).fetch1()
    joints = fit["joints"].astype(float)
    names = load_skeleton(fit["skeleton"]).joint_names
    assert joints.shape == (N_FRAMES, len(names), 3) and set(names) != set(COCO17.joints)
    path = export_triangulated(request, tmp_path / "skeleton.trc", units="mm", skeleton=True)
    values, times, labels, _ = read_with_opensim(path)
    assert labels == names
    np.testing.assert_allclose(times, np.arange(N_FRAMES) / (Recording & request).fetch1("fps"), atol=1e-6)
    np.testing.assert_allclose(values / 1000, joints, atol=1e-6, equal_nan=True)
    # the same row without skeleton=True: its markers (the joint set's)
    markers, *_ = read_with_opensim(export_triangulated(request, tmp_path / "markers.trc"))
    np.testing.assert_allclose(markers, (Triangulated3D & request).fetch1("keypoints_3d"), atol=1e-6, equal_nan=True)


def test_write_trc_names_markers_that_are_not_a_joint_set(tmp_path):
    from pose_pipeline.export import write_trc
    from pose_pipeline.formats import Keypoints3D

    points = np.arange(12, dtype=float).reshape(2, 2, 3) / 10
    path = write_trc(Keypoints3D(points, "my_skeleton"), [0.0, 0.01], tmp_path / "s.trc", markers=("pelvis", "head"))
    values, times, markers, _ = read_trc(path)
    assert markers == ("pelvis", "head")
    np.testing.assert_allclose(values, points, atol=1e-9)
    np.testing.assert_allclose(times, [0.0, 0.01])
    with pytest.raises(ExportError, match=r"s.trc: keypoints of shape \(2, 2, 3\) do not match 3 markers"):
        write_trc(Keypoints3D(points, "my_skeleton"), [0.0, 0.01], tmp_path / "s.trc", markers=("a", "b", "c"))
