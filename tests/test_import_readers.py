"""Imports of other tools' results without the database: each format read back from files written by our exporters
or by the format's own library (OpenPose JSON written here in OpenPose's exact layout), converted from the
pixel-centre origin, and refused by name when it does not fit the video."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pose_pipeline.export import Result2D, coco_dict, write_coco, write_dlc_csv, write_dlc_h5, write_nwb
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


def on_grid(keypoints: np.ndarray) -> np.ndarray:
    """Keypoints on a 1/16 px grid and confidences on a 1/64 grid: exact in the COCO writer's 4 and 6 decimals."""
    return np.concatenate([np.round(keypoints[..., :2] * 16) / 16, np.round(keypoints[..., 2:] * 64) / 64], axis=-1)


def test_coco_export_then_import_gives_back_the_same_array(tmp_path):
    keypoints = on_grid(walker_keypoints())
    path = write_coco(result(keypoints), tmp_path / "walk.json")
    imported, joint_set, pose, chosen = import_pose(path, None, VIDEO)  # .json: COCO
    assert joint_set is COCO17 and pose.format == "coco" and pose.reader_version.endswith("(COCO keypoint dataset)")
    assert pose.n_frames == N_FRAMES and pose.size == (WIDTH, HEIGHT) and chosen == "0"  # the export's track_id
    np.testing.assert_array_equal(imported.keypoints, keypoints)  # NaN where missing, the same numbers elsewhere
    raw = json.loads(path.read_text())["annotations"][0]["keypoints"]
    assert raw[:2] == [keypoints[0, 0, 0] - 0.5, keypoints[0, 0, 1] - 0.5]  # the file is pixel-centre
    corner, *_ = import_pose(path, "coco", VIDEO, pixel_origin="corner")
    np.testing.assert_array_equal(corner.keypoints[..., :2], keypoints[..., :2] - 0.5)


def coco_results(people_per_frame, first_image_id: int = 1, tracks=None) -> list[dict]:
    """A detector's results list (detectron2's ``instances_to_coco_json`` layout): pixel-centre keypoints with
    their scores in the third slot, no names, image_id counting frames from ``first_image_id``."""
    results = []
    for frame, people in enumerate(people_per_frame):
        for n, person in enumerate(people):
            if not np.isfinite(person[:, 0]).any():
                continue
            flat = np.where(np.isfinite(person), np.concatenate([person[:, :2] - 0.5, person[:, 2:]], axis=1), 0.0)
            results.append({"image_id": frame + first_image_id, "category_id": 1, "keypoints": flat.ravel().tolist(),
                            "score": float(np.nanmean(person[:, 2])), "bbox": [0.0, 0.0, 10.0, 10.0]})  # fmt: skip
            if tracks is not None:
                results[-1]["track_id"] = tracks[n]
    return results


def test_coco_results_list_untracked_people_chosen_as_openpose_people_are(tmp_path):
    small, big = walker_keypoints(seed=1), walker_keypoints(seed=2)
    small[..., :2] = small[..., :2] * 0.2 + 5
    small[3], big[3] = small[4], big[4]
    big[..., 2] = np.maximum(big[..., 2], 0.01)  # a score of exactly 0 would be a missing point
    path = tmp_path / "detections.json"
    path.write_text(json.dumps(coco_results([[small[f], big[f]] for f in range(N_FRAMES)])))
    from pycocotools.coco import COCO

    ground_truth = COCO()  # the list is what pycocotools takes as results for our export's images
    ground_truth.dataset = coco_dict(result(big))
    ground_truth.createIndex()
    assert len(ground_truth.loadRes(str(path)).getAnnIds()) == 2 * N_FRAMES
    with pytest.raises(ImportRefused, match=r"detections.json \(coco\): frame 0 has 2 people; choose with"):
        import_pose(path, None, VIDEO)
    largest, joint_set, pose, _ = import_pose(path, None, VIDEO, individual="largest")
    assert joint_set is COCO17 and pose.reader_version.endswith("(COCO keypoint results list)")
    np.testing.assert_allclose(largest.keypoints, big, rtol=0, atol=1e-9, equal_nan=True)  # scores: confidence

    path.write_text(json.dumps(coco_results([[small[f], big[f]] for f in range(N_FRAMES)], first_image_id=0)))
    with pytest.raises(ImportRefused, match=r"\(coco\): image_id 0 is before the first frame .* format 'coco-0'"):
        import_pose(path, None, VIDEO, individual="largest")
    zero_based, *_ = import_pose(path, "coco-0", VIDEO, individual="largest")
    np.testing.assert_allclose(zero_based.keypoints, big, rtol=0, atol=1e-9, equal_nan=True)

    path.write_text(json.dumps(coco_results([[small[f], big[f]] for f in range(N_FRAMES)], tracks=[7, 9])))
    with pytest.raises(ImportRefused, match=r"holds 2 individuals \('7', '9'\); name one with individual="):
        import_pose(path, None, VIDEO)
    tracked, *_ = import_pose(path, None, VIDEO, individual=9)
    np.testing.assert_allclose(tracked.keypoints, big, rtol=0, atol=1e-9, equal_nan=True)


