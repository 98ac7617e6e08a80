"""Benchmark: per-snapshot evaluation through the pipeline (``SnapshotEvaluation.populate``, occlusion pass included)
against DeepLabCut's own ``evaluate_network`` on the same snapshots, in the same run.

    python -m benchmarks.bench_dlc_evaluation [--frames 60 --size 256 --iterations 16 --repeats 3 --profile]

- pipeline: ``SnapshotEvaluation.populate`` of one trained member's snapshots, timed from call to return: fetching
  the snapshot and the frames from the database, inference on every frame, the metrics of both splits, per
  bodypart, the occlusion pass on the test frames, and the inserts;
- bare DeepLabCut: the same frames written as a DeepLabCut project with the same train and test frames, the same
  ``pytorch_config.yaml`` and the same snapshot files; ``deeplabcut.evaluate_network(snapshotindex="all")`` is
  timed (it loads the images from disk, predicts, scores both splits and writes its result files).

The two alternate (bare, pipeline, ...) after an untimed warm-up of each. The verdict is the median of the paired
ratios; target pipeline / bare <= 1.5. Both sides run DeepLabCut's ``InferenceRunner.inference`` (preprocessing,
model, decoding); its time is measured on each side, so the rest of each (what a GPU leaves when the model costs
little) is compared too.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.bench_dlc_training import DEVICE, Bare, member_plan, setup, silenced, training_parser

TARGET = 1.5


def parse_args(argv=None) -> argparse.Namespace:
    parser = training_parser(__doc__, size=256, iterations=16)
    parser.add_argument("--eval-batch", type=int, default=None,
                        help="force SnapshotEvaluation's batch size (default: dlc_training.evaluation_batch_size)")  # fmt: skip
    return parser.parse_args(argv)


class InferenceTimer:
    """Wall time spent in DeepLabCut's ``InferenceRunner.inference`` (both sides call it) while entered."""

    def __enter__(self):
        from deeplabcut.pose_estimation_pytorch.runners.inference import InferenceRunner

        self.seconds, self.original = 0.0, InferenceRunner.inference
        timer = self

        def timed(runner, *args, **kwargs):
            start = time.perf_counter()
            try:
                return timer.original(runner, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        InferenceRunner.inference = timed
        return self

    def __exit__(self, *exc):
        from deeplabcut.pose_estimation_pytorch.runners.inference import InferenceRunner

        InferenceRunner.inference = self.original
        return False


class BareEvaluation:
    """A DeepLabCut project holding the member's split, pytorch_config and stored snapshots, for evaluate_network."""

    def __init__(self, key: dict, root: Path):
        from deeplabcut.utils import auxiliaryfunctions

        from pose_pipeline.schema.dlc_training import Training, fetch_snapshot

        self.workdir = Path(tempfile.mkdtemp(prefix="bare_eval_", dir=root))
        bare = Bare(key, root)
        self.config, model_folder, _, _ = bare.prepare(self.workdir)
        epochs = sorted((Training.Snapshot & key).fetch("epoch"))
        for epoch in epochs:
            pytorch_config, snapshot = fetch_snapshot({**key, "epoch": epoch})
            shutil.copy(snapshot, model_folder / f"snapshot-{epoch:03d}.pt")
        pytorch_config["metadata"]["project_path"] = str(self.config.parent)
        pytorch_config["metadata"]["pose_config_path"] = str(model_folder / "pytorch_config.yaml")
        pytorch_config["device"] = DEVICE
        auxiliaryfunctions.write_plainconfig(str(model_folder / "pytorch_config.yaml"), pytorch_config)
        self.snapshots = len(epochs)

    def run(self, quiet: bool) -> dict:
        import deeplabcut

        shutil.rmtree(self.config.parent / "evaluation-results-pytorch", ignore_errors=True)
        with silenced(quiet), InferenceTimer() as inference:
            start, cpu = time.perf_counter(), time.process_time()
            deeplabcut.evaluate_network(str(self.config), shuffles=[1], snapshotindex="all", device=DEVICE)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"seconds": seconds, "cpu": cpu, "inference": inference.seconds}


