"""OpenSim .trc files from stored 3D rows: a walker lifted by the shipped synthetic_lifter, exported by the Python
function and the CLI, and read back by OpenSim's own TRCFileAdapter and by `read_trc`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.export import ExportError, read_trc
from pose_pipeline.schema.exports import NoResultError, export_3d, export_all
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
from pose_pipeline.schema.lifting import LiftingMethod, LiftingPerson
from pose_pipeline.schema.video import Video, VideoInfo
from pose_pipeline.skeletons import H36M17
from tests.walker import tracked_walker

N_FRAMES = 30


@pytest.fixture(scope="module")
def lifted(backend, tmp_path_factory):
    """The walker's LiftingPerson key, its stored 3D joints and the video's frame times (read only)."""
    person, _ = tracked_walker(tmp_path_factory.mktemp("trc"), "trc_export", N_FRAMES, name="trc_walker.mp4")
    TopDownMethod.insert1({**person, "top_down_method": "synthetic_pose"})
    TopDownPerson.populate(person)
    [two_d] = (TopDownPerson & person).keys()
    LiftingMethod.insert1({**two_d, "lifting_method": "synthetic_lifter"})
    LiftingPerson.populate(two_d)
    [key] = (LiftingPerson & two_d).keys()
    points = (LiftingPerson & key).fetch1("keypoints_3d").astype(float)
    yield key, points, (VideoInfo & person).fetch1("timestamps")
    (Video & person).delete(prompt=False)


def read_with_opensim(path):
    """Marker positions (frames x markers x 3, the file's units), times, labels and declared units, as OpenSim
    reads them."""
    opensim = pytest.importorskip("opensim")
    table = opensim.TimeSeriesTableVec3(str(path))  # reads through OpenSim's TRCFileAdapter
    labels = tuple(table.getColumnLabels())
    values = np.array([[[row[j][k] for k in range(3)] for j in range(len(labels))]
                       for row in (table.getRowAtIndex(i) for i in range(table.getNumRows()))])  # fmt: skip
    return values, np.array(table.getIndependentColumn()), labels, table.getTableMetaDataAsString("Units")


@pytest.mark.parametrize("units, scale", [("m", 1.0), ("mm", 1000.0)])
def test_trc_round_trip_through_opensim(lifted, tmp_path, units, scale):
    _, points, timestamps = lifted
    path = export_3d({"filename": "trc_walker.mp4"}, "trc", tmp_path / f"walker_{units}.trc", units=units)
    values, times, labels, declared = read_with_opensim(path)
    assert (labels, declared) == (H36M17.joints, units)
    np.testing.assert_allclose(times, timestamps, atol=1e-6)
    assert np.isnan(points[0]).all()  # the walker has no box in the first frame
    np.testing.assert_array_equal(np.isnan(values), np.isnan(points))  # missing frames stay missing
    np.testing.assert_allclose(values / scale, points, atol=1e-6, equal_nan=True)
    ours, _, markers, our_units = read_trc(path)  # the project's reader gives metres back
    assert (markers, our_units) == (H36M17.joints, units)
    np.testing.assert_allclose(ours, points, atol=1e-6, equal_nan=True)


def test_y_up_axes_are_a_half_turn_about_x(lifted, tmp_path):
    _, points, _ = lifted
    path = export_3d({"filename": "trc_walker.mp4"}, "trc", tmp_path / "y_up.trc", axes="y-up")
    values, *_ = read_with_opensim(path)
    np.testing.assert_allclose(values, points * [1, -1, -1], atol=1e-6, equal_nan=True)
    with pytest.raises(ExportError, match="axes must be one of camera, y-up, not 'z-up'"):
        export_3d({"filename": "trc_walker.mp4"}, "trc", tmp_path / "bad.trc", axes="z-up")


def test_cli_exports_trc_files_and_names_what_it_did_not_find(lifted, tmp_path):
    key, points, _ = lifted
    runner = CliRunner()
    out = tmp_path / "walker.trc"
    run = runner.invoke(main, ["export", "trc", "--video", "trc_walker.mp4", "--lifter", "synthetic_lifter",
                               "--units", "mm", "--out", str(out)])  # fmt: skip
    assert run.exit_code == 0, run.output
    values, _, _, units = read_trc(out)
    assert units == "mm"
    np.testing.assert_allclose(values, points, atol=1e-6, equal_nan=True)

    folder = tmp_path / "trc"
    folder.mkdir()
    run = runner.invoke(main, ["export", "trc", "--video", "trc_walker.mp4", "--out", str(folder)])
    assert run.exit_code == 0, run.output
    [written] = folder.iterdir()
    assert written.name.endswith(f"_synthetic_lifter-{key['lifting_params_hash'][:6]}_subject0.trc")
    assert written == export_all({"filename": "trc_walker.mp4"}, "trc", folder)[0]

    run = runner.invoke(main, ["export", "trc", "--video", "nobody.mp4", "--out", str(tmp_path / "x.trc")])
    assert run.exit_code != 0 and "no 3D keypoints (LiftingPerson) match {'filename': 'nobody.mp4'}" in run.output
    with pytest.raises(NoResultError, match="LiftingPerson"):
        export_3d({"filename": "trc_walker.mp4", "lifting_method": "videopose3d_onnx"}, "trc", tmp_path / "y.trc")
