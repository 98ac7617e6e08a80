"""Imports of other tools' results without the database: each format read back from files written by our exporters
or by the format's own library (OpenPose JSON written here in OpenPose's exact layout), converted from the
pixel-centre origin, and refused by name when it does not fit the video."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pose_pipeline.export import Result2D, write_dlc_csv, write_dlc_h5, write_nwb
from pose_pipeline.formats import Keypoints2D
from pose_pipeline.imports import ImportRefused, VideoFacts, import_pose
from pose_pipeline.skeletons import COCO17, OPENPOSE_BODY25

N_FRAMES, WIDTH, HEIGHT = 12, 320, 240
VIDEO = VideoFacts(N_FRAMES, WIDTH, HEIGHT, "test/walk.mp4")


def walker_keypoints(n_frames: int = N_FRAMES, joints: int = 17, seed: int = 0) -> np.ndarray:
    """(frames, joints, 3) inside the frame, this project's convention, a missing frame and a missing joint."""
    rng = np.random.default_rng(seed)
    keypoints = np.stack([rng.uniform(1, WIDTH - 1, (n_frames, joints)), rng.uniform(1, HEIGHT - 1, (n_frames, joints)),
                          rng.uniform(0, 1, (n_frames, joints))], axis=-1)  # fmt: skip
    keypoints[3] = np.nan
    keypoints[5, min(2, joints - 1)] = np.nan
    return keypoints


def result(keypoints: np.ndarray, joint_set=COCO17) -> Result2D:
    return Result2D(Keypoints2D(keypoints, joint_set.name), np.arange(len(keypoints)) / 30.0, "test/walk.mp4",
                    video_path="walk.mp4", width=WIDTH, height=HEIGHT, method="synthetic_pose")  # fmt: skip


@pytest.mark.parametrize("writer", [write_dlc_h5, write_dlc_csv, write_nwb])
def test_export_then_import_gives_back_the_same_array(writer, tmp_path):
    keypoints = walker_keypoints()
    path = writer(result(keypoints), tmp_path / f"walkDLC_x{'.csv' if writer is write_dlc_csv else '.h5'}"
                  if writer is not write_nwb else tmp_path / "walk.nwb")  # fmt: skip
    imported, joint_set, pose, _ = import_pose(path, None, VIDEO)
    assert joint_set is COCO17 and imported.joint_set == "COCO-17"  # the file's joints are a known set
    np.testing.assert_allclose(imported.keypoints, keypoints, rtol=0, atol=1e-9, equal_nan=True)
    if writer is write_nwb:
        assert pose.reader == "pynwb+ndx-pose" and pose.size == (WIDTH, HEIGHT)
    else:
        raw = pd.read_csv(path, header=[0, 1, 2], index_col=0) if path.suffix == ".csv" else pd.read_hdf(path)
        assert raw.to_numpy()[0, 0] == pytest.approx(keypoints[0, 0, 0] - 0.5)  # the file is pixel-centre
        assert pose.reader == "pandas"


def test_dlc_multi_animal_chooses_an_individual_by_name(tmp_path):
    keypoints = {name: walker_keypoints(seed=seed)[:, :3] for seed, name in enumerate(("mouse1", "mouse2"))}
    columns = pd.MultiIndex.from_product([["DLC_resnet50_mice"], list(keypoints), ["snout", "ear", "tail"],
                                          ["x", "y", "likelihood"]],
                                         names=["scorer", "individuals", "bodyparts", "coords"])  # fmt: skip
    values = np.concatenate([np.concatenate([k[..., :2] - 0.5, k[..., 2:]], axis=-1).reshape(N_FRAMES, -1)
                             for k in keypoints.values()], axis=1)  # fmt: skip
    path = tmp_path / "miceDLC_resnet50_mice.h5"
    pd.DataFrame(values, columns=columns).to_hdf(path, key="df_with_missing", format="table")
    with pytest.raises(ImportRefused, match=r"miceDLC.*2 individuals \('mouse1', 'mouse2'\).*individual="):
        import_pose(path, "dlc", VIDEO)
    with pytest.raises(ImportRefused, match="has no individual 'rat'"):
        import_pose(path, "dlc", VIDEO, individual="rat")
    imported, joint_set, _, chosen = import_pose(path, "dlc", VIDEO, individual="mouse2")
    assert (
        chosen == "mouse2"
        and joint_set.name == "DLC:DLC_resnet50_mice"
        and joint_set.joints == ("snout", "ear", "tail")
    )
    np.testing.assert_allclose(imported.keypoints, keypoints["mouse2"], atol=1e-9, equal_nan=True)


