"""A tiny DeepLabCut sweep through the pipeline (2 backbones x 2 training-set sizes x 2 snapshots), its metrics
checked against an independent computation and against DeepLabCut's own ``evaluate_network``."""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CONFIGS = {"tiny_mobilenet": "mobilenet_v2_1.0", "tiny_efficientnet": "efficientnet_b0"}
SIZES = (8, 16)


@pytest.fixture(scope="module")
def sweep(backend):
    from pose_pipeline.schema import dlc_data, dlc_report, dlc_training

    name = f"tiny_{uuid.uuid4().hex[:6]}"
    dlc_data.create_synthetic_project(name, 40, size=(64, 64), seed=3)
    for config, backbone in CONFIGS.items():
        dlc_data.ModelConfig.insert1({"model_config": config, "backbone": backbone, "batch_size": 4,
                                      "description": "test"}, skip_duplicates=True)  # fmt: skip
    dlc_data.define_sweep(name, name, model_configs=list(CONFIGS), train_sizes=SIZES, seeds=[0], iterations=[16],
                          snapshot_every=8, device="cpu")  # fmt: skip
    saved = dict(dlc_training.BENCHMARK)
    dlc_training.BENCHMARK.update(frames=2, warmup=1)
    try:
        restriction = {"sweep": name}
        for table in (dlc_training.Training, dlc_training.SnapshotEvaluation, dlc_training.InferenceBenchmark,
                      dlc_report.SweepReport):  # fmt: skip
            table.populate(restriction, reserve_jobs=True, suppress_errors=False)
    finally:
        dlc_training.BENCHMARK.clear()
        dlc_training.BENCHMARK.update(saved)
    yield name
    (dlc_data.DLCProject & {"dlc_project": name}).delete(prompt=False)


