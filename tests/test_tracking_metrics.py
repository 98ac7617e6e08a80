"""Tracking metrics (TrackEval) against hand-checked cases and an independent oracle (py-motmetrics), and MOT
files in and out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pose_pipeline.formats import Tracks
from pose_pipeline.stages import TRACKING
from pose_pipeline.synthetic import crossing_scene, render_scene
from pose_pipeline.tracking import (
    compare_trackers,
    groundtruth_tracks,
    mot_to_tracks,
    read_mot,
    simulate_detections,
    track_detections,
    tracking_metrics,
    tracks_to_mot,
    write_mot,
)


def make_tracks(frame, track_id, boxes, confidence=None) -> Tracks:
    frame, boxes = np.asarray(frame, dtype=np.int64), np.asarray(boxes, dtype=float).reshape(-1, 4)
    confidence = np.ones(len(frame)) if confidence is None else np.asarray(confidence, dtype=float)
    return Tracks(frame=frame, track_id=np.asarray(track_id, dtype=np.int64), boxes=boxes, confidence=confidence)


def two_walkers(n_frames=20) -> Tracks:
    """Person 1 walks right along y = 0, person 2 along y = 200; boxes 40 x 80, never overlapping."""
    frames = np.arange(n_frames)
    a = np.column_stack([frames * 5.0, np.zeros(n_frames), np.full(n_frames, 40.0), np.full(n_frames, 80.0)])
    b = a + [0, 200, 0, 0]
    return make_tracks(np.r_[frames, frames], np.r_[np.ones(n_frames), np.full(n_frames, 2)], np.r_[a, b])


def relabel(tracks: Tracks, ids) -> Tracks:
    return make_tracks(tracks.frame, ids, tracks.boxes, tracks.confidence)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    config = crossing_scene(n_people=4, seed=2, width=320, height=240)
    return render_scene(config, tmp_path_factory.mktemp("crossing") / "crossing.mp4")


# --- hand-checkable cases ---------------------------------------------------------------------------------------


def test_perfect_tracking_scores_one_whatever_the_ids():
    gt = two_walkers()
    pred = relabel(gt, np.where(gt.track_id == 1, 1000, 7))  # other, non-contiguous ids
    scores = tracking_metrics(gt, pred)
    for field in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "MOTP"):
        assert scores[field] == pytest.approx(1.0, abs=1e-12), field
    assert (scores["IDSW"], scores["FP"], scores["FN"], scores["TP"]) == (0, 0, 0, 40)
    assert (scores["MT"], scores["ML"], scores["GT_IDs"], scores["Pred_IDs"]) == (2, 0, 2, 2)


def test_identity_exchange_between_two_people():
    gt = two_walkers()
    swapped = (gt.frame >= 10).astype(int)
    pred = relabel(gt, np.where(gt.track_id == 1, 10 + swapped, 11 - swapped))  # ids 10 and 11 exchange at frame 10
    scores = tracking_metrics(gt, pred)
    assert scores["IDSW"] == 2
    assert scores["MOTA"] == pytest.approx((40 - 2) / 40)
    assert scores["IDF1"] == pytest.approx(0.5)  # each id matches one person in 10 of its 20 frames
    assert scores["DetA"] == pytest.approx(1.0)
    assert scores["AssA"] == pytest.approx(1 / 3)  # every matched pair: 10 / (20 + 20 - 10)
    assert scores["HOTA"] == pytest.approx(np.sqrt(1 / 3))


def test_a_track_handed_to_a_new_id_counts_one_switch():
    gt = two_walkers()
    pred = relabel(gt, np.where(gt.track_id == 1, np.where(gt.frame < 10, 5, 9), 3))
    scores = tracking_metrics(gt, pred)
    assert scores["IDSW"] == 1
    assert scores["MOTA"] == pytest.approx(39 / 40)
    assert scores["IDF1"] == pytest.approx(30 / 40)  # IDTP 30, IDFP 10, IDFN 10
    assert scores["AssA"] == pytest.approx(0.75)  # person 1: two halves at 1/2, person 2: 1
    assert scores["HOTA"] == pytest.approx(np.sqrt(0.75))


def test_missed_and_false_boxes_are_counted():
    gt = two_walkers()
    keep = ~((gt.track_id == 2) & (gt.frame < 5))  # person 2 found from frame 5 on
    extra = make_tracks([3, 4], [99, 99], [[500, 500, 30, 30], [505, 500, 30, 30]])
    pred = make_tracks(
        np.r_[gt.frame[keep], extra.frame], np.r_[gt.track_id[keep], extra.track_id], np.r_[gt.boxes[keep], extra.boxes]
    )
    scores = tracking_metrics(gt, pred)
    assert (scores["TP"], scores["FN"], scores["FP"], scores["IDSW"]) == (35, 5, 2, 0)
    assert scores["MOTA"] == pytest.approx((35 - 2) / 40)
    assert scores["DetA"] == pytest.approx(35 / (35 + 5 + 2))


def test_boxes_below_the_iou_threshold_do_not_match():
    gt = two_walkers()
    shifted = make_tracks(gt.frame, gt.track_id, gt.boxes + [20, 0, 0, 0])  # IoU 20 / 60 = 1/3
    assert tracking_metrics(gt, shifted)["MOTA"] == pytest.approx(-1.0)  # every box both missed and false
    assert tracking_metrics(gt, shifted, iou_threshold=0.3)["MOTA"] == pytest.approx(1.0)


def test_empty_prediction():
    gt = two_walkers()
    scores = tracking_metrics(gt, make_tracks([], [], np.empty((0, 4))))
    assert (scores["HOTA"], scores["MOTA"], scores["IDF1"]) == (0.0, 0.0, 0.0)
    assert (scores["FN"], scores["FP"], scores["ML"], scores["Pred_IDs"]) == (40, 0, 2, 0)


def test_empty_ground_truth():
    pred = two_walkers()
    scores = tracking_metrics(make_tracks([], [], np.empty((0, 4))), pred)
    assert (scores["HOTA"], scores["IDF1"], scores["FP"], scores["FN"]) == (0.0, 0.0, 40, 0)
    assert np.isnan(scores["MOTA"])  # no ground-truth boxes: its denominator is empty


def test_nothing_at_all_is_undefined_not_perfect():
    empty = make_tracks([], [], np.empty((0, 4)))
    scores = tracking_metrics(empty, empty)
    assert all(np.isnan(scores[f]) for f in ("HOTA", "MOTA", "IDF1"))
    assert (scores["FP"], scores["FN"], scores["IDSW"]) == (0, 0, 0)


def test_noncontiguous_ids_give_the_same_scores(crossing):
    gt = groundtruth_tracks(crossing)
    pred = track_detections(simulate_detections(crossing, seed=5), TRACKING.build("sort"))
    base = tracking_metrics(gt, pred)
    spread = tracking_metrics(relabel(gt, gt.track_id * 17 + 3), relabel(pred, pred.track_id**2 + 1000))
    assert base == spread
    assert base["IDSW"] + base["FP"] + base["FN"] > 0  # a non-trivial case


def test_ground_truth_as_groundtruth_tracks_or_mot_rows(crossing):
    pred = track_detections(simulate_detections(crossing, seed=6), TRACKING.build("bytetrack"))
    expected = tracking_metrics(groundtruth_tracks(crossing), pred)
    assert tracking_metrics(crossing, pred) == expected
    assert tracking_metrics(tracks_to_mot(groundtruth_tracks(crossing)), pred) == expected
    # to_mot() keeps the synthetic convention (pixel centres at integers): half a pixel off ours, so not equal.
    assert tracking_metrics(crossing.to_mot(), pred)["LocA"] != expected["LocA"]


def test_random_ids_destroy_association_but_not_detection(crossing):
    pred = track_detections(simulate_detections(crossing, seed=7), TRACKING.build("botsort"))
    shuffled = relabel(pred, np.random.default_rng(0).integers(0, 1000, len(pred.frame)) * 1000 + pred.frame)
    good, bad = tracking_metrics(crossing, pred), tracking_metrics(crossing, shuffled)
    assert bad["DetA"] == pytest.approx(good["DetA"], abs=0.01)  # HOTA's matching weighs association a little
    assert bad["AssA"] < 0.1 and good["AssA"] > 0.5


# --- independent oracle: py-motmetrics --------------------------------------------------------------------------


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every x, y, w, h box in ``a`` with every one in ``b``, written out independently of TrackEval."""
    a, b = a[:, None], b[None]
    w = np.clip(np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    return inter / (a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter)


def motmetrics_scores(gt: Tracks, pred: Tracks) -> pd.Series:
    """MOTA, IDF1, switches, FP, FN and MOTP from py-motmetrics; its ``iou_matrix`` uses ``np.asfarray``, gone in
    numpy 2, so the distances (1 - IoU, NaN below IoU 0.5) are given to ``update`` directly."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for t in range(max(gt.frame.max(initial=-1), pred.frame.max(initial=-1)) + 1):
        g, p = gt.frame == t, pred.frame == t
        distance = 1 - pairwise_iou(gt.boxes[g], pred.boxes[p])
        distance[distance > 0.5] = np.nan
        accumulator.update(gt.track_id[g], pred.track_id[p], distance)
    metrics = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "motp"]
    return mm.metrics.create().compute(accumulator, metrics=metrics, name="oracle").iloc[0]


def perturbed(gt: Tracks, seed: int) -> Tracks:
    """Ground truth made wrong: 10% boxes dropped, 8% jitter, three id exchanges, 60 false boxes, new ids."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(gt.frame)) > 0.1
    frame, ids, boxes = gt.frame[keep], gt.track_id[keep].copy(), gt.boxes[keep].copy()
    boxes += rng.normal(0, 0.08, boxes.shape) * np.tile(boxes[:, 2:], 2)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], 1)
    for _ in range(3):
        at, (a, b) = rng.integers(0, frame.max()), rng.choice(np.unique(ids), 2, replace=False)
        is_a, is_b = (frame >= at) & (ids == a), (frame >= at) & (ids == b)
        ids[is_a], ids[is_b] = b, a
    n = 60
    false = np.column_stack(
        [rng.uniform(0, 300, n), rng.uniform(0, 200, n), rng.uniform(10, 40, n), rng.uniform(30, 90, n)]
    )
    frame, ids = np.r_[frame, rng.integers(0, frame.max() + 1, n)], np.r_[ids * 13 + 1000, rng.integers(5000, 5010, n)]
    boxes = np.r_[boxes, false]
    _, first = np.unique(np.column_stack([frame, ids]), axis=0, return_index=True)  # one box per id and frame
    first = np.sort(first)
    return make_tracks(frame[first], ids[first], boxes[first])