def test_dlc_multi_animal_file_written_by_deeplabcut_itself(tmp_path):
    """DeepLabCut 3's own writer (`create_df_from_prediction`, what analyze_videos calls): two mice and a unique
    bodypart under the individual 'single', as .h5 and .csv."""
    pytest.importorskip("deeplabcut")
    from deeplabcut.pose_estimation_pytorch.apis.videos import create_df_from_prediction

    mice = {name: walker_keypoints(joints=2, seed=seed) for seed, name in enumerate(("mouse1", "mouse2"))}
    pellet = walker_keypoints(joints=1, seed=7)

    def centre(points):
        return np.concatenate([points[..., :2] - 0.5, points[..., 2:]], axis=-1)

    predictions = [{"bodyparts": np.stack([centre(mice[name][f]) for name in mice]),
                    "unique_bodyparts": centre(pellet[f])[None]} for f in range(N_FRAMES)]  # fmt: skip
    config = {"metadata": {"bodyparts": ["snout", "tail"], "unique_bodyparts": ["pellet"],
                           "individuals": list(mice)}}  # fmt: skip
    scorer = "DLC_Resnet50_miceJan1shuffle1_snapshot_100"
    create_df_from_prediction(predictions, scorer, True, config, tmp_path, f"walk{scorer}", save_as_csv=True)
    for suffix in (".h5", ".csv"):
        path = tmp_path / f"walk{scorer}{suffix}"
        with pytest.raises(ImportRefused, match=r"3 individuals \('mouse1', 'mouse2', 'single'\)"):
            import_pose(path, None, VIDEO)
        mouse, joint_set, _, _ = import_pose(path, None, VIDEO, individual="mouse2")
        assert joint_set.joints == ("snout", "tail", "pellet") and joint_set.name == f"DLC:{scorer}"
        np.testing.assert_allclose(mouse.keypoints[:, :2], mice["mouse2"], atol=1e-9, equal_nan=True)
        assert np.isnan(mouse.keypoints[:, 2]).all()
        single, *_ = import_pose(path, None, VIDEO, individual="single")
        np.testing.assert_allclose(single.keypoints[:, 2:], pellet, atol=1e-9, equal_nan=True)


def sleap_file(path, n_frames: int = N_FRAMES, video_shape=None):
    """A SLEAP file written by sleap-io: two tracked mice, predicted instances with point scores, one user-labelled
    instance that must win over the prediction of the same track in frame 2. Returns the points per track."""
    import sleap_io as sio

    skeleton = sio.Skeleton(["snout", "ear", "tail"], edges=[("snout", "ear"), ("ear", "tail")], name="mouse")
    video = sio.Video(filename="walk.mp4", open_backend=False)
    if video_shape is not None:
        video.backend_metadata["shape"] = video_shape
    tracks = [sio.Track("mouse1"), sio.Track("mouse2")]
    truth = {t.name: walker_keypoints(n_frames, 3, seed=i + 5) for i, t in enumerate(tracks)}
    frames = []
    for f in range(n_frames):
        instances = []
        for track in tracks:
            points = truth[track.name][f]
            if not np.isfinite(points[:, 0]).any():
                continue
            instances.append(sio.PredictedInstance.from_numpy(points[:, :2] - 0.5, point_scores=points[:, 2],
                                                              score=0.9, skeleton=skeleton, track=track))  # fmt: skip
        if f == 2:
            user = truth["mouse1"][2].copy()
            user[:, :2] += 3.0
            instances.append(sio.Instance.from_numpy(user[:, :2] - 0.5, skeleton=skeleton, track=tracks[0]))
            truth["mouse1"][2] = np.concatenate([user[:, :2], np.ones((3, 1))], axis=1)
        frames.append(sio.LabeledFrame(video=video, frame_idx=f, instances=instances))
    labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=tracks)
    sio.save_slp(labels, str(path))
    for points in truth.values():
        points[~np.isfinite(points[..., :2]).all(axis=-1)] = np.nan
    return truth


def test_sleap_file_by_track_name_user_labels_win(tmp_path):
    truth = sleap_file(tmp_path / "mice.slp")
    with pytest.raises(ImportRefused, match=r"mice.slp \(slp\): holds 2 individuals"):
        import_pose(tmp_path / "mice.slp", None, VIDEO)
    imported, joint_set, pose, _ = import_pose(tmp_path / "mice.slp", None, VIDEO, individual="mouse1")
    assert joint_set.name == "SLEAP:mouse" and joint_set.bones == ((0, 1), (1, 2)) and pose.reader == "sleap-io"
    np.testing.assert_allclose(imported.keypoints, truth["mouse1"], atol=1e-5, equal_nan=True)  # float32 in .slp


