"""Exports and pandas tables of stored results: a walker tracked, annotated and given 2D keypoints by the
shipped synthetic_pose method, then written by the CLI and the Python functions and read back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from pose_pipeline.cli import main
from pose_pipeline.export import PIXEL_CENTRE_SHIFT, read_dlc
from pose_pipeline.schema.dataframes import keypoints_table, person_boxes_table, tracking_table
from pose_pipeline.schema.exports import NoResultError, export_2d, export_all, result_2d
from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox
from pose_pipeline.schema.video import Video, VideoInfo
from pose_pipeline.skeletons import COCO17

from .walker import tracked_walker

N_FRAMES = 20


@pytest.fixture(scope="module")
def person(backend, tmp_path_factory):
    """The walker's TopDownPerson key (the module's tests only read it)."""
    folder = tmp_path_factory.mktemp("export_stage")
    subject, _ = tracked_walker(folder, "exports", N_FRAMES, seed=3)
    TopDownMethod.insert1({**subject, "top_down_method": "synthetic_pose"})
    TopDownPerson.populate(subject)
    [full] = (TopDownPerson & subject).keys()
    yield full
    (Video & {k: subject[k] for k in Video.primary_key}).delete(prompt=False)


@pytest.fixture
def stored(person):
    keypoints = (TopDownPerson & person).fetch1("keypoints").astype(float)
    timestamps = (VideoInfo & person).fetch1("timestamps")
    return keypoints, timestamps


def test_result_2d_carries_the_stored_rows(person, stored):
    keypoints, timestamps = stored
    result = result_2d({"filename": "walker.mp4"})
    np.testing.assert_array_equal(result.keypoints.keypoints, keypoints)
    np.testing.assert_array_equal(result.timestamps, timestamps)
    assert result.joint_set == COCO17 and (result.width, result.height) == tuple(
        (VideoInfo & person).fetch1("width", "height")
    )
    assert result.video_path == (Video & person).fetch1("source_path")
    assert result.params == (TopDownMethod & person).fetch1("params") and result.method == "synthetic_pose"
    assert result.name == "exports/walker.mp4 bytetrack motion synthetic_pose subject 0"
    assert np.isfinite(keypoints[..., :2]).any()  # the export below has something to compare


def test_nwb_export_reads_back_with_the_videos_timestamps(person, stored, tmp_path):
    import sleap_io
    from pynwb import NWBHDF5IO

    keypoints, timestamps = stored
    path = export_2d({"filename": "walker.mp4"}, "nwb", tmp_path / "walker.nwb")
    with NWBHDF5IO(str(path), mode="r") as io:
        nwbfile = io.read()
        [estimation] = [o for o in nwbfile.objects.values() if o.neurodata_type == "PoseEstimation"]
        nose = estimation.pose_estimation_series["nose"]
        np.testing.assert_allclose(nose.timestamps[:], timestamps)
        np.testing.assert_allclose(nose.data[:], keypoints[:, 0, :2] - PIXEL_CENTRE_SHIFT, rtol=1e-6)
        params = json.dumps((TopDownMethod & person).fetch1("params"), sort_keys=True)
        assert params in estimation.description and estimation.scorer == "synthetic_pose"
        assert nwbfile.subject.subject_id == "0"
    labels = sleap_io.load_nwb(str(path))
    present = np.flatnonzero(np.isfinite(keypoints[..., :2]).any(axis=(1, 2)))
    assert [frame.frame_idx for frame in labels.labeled_frames] == present.tolist()
    points = np.stack([frame.instances[0].numpy() for frame in labels.labeled_frames])
    np.testing.assert_allclose(points, keypoints[present, :, :2] - PIXEL_CENTRE_SHIFT, rtol=1e-6)


def test_cli_exports_dlc_h5_and_a_folder_of_coco_files(person, stored, tmp_path):
    keypoints, _ = stored
    runner = CliRunner()
    out = tmp_path / "walker.h5"
    run = runner.invoke(main, ["export", "dlc-h5", "--video", "walker.mp4", "--method", "synthetic_pose",
                               "--out", str(out)])  # fmt: skip
    assert run.exit_code == 0, run.output
    assert f"wrote {out}" in run.output
    values, bodyparts, scorer = read_dlc(out)
    np.testing.assert_allclose(values, keypoints, rtol=1e-6, equal_nan=True)
    assert bodyparts == COCO17.joints and scorer == "DLC_synthetic_pose"
    raw = pd.read_hdf(out)
    np.testing.assert_allclose(raw.to_numpy()[:, 0], keypoints[:, 0, 0] - 0.5, rtol=1e-6)

    folder = tmp_path / "coco"
    folder.mkdir()
    run = runner.invoke(main, ["export", "coco", "--video", "walker.mp4", "--out", str(folder)])
    assert run.exit_code == 0, run.output
    [written] = folder.iterdir()
    assert written.name.startswith("walker_bytetrack-motion-") and written.name.endswith("_subject0.json")
    from pycocotools.coco import COCO

    coco = COCO(str(written))
    assert len(coco.getImgIds()) == N_FRAMES and coco.loadCats(1)[0]["keypoints"] == list(COCO17.joints)


def test_cli_names_what_it_did_not_find(person, tmp_path):
    run = CliRunner().invoke(main, ["export", "nwb", "--video", "nobody.mp4", "--out", str(tmp_path / "x.nwb")])
    assert run.exit_code != 0 and "nobody.mp4" in run.output and "TopDownPerson" in run.output
    with pytest.raises(NoResultError, match="walker.mp4.*no 2D|no 2D.*walker.mp4"):
        export_all({"filename": "walker.mp4", "subject_id": 5}, "coco", tmp_path)
    with pytest.raises(ValueError, match="no export format 'trc'"):
        export_2d({"filename": "walker.mp4"}, "trc", tmp_path / "x.trc")


def test_keypoints_table_tidy_and_wide(person, stored):
    keypoints, timestamps = stored
    tidy = keypoints_table({"filename": "walker.mp4"})
    assert len(tidy) == N_FRAMES * 17
    assert list(tidy.columns[:8]) == list(TopDownPerson.primary_key)
    assert (tidy["top_down_method"] == "synthetic_pose").all() and (tidy["joint_set"] == "COCO-17").all()
    ankle = tidy[tidy["joint"] == "left_ankle"].sort_values("frame")
    np.testing.assert_allclose(ankle[["x", "y", "score"]].to_numpy(), keypoints[:, 15], rtol=1e-6)
    np.testing.assert_allclose(ankle["time"].to_numpy(), timestamps)

    wide = keypoints_table({"filename": "walker.mp4"}, wide=True)
    assert wide.shape == (N_FRAMES, 1 + 17 * 3) and wide.index.names[-1] == "frame"
    np.testing.assert_allclose(wide[("nose", "x")].to_numpy(), keypoints[:, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(wide[("time", "")].to_numpy(), timestamps)
    assert keypoints_table({"filename": "nobody.mp4"}).empty


def test_tracking_and_person_box_tables(person):
    tracks = TrackingBbox.tracks(person)
    table = tracking_table({"filename": "walker.mp4"})
    assert len(table) == len(tracks.frame) and "tracking_params_hash" in table.columns
    np.testing.assert_allclose(table[["x", "y", "w", "h"]].to_numpy(), tracks.boxes, rtol=1e-6)
    np.testing.assert_array_equal(table["track_id"].to_numpy(), tracks.track_id)

    boxes, present = (PersonBbox & person).fetch1("boxes", "present")
    per_frame = person_boxes_table(person)
    assert len(per_frame) == N_FRAMES and (per_frame["subject_id"] == 0).all()
    np.testing.assert_allclose(per_frame[["x", "y", "w", "h"]].to_numpy(), boxes, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(per_frame["present"].to_numpy(), present)
