"""2D keypoint accuracy: PCK and errors against hand-computed values, OKS AP (pycocotools) against cases worked
out by hand and against an independent implementation of COCO's keypoint evaluation written here."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from pose_pipeline.keypoints import metrics
from pose_pipeline.skeletons import COCO17, JointSet

THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


# --- an independent, deliberately plain COCO keypoint evaluation (the oracle) ------------------------------------


def oracle_oks(pred_xy, gt_xy, labelled, area, sigmas) -> float:
    """OKS of one prediction with one ground-truth instance, joint by joint."""
    total, count = 0.0, 0
    for j, sigma in enumerate(sigmas):
        if not labelled[j]:
            continue
        count += 1
        if not (math.isfinite(pred_xy[j][0]) and math.isfinite(pred_xy[j][1])):
            continue  # a missing prediction adds nothing
        squared = (pred_xy[j][0] - gt_xy[j][0]) ** 2 + (pred_xy[j][1] - gt_xy[j][1]) ** 2
        total += math.exp(-squared / (2.0 * area * (2.0 * sigma) ** 2))
    return total / count


def oracle_ap(gts, dts, sigmas, max_dets=20) -> dict:
    """COCO AP/AR over OKS thresholds .50:.05:.95 with 101-point interpolated precision.

    ``gts``: dicts with image, xy (J, 2), labelled (J,), area; ``dts``: dicts with image, xy (J, 2), score.
    Per image, predictions in descending score each take the unmatched ground truth of highest OKS >= t.
    """
    images = sorted({g["image"] for g in gts} | {d["image"] for d in dts})
    n_gt = len(gts)
    ap, ar = [], []
    for t in THRESHOLDS:
        outcomes = []  # (score, true positive?)
        for image in images:
            image_gts = [g for g in gts if g["image"] == image]
            image_dts = sorted((d for d in dts if d["image"] == image), key=lambda d: -d["score"])[:max_dets]
            matched = set()
            for d in image_dts:
                best, best_oks = None, -1.0
                for k, g in enumerate(image_gts):
                    if k in matched:
                        continue
                    value = oracle_oks(d["xy"], g["xy"], g["labelled"], g["area"], sigmas)
                    if value >= t and value > best_oks:
                        best, best_oks = k, value
                if best is not None:
                    matched.add(best)
                outcomes.append((d["score"], best is not None))
        outcomes.sort(key=lambda o: -o[0])
        tp = np.cumsum([o[1] for o in outcomes]).astype(float)
        fp = np.cumsum([not o[1] for o in outcomes]).astype(float)
        recall = tp / n_gt
        precision = tp / np.maximum(tp + fp, 1e-300)
        points = [max((p for p, r in zip(precision, recall) if r >= level), default=0.0) for level in RECALL_POINTS]
        ap.append(np.mean(points))
        ar.append(recall[-1] if len(recall) else 0.0)
    return {"AP": float(np.mean(ap)), "AP50": ap[0], "AP75": ap[5], "AR": float(np.mean(ar))}


def displaced(gt_xy, labelled, area, sigmas, target_oks, rng):
    """A prediction whose OKS with the ground truth is exactly ``target_oks``: every labelled joint is moved, in
    a random direction, by the distance at which its OKS term equals ``target_oks``."""
    distance = np.sqrt(-np.log(target_oks) * 2 * area * (2 * np.asarray(sigmas)) ** 2)
    angle = rng.uniform(0, 2 * np.pi, len(sigmas))
    xy = gt_xy + distance[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    return np.where(labelled[:, None], xy, gt_xy)


def with_confidence(xy, confidence=1.0):
    xy = np.asarray(xy, dtype=float)
    return np.concatenate([xy, np.broadcast_to(confidence, xy.shape[:-1])[..., None]], axis=-1)


# --- PCK and errors -----------------------------------------------------------------------------------------------


@pytest.fixture
def two_instances():
    """Two instances of a 4-joint set; distances and labels chosen so every measure is easy to do by hand."""
    gt = np.array([[[10, 10], [20, 20], [30, 30], [40, 40]], [[50, 50], [np.nan, np.nan], [70, 70], [80, 80]]], float)
    offsets = np.array([[[3, 4], [0, 6], [1, 0], [0, 0]], [[100, 0], [0, 0], [0, 12], [-2, 0]]], float)
    pred = gt + offsets
    pred[0, 3] = np.nan  # labelled but not predicted: a miss
    pred[1, 1] = [60, 60]  # predicted where the ground truth is NaN: not scored
    confidence = np.array([[0.9, 0.4, 0.8, np.nan], [0.7, 0.9, 0.95, 0.2]])
    visibility = np.array([[2, 1, 2, 2], [0, 2, 2, 1]])  # instance 1, joint 0: not labelled (its error is ignored)
    boxes = np.array([[0, 0, 50, 40], [0, 0, 100, 200]], float)
    return with_confidence(pred, confidence), gt, visibility, boxes


FOUR = JointSet(name="four", joints=("a", "b", "c", "d"), bones=((0, 1), (1, 2), (2, 3)))


def test_pck_and_errors_by_hand(two_instances):
    pred, gt, visibility, boxes = two_instances
    # scored distances: instance 0: 5, 6, 1, missing; instance 1: 12 (joint c), 2 (joint d)
    result = metrics.keypoint_accuracy(pred, gt, visibility, joint_set=FOUR, boxes=boxes, pcutoff=0.5)
    assert (result["n_labelled"], result["n_missing"], result["n_errors"]) == (6, 1, 5)
    assert result["pck_px"] == pytest.approx(3 / 6)  # 5 (on the threshold counts), 1, 2
    np.testing.assert_allclose(result["per_joint"]["pck_px"], [1, 0, 0.5, 0.5])
    # box normaliser max(w, h): thresholds 0.1 * 50 = 5 and 0.1 * 200 = 20
    assert result["pck_box"] == pytest.approx(4 / 6)
    assert result["pck_box_normaliser"] == "max(w, h) of the box"
    assert result["mean_error"] == pytest.approx(26 / 5)
    assert result["rmse"] == pytest.approx(math.sqrt((25 + 36 + 1 + 144 + 4) / 5))
    np.testing.assert_allclose(result["per_joint"]["mean_error"], [5, 6, 6.5, 2])
    np.testing.assert_allclose(result["per_joint"]["rmse"], [5, 6, math.sqrt(145 / 2), 2])
    # confidence >= 0.5 keeps instance 0 joints a (5) and c (1), and instance 1 joint c (12)
    assert result["n_pcutoff"] == 3
    assert result["mean_error_pcutoff"] == pytest.approx(6.0)
    assert result["rmse_pcutoff"] == pytest.approx(math.sqrt(170 / 3))


def test_pck_threshold_and_normalisers(two_instances):
    pred, gt, visibility, boxes = two_instances
    assert metrics.pck(pred, gt, visibility, pixels=5)["pck"] == pytest.approx(3 / 6)
    assert metrics.pck(pred, gt, visibility, pixels=4.999)["pck"] == pytest.approx(2 / 6)  # 5 px is out now
    # sizes 50 and 200 given directly, or as areas 2500 and 40000 (sqrt), give the same thresholds
    assert metrics.pck(pred, gt, visibility, fraction=0.1, boxes=boxes)["pck"] == pytest.approx(4 / 6)
    by_size = metrics.pck(pred, gt, visibility, fraction=0.1, box_sizes=[50, 200])
    by_area = metrics.pck(pred, gt, visibility, fraction=0.1, areas=[2500, 40000])
    assert by_size["pck"] == by_area["pck"] == pytest.approx(4 / 6)
    # without boxes: labelled keypoints' extent, 30 and 10 -> thresholds 3 and 1: only instance 0's 1 px error
    extent = metrics.pck(pred, gt, visibility, fraction=0.1)
    assert extent["pck"] == pytest.approx(1 / 6) and "extent" in extent["normaliser"]
    # without visibility, NaN ground truth is still unlabelled, and instance 1 joint a (100 px off) now counts
    assert metrics.pck(pred, gt, pixels=5)["n_labelled"] == 7


def test_distances_and_shape_checks(two_instances):
    pred, gt, visibility, _ = two_instances
    distance = metrics.keypoint_distances(pred, gt, visibility)
    np.testing.assert_allclose(distance, [[5, 6, 1, np.nan], [np.nan, np.nan, 12, 2]])
    with pytest.raises(ValueError, match="leading axes"):
        metrics.keypoint_accuracy(pred[:1], gt)
    with pytest.raises(ValueError, match="visibility"):
        metrics.keypoint_accuracy(pred, gt, visibility[:, :3])
    with pytest.raises(ValueError, match="joint set"):
        metrics.keypoint_accuracy(pred, gt, joint_set=COCO17)


def test_per_joint_table(two_instances):
    pred, gt, visibility, boxes = two_instances
    result = metrics.keypoint_accuracy(pred, gt, visibility, joint_set=FOUR, boxes=boxes, pcutoff=0.5)
    table = metrics.per_joint_table(result)
    assert list(table.index) == ["a", "b", "c", "d", "all"]
    assert table.loc["c", "mean_error"] == pytest.approx(6.5)
    assert table.loc["d", "n_pcutoff"] == 0  # its one scored prediction has confidence 0.2
    assert table.loc["all", "rmse"] == pytest.approx(result["rmse"])
    assert table.loc["all", "n_labelled"] == 6


# --- OKS ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("joint_set, sigmas", [(COCO17, None), (FOUR, None), (FOUR, [0.05, 0.1, 0.2, 0.3])])
def test_oks_equals_oracle(joint_set, sigmas):
    rng = np.random.default_rng(3)
    n_joints = len(joint_set)
    gt = rng.uniform(0, 200, (30, n_joints, 2))
    pred = with_confidence(gt + rng.normal(0, 6, gt.shape), 0.9)
    visibility = rng.choice([0, 1, 2], size=(30, n_joints), p=[0.2, 0.2, 0.6])
    visibility[:, 0] = 2
    pred[rng.random((30, n_joints)) < 0.1, :2] = np.nan
    areas = rng.uniform(500, 5000, 30)
    used = metrics.resolve_sigmas(n_joints, joint_set, sigmas)
    expected_sigmas = joint_set.sigmas or sigmas or [0.1] * n_joints  # COCO's, given, else DeepLabCut's 0.1
    np.testing.assert_array_equal(used, expected_sigmas)
    got = metrics.oks(pred, gt, visibility, areas=areas, sigmas=sigmas, joint_set=joint_set)
    want = [oracle_oks(pred[i, :, :2], gt[i], visibility[i] > 0, areas[i], used) for i in range(30)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert 0.2 < np.mean(got) < 0.95  # neither trivially perfect nor zero


# --- AP from pycocotools ------------------------------------------------------------------------------------------


def exact_oks_instances(target_oks, scores, seed=0):
    """One COCO-17 instance per image, each prediction at an exact OKS from its ground truth."""
    rng = np.random.default_rng(seed)
    n = len(target_oks)
    gt = rng.uniform(100, 300, (n, 17, 2))
    labelled = np.ones((n, 17), bool)
    area = np.full(n, 4000.0)
    pred_xy = np.stack([displaced(gt[i], labelled[i], area[i], COCO17.sigmas, target_oks[i], rng) for i in range(n)])
    confidence = np.repeat(np.asarray(scores, float)[:, None], 17, axis=1)
    return with_confidence(pred_xy, confidence), gt, area


@pytest.mark.parametrize(
    "scores, expected",
    [
        # scores in OKS order: at a threshold matching k of the 4, precision is 1 up to recall k/4 (k/4*100 + 1
        # of the 101 recall points); k = 3 at .50-.60, 2 at .65-.80, 1 at .85-.95
        ([0.9, 0.8, 0.7, 0.6], {"AP": (3 * 76 + 4 * 51 + 3 * 26) / 1010, "AP50": 76 / 101, "AP75": 51 / 101}),
        # reversed: the false positives rank first; best precision at reachable recall: 3/4, 2/4, 1/4
        ([0.6, 0.7, 0.8, 0.9], {"AP": (3 * 57 + 4 * 25.5 + 3 * 6.5) / 1010, "AP50": 57 / 101, "AP75": 25.5 / 101}),
    ],
)
def test_ap_by_hand_one_instance_per_image(scores, expected):
    target = [0.97, 0.82, 0.62, 0.3]
    pred, gt, area = exact_oks_instances(target, scores)
    np.testing.assert_allclose(metrics.oks(pred, gt, areas=area, joint_set=COCO17), target, atol=1e-12)
    result = metrics.keypoint_accuracy(pred, gt, joint_set=COCO17, areas=area)
    oracle = oracle_ap(
        [{"image": i, "xy": gt[i], "labelled": np.ones(17, bool), "area": area[i]} for i in range(4)],
        [{"image": i, "xy": pred[i, :, :2], "score": scores[i]} for i in range(4)],
        COCO17.sigmas,
    )
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
        assert oracle[key] == pytest.approx(value, abs=1e-12), key
    assert result["AR"] == pytest.approx((9 + 8 + 3) / 40)  # matched 3, 3, 3, 2, 2, 2, 2, 1, 1, 1 of 4


def crowded_images(seed, n_joints, sigmas, false_positives=True):
    """Several people per image: noisy predictions of most, a missed person, a duplicate, false positives in
    images with and without people, a prediction with missing joints, partly labelled ground truth."""
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for image in range(8):
        for _ in range(rng.integers(0, 4) if image != 7 else 0):  # image 7 has nobody
            xy = rng.uniform(0, 400, 2) + rng.uniform(-40, 40, (n_joints, 2))
            visibility = rng.choice([0, 1, 2], n_joints, p=[0.15, 0.25, 0.6])
            visibility[0] = 2
            area = float(rng.uniform(1500, 6000))
            gts.append({"image": image, "xy": xy, "visibility": visibility, "labelled": visibility > 0, "area": area})
            if rng.random() < 0.15:
                continue  # missed
            noise = rng.uniform(0.5, 6)
            pred = xy + rng.normal(0, noise, xy.shape)
            if rng.random() < 0.2:
                pred[rng.integers(n_joints)] = np.nan
            dts.append({"image": image, "xy": pred, "score": float(rng.uniform(0.3, 1))})
            # a duplicate of the same person, a bit worse (drawn either way, so both variants share the rest)
            duplicate = {"image": image, "xy": pred + rng.normal(0, 5, pred.shape), "score": float(rng.uniform())}
            if rng.random() < 0.25 and false_positives:
                dts.append(duplicate)
    if false_positives:
        dts.append({"image": 7, "xy": rng.uniform(0, 400, (n_joints, 2)), "score": 0.99})
        dts.append({"image": gts[0]["image"], "xy": gts[0]["xy"] + 1000, "score": 0.95})
    return gts, dts


def run_module(gts, dts, sigmas, **kwargs):
    return metrics.coco_keypoint_ap(
        np.array([g["xy"] for g in gts]),
        [g["image"] for g in gts],
        with_confidence(np.array([d["xy"] for d in dts])),
        [d["image"] for d in dts],
        gt_visibility=np.array([g["visibility"] for g in gts]),
        gt_areas=[g["area"] for g in gts],
        pred_scores=[d["score"] for d in dts],
        sigmas=sigmas,
        **kwargs,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_joints, sigmas", [(17, COCO17.sigmas), (5, 0.1)])
def test_ap_several_people_and_false_positives_equals_oracle(seed, n_joints, sigmas):
    gts, dts = crowded_images(seed, n_joints, sigmas)
    sigma_vector = np.broadcast_to(sigmas, (n_joints,))
    got = run_module(gts, dts, sigmas)
    want = oracle_ap(gts, dts, sigma_vector)
    assert got["n_gt"] == len(gts) and got["n_pred"] == len(dts)
    for key in ("AP", "AP50", "AP75", "AR"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    assert 0.1 < got["AP"] < 0.95
    # the false positives and duplicates really cost precision
    clean_gts, clean_dts = crowded_images(seed, n_joints, sigmas, false_positives=False)
    assert run_module(clean_gts, clean_dts, sigmas)["AP"] > got["AP"]


def test_in_memory_evaluation_equals_pycocotools_file_path():
    """The dictionaries built in memory give what the usual route (loadRes, default keypoint parameters,
    summarize) gives for COCO-17."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gts, dts = crowded_images(5, 17, COCO17.sigmas)
    for d in dts:
        d["xy"] = np.nan_to_num(d["xy"], nan=-50.0)  # loadRes cannot take NaN
    got = run_module(gts, dts, None, joint_set=COCO17)
    images = sorted({g["image"] for g in gts} | {d["image"] for d in dts})
    dataset = {
        "images": [{"id": i + 1} for i in images],
        "categories": [{"id": 1, "name": "person"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": g["image"] + 1,
                "category_id": 1,
                "keypoints": np.column_stack([np.where(g["labelled"][:, None], g["xy"], 0), g["visibility"]])
                .ravel()
                .tolist(),
                "num_keypoints": int(g["labelled"].sum()),
                "area": g["area"],
                "bbox": [0, 0, 1, 1],
                "iscrowd": 0,
            }
            for k, g in enumerate(gts)
        ],
    }
    results = [
        {
            "image_id": d["image"] + 1,
            "category_id": 1,
            "keypoints": with_confidence(d["xy"]).ravel().tolist(),
            "score": d["score"],
        }
        for d in dts
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), iouType="keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    np.testing.assert_allclose([got["AP"], got["AP50"], got["AP75"], got["AR"]], evaluator.stats[[0, 1, 2, 5]])