def test_nwb_written_by_sleap_io_places_sparse_series_on_their_frames(tmp_path):
    """sleap-io's own NWB writer drops each node's missing samples and counts frames as seconds."""
    import sleap_io as sio

    keypoints = walker_keypoints(joints=3, seed=9)
    keypoints[3] = keypoints[4]  # every frame labelled (sleap-io's writer fails on unlabelled frames)
    keypoints[7, 0] = np.nan  # a missing point: its series skips frame 7
    skeleton = sio.Skeleton(["snout", "ear", "tail"], edges=[("snout", "ear"), ("ear", "tail")], name="mouse")
    video = sio.Video(filename="walk.mp4", open_backend=False)
    track = sio.Track("mouse1")
    frames = [sio.LabeledFrame(video=video, frame_idx=f, instances=[sio.PredictedInstance.from_numpy(
        keypoints[f, :, :2] - 0.5, point_scores=keypoints[f, :, 2], score=0.9, skeleton=skeleton, track=track)])
        for f in range(N_FRAMES)]  # fmt: skip
    labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=[track])
    sio.save_nwb(labels, str(tmp_path / "mice.nwb"), nwb_format="predictions")
    video_30fps = VideoFacts(N_FRAMES, WIDTH, HEIGHT, "test/walk.mp4", np.arange(N_FRAMES) / 30.0)
    imported, joint_set, pose, _ = import_pose(tmp_path / "mice.nwb", None, video_30fps)
    assert joint_set.name == "NWB:mouse" and len(pose.keypoints) == 1
    expected = keypoints.copy()
    expected[7, 0] = np.nan
    np.testing.assert_allclose(imported.keypoints, expected, atol=1e-5, equal_nan=True)


def test_sleap_file_of_another_size_is_refused(tmp_path):
    sleap_file(tmp_path / "big.slp", video_shape=[N_FRAMES, 480, 640, 3])
    with pytest.raises(ImportRefused, match=r"big.slp \(slp\): is for a 640 x 480 video; test/walk.mp4 is 320 x 240"):
        import_pose(tmp_path / "big.slp", None, VIDEO, individual="mouse1")


def write_openpose(folder, people_per_frame, stem: str = "walk") -> None:
    """OpenPose's exact ``--write_json`` layout: ``<video>_<12 digits>_keypoints.json`` per frame."""
    folder.mkdir()
    for frame, people in enumerate(people_per_frame):
        body = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": person.ravel().tolist(),
                                            "face_keypoints_2d": [], "hand_left_keypoints_2d": [],
                                            "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
                                            "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                                            "hand_right_keypoints_3d": []} for person in people]}  # fmt: skip
        (folder / f"{stem}_{frame:012d}_keypoints.json").write_text(json.dumps(body))


def openpose_people(keypoints: np.ndarray) -> np.ndarray:
    """This project's keypoints as OpenPose writes them: pixel-centre, missing points as 0, 0, 0."""
    people = keypoints.copy()
    people[..., :2] -= 0.5
    people[~np.isfinite(people[..., 0])] = 0.0
    return people


def test_openpose_folder_body25(tmp_path):
    keypoints = walker_keypoints(joints=25)
    keypoints[..., 2] = np.where(np.isfinite(keypoints[..., 2]), np.maximum(keypoints[..., 2], 0.05), np.nan)
    write_openpose(tmp_path / "json", [[p] for p in openpose_people(keypoints)])
    with pytest.raises(ImportRefused, match=r"json \(openpose\): people have 25 joints, which is any of "
                                            r"\['OpenPose-BODY_25', 'OpenPose-BODY_25B'\]"):  # fmt: skip
        import_pose(tmp_path / "json", None, VIDEO)
    imported, joint_set, pose, _ = import_pose(tmp_path / "json", None, VIDEO, joint_set="OpenPose-BODY_25")
    assert joint_set is OPENPOSE_BODY25 and pose.format == "openpose" and pose.reader_version.endswith("JSON 1.3)")
    np.testing.assert_allclose(imported.keypoints, keypoints, atol=1e-9, equal_nan=True)