def oracle_cases(crossing):
    gt = groundtruth_tracks(crossing)
    for name in ("bytetrack", "ocsort", "sort", "botsort"):
        for seed in range(2):
            yield f"{name}-{seed}", track_detections(simulate_detections(crossing, seed=seed), TRACKING.build(name))
    for seed in range(8):
        yield f"perturbed-{seed}", perturbed(gt, seed)


def test_mota_and_idf1_agree_with_motmetrics(crossing):
    gt = groundtruth_tracks(crossing)
    switches = 0
    for label, pred in oracle_cases(crossing):
        ours, oracle = tracking_metrics(gt, pred), motmetrics_scores(gt, pred)
        assert ours["MOTA"] == pytest.approx(oracle["mota"], abs=1e-6), label
        assert ours["IDF1"] == pytest.approx(oracle["idf1"], abs=1e-6), label
        assert (ours["IDSW"], ours["FP"], ours["FN"]) == (
            oracle["num_switches"],
            oracle["num_false_positives"],
            oracle["num_misses"],
        ), label
        # MOTP: TrackEval and motmetrics may pick different, equally valid matches among near ties.
        assert 1 - ours["MOTP"] == pytest.approx(oracle["motp"], abs=5e-3), label
        switches += ours["IDSW"]
    assert switches >= 10  # the cases exercise identity switches


