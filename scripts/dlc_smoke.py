"""End-to-end smoke test of DeepLabCut 3 (PyTorch engine) on CPU, with no hub downloads.

It renders a tiny synthetic single-animal project (coloured dots on a textured background, exact labels), then runs
DeepLabCut's own user-facing API: ``create_new_project`` -> labelled frames in DeepLabCut's ``CollectedData``
format -> ``create_training_dataset`` -> an explicit, recorded weight initialisation from a local file ->
``train_network`` -> ``evaluate_network`` (every snapshot) -> ``analyze_videos``. Every step is timed and a JSON
summary (versions, times, metrics, file layout, sha256 of the initial weights) is printed and written to
``<workdir>/summary.json``.

Nothing may be fetched from the network: ``HF_HUB_OFFLINE=1`` is set, the hub/torch caches are pointed into the
work directory (and must stay empty), and every non-loopback socket connection raises (and is recorded).

    python scripts/dlc_smoke.py --workdir /tmp/dlc_smoke                      # resnet_50, random (seeded) init
    python scripts/dlc_smoke.py --timm-weights resnet50_gn.safetensors         # ImageNet init from a local timm file
    python scripts/dlc_smoke.py --net-type resnet_101 --model-name resnet152   # ResNet-152 through timm's name

Run it in a venv with the ``dlc`` extra (see docs/deeplabcut.md). It drives DeepLabCut's user-facing API directly;
from pose_pipeline it takes only the backbone registration, weight initialisation and contrast augmentation
(`pose_pipeline.dlc`), so both exercise the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from pose_pipeline.dlc.augment import brightness_contrast
from pose_pipeline.dlc.backbones import BackboneSpec, apply_backbone, make_weight_init_file, register_timm_backbone

BODYPARTS = ["head", "body", "tail"]
COLOURS = [(230, 40, 40), (40, 200, 40), (60, 80, 240)]  # RGB


# --------------------------------------------------------------------------------------------------------------------
# guards: no network, no hub caches outside the work directory
# --------------------------------------------------------------------------------------------------------------------

BLOCKED: list[str] = []


def block_network() -> None:
    """Make every connection to a non-loopback address raise, and remember who tried."""
    original_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(address, (str, bytes)) or host in ("127.0.0.1", "::1", "localhost"):
            return original_connect(self, address)
        BLOCKED.append(str(address))
        raise OSError(f"dlc_smoke: network access blocked ({address})")

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]

    original_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host in (None, "localhost", "127.0.0.1", "::1", b"localhost"):
            return original_getaddrinfo(host, *args, **kwargs)
        BLOCKED.append(f"dns:{host}")
        raise OSError(f"dlc_smoke: name lookup blocked ({host})")

    socket.getaddrinfo = guarded_getaddrinfo


def set_offline_env(cache_root: Path) -> None:
    cache_root.mkdir(parents=True, exist_ok=True)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HOME"] = str(cache_root / "hf")
    os.environ["TORCH_HOME"] = str(cache_root / "torch")
    os.environ["XDG_CACHE_HOME"] = str(cache_root / "xdg")
    os.environ.setdefault("MPLBACKEND", "Agg")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --------------------------------------------------------------------------------------------------------------------
# synthetic data
# --------------------------------------------------------------------------------------------------------------------


def render(n_frames: int, size: int, seed: int):
    """Frames (n, size, size, 3) uint8 RGB and exact keypoints (n, 3, 2) in pixels (x, y)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    background = 90 + 25 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 6, (size, size))
    background = np.clip(np.repeat(background[..., None], 3, axis=2), 0, 255)
    t = np.linspace(0, 2 * np.pi, n_frames, endpoint=False)
    centre = np.stack([size / 2 + size * 0.22 * np.sin(t), size / 2 + size * 0.18 * np.sin(2 * t + 0.5)], axis=1)
    angle = 0.6 * np.sin(t) + t / 2
    offsets = np.array([[0.16, 0.0], [0.0, 0.0], [-0.16, 0.02]]) * size  # head, body, tail along the body axis
    keypoints = np.zeros((n_frames, len(BODYPARTS), 2))
    frames = np.zeros((n_frames, size, size, 3), np.uint8)
    radius = max(3.0, size / 32)
    for i in range(n_frames):
        c, s = np.cos(angle[i]), np.sin(angle[i])
        rot = np.array([[c, -s], [s, c]])
        keypoints[i] = centre[i] + offsets @ rot.T
        img = background + rng.normal(0, 4, background.shape)
        for (x, y), colour in zip(keypoints[i], COLOURS):
            mask = (xx - x) ** 2 + (yy - y) ** 2 <= radius**2
            img[mask] = colour
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, keypoints