def test_frames_by_people_are_matched_within_each_frame():
    rng = np.random.default_rng(7)
    gt = rng.uniform(0, 500, (6, 2, 17, 2))
    gt[:, 1] += 600  # the two people stand far apart
    pred = with_confidence(gt + rng.normal(0, 3, gt.shape), rng.uniform(0.5, 1, gt.shape[:-1]))
    areas = np.full((6, 2), 6000.0)
    swapped = pred[:, ::-1]  # people listed in the other order
    paired = metrics.keypoint_accuracy(pred, gt, joint_set=COCO17, areas=areas)
    shuffled = metrics.keypoint_accuracy(swapped, gt, joint_set=COCO17, areas=areas)
    assert paired["pck_px"] > 0.5 and shuffled["pck_px"] == 0  # PCK pairs by position ...
    assert shuffled["AP"] == pytest.approx(paired["AP"]) and paired["AP"] > 0.5  # ... AP matches within frames
    one_per_instance = metrics.keypoint_accuracy(swapped, gt, joint_set=COCO17, areas=areas, image_ids=np.arange(12))
    assert one_per_instance["AP"] == 0


def test_missing_people_and_unlabelled_instances():
    rng = np.random.default_rng(11)
    gt = rng.uniform(0, 300, (5, 17, 2))
    pred = with_confidence(gt + rng.normal(0, 0.3, gt.shape), 0.9)
    pred[0] = np.nan  # no prediction at all for instance 0: a miss
    gt[4] = np.nan  # nobody labelled in instance 4: left out of every measure
    result = metrics.keypoint_accuracy(pred, gt, joint_set=COCO17, areas=np.full(5, 8000.0))
    assert result["n_instances"] == 4 and result["n_missing"] == 17
    assert result["AR"] == pytest.approx(3 / 4)
    assert result["pck_px"] == pytest.approx(3 / 4)
    assert result["mean_error"] < 2