def test_sweep_members_trained_with_recorded_conversion(sweep):
    from pose_pipeline.schema.dlc_training import Training

    rows = (Training & {"sweep": sweep}).fetch(as_dict=True, order_by="member")
    assert len(rows) == 4
    for row in rows:
        plan = row["plan"]
        assert plan["iterations_per_epoch"] == -(-plan["train_frames"] // 4)  # ceil(frames / batch size)
        assert plan["snapshot_iterations"][-1] >= 16
        assert len(row["learning_curve"]) == row["epochs"]  # one learning_stats.csv row per epoch
        assert row["weight_init"]["source"].startswith("random") and len(row["weight_init"]["sha256"]) == 64
        assert "TimmFeatureBackbone" == row["pytorch_config"]["model"]["backbone"]["type"]
        snapshots = (Training.Snapshot & row).fetch("iterations", order_by="epoch")
        assert list(snapshots) == plan["snapshot_iterations"] and len(snapshots) == 2
    # the test set is the same for every size and member; a smaller training set is inside the larger one
    tests = {tuple(r["test_frames"]) for r in rows}
    assert len(tests) == 1
    by_size = {r["plan"]["train_frames"]: set(r["train_frames"]) for r in rows}
    assert by_size[8] < by_size[16] and not by_size[16] & set(next(iter(tests)))


def test_metrics_equal_an_independent_computation(sweep):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from pose_pipeline.schema.dlc_data import labelled_frames
    from pose_pipeline.schema.dlc_training import SnapshotEvaluation, Training

    key = {
        "sweep": sweep,
        "member": 1,
        "epoch": max((Training.Snapshot & {"sweep": sweep, "member": 1}).fetch("epoch")),
    }
    predictions = (SnapshotEvaluation & key).fetch1("predictions").astype(float)
    frames = labelled_frames(sweep)
    test = (Training & key).fetch1("test_frames")
    truth, pred = frames.keypoints[test], predictions[test]
    d = np.linalg.norm(pred[..., :2] - truth, axis=-1)
    d = d[np.isfinite(d)]
    stored = (SnapshotEvaluation.Split & key & {"split": "test"}).fetch1()
    assert stored["mean_error"] == pytest.approx(d.mean(), rel=1e-5)
    assert stored["rmse"] == pytest.approx(np.sqrt((d**2).mean()), rel=1e-5)
    assert stored["pck"] == pytest.approx((d <= 5).mean())
    assert stored["num_keypoints"] == d.size

    # OKS mAP: pycocotools on COCO dictionaries built here, DeepLabCut's conventions (sigma 0.1, keypoint-extent area)
    images, gts, dts = [], [], []
    for i, (t, p) in enumerate(zip(truth, pred, strict=True)):
        ok = np.isfinite(t).all(axis=1)
        if not ok.any():
            continue
        lo, hi = t[ok].min(axis=0), t[ok].max(axis=0)
        images.append({"id": i})
        gts.append({"id": i + 1, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": int(ok.sum()),
                    "area": float(np.prod(hi - lo)), "bbox": [*lo.tolist(), *(hi - lo).tolist()],
                    "keypoints": np.column_stack([np.nan_to_num(t), 2 * ok]).ravel().tolist()})  # fmt: skip
        dts.append({"image_id": i, "category_id": 1, "score": float(p[:, 2].mean()),
                    "keypoints": np.column_stack([p[:, :2], np.ones(len(p))]).ravel().tolist()})  # fmt: skip
    coco = COCO()
    coco.dataset = {"images": images, "annotations": gts,
                    "categories": [{"id": 1, "name": "animal", "keypoints": list(frames.bodyparts)}]}  # fmt: skip
    coco.createIndex()
    evaluator = COCOeval(coco, coco.loadRes(dts), iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = np.full(len(frames.bodyparts), 0.1)
    evaluator.params.areaRng, evaluator.params.areaRngLbl = [[0, 1e10]], ["all"]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert stored["oks_map"] == pytest.approx(evaluator.stats[0], abs=1e-9)

    per_bodypart = (SnapshotEvaluation.Bodypart & key & {"split": "test"}).to_pandas().reset_index()
    distances = np.linalg.norm(pred[..., :2] - truth, axis=-1)
    for j, name in enumerate(frames.bodyparts):
        row = per_bodypart[per_bodypart.bodypart == name].iloc[0]
        assert row.mean_error == pytest.approx(np.nanmean(distances[:, j]), rel=1e-5)


def test_metrics_equal_deeplabcut_evaluate_network(sweep, tmp_path):
    """The same snapshot evaluated by DeepLabCut on the same frames: its "rmse" is our mean error."""
    import deeplabcut
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader
    from deeplabcut.utils import auxiliaryfunctions

    from pose_pipeline.dlc.project import write_dlc_project
    from pose_pipeline.schema.dlc_data import labelled_frames
    from pose_pipeline.schema.dlc_training import SnapshotEvaluation, Training, fetch_snapshot

    key = {"sweep": sweep, "member": 0, "epoch": 4}
    config, snapshot = fetch_snapshot(key)
    train, test = (Training & key).fetch1("train_frames", "test_frames")
    project = write_dlc_project(labelled_frames(sweep), tmp_path / "project")
    auxiliaryfunctions.edit_config(
        str(project), {"TrainingFraction": [round(len(train) / (len(train) + len(test)), 2)]}
    )
    deeplabcut.create_training_dataset(str(project), Shuffles=[1], trainIndices=[list(map(int, train))],
                                       testIndices=[list(map(int, test))], net_type="resnet_50",
                                       engine=deeplabcut.Engine.PYTORCH, userfeedback=False)  # fmt: skip
    loader = DLCLoader(str(project), shuffle=1, trainset_index=0)
    config["metadata"]["project_path"] = str(project.parent)
    config["metadata"]["pose_config_path"] = str(loader.model_config_path)
    auxiliaryfunctions.write_plainconfig(str(loader.model_config_path), config)
    shutil.copy(snapshot, loader.model_folder / "snapshot-004.pt")
    deeplabcut.evaluate_network(str(project), shuffles=[1], snapshotindex="all", per_keypoint_evaluation=True)
    results = pd.read_csv(next((project.parent / "evaluation-results-pytorch").rglob("*snapshot_4-results.csv")))
    ours = {r["split"]: r for r in (SnapshotEvaluation.Split & key).fetch(as_dict=True)}
    for split in ("train", "test"):
        assert ours[split]["mean_error"] == pytest.approx(results[f"{split} rmse"].iloc[0], abs=0.006)


def test_report_tables_statistics_and_figures(sweep):
    import matplotlib.image

    from pose_pipeline.schema.dlc_report import SweepReport, frame_errors, sweep_results

    report = (SweepReport & {"sweep": sweep}).fetch1()
    table = pd.DataFrame(report["table2"])
    assert set(table.backbone) == set(CONFIGS.values())
    results = sweep_results(sweep)
    largest = results[results.train_size == max(SIZES)]
    for backbone, row in table.set_index("backbone").iterrows():
        assert row["mean_error_mean"] == pytest.approx(largest[largest.backbone == backbone].mean_error.mean())
    comparison = report["backbone_comparison"]
    assert comparison["test"] in ("anova", "kruskal")
    errors = frame_errors(sweep, last_only=True)
    errors = errors[(errors.split == "test") & (errors.train_size == max(SIZES))]
    samples = [g.error.to_numpy() for _, g in errors.groupby("backbone")]
    if comparison["test"] == "kruskal":
        from scipy.stats import kruskal

        assert comparison["statistic"] == pytest.approx(kruskal(*samples).statistic)
    else:
        from scipy.stats import f_oneway

        assert comparison["statistic"] == pytest.approx(f_oneway(*samples).statistic)
    assert len(report["plateaus"]) == len(CONFIGS) * len(SIZES) * 2
    for name in ("heatmap_png", "learning_curves_png"):
        image = matplotlib.image.imread(__import__("io").BytesIO(report[name].tobytes()), format="png")
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_occlusion_and_benchmark_recorded(sweep):
    from pose_pipeline.schema.dlc_training import InferenceBenchmark, SnapshotEvaluation

    occlusion = (SnapshotEvaluation.Occlusion & {"sweep": sweep}).to_pandas()
    assert len(occlusion) == 8 and occlusion.score.between(1, 5).all() and (occlusion.num_occluded > 0).all()
    assert np.allclose(occlusion.degradation, occlusion.error_occluded / occlusion.error_unoccluded)
    bench = (InferenceBenchmark & {"sweep": sweep}).to_pandas()
    assert len(bench) == 4 and (bench.fps > 0).all() and (bench.width == 1280).all() and (bench.height == 720).all()
    assert (bench.device == "cpu").all() and (bench.peak_memory_mb > 0).all()


def test_best_snapshot_runs_as_a_2d_method(sweep):
    from pose_pipeline.schema.dlc_models import DLCModel, best_snapshot, register_best
    from pose_pipeline.schema.dlc_training import SnapshotEvaluation
    from pose_pipeline.stages import TOP_DOWN

    best = best_snapshot(sweep, "mean_error", "test")
    errors = (SnapshotEvaluation.Split & {"sweep": sweep, "split": "test"}).fetch("mean_error")
    assert (SnapshotEvaluation.Split & best & {"split": "test"}).fetch1("mean_error") == pytest.approx(min(errors))
    name = f"{sweep}_best"
    register_best(sweep, name)
    try:
        estimator = TOP_DOWN.build("dlc", {"model": name, "device": "cpu"})
        from pose_pipeline.schema.dlc_data import labelled_frames

        frames = labelled_frames(sweep)
        image = frames.load(0)
        out = estimator([image], [np.array([[0.0, 0.0, image.shape[1], image.shape[0]]])])
        assert out[0].shape == (1, len(frames.bodyparts), 3) and estimator.joint_set == f"DLC:{name}"
    finally:
        (DLCModel & {"dlc_model": name}).delete(prompt=False)