def write_video(path: Path, frames, fps: float = 30.0) -> None:
    import cv2

    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    for frame in frames:
        writer.write(frame[..., ::-1].copy())
    writer.release()


def write_labels(project: Path, scorer: str, video_stem: str, frames, keypoints, indices) -> Path:
    """Labelled frames as DeepLabCut stores them: labeled-data/<video stem>/imgNNN.png plus
    CollectedData_<scorer>.h5 (key "df_with_missing") and .csv, rows indexed ("labeled-data", stem, file)."""
    import cv2
    import numpy as np
    import pandas as pd

    folder = project / "labeled-data" / video_stem
    folder.mkdir(parents=True, exist_ok=True)
    digits = len(str(len(frames)))
    rows, names = [], []
    for idx in indices:
        name = f"img{idx:0{digits}d}.png"
        cv2.imwrite(str(folder / name), frames[idx][..., ::-1])
        rows.append(keypoints[idx].reshape(-1))
        names.append(("labeled-data", video_stem, name))
    columns = pd.MultiIndex.from_product([[scorer], BODYPARTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    index = pd.MultiIndex.from_tuples(names)
    df = pd.DataFrame(np.asarray(rows, dtype=float), index=index, columns=columns)
    h5 = folder / f"CollectedData_{scorer}.h5"
    df.to_hdf(h5, key="df_with_missing", mode="w")
    df.to_csv(folder / f"CollectedData_{scorer}.csv")
    return h5


# --------------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dlc_smoke"))
    parser.add_argument("--net-type", default="resnet_50", help="a DeepLabCut 3 net type (resnet_50, hrnet_w18, ...)")
    parser.add_argument("--model-name", default=None, help="override model.backbone.model_name (timm), e.g. resnet152")
    parser.add_argument("--timm-backbone", default=None, help="any timm model as backbone, e.g. mobilenetv2_100")
    parser.add_argument("--contrast", type=float, default=0.0, help="RandomBrightnessContrast limit (0: off)")
    parser.add_argument("--timm-weights", type=Path, default=None, help="local timm checkpoint for the backbone")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--video-frames", type=int, default=60)
    parser.add_argument("--labelled", type=int, default=20)
    parser.add_argument("--train-fraction", type=float, default=0.8)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--save-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--allow-network", action="store_true", help="do not block sockets (for debugging only)")
    args = parser.parse_args(argv)

    work = args.workdir.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    caches = work / "caches"
    set_offline_env(caches)
    if not args.allow_network:
        block_network()

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import deeplabcut
    from deeplabcut.utils import auxiliaryfunctions

    times["import_deeplabcut_s"] = time.perf_counter() - t0

    # 1. data and project ------------------------------------------------------------------------------------------
    t = time.perf_counter()
    frames, keypoints = render(args.video_frames, args.size, args.seed)
    video = work / "synthdots.mp4"
    write_video(video, frames)
    config = Path(
        deeplabcut.create_new_project("smoke", "synth", [str(video)], working_directory=str(work), copy_videos=True)
    )
    project = config.parent
    auxiliaryfunctions.edit_config(
        str(config),
        {
            "bodyparts": BODYPARTS,
            "skeleton": [["head", "body"], ["body", "tail"]],
            "TrainingFraction": [args.train_fraction],
            "numframes2pick": args.labelled,
            "engine": "pytorch",
        },
    )
    scorer = auxiliaryfunctions.read_config(str(config))["scorer"]
    label_idx = np.linspace(0, args.video_frames - 1, args.labelled).round().astype(int)
    write_labels(project, scorer, video.stem, frames, keypoints, label_idx)
    times["project_and_labels_s"] = time.perf_counter() - t

    # 2. training dataset + explicit weight init ------------------------------------------------------------------
    t = time.perf_counter()
    deeplabcut.create_training_dataset(
        str(config), num_shuffles=1, net_type=args.net_type, engine=deeplabcut.Engine.PYTORCH, userfeedback=False
    )
    from deeplabcut.pose_estimation_pytorch.data import DLCLoader

    loader = DLCLoader(str(config), shuffle=1, trainset_index=0)
    model_cfg = auxiliaryfunctions.read_plainconfig(str(loader.model_config_path))
    if args.model_name:
        model_cfg["model"]["backbone"]["model_name"] = args.model_name
    if args.timm_backbone:  # written into pytorch_config.yaml, so evaluation and analysis rebuild the same model
        register_timm_backbone()
        model_cfg = apply_backbone(
            model_cfg, BackboneSpec(args.timm_backbone, args.net_type, "", timm_model=args.timm_backbone)
        )
        auxiliaryfunctions.write_plainconfig(str(loader.model_config_path), model_cfg)
    init = make_weight_init_file(
        model_cfg,
        work / "weights" / f"init_{args.timm_backbone or args.model_name or args.net_type}.pt",
        args.seed,
        args.timm_weights,
    )
    times["create_training_dataset_and_init_s"] = time.perf_counter() - t

    # 3. train -----------------------------------------------------------------------------------------------------
    crop = {"width": args.size, "height": args.size, "max_shift": 0.1, "method": "hybrid"}
    updates = {
        "train_settings.weight_init": init["weight_init"],
        "runner.eval_interval": args.save_epochs,
        "runner.snapshots.max_snapshots": 100,
        "data.train.crop_sampling": crop,
        "data.train.affine": {"p": 0.5, "rotation": 20, "scaling": [0.9, 1.1], "translation": 8},
    }
    if args.model_name:
        updates["model.backbone.model_name"] = args.model_name
    t = time.perf_counter()
    with brightness_contrast(args.contrast):
        deeplabcut.train_network(
            str(config),
            shuffle=1,
            device="cpu",
            epochs=args.epochs,
            batch_size=args.batch_size,
            save_epochs=args.save_epochs,
            display_iters=1,
            pytorch_cfg_updates=updates,
        )
    times["train_s"] = time.perf_counter() - t

    # 4. evaluate every snapshot -----------------------------------------------------------------------------------
    t = time.perf_counter()
    deeplabcut.evaluate_network(str(config), shuffles=[1], snapshotindex="all", per_keypoint_evaluation=True)
    times["evaluate_all_snapshots_s"] = time.perf_counter() - t

    # 5. analyse the video -----------------------------------------------------------------------------------------
    t = time.perf_counter()
    out_dir = work / "analysis"
    out_dir.mkdir()
    scorer_name = deeplabcut.analyze_videos(
        str(config),
        [str(project / "videos" / video.name)],
        shuffle=1,
        save_as_csv=True,
        device="cpu",
        destfolder=str(out_dir),
    )
    times["analyze_video_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0

    # 6. collect results -------------------------------------------------------------------------------------------
    import pandas as pd

    loader = DLCLoader(str(config), shuffle=1, trainset_index=0)
    combined = loader.evaluation_folder.parent / "CombinedEvaluation-results.csv"
    learning = loader.model_folder / "learning_stats.csv"
    h5s = sorted(out_dir.glob("*.h5"))
    predictions = pd.read_hdf(h5s[0]) if h5s else None
    pred_xy = predictions.to_numpy().reshape(len(predictions), len(BODYPARTS), 3)[..., :2] if h5s else None
    video_err = float(np.linalg.norm(pred_xy - keypoints[: len(pred_xy)], axis=-1).mean()) if h5s else None
    summary = {
        "versions": {
            "python": sys.version.split()[0],
            "deeplabcut": deeplabcut.__version__,
            "torch": torch.__version__,
            "torchvision": __import__("torchvision").__version__,
            "timm": __import__("timm").__version__,
            "cuda_available": torch.cuda.is_available(),
        },
        "net_type": args.net_type,
        "backbone": model_cfg["model"]["backbone"],
        "weight_init": init,
        "sizes": {"image": args.size, "video_frames": args.video_frames, "labelled": args.labelled},
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "train_images": len(loader.split["train"]),
            "test_images": len(loader.split["test"]),
        },
        "times_s": {k: round(v, 2) for k, v in times.items()},
        "learning_stats": pd.read_csv(learning).round(4).to_dict(orient="list") if learning.exists() else None,
        "combined_evaluation": pd.read_csv(combined).round(3).to_dict(orient="records") if combined.exists() else None,
        "video_predictions": {
            "file": h5s[0].name if h5s else None,
            "shape": list(predictions.shape) if h5s else None,
            "mean_euclidean_error_px_vs_truth": video_err,
            "scorer": scorer_name,
        },
        "project_files": files_under(project),
        "analysis_files": files_under(out_dir),
        "cache_files": files_under(caches),
        "blocked_connections": BLOCKED,
        "project": str(project),
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "versions",
                    "times_s",
                    "combined_evaluation",
                    "video_predictions",
                    "cache_files",
                    "blocked_connections",
                )
            },
            indent=1,
            default=str,
        )
    )
    downloaded = [f for f in summary["cache_files"] if not f.startswith("xdg/matplotlib/")]  # font cache: not a fetch
    if downloaded or BLOCKED:
        raise SystemExit("something tried to download (see cache_files / blocked_connections)")
    return summary


if __name__ == "__main__":
    main()
