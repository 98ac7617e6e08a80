"""Benchmark: DeepLabCut training through the pipeline (``Training.populate``) against DeepLabCut's own
``train_network`` for the same configuration, in the same run.

    python -m benchmarks.bench_dlc_training [--frames 60 --size 96 --iterations 150 --repeats 2 ...]

- pipeline: a one-member sweep, ``Training.populate(reserve_jobs=True)`` timed from call to return: fetching the
  frames from the database, writing the DeepLabCut project, ``create_training_dataset``, the weight-init file,
  ``train_network``, and storing the learning curve and the snapshots in the derived store;
- bare DeepLabCut: the same frames written as a DeepLabCut project, ``create_training_dataset`` with the same train
  and test frames and net type, the same ``pytorch_config.yaml`` (`pose_config`, `make_weight_init_file`, the same
  seed) and the same brightness/contrast augmentation; only ``deeplabcut.train_network`` is timed.

The two alternate (bare, pipeline, bare, pipeline, ...) after an untimed warm-up of each, so both see the same
load. Target: pipeline / bare <= 1.1 in wall time. The verdict is the median of the paired ratios (each pipeline run
over the bare run just before it, under the same load): on a shared machine one lucky run can move the ratio of the
minima by 10 %. The ratios of the minima, of the medians and of CPU time (this process, all threads: less
sensitive to other work on the machine) are printed too, with the pipeline's overhead step by step. The final losses and learning curves of both are compared: with the same seed
they train the same thing (on the CPU, bit for bit).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
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
from benchmarks.embedded import use_embedded_database

TARGET = 1.1
PROJECT, CONFIG, DEVICE = "bench_reach", "bench_config", "cpu"


def training_parser(description: str, size: int, iterations: int) -> argparse.ArgumentParser:
    """The options the DeepLabCut benchmarks share: the synthetic project, the training run and the repeats."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="synthetic reaching frames (default 60)")
    parser.add_argument("--size", type=int, default=size, help=f"image width and height, pixels (default {size})")
    parser.add_argument("--iterations", type=int, default=iterations,
                        help=f"training budget, iterations (default {iterations})")  # fmt: skip
    parser.add_argument("--snapshot-every", type=int, default=None, help="iterations (default: iterations / 2)")
    parser.add_argument("--train-size", type=int, default=None, help="training frames (default: all but the test)")
    parser.add_argument("--backbone", default="mobilenet_v2_1.0", help="pose_pipeline.dlc.backbones name")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each, alternating (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile one more pipeline run and print its top")
    parser.add_argument("--verbose", action="store_true", help="show DeepLabCut's output")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = training_parser(__doc__, size=96, iterations=100)
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up of both")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ setup


def setup(home: Path, args) -> None:
    """The embedded database in ``home``, a synthetic reaching project and one model configuration."""
    use_embedded_database(home, "bench_dlc_training")

    from pose_pipeline import schema
    from pose_pipeline.schema.dlc_data import ModelConfig, create_synthetic_project

    schema.activate()
    create_synthetic_project(PROJECT, args.frames, size=(args.size, args.size), seed=args.seed)
    ModelConfig.insert1({"model_config": CONFIG, "backbone": args.backbone, "batch_size": args.batch_size,
                         "description": "bench_dlc_training"})  # fmt: skip


def member_plan(args, name: str, iterations: int, snapshot_every: int) -> dict:
    """Define a one-member sweep ``name`` and return its key."""
    from pose_pipeline.schema.dlc_data import define_sweep

    n_test = max(1, round(args.frames * 0.1))
    train_size = args.train_size or args.frames - n_test
    define_sweep(name, PROJECT, model_configs=[CONFIG], train_sizes=[train_size], seeds=[args.seed],
                 iterations=[iterations], snapshot_every=snapshot_every, device=DEVICE,
                 description="bench_dlc_training")  # fmt: skip
    return {"sweep": name, "member": 0}


# ------------------------------------------------------------------------------------------------ the two sides


class Bare:
    """DeepLabCut's own training of a sweep member's configuration, outside the pipeline."""

    def __init__(self, key: dict, root: Path):
        from pose_pipeline.dlc.training import TrainingPlan, TrainingSettings
        from pose_pipeline.schema.dlc_data import Sweep, labelled_frames, member_settings, split_frames

        member = (Sweep.Member * Sweep & key).fetch1()
        self.settings = TrainingSettings(**member_settings(key))
        self.train, self.test = split_frames(member["dlc_project"], member["split_seed"], member["train_size"])
        self.plan = TrainingPlan(iterations=member["iterations"], snapshot_every=member["snapshot_every"],
                                 train_frames=len(self.train), batch_size=self.settings.batch_size)  # fmt: skip
        self.seed = int(member["split_seed"])
        self.frames = labelled_frames(member["dlc_project"])
        self.root = root

    def prepare(self, workdir: Path):
        """The same project, shuffle and pytorch_config as `pose_pipeline.dlc.training.train_model` writes."""
        import deeplabcut
        from deeplabcut.pose_estimation_pytorch.data import DLCLoader
        from deeplabcut.utils import auxiliaryfunctions

        from pose_pipeline.dlc.backbones import get_backbone, make_weight_init_file
        from pose_pipeline.dlc.project import write_dlc_project
        from pose_pipeline.dlc.training import pose_config

        config = write_dlc_project(self.frames, workdir)
        train, test = [int(i) for i in self.train], [int(i) for i in self.test]
        auxiliaryfunctions.edit_config(str(config), {"TrainingFraction": [round(len(train) / (len(train) + len(test)),
                                                                                2)]})  # fmt: skip
        deeplabcut.create_training_dataset(
            str(config), Shuffles=[1], trainIndices=[train], testIndices=[test],
            net_type=get_backbone(self.settings.backbone).net_type, engine=deeplabcut.Engine.PYTORCH,
            userfeedback=False,
        )  # fmt: skip
        loader = DLCLoader(str(config), shuffle=1, trainset_index=0)
        assert sorted(loader.split["train"]) == sorted(train) and sorted(loader.split["test"]) == sorted(test)
        image_size = self.frames.load(0).shape[1::-1]  # (width, height): the synthetic frames all have one size
        cfg = pose_config(auxiliaryfunctions.read_plainconfig(str(loader.model_config_path)), self.settings,
                          self.plan, self.seed, image_size)  # fmt: skip
        init = make_weight_init_file(cfg, workdir / "weight_init.pt", self.seed)
        cfg["train_settings"]["weight_init"] = init["weight_init"]
        cfg["device"] = DEVICE
        auxiliaryfunctions.write_plainconfig(str(loader.model_config_path), cfg)
        return config, Path(loader.model_folder), cfg, init

    def run(self, quiet: bool) -> dict:
        """Prepare (untimed), then time ``deeplabcut.train_network`` alone."""
        import deeplabcut
        import pandas as pd

        from pose_pipeline.dlc.augment import brightness_contrast

        workdir = Path(tempfile.mkdtemp(prefix="bare_", dir=self.root))
        try:
            config, model_folder, cfg, init = self.prepare(workdir)
            with brightness_contrast(self.settings.contrast, self.settings.augment_p), silenced(quiet):
                start, cpu = time.perf_counter(), time.process_time()
                deeplabcut.train_network(str(config), shuffle=1, device=DEVICE, epochs=self.plan.epochs,
                                         batch_size=self.settings.batch_size,
                                         save_epochs=self.plan.save_epochs)  # fmt: skip
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            curve = jsonable(pd.read_csv(model_folder / "learning_stats.csv").to_dict("records"))
            snapshots = sorted(p.name for p in model_folder.glob("snapshot-*.pt"))
            return {"seconds": seconds, "cpu": cpu, "curve": curve, "config": cfg, "init_sha256": init["sha256"],
                    "snapshots": snapshots}  # fmt: skip
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class Stopwatch:
    """Wall time spent in named functions of the pipeline's modules while it is entered (wrappers cost ~1 us)."""

    def __init__(self):
        import deeplabcut

        from pose_pipeline.dlc import training
        from pose_pipeline.schema import dlc_training

        self.targets = [
            (dlc_training, "labelled_frames", "fetch frames from the database"),
            (dlc_training, "split_frames", "fetch the split"),
            (training, "write_dlc_project", "write the DeepLabCut project"),
            (deeplabcut, "create_training_dataset", "create_training_dataset"),
            (training, "pose_config", "pose_config"),
            (training, "make_weight_init_file", "weight init file"),
            (deeplabcut, "train_network", "train_network"),
            (training, "collect_run", "read learning_stats and snapshots"),
            (dlc_training, "file_sha256", "sha256 of snapshots"),
            (dlc_training, "insert_with_file", "store snapshots (derived store)"),
        ]
        self.seconds = {label: 0.0 for *_, label in self.targets}
        self.cpu = {label: 0.0 for *_, label in self.targets}

    def __enter__(self):
        self.originals = [(module, name, getattr(module, name)) for module, name, _ in self.targets]
        for (module, name, label), (_, _, original) in zip(self.targets, self.originals, strict=True):
            setattr(module, name, self._timed(original, label))
        return self

    def _timed(self, function, label):
        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.cpu[label] += time.process_time() - cpu

        return timed

    def __exit__(self, *exc):
        for module, name, original in self.originals:
            setattr(module, name, original)
        return False


def run_pipeline(key: dict, quiet: bool, profile: cProfile.Profile | None = None) -> dict:
    """Time ``Training.populate`` of one member; return its time, the row's train_network time and a breakdown."""
    from pose_pipeline.schema.dlc_training import Training

    with Stopwatch() as watch, silenced(quiet):
        if profile is not None:
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        result = Training.populate(key, reserve_jobs=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profile is not None:
            profile.disable()
    if result["success_count"] != 1:
        raise RuntimeError(f"Training.populate failed: {result}")
    row = (Training & key).fetch1()
    return {"seconds": seconds, "cpu": cpu, "train_cpu": watch.cpu["train_network"], "train_seconds": row["seconds"], "curve": row["learning_curve"],
            "config": row["pytorch_config"], "init_sha256": row["weight_init"]["sha256"],
            "snapshots": len(Training.Snapshot & key), "breakdown": dict(watch.seconds)}  # fmt: skip


@contextlib.contextmanager
def silenced(quiet: bool):
    """DeepLabCut's per-epoch logging to stdout/stderr, hidden unless --verbose (its train.txt log stays)."""
    if not quiet:
        yield
        return
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


# ------------------------------------------------------------------------------------------------ reporting


def jsonable(records: list[dict]) -> list[dict]:
    """learning_stats rows as the pipeline stores them (JSON: NaN as None, numpy scalars as Python numbers)."""
    import math

    def plain(value):
        value = value.item() if hasattr(value, "item") else value
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return [{str(k): plain(v) for k, v in row.items()} for row in records]


def final_loss(curve: list[dict]) -> tuple[str, float]:
    """(column, value) of the training loss in the last row of a learning_stats.csv."""
    last = curve[-1]
    column = next((c for c in last if "loss" in c and "total" in c and "train" in c),
                  next(c for c in last if "loss" in c))  # fmt: skip
    return column, float(last[column])


def config_differences(bare: dict, pipeline: dict, ignore=("path", "project")) -> list[str]:
    """Keys whose values differ between two pytorch_configs, leaving out paths of the two working directories."""

    def flat(value, prefix=""):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from flat(v, f"{prefix}.{k}" if prefix else str(k))
        else:
            yield prefix, value

    import json

    a = {k: json.dumps(v, default=str) for k, v in flat(json.loads(json.dumps(bare, default=str)))}
    b = {k: json.dumps(v, default=str) for k, v in flat(pipeline)}
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k) and not any(word in k.lower() for word in ignore)]