def test_openpose_several_people_chosen_by_rule(tmp_path):
    small, big = walker_keypoints(joints=18, seed=1), walker_keypoints(joints=18, seed=2)
    small[..., :2] = small[..., :2] * 0.2 + 5  # a small person near the corner
    small[3], big[3] = small[4], big[4]  # no empty frame: the choice is the point here
    write_openpose(tmp_path / "json", [[openpose_people(small)[f], openpose_people(big)[f]] for f in range(N_FRAMES)])
    with pytest.raises(ImportRefused, match=r"frame 0 has 2 people; choose with individual='box'"):
        import_pose(tmp_path / "json", "openpose", VIDEO)
    largest, joint_set, _, _ = import_pose(tmp_path / "json", "openpose", VIDEO, individual="largest")
    assert joint_set.name == "OpenPose-COCO-18"
    expected = big.copy()
    expected[~np.isfinite(expected[..., 0])] = np.nan
    np.testing.assert_allclose(largest.keypoints, expected, atol=1e-9, equal_nan=True)
    boxes = np.tile([0.0, 0.0, 0.3 * WIDTH, 0.3 * HEIGHT], (N_FRAMES, 1))  # the small person's tracked box
    boxes[7] = np.nan
    by_box, *_ = import_pose(tmp_path / "json", "openpose", VIDEO, individual="box", boxes=boxes)
    assert np.isnan(by_box.keypoints[7]).all()
    np.testing.assert_allclose(by_box.keypoints[:7, :, :2], small[:7, :, :2], atol=1e-9, equal_nan=True)
    second, *_ = import_pose(tmp_path / "json", "openpose", VIDEO, individual=1)
    np.testing.assert_allclose(second.keypoints, expected, atol=1e-9, equal_nan=True)


def test_mismatches_are_refused_naming_the_file(tmp_path):
    keypoints = walker_keypoints()
    short = write_dlc_h5(result(keypoints[:-1]), tmp_path / "other_video.h5")
    with pytest.raises(ImportRefused, match=r"other_video.h5 \(dlc\): covers 11 frames; test/walk.mp4 has 12"):
        import_pose(short, None, VIDEO)
    path = write_dlc_h5(result(keypoints), tmp_path / "walk.h5")
    with pytest.raises(ImportRefused, match=r"walk.h5 \(dlc\): 1 point\(s\) lie outside the 100 x 240 frame"):
        far = keypoints.copy()
        far[..., 0] = np.minimum(far[..., 0], 99)
        far[6, 4, 0] = 150
        import_pose(write_dlc_h5(result(far), tmp_path / "walk.h5"), None, VideoFacts(N_FRAMES, 100, HEIGHT, "x"))
    path = write_dlc_h5(result(keypoints), tmp_path / "walk.h5")
    with pytest.raises(ImportRefused, match=r"walk.h5 \(dlc\): joint\(s\) \['nose', .*'right_ankle'\] are not in "
                                            r"joint set 'H36M-17'"):  # fmt: skip
        import_pose(path, None, VIDEO, joint_set="H36M-17")
    nwb = write_nwb(result(keypoints), tmp_path / "walk.nwb")
    with pytest.raises(ImportRefused, match=r"walk.nwb \(nwb\): is for a 320 x 240 video; big.mp4 is 640 x 480"):
        import_pose(nwb, None, VideoFacts(N_FRAMES, 640, 480, "big.mp4"))
    (tmp_path / "notes.csv").write_text("frame,value\n0,1\n")
    with pytest.raises(ImportRefused, match=r"notes.csv \(dlc\): not a DeepLabCut table"):
        import_pose(tmp_path / "notes.csv", None, VIDEO)
    with pytest.raises(ImportRefused, match=r"walk.h5 \(slp\): not a SLEAP file"):
        import_pose(path, "slp", VIDEO)
    with pytest.raises(ImportRefused, match=r"walk.h5 \(nwb\): not an NWB file"):
        import_pose(path, "nwb", VIDEO)
    with pytest.raises(ImportRefused, match=r"walk.h5 \(openpose\): neither a folder of OpenPose JSON files"):
        import_pose(path, "openpose", VIDEO)
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "walk_000000000000_keypoints.json").write_text('{"version": 1.3, "people": [{"x": 1}]}')
    with pytest.raises(
        ImportRefused, match=r"json \(openpose\): walk_000000000000_keypoints.json is not OpenPose JSON"
    ):
        import_pose(tmp_path / "json", None, VIDEO)
    with pytest.raises(ImportRefused, match="no import format 'trc'"):
        import_pose(path, "trc", VIDEO)
