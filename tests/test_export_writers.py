"""The pure export writers: each file read back with its format's own library, compared within float precision
and the declared pixel shift (this project: origin at the top-left pixel's corner; the others: at its centre)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pose_pipeline.export import (
    PIXEL_CENTRE_SHIFT,
    ExportError,
    Result2D,
    read_dlc,
    read_trc,
    write_coco,
    write_dlc_csv,
    write_dlc_h5,
    write_nwb,
    write_trc,
)
from pose_pipeline.formats import Keypoints2D, Keypoints3D
from pose_pipeline.skeletons import COCO17

N_FRAMES = 12
ABSENT = [3, 4]  # frames without the subject


def make_result(n_frames: int = N_FRAMES) -> Result2D:
    rng = np.random.default_rng(0)
    keypoints = np.empty((n_frames, 17, 3))
    keypoints[..., 0] = rng.uniform(20, 300, (n_frames, 17))
    keypoints[..., 1] = rng.uniform(20, 200, (n_frames, 17))
    keypoints[..., 2] = rng.uniform(0.2, 1.0, (n_frames, 17))
    if n_frames:
        keypoints[0, 0] = (10.0, 20.0, 0.9)  # nose of frame 0 on exact values: 9.5, 19.5 at the pixel centre
        keypoints[[f for f in ABSENT if f < n_frames]] = np.nan
        keypoints[min(5, n_frames - 1), 16] = np.nan  # one joint missing
    boxes = np.column_stack([keypoints[..., 0].min(1) - 5, keypoints[..., 1].min(1) - 5,
                             np.full(n_frames, 300.0), np.full(n_frames, 200.0)])  # fmt: skip
    return Result2D(
        keypoints=Keypoints2D(keypoints, "COCO-17"),
        timestamps=np.arange(n_frames) / 30.0,
        name="study/walk.mp4 synthetic_pose subject 0",
        video_path="/videos/walk.mp4",
        width=320,
        height=240,
        boxes=boxes,
        method="synthetic_pose",
        params={"flip_test": True},
    )


@pytest.fixture
def result():
    return make_result()


def shifted(result):
    return result.keypoints.keypoints[..., :2] - PIXEL_CENTRE_SHIFT


def test_dlc_h5_reads_back_with_pandas_and_deeplabcut_finds_it(result, tmp_path):
    from deeplabcut.utils.auxiliaryfunctions import load_analyzed_data

    scorer = "DLC_synthetic_pose"
    path = write_dlc_h5(result, tmp_path / f"walk{scorer}.h5", scorer=scorer)
    table = pd.read_hdf(path, key="df_with_missing")
    assert table.columns.names == ["scorer", "bodyparts", "coords"]
    assert list(table.columns.get_level_values("bodyparts").unique()) == list(COCO17.joints)
    assert (table[scorer]["nose"].iloc[0] == [9.5, 19.5, 0.9]).all()  # the pixel-centre shift, exactly
    xy = table.to_numpy().reshape(N_FRAMES, 17, 3)
    np.testing.assert_allclose(xy[..., :2], shifted(result), equal_nan=True)
    np.testing.assert_allclose(xy[..., 2], result.keypoints.keypoints[..., 2], equal_nan=True)
    assert np.isnan(xy[ABSENT]).all()

    dlc_table, dlc_path, dlc_scorer, _ = load_analyzed_data(str(tmp_path), "walk", scorer)
    assert dlc_scorer == scorer and dlc_path == str(path)
    pd.testing.assert_frame_equal(dlc_table, table)

    values, bodyparts, read_scorer = read_dlc(path)  # back to this project's convention
    np.testing.assert_allclose(values, result.keypoints.keypoints, equal_nan=True)
    assert bodyparts == COCO17.joints and read_scorer == scorer


def test_dlc_h5_loads_in_aniposelib(result, tmp_path):
    from aniposelib.utils import load_pose2d_fnames

    path = write_dlc_h5(result, tmp_path / "walk.h5")
    loaded = load_pose2d_fnames({"cam": str(path)})
    assert loaded["bodyparts"] == list(COCO17.joints)
    np.testing.assert_allclose(loaded["points"][0], shifted(result), equal_nan=True)
    np.testing.assert_allclose(loaded["scores"][0], result.keypoints.keypoints[..., 2], equal_nan=True)


def test_dlc_csv_has_three_header_rows_and_matches_the_h5(result, tmp_path):
    h5 = pd.read_hdf(write_dlc_h5(result, tmp_path / "walk.h5"))
    path = write_dlc_csv(result, tmp_path / "walk.csv")
    assert path.read_text().splitlines()[0].startswith("scorer,DLC_synthetic_pose,")
    table = pd.read_csv(path, header=[0, 1, 2], index_col=0)
    np.testing.assert_allclose(table.to_numpy(), h5.to_numpy(), equal_nan=True)
    assert list(table.columns) == list(h5.columns)
    np.testing.assert_allclose(read_dlc(path)[0], result.keypoints.keypoints, equal_nan=True)


def test_coco_json_is_accepted_by_pycocotools(result, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    path = write_coco(result, tmp_path / "walk.json")
    data = json.loads(path.read_text())
    [category] = data["categories"]
    assert category["keypoints"] == list(COCO17.joints)
    assert category["skeleton"] == [[a + 1, b + 1] for a, b in COCO17.bones]
    assert len(data["images"]) == N_FRAMES and len(data["annotations"]) == N_FRAMES - len(ABSENT)
    first = data["annotations"][0]
    assert first["keypoints"][:3] == [9.5, 19.5, 2]  # the pixel-centre shift, exactly
    np.testing.assert_allclose(first["bbox"], result.boxes[0], rtol=1e-6)
    partial = next(a for a in data["annotations"] if a["image_id"] == 6)  # frame 5 lacks its right ankle
    assert partial["keypoints"][-3:] == [0, 0, 0] and partial["num_keypoints"] == 16

    truth = COCO(str(path))
    assert truth.getImgIds() == list(range(1, N_FRAMES + 1))
    detections = truth.loadRes(data["annotations"])
    evaluation = COCOeval(truth, detections, "keypoints")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # the file's own keypoints match themselves

    kept = [f for f in range(N_FRAMES) if f not in ABSENT]
    read = np.array([a["keypoints"] for a in data["annotations"]]).reshape(-1, 17, 3)
    expected = shifted(result)[kept]
    found = read[..., 2] == 2
    np.testing.assert_allclose(read[..., :2][found], expected[found], atol=1e-4)
    assert np.isnan(expected[~found]).all()


def test_nwb_reads_back_with_pynwb(result, tmp_path):
    from pynwb import NWBHDF5IO

    path = write_nwb(result, tmp_path / "walk.nwb")
    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.subject_id == "0"
        skeleton = nwbfile.processing["behavior"]["Skeletons"].skeletons["COCO-17"]
        assert list(skeleton.nodes[:]) == list(COCO17.joints)
        assert skeleton.edges[:].tolist() == [list(bone) for bone in COCO17.bones]
        [estimation] = [obj for obj in nwbfile.objects.values() if obj.neurodata_type == "PoseEstimation"]
        assert estimation.skeleton is skeleton
        assert list(estimation.original_videos[:]) == ["/videos/walk.mp4"]
        assert "synthetic_pose" in estimation.description and '"flip_test": true' in estimation.description
        assert list(estimation.source_video.external_file[:]) == ["/videos/walk.mp4"]
        assert estimation.source_video.dimension[:].tolist() == [320, 240]
        for index, joint in enumerate(COCO17.joints):
            series = estimation.pose_estimation_series[joint]
            np.testing.assert_allclose(series.data[:], shifted(result)[:, index], equal_nan=True)
            np.testing.assert_allclose(series.confidence[:], result.keypoints.keypoints[:, index, 2], equal_nan=True)
            np.testing.assert_allclose(series.timestamps[:], result.timestamps)
            assert "centre of the top-left pixel" in series.reference_frame
        assert estimation.pose_estimation_series["nose"].data[0].tolist() == [9.5, 19.5]


def test_nwb_loads_in_sleap_io(result, tmp_path):
    import sleap_io

    labels = sleap_io.load_nwb(str(write_nwb(result, tmp_path / "walk.nwb")))
    assert labels.skeletons[0].node_names == list(COCO17.joints)
    assert len(labels.skeletons[0].edges) == len(COCO17.bones)
    assert labels.videos[0].filename == "/videos/walk.mp4"
    frames = {frame.frame_idx: frame for frame in labels.labeled_frames}
    assert sorted(frames) == [f for f in range(N_FRAMES) if f not in ABSENT]
    for index, frame in frames.items():
        [instance] = frame.instances
        points = instance.numpy(scores=True)  # sleap-io's pixel-centre convention, as written
        np.testing.assert_allclose(points[:, :2], shifted(result)[index], rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(points[:, 2], result.keypoints.keypoints[index, :, 2], rtol=1e-6, equal_nan=True)


def test_trc_in_millimetres_reads_back_with_empty_fields_for_missing_markers(tmp_path):
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, (6, 17, 3))
    points[2, 4] = np.nan
    timestamps = np.arange(6) / 50.0
    path = write_trc(Keypoints3D(points, "COCO-17"), timestamps, tmp_path / "walk.trc", units="mm", name="walk 3D")
    lines = path.read_text().splitlines()
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\twalk.trc"
    assert lines[1].split("\t") == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                                    "OrigDataStartFrame", "OrigNumFrames"]  # fmt: skip
    assert lines[2].split("\t") == ["50", "50", "6", "17", "mm", "50", "1", "6"]
    assert lines[3].split("\t")[:6] == ["Frame#", "Time", "nose", "", "", "left_eye"]
    assert lines[4].split("\t")[:5] == ["", "", "X1", "Y1", "Z1"] and lines[5] == ""
    row = lines[8].split("\t")  # frame 3 (index 2)
    assert row[0] == "3" and row[2 + 3 * 4 : 2 + 3 * 5] == ["", "", ""]
    assert float(row[2]) == pytest.approx(points[2, 0, 0] * 1000, abs=1e-5)
    for line in lines[6:]:  # OpenSim's tokenizer: every tab ends a field; an empty text after the last is dropped
        fields = line.split("\t")
        assert len(fields[:-1] if fields[-1] == "" else fields) == 2 + 3 * 17, line
    last_missing = points.copy()
    last_missing[0, 16] = np.nan  # a row that ends in a missing marker still has every field
    ending = write_trc(Keypoints3D(last_missing, "COCO-17"), timestamps, tmp_path / "end.trc").read_text()
    assert ending.splitlines()[6].endswith("\t\t\t\t") and len(ending.splitlines()[6].split("\t")[:-1]) == 53

    values, times, markers, units = read_trc(path)
    assert units == "mm" and markers == COCO17.joints
    np.testing.assert_allclose(values, points, atol=1e-8, equal_nan=True)
    np.testing.assert_allclose(times, timestamps)
    metres = read_trc(write_trc(Keypoints3D(points, "COCO-17"), timestamps, tmp_path / "m.trc"))
    np.testing.assert_allclose(metres[0], points, atol=1e-6, equal_nan=True)
    assert metres[3] == "m"


@pytest.mark.parametrize("writer", [write_dlc_h5, write_dlc_csv, write_coco, write_nwb])
def test_a_result_without_frames_is_refused_by_name(writer, tmp_path):
    path = tmp_path / "empty.out"
    with pytest.raises(ExportError, match=r"study/walk.mp4 synthetic_pose subject 0 -> .*empty.out: .*no frames"):
        writer(make_result(0), path)
    assert not path.exists()


def test_trc_without_frames_is_refused_by_name(tmp_path):
    with pytest.raises(ExportError, match=r"walk 3D -> .*empty.trc: .*no frames"):
        write_trc(Keypoints3D(np.empty((0, 17, 3)), "COCO-17"), np.empty(0), tmp_path / "empty.trc", name="walk 3D")


def test_timestamps_that_do_not_match_the_frames_are_refused(result, tmp_path):
    result.timestamps = result.timestamps[:-1]
    with pytest.raises(ExportError, match="11 timestamps for 12 frames"):
        write_coco(result, tmp_path / "walk.json")


def test_pandas_tables_of_arrays_long_and_wide(result):
    from pose_pipeline.export.tables import boxes_long, keypoints_long, keypoints_wide

    keypoints = result.keypoints.keypoints
    tidy = keypoints_long(keypoints, COCO17.joints, result.timestamps)
    assert list(tidy.columns) == ["frame", "time", "joint", "x", "y", "score"] and len(tidy) == N_FRAMES * 17
    row = tidy[(tidy["frame"] == 7) & (tidy["joint"] == "right_knee")].iloc[0]
    assert (row["x"], row["y"], row["score"]) == tuple(keypoints[7, 14]) and row["time"] == pytest.approx(7 / 30)
    assert tidy[tidy["frame"].isin(ABSENT)][["x", "y", "score"]].isna().all().all()  # absent frames keep rows

    wide = keypoints_wide(keypoints, COCO17.joints)
    assert wide.columns.names == ["joint", "coord"] and wide.shape == (N_FRAMES, 17 * 3)
    np.testing.assert_array_equal(wide.to_numpy().reshape(N_FRAMES, 17, 3), keypoints)
    pivoted = tidy.pivot(index="frame", columns="joint", values="x")  # the two forms agree
    np.testing.assert_array_equal(pivoted[list(COCO17.joints)].to_numpy(), wide.xs("x", axis=1, level="coord"))

    boxes = boxes_long([0, 0, 2], [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], result.timestamps, track_id=[3, 4, 3])
    assert boxes["time"].tolist() == pytest.approx([0, 0, 2 / 30]) and boxes["track_id"].tolist() == [3, 4, 3]
    assert boxes[["x", "y", "w", "h"]].to_numpy()[2].tolist() == [9, 10, 11, 12]
    with pytest.raises(ValueError, match="17 joints, the joint names 2"):
        keypoints_long(keypoints, ("a", "b"))