def summary(times: list[float]) -> tuple[float, float]:
    return min(times), statistics.median(times)


def main(argv=None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="pose_bench_dlc_training_"))
    # atexit handlers run last-in first-out: registered before the embedded server's own, this one runs after the
    # server has stopped
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    started = time.perf_counter()
    setup(home, args)
    from pose_pipeline import schema
    from pose_pipeline.dlc.engine import require_deeplabcut

    require_deeplabcut()
    quiet = not args.verbose
    snapshot_every = args.snapshot_every or max(1, args.iterations // 2)
    try:
        keys = [member_plan(args, f"bench_{r}", args.iterations, snapshot_every) for r in range(args.repeats)]
        bare = Bare(keys[0], home)
        plan = bare.plan
        print(f"DeepLabCut training, {args.backbone}, {len(bare.train)} training + {len(bare.test)} test frames of "
              f"{args.size}x{args.size}, batch {args.batch_size}, {args.iterations} iterations -> {plan.epochs} "
              f"epochs of {plan.iterations_per_epoch} (snapshot every {plan.save_epochs}), {DEVICE}, "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")  # fmt: skip

        if not args.no_warmup:  # one epoch of each, untimed: imports and first-call costs out of the timed runs
            start = time.perf_counter()
            warm_key = member_plan(args, "bench_warmup", plan.iterations_per_epoch, plan.iterations_per_epoch)
            Bare(warm_key, home).run(quiet)
            run_pipeline(warm_key, quiet)
            print(f"  warm-up (one epoch of each, untimed): {time.perf_counter() - start:.1f} s")

        runs = {"bare": [], "pipeline": []}
        for r, key in enumerate(keys):
            runs["bare"].append(bare.run(quiet))
            runs["pipeline"].append(run_pipeline(key, quiet))
            print(f"  repeat {r + 1}: bare train_network {runs['bare'][-1]['seconds']:7.2f} s, "
                  f"pipeline populate {runs['pipeline'][-1]['seconds']:7.2f} s")  # fmt: skip

        profile = None
        if args.profile:
            profile = cProfile.Profile()
            run_pipeline(member_plan(args, "bench_profile", args.iterations, snapshot_every), quiet, profile)
        return report(args, plan, runs, profile, time.perf_counter() - started)
    finally:
        schema.deactivate(drop=True)
        for path in home.glob("bare_*"):
            shutil.rmtree(path, ignore_errors=True)


def report(args, plan, runs: dict, profile, total: float) -> int:
    bare, pipeline = runs["bare"], runs["pipeline"]

    def median(values) -> float:
        return statistics.median(list(values))

    rows = {
        "bare DeepLabCut train_network": ([r["seconds"] for r in bare], [r["cpu"] for r in bare]),
        "pipeline Training.populate": ([r["seconds"] for r in pipeline], [r["cpu"] for r in pipeline]),
        "  of which train_network": ([r["breakdown"]["train_network"] for r in pipeline],
                                     [r["train_cpu"] for r in pipeline]),
    }  # fmt: skip
    print(f"\n  {len(bare)} runs each{'':20s} {'wall min':>9s} {'median':>9s} {'CPU min':>9s} {'median':>9s}")
    for label, (wall, cpu) in rows.items():
        print(f"  {label:38s} {min(wall):8.2f}s {median(wall):8.2f}s {min(cpu):8.2f}s {median(cpu):8.2f}s")
    bare_wall, bare_cpu = rows["bare DeepLabCut train_network"]
    pipe_wall, pipe_cpu = rows["pipeline Training.populate"]
    ratios = (min(pipe_wall) / min(bare_wall), median(pipe_wall) / median(bare_wall), min(pipe_cpu) / min(bare_cpu),
              median(pipe_cpu) / median(bare_cpu))  # fmt: skip
    print(f"  {'pipeline / bare':38s} {ratios[0]:8.3f}x {ratios[1]:8.3f}x {ratios[2]:8.3f}x {ratios[3]:8.3f}x")
    print("  (CPU: this process's time, all threads; the embedded database server's few ms are not in it)")
    paired = [p / b for p, b in zip(pipe_wall, bare_wall, strict=True)]
    print(f"  {'paired, per repeat':38s} {', '.join(f'{r:.3f}x' for r in paired)}  (median {median(paired):.3f}x)")
    noise = max(bare_wall) / min(bare_wall) - 1
    print(f"  load noise: identical bare runs differ by {noise:.1%} in wall time")

    overheads = [r["seconds"] - r["train_seconds"] for r in pipeline]
    print(f"\n  pipeline overhead, populate - Training.seconds: min {min(overheads):.3f} s, median "
          f"{median(overheads):.3f} s = {median(overheads) / min(bare_wall):.2%} of the fastest bare training")  # fmt: skip
    print("  by step (wall seconds, median over the timed runs):")
    for label in pipeline[0]["breakdown"]:
        if label != "train_network":
            print(f"    {label:48s} {median(r['breakdown'][label] for r in pipeline):7.3f}")
    rest = median(r["seconds"] - r["train_seconds"] - sum(v for k, v in r["breakdown"].items()
                                                        if k != "train_network") for r in pipeline)  # fmt: skip
    print(f"    {'rest of populate (job table, fetches, inserts)':48s} {rest:7.3f}")
    wrap = median(r["train_seconds"] - r["breakdown"]["train_network"] for r in pipeline)
    print(f"    {'brightness_contrast + PeakMemory enter/exit':48s} {wrap:7.3f}")
    inside = median(r["train_cpu"] for r in pipeline) - median(bare_cpu)
    print(f"    {'train_network CPU, pipeline - bare':48s} {inside:7.3f}  (PeakMemory's 5 ms sampler thread + noise)")
    estimate = (min(bare_wall) + median(overheads)) / min(bare_wall)
    print(f"  ratio from the fixed overhead alone (1 + overhead / fastest bare): {estimate:.3f}x")

    column, bare_loss = final_loss(bare[0]["curve"])
    losses = {"bare": [final_loss(run["curve"])[1] for run in runs["bare"]],
              "pipeline": [final_loss(run["curve"])[1] for run in runs["pipeline"]]}  # fmt: skip
    all_losses = losses["bare"] + losses["pipeline"]
    spread = max(all_losses) - min(all_losses)
    identical = spread == 0
    curves_equal = all(run["curve"] == runs["bare"][0]["curve"] for side in runs.values() for run in side)
    print(f"\n  final {column} after epoch {len(runs['bare'][0]['curve'])}:")
    print(f"    bare     : {', '.join(f'{v:.6g}' for v in losses['bare'])}")
    print(f"    pipeline : {', '.join(f'{v:.6g}' for v in losses['pipeline'])}")
    verdict = ("identical in every run (bit for bit)" if identical else
               f"differ by at most {spread:.3g} ({spread / max(abs(bare_loss), 1e-12):.2%} of the bare loss)")  # fmt: skip
    print(f"    -> {verdict}; whole learning curves equal: {'yes' if curves_equal else 'no'}")
    inits = {run["init_sha256"] for side in runs.values() for run in side}
    print(f"    initial weights (weight_init.pt sha256): {'the same' if len(inits) == 1 else 'DIFFERENT'} in all runs")
    differences = config_differences(runs["bare"][0]["config"], runs["pipeline"][0]["config"])
    print(f"    pytorch_config differences besides paths: {differences or 'none'}")
    print(f"    snapshots: bare {len(runs['bare'][0]['snapshots'])} files, pipeline {runs['pipeline'][0]['snapshots']} "
          f"rows (expected epochs {plan.snapshot_epochs()})")  # fmt: skip

    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
        print("\n  cProfile of one more pipeline populate (cumulative, top 40):")
        print(out.getvalue())

    passed = median(paired) <= TARGET
    print(f"\n{'PASS' if passed else 'FAIL'}: pipeline Training.populate / bare train_network = {median(paired):.3f}x "
          f"(median of {len(paired)} paired runs; minima {ratios[0]:.3f}x, medians {ratios[1]:.3f}x, CPU "
          f"{ratios[3]:.3f}x); target <= {TARGET}x  [benchmark took {total:.0f} s]")  # fmt: skip
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