# --- comparing trackers -----------------------------------------------------------------------------------------


def test_compare_trackers_scores_each_tracker_on_the_same_detections(crossing):
    detections = simulate_detections(crossing, seed=4)
    names = ["bytetrack", "sort", "botsort"]
    table = compare_trackers(detections, crossing, names, params={"sort": {"minimum_consecutive_frames": 1}})
    assert isinstance(table, pd.DataFrame) and list(table.index) == names
    assert {"HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN", "tracks", "fps"} <= set(table.columns)
    for name in names:
        params = {"minimum_consecutive_frames": 1} if name == "sort" else {}
        expected = tracking_metrics(crossing, track_detections(detections, TRACKING.build(name, params)))
        assert table.loc[name, "HOTA"] == expected["HOTA"] and table.loc[name, "IDSW"] == expected["IDSW"]
    default_sort = compare_trackers(detections, crossing, ["sort"])
    assert default_sort.loc["sort", "FN"] > table.loc["sort", "FN"]  # the override took effect
    with pytest.raises(ValueError, match="not compared"):
        compare_trackers(detections, crossing, ["sort"], params={"ocsort": {}})


def test_simulated_detections_follow_their_settings(crossing):
    clean = simulate_detections(crossing, miss_rate=0, jitter=0, false_positives=0, min_visible=0)
    truth = groundtruth_tracks(crossing)
    assert sum(len(d) for d in clean) == len(truth.frame)
    np.testing.assert_allclose(np.concatenate(clean)[:, :4], truth.boxes)  # same order: frame, then person
    noisy = simulate_detections(crossing, seed=1, miss_rate=0.5, false_positives=0, min_visible=0)
    assert 0.4 < sum(len(d) for d in noisy) / len(truth.frame) < 0.6
    assert sum(len(d) for d in simulate_detections(crossing, seed=1, false_positives=3.0)) > len(truth.frame) * 1.5