def test_coco_dataset_of_another_layout_names_its_joint_set(tmp_path):
    """An animal dataset (mmpose's layout): three named keypoints with visibility flags, frames numbered in the
    image file names (the ids run backwards), a crowd region and an unlabelled animal that are not individuals."""
    keypoints = walker_keypoints(joints=3, seed=3)
    flags = np.where(np.isfinite(keypoints[..., 0]), 2, 0)
    flags[6, 1] = 1  # labelled but occluded: still a point
    images = [{"id": 500 - f, "file_name": f"mouse/img_{f:05d}.jpg", "width": WIDTH, "height": HEIGHT}
              for f in range(N_FRAMES)]  # fmt: skip
    annotations = [{"id": f + 1, "image_id": 500 - f, "category_id": 3, "iscrowd": 0,
                    "keypoints": np.stack([np.nan_to_num(keypoints[f, :, 0] - 0.5), np.nan_to_num(keypoints[f, :, 1]
                                           - 0.5), flags[f]], axis=1).ravel().tolist()}
                   for f in range(N_FRAMES) if flags[f].any()]  # fmt: skip
    annotations.append({"id": 99, "image_id": 499, "category_id": 3, "iscrowd": 1, "keypoints": [1, 1, 2] * 3})
    annotations.append({"id": 98, "image_id": 498, "category_id": 3, "keypoints": [0, 0, 0] * 3})
    category = {"id": 3, "name": "mouse", "keypoints": ["snout", "ear", "tail"], "skeleton": [[1, 2], [2, 3]]}
    path = tmp_path / "mice.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [category]}))
    imported, joint_set, pose, chosen = import_pose(path, "coco", VIDEO)
    assert joint_set.name == "COCO:mouse" and joint_set.joints == ("snout", "ear", "tail")
    assert joint_set.bones == ((0, 1), (1, 2)) and pose.n_frames == N_FRAMES and chosen == "subject"
    expected = keypoints.copy()
    expected[..., 2] = np.where(np.isfinite(keypoints[..., 0]), 1.0, np.nan)  # flags: a labelled point
    np.testing.assert_allclose(imported.keypoints, expected, rtol=0, atol=1e-9, equal_nan=True)
    for image in images:
        image["file_name"] = "still.jpg"  # no frame number: frames follow the ids' order
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [category]}))
    by_id, *_ = import_pose(path, "coco", VIDEO)
    np.testing.assert_allclose(by_id.keypoints, expected[::-1], rtol=0, atol=1e-9, equal_nan=True)


def test_coco_files_that_do_not_fit_are_refused_by_name(tmp_path):
    keypoints = on_grid(walker_keypoints())
    body = coco_dict(result(keypoints))
    path = tmp_path / "walk.json"

    def refused(content, match, **options):
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(ImportRefused, match=match):
            import_pose(path, options.pop("fmt", None), options.pop("video", VIDEO), **options)

    short = json.loads(json.dumps(body))
    short["annotations"][2]["keypoints"] = short["annotations"][2]["keypoints"][:-3]
    refused(short, r"walk.json \(coco\): annotations have \[16, 17\] keypoints; one layout is supported")
    renamed = json.loads(json.dumps(body))
    renamed["categories"][0]["keypoints"] = renamed["categories"][0]["keypoints"][:16]
    refused(renamed, r"walk.json \(coco\): annotations have 17 keypoints; category 'person' names 16")
    refused(coco_results([[p] for p in walker_keypoints(joints=20)]), r"walk.json \(coco\): annotations have 20 "
            r"unnamed keypoints, not COCO-17's 17; name the layout with joint_set=\.\.\. \(no known set")  # fmt: skip
    refused(coco_results([[p] for p in walker_keypoints(joints=25)]), r"25 unnamed keypoints.*OpenPose-BODY_25, ")
    beyond = coco_results([[p] for p in keypoints])
    beyond[-1]["image_id"] = N_FRAMES + 5
    refused(beyond, rf"walk.json \(coco\): has frame {N_FRAMES + 4} for 'subject'; test/walk.mp4 has frames 0\.\.11")
    long = json.loads(json.dumps(body))
    long["images"].append({**long["images"][-1], "id": 99, "frame_index": N_FRAMES})
    refused(long, rf"walk.json \(coco\): covers {N_FRAMES + 1} frames; test/walk.mp4 has {N_FRAMES}")
    refused(
        body,
        r"walk.json \(coco\): is for a 320 x 240 video; big.mp4 is 640 x 480",
        video=VideoFacts(N_FRAMES, 640, 480, "big.mp4"),
    )
    refused('{"version": 1.3, "people": []}', r"walk.json \(coco\): not COCO keypoint JSON \(neither a dataset")
    refused("frame,x\n0,1\n", r"walk.json \(coco\): not COCO keypoint JSON \(JSONDecodeError")
    refused([{"image_id": 1, "bbox": [0, 0, 1, 1], "score": 0.9}], r"annotation 0 has no image_id and keypoints")
