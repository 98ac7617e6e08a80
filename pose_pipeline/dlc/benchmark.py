"""Inference speed and memory of a DeepLabCut snapshot at a given frame size (the studies use 1280 x 720)."""

from __future__ import annotations

import time

from .engine import PeakMemory, resolve_device
from .evaluation import SnapshotPredictor


def benchmark_frames(width: int, height: int, n: int, seed: int = 0):
    """``n`` synthetic reaching frames of ``width`` x ``height`` (content matters little for speed)."""
    from ..synthetic.reaching import render_reaching

    return render_reaching(n, size=(width, height), seed=seed).images


def benchmark_inference(pytorch_config, snapshot_path, *, device="auto", width=1280, height=720, frames=16,
                        warmup=2, batch_size=8) -> dict:  # fmt: skip
    """Frames per second of DeepLabCut's inference runner (preprocessing, model, decoding) on ``frames`` frames
    after ``warmup`` untimed ones, with the peak memory of loading and running the model (`pose_pipeline.dlc.engine.PeakMemory`)."""
    import torch

    images = benchmark_frames(width, height, warmup + frames)
    device = resolve_device(device)
    with PeakMemory(device) as memory:  # the model's weights and activations, not what the process held before
        predictor = SnapshotPredictor(pytorch_config, snapshot_path, device=device, batch_size=batch_size)
        predictor.predict(iter(images[:warmup]))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        predictor.predict(iter(images[warmup:]))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return {"width": int(width), "height": int(height), "batch_size": int(batch_size), "num_frames": int(frames),
            "fps": frames / seconds, "peak_memory_mb": memory.mb, "device": device}  # fmt: skip