def run_pipeline(key: dict, quiet: bool, profile: cProfile.Profile | None = None) -> dict:
    from pose_pipeline.schema.dlc_training import SnapshotEvaluation

    (SnapshotEvaluation & key).delete(prompt=False)
    with silenced(quiet), InferenceTimer() as inference:
        if profile is not None:
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        result = SnapshotEvaluation.populate(key, reserve_jobs=True, suppress_errors=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profile is not None:
            profile.disable()
    return {"seconds": seconds, "cpu": cpu, "inference": inference.seconds, "rows": result["success_count"]}


def main(argv=None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="pose_bench_dlc_evaluation_"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    started = time.perf_counter()
    setup(home, args)
    from pose_pipeline import schema
    from pose_pipeline.dlc.engine import require_deeplabcut
    from pose_pipeline.schema.dlc_training import SnapshotEvaluation, Training

    require_deeplabcut()
    if args.eval_batch:
        from pose_pipeline.schema import dlc_training

        dlc_training.evaluation_batch_size = lambda device, shape: args.eval_batch
    quiet = not args.verbose
    snapshot_every = args.snapshot_every or max(1, args.iterations // 2)
    try:
        key = member_plan(args, "bench_eval", args.iterations, snapshot_every)
        with silenced(quiet):
            Training.populate(key, reserve_jobs=True, suppress_errors=False)
        bare = BareEvaluation(key, home)
        n_test = len((Training & key).fetch1("test_frames"))
        from pose_pipeline.schema import dlc_training

        batch = dlc_training.evaluation_batch_size(DEVICE, (args.size, args.size))
        print(f"Snapshot evaluation, {args.backbone}, {args.frames} frames ({n_test} test) of {args.size}x{args.size}, "
              f"{bare.snapshots} snapshots, {DEVICE}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
              f"pipeline batch {batch} (evaluate_network: 1)")  # fmt: skip
        bare.run(quiet)  # warm-up of each, untimed
        run_pipeline(key, quiet)
        runs = {"bare": [], "pipeline": []}
        for r in range(args.repeats):
            runs["bare"].append(bare.run(quiet))
            runs["pipeline"].append(run_pipeline(key, quiet))
            print(f"  repeat {r + 1}: bare evaluate_network {runs['bare'][-1]['seconds']:7.2f} s, "
                  f"pipeline SnapshotEvaluation.populate {runs['pipeline'][-1]['seconds']:7.2f} s")  # fmt: skip
        assert runs["pipeline"][-1]["rows"] == bare.snapshots, runs["pipeline"][-1]
        stored = (SnapshotEvaluation & key).fetch("seconds")
        profile = None
        if args.profile:
            profile = cProfile.Profile()
            run_pipeline(key, quiet, profile)
        paired = [p["seconds"] / b["seconds"] for p, b in zip(runs["pipeline"], runs["bare"], strict=True)]
        cpu = [p["cpu"] / b["cpu"] for p, b in zip(runs["pipeline"], runs["bare"], strict=True)]
        median = statistics.median
        print(f"\n  {'median of ' + str(args.repeats) + ' runs':32s} {'total':>8s} {'inference':>10s} {'the rest':>9s}")
        for label, side in (("bare evaluate_network", "bare"), ("SnapshotEvaluation.populate", "pipeline")):
            total, infer = median(r["seconds"] for r in runs[side]), median(r["inference"] for r in runs[side])
            rest = median(r["seconds"] - r["inference"] for r in runs[side])
            print(f"  {label:32s} {total:7.2f}s {infer:9.2f}s {rest:8.2f}s")
        rest_ratio = median(p["seconds"] - p["inference"] for p in runs["pipeline"]) / median(
            b["seconds"] - b["inference"] for b in runs["bare"]
        )
        print(f"  make's own timer, per snapshot: {', '.join(f'{s:.2f}' for s in stored)} s")
        print(f"  paired ratios {', '.join(f'{r:.3f}x' for r in paired)}; CPU {', '.join(f'{r:.3f}x' for r in cpu)}; "
              f"outside inference {rest_ratio:.3f}x")  # fmt: skip
        if profile is not None:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
            print("\n  cProfile of one more pipeline populate (cumulative, top 45; own time, top 25):")
            print(out.getvalue())
        ratio = statistics.median(paired)
        passed = ratio <= TARGET
        print(f"\n{'PASS' if passed else 'FAIL'}: SnapshotEvaluation.populate / evaluate_network = {ratio:.3f}x (median "
              f"of {len(paired)} paired runs; CPU {statistics.median(cpu):.3f}x); target <= {TARGET}x  "
              f"[benchmark took {time.perf_counter() - started:.0f} s]")  # fmt: skip
        return 0 if passed else 1
    finally:
        schema.deactivate(drop=True)


if __name__ == "__main__":
    sys.exit(main())