def test_missing_predicted_joint_scores_zero_even_at_the_origin():
    """pycocotools cannot take NaN: a missing joint must not become a joint at (0, 0), here exactly right."""
    rng = np.random.default_rng(2)
    gt = rng.uniform(0, 50, (1, 17, 2))
    gt[0, 0] = (0, 0)
    pred = with_confidence(gt.copy(), 0.9)
    pred[0, 0, :2] = np.nan
    result = metrics.keypoint_accuracy(pred, gt, joint_set=COCO17, areas=[4000.0])
    assert result["mean_oks"] == pytest.approx(16 / 17)  # 0.941: a match at OKS thresholds .50 to .90
    assert result["AP"] == pytest.approx(0.9) and result["AR"] == pytest.approx(0.9)


def test_nan_boxes_fall_back_to_the_keypoint_extent(two_instances):
    pred, gt, visibility, boxes = two_instances
    boxes[1] = np.nan  # e.g. no tracked box in that frame: instance 1 uses its keypoints' extent, 10 px
    result = metrics.keypoint_accuracy(pred, gt, visibility, boxes=boxes)
    assert result["pck_box"] == pytest.approx(2 / 6)  # threshold 5 for instance 0 (5 and 1 px), 1 px for 1
    assert np.isfinite(result["AP"]) and np.isfinite(result["mean_oks"])


def test_no_ground_truth_gives_nan():
    result = metrics.coco_keypoint_ap(np.empty((0, 17, 2)), [], with_confidence(np.ones((1, 17, 2))), [0])
    assert math.isnan(result["AP"]) and result["n_pred"] == 1
