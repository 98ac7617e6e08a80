"""Train one DeepLabCut model on given train and test frames, with iteration budgets converted to DLC epochs.

DeepLabCut 3 counts training in epochs; the studies count iterations (one batch each). An epoch is
``ceil(train frames / batch size)`` iterations (DeepLabCut's DataLoader keeps the last, smaller batch), so a budget
of I iterations becomes ``ceil(I / per_epoch)`` epochs and a snapshot every K iterations becomes one every
``round(K / per_epoch)`` epochs (at least 1). `TrainingPlan` records the conversion and the iterations actually
trained at each snapshot.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .augment import brightness_contrast
from .backbones import apply_backbone, get_backbone, make_weight_init_file
from .engine import PeakMemory, require_deeplabcut, resolve_device
from .project import LabelledFrames, write_dlc_project


@dataclass(frozen=True)
class TrainingSettings:
    """Everything about one training besides the data and the budget (a model configuration)."""

    backbone: str
    rotation: float = 15.0  # degrees, uniform in +-rotation
    contrast: float = 0.2  # RandomBrightnessContrast limit (0.2: +-20 %)
    translation: float = 5.0  # pixels, +-translation
    augment_p: float = 0.5  # probability of the affine and contrast augmentations
    optimizer: str = "AdamW"
    learning_rate: float = 5e-4
    batch_size: int = 8
    input_size: tuple[int, int] | None = None  # training crop (width, height); None: the largest image


@dataclass(frozen=True)
class TrainingPlan:
    """An iteration budget as DeepLabCut epochs (see the module docstring)."""

    iterations: int
    snapshot_every: int
    train_frames: int
    batch_size: int
    iterations_per_epoch: int = field(init=False)
    epochs: int = field(init=False)
    save_epochs: int = field(init=False)

    def __post_init__(self):
        if min(self.iterations, self.snapshot_every, self.train_frames, self.batch_size) < 1:
            raise ValueError(f"iterations, snapshot_every, train_frames and batch_size must be >= 1: {self}")
        per_epoch = math.ceil(self.train_frames / self.batch_size)
        object.__setattr__(self, "iterations_per_epoch", per_epoch)
        object.__setattr__(self, "epochs", math.ceil(self.iterations / per_epoch))
        object.__setattr__(self, "save_epochs", max(1, round(self.snapshot_every / per_epoch)))

    def snapshot_epochs(self) -> list[int]:
        """Epochs after which DeepLabCut saves a snapshot (every ``save_epochs``, and the last)."""
        epochs = list(range(self.save_epochs, self.epochs + 1, self.save_epochs))
        return epochs if epochs and epochs[-1] == self.epochs else [*epochs, self.epochs]

    def to_dict(self) -> dict:
        return {**asdict(self), "snapshot_epochs": self.snapshot_epochs(),
                "snapshot_iterations": [e * self.iterations_per_epoch for e in self.snapshot_epochs()]}  # fmt: skip


@dataclass
class TrainingRun:
    """What one training produced: snapshot files by epoch, the learning curve and its cost."""

    config_path: Path
    model_folder: Path
    snapshots: dict[int, Path]  # epoch -> snapshot file
    learning_stats: object  # pandas DataFrame of learning_stats.csv (one row per epoch)
    pytorch_config: dict
    weight_init: dict
    device: str
    seconds: float
    peak_memory_mb: float


def pose_config(model_cfg: dict, settings: TrainingSettings, plan: TrainingPlan, seed: int, image_size) -> dict:
    """The DeepLabCut ``pytorch_config.yaml`` for one training: backbone, augmentation, optimiser, schedule."""
    cfg = apply_backbone(model_cfg, get_backbone(settings.backbone))
    width, height = settings.input_size or image_size
    train = cfg["data"]["train"]
    train["affine"] = {"p": settings.augment_p, "rotation": settings.rotation, "scaling": [1.0, 1.0],
                       "translation": settings.translation}  # fmt: skip
    train["crop_sampling"] = {"width": int(width), "height": int(height), "max_shift": 0.1, "method": "hybrid"}
    train["motion_blur"] = False
    train["gaussian_noise"] = False
    runner = cfg["runner"]
    runner["optimizer"] = {"type": settings.optimizer, "params": {"lr": settings.learning_rate}}
    # DeepLabCut's default schedule divides the rate by 10 at 45 % and again at 60 % of its 200 epochs; keep the
    # proportions for any budget
    milestones = sorted({max(1, round(plan.epochs * 0.45)), max(2, round(plan.epochs * 0.6))})
    lrs = [[settings.learning_rate / 10], [settings.learning_rate / 100]][: len(milestones)]
    runner["scheduler"] = {"type": "LRListScheduler", "params": {"lr_list": lrs, "milestones": milestones}}
    runner["eval_interval"] = plan.epochs + 1  # we evaluate snapshots ourselves; no evaluation while training
    runner["snapshots"] = {"max_snapshots": len(plan.snapshot_epochs()) + 1, "save_epochs": plan.save_epochs,
                           "save_optimizer_state": False}  # fmt: skip
    cfg["train_settings"].update(batch_size=settings.batch_size, epochs=plan.epochs, seed=seed, display_iters=10**9,
                                 dataloader_workers=0)  # fmt: skip
    return cfg


def train_model(
    frames: LabelledFrames,
    workdir,
    *,
    train_indices,
    test_indices,
    settings: TrainingSettings,
    plan: TrainingPlan,
    seed: int,
    device: str = "auto",
    imagenet_file=None,
) -> TrainingRun:
    """Write ``frames`` as a DeepLabCut project in ``workdir``, make shuffle 1 with exactly these train and test
    frames, and train it with DeepLabCut's ``train_network``."""
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader
    from deeplabcut.utils import auxiliaryfunctions

    deeplabcut = require_deeplabcut()
    train_indices, test_indices = [int(i) for i in train_indices], [int(i) for i in test_indices]
    if len(train_indices) != plan.train_frames:
        raise ValueError(f"the plan is for {plan.train_frames} training frames; got {len(train_indices)}")
    device = resolve_device(device)
    workdir = Path(workdir)
    config = write_dlc_project(frames, workdir)
    fraction = round(len(train_indices) / (len(train_indices) + len(test_indices)), 2)
    auxiliaryfunctions.edit_config(str(config), {"TrainingFraction": [fraction]})
    spec = get_backbone(settings.backbone)
    deeplabcut.create_training_dataset(
        str(config), Shuffles=[1], trainIndices=[train_indices], testIndices=[test_indices], net_type=spec.net_type,
        engine=deeplabcut.Engine.PYTORCH, userfeedback=False,
    )  # fmt: skip
    loader = DLCLoader(str(config), shuffle=1, trainset_index=0)
    if sorted(loader.split["train"]) != sorted(train_indices) or sorted(loader.split["test"]) != sorted(test_indices):
        raise RuntimeError(f"DeepLabCut made a different split than asked in {loader.model_folder}")

    shapes = [image.shape[:2] for image in frames.images()]
    image_size = max(w for _, w in shapes), max(h for h, _ in shapes)
    cfg = pose_config(auxiliaryfunctions.read_plainconfig(str(loader.model_config_path)), settings, plan, seed,
                      image_size)  # fmt: skip
    init = make_weight_init_file(cfg, workdir / "weight_init.pt", seed, imagenet_file)
    cfg["train_settings"]["weight_init"] = init["weight_init"]
    cfg["device"] = device
    auxiliaryfunctions.write_plainconfig(str(loader.model_config_path), cfg)

    started = time.perf_counter()
    with brightness_contrast(settings.contrast, settings.augment_p), PeakMemory(device) as memory:
        deeplabcut.train_network(str(config), shuffle=1, device=device, epochs=plan.epochs,
                                 batch_size=settings.batch_size, save_epochs=plan.save_epochs)  # fmt: skip
    seconds = time.perf_counter() - started
    return collect_run(config, loader.model_folder, cfg, init, device, seconds, memory.mb)


def collect_run(config, model_folder, cfg, init, device, seconds, peak) -> TrainingRun:
    import pandas as pd

    model_folder = Path(model_folder)
    snapshots = {}
    for path in model_folder.glob("snapshot-*.pt"):
        if "best" not in path.stem:
            snapshots[int(path.stem.rsplit("-", 1)[1])] = path
    stats_file = model_folder / "learning_stats.csv"
    stats = pd.read_csv(stats_file) if stats_file.is_file() else pd.DataFrame()
    return TrainingRun(Path(config), model_folder, dict(sorted(snapshots.items())), stats, cfg, init, device,
                       seconds, peak)  # fmt: skip