# --- MOT files --------------------------------------------------------------------------------------------------


def test_mot_file_round_trip(tmp_path):
    tracks = make_tracks([0, 0, 3], [4, 2, 4], [[1.5, 2.25, 10, 20], [30, 40, 5.5, 6], [0.125, 0, 1, 1]], [0.9, 1, 0.5])
    path = write_mot(tracks, tmp_path / "tracks.txt")
    assert path.read_text().splitlines()[0] == "1,2,30,40,5.5,6,1,-1,-1,-1"  # frames 1-based, sorted by frame, id
    back = read_mot(path)
    order = np.lexsort((tracks.track_id, tracks.frame))
    for field in ("frame", "track_id", "boxes", "confidence"):
        np.testing.assert_array_equal(getattr(back, field), getattr(tracks, field)[order])


def test_mot_pixel_origins(tmp_path):
    tracks = make_tracks([0], [1], [[10.0, 20.0, 30.0, 40.0]])
    assert tracks_to_mot(tracks, origin="center0")[0, 2:6].tolist() == [9.5, 19.5, 30.0, 40.0]
    assert tracks_to_mot(tracks, origin="center1")[0, 2:6].tolist() == [10.5, 20.5, 30.0, 40.0]
    for origin in ("edge", "center0", "center1"):
        path = write_mot(tracks, tmp_path / f"{origin}.txt", origin=origin)
        np.testing.assert_array_equal(read_mot(path, origin=origin).boxes, tracks.boxes)
    with pytest.raises(ValueError, match="origin must be one of"):
        tracks_to_mot(tracks, origin="corner")


def test_synthetic_to_mot_reads_as_groundtruth_tracks(crossing):
    from_mot = mot_to_tracks(crossing.to_mot(), origin="center0")
    expected = groundtruth_tracks(crossing)
    np.testing.assert_array_equal(from_mot.frame, expected.frame)
    np.testing.assert_array_equal(from_mot.track_id, expected.track_id)
    np.testing.assert_allclose(from_mot.boxes, expected.boxes)


def test_read_mot_variants_and_errors(tmp_path):
    whitespace = tmp_path / "gt.txt"
    whitespace.write_text("# frame id x y w h conf class visibility\n2 1 10 20 30 40 1 1 0.8\n1 1 8 20 30 40 0 1 1\n")
    tracks = read_mot(whitespace)
    assert tracks.frame.tolist() == [0, 1] and tracks.confidence.tolist() == [0.0, 1.0]
    assert read_mot(whitespace, min_confidence=0.5).frame.tolist() == [1]  # ground-truth rows marked "ignore"
    unknown_conf = tmp_path / "unknown.txt"
    unknown_conf.write_text("1,3,1,2,3,4,-1,-1,-1,-1\n")
    assert np.isnan(read_mot(unknown_conf).confidence[0])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert len(read_mot(empty).frame) == 0
    zero_based = tmp_path / "zero.txt"
    zero_based.write_text("0,1,1,2,3,4,1,-1,-1,-1\n")
    with pytest.raises(ValueError, match="1-based"):
        read_mot(zero_based)
    detections = tmp_path / "det.txt"
    detections.write_text("1,-1,1,2,3,4,0.9,-1,-1,-1\n")
    with pytest.raises(ValueError, match="negative ids"):
        read_mot(detections)
