"""Train the project's own small top-down 2D pose model on synthetic renderings and export it to ONNX.

No pretrained pose weights can be downloaded where the project is built, so the demo's 2D keypoint model is trained
here, from scratch, on person crops cut out of random synthetic scenes (``pose_pipeline.synthetic``), and shipped
as ``3rdparty/synthetic_pose/synthetic_pose.onnx`` (manifest entry ``synthetic_pose_coco17``). Ground truth is only
a training target; the demo runs the model on video frames and compares its output with the ground truth.

The exported model has the interface of an mmpose ViTPose/HRNet top-down heatmap model, so the generic heatmap
wrapper runs it unchanged:

- input ``input`` float32 (B, 3, 256, 192), dynamic batch: an RGB crop (mmpose ``bgr_to_rgb=True``) normalised
  with mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375);
- output ``heatmaps`` float32 (B, 17, 64, 48): one Gaussian-like heatmap per COCO-17 joint at stride 4.

Crops are made by the pipeline's own code (`pose_pipeline.keypoints.crop`, mmpose's ``TopdownAffine``: box ->
centre and scale with padding 1.25, aspect ratio fixed to 192 / 256, ``warp_matrix`` sending the centre to
(96, 128) and the scale's width to 192 pixels, bilinear ``cv2.warpAffine`` with a black border), with training's
shift, scale, rotation and flip composed onto that matrix, so training and inference crops are identical. The
synthetic ground truth puts pixel centres at integers, the pipeline at +0.5 (`pose_pipeline.formats`): boxes and
joints are shifted by +0.5 on the way in. Heatmap coordinates are input coordinates divided by 4 (mmpose
``MSRAHeatmap``, float Gaussian centres as with ``unbiased=True``), decoded with the pipeline's ``msra`` decoder
(argmax, a quarter-cell shift towards the larger neighbour, times 4). No UDP.

Data, generated on the fly and never stored: random scenes (1-5 people; crossing scenes, single walkers and
scenes with random cameras, headings, speeds from standing to 1.8 m/s, body scales 0.8-1.2, clothing colours,
gait phases), image sizes from 320x240 to 1920x1080, pixel noise 0-6 grey levels, JPEG compression, crossing
occlusions; per crop random box shift, scale and rotation, horizontal flip (with left/right joints swapped) and
colour jitter. Targets: Gaussian heatmaps (sigma 2 heatmap pixels) for joints in the image, visible or occluded by
another person; joints outside the image or the crop get weight 0.

Evaluation: held-out scenes whose seeds the training stream never draws (training scene seeds are >= 10**6),
ground-truth boxes, the exported ONNX file run by the pipeline's own wrapper (`OnnxTopDownEstimator`, decoder
``msra``), errors in frame pixels at 640x480, and a baseline that puts every joint at its mean crop position.

Run from the repository root (1500 iterations: about 20 minutes on 2 idle CPU cores, 37 minutes measured while
other jobs shared them)::

    python scripts/train_synthetic_pose.py

It writes ``3rdparty/synthetic_pose/synthetic_pose.onnx`` and ``training_report.json`` next to it, and prints the
held-out tables, the file's sha256 and size (copy them into ``3rdparty/manifest.json``) and timings. Everything is
seeded; on one machine with the same versions (torch 2.13.0 CPU, 2 threads) two short runs gave byte-identical
files. ``--quick`` is a smoke run of about a minute that writes to ``build/synthetic_pose/`` instead.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pose_pipeline.keypoints.crop import (
    PADDING,
    PIXEL_CENTRE,
    Crop,
    box_center_scale,
    fix_aspect_ratio,
    make_crops,
    warp,
    warp_matrix,
)
from pose_pipeline.keypoints.decode import decode_heatmaps
from pose_pipeline.skeletons import COCO17
from pose_pipeline.synthetic import (
    PALETTE,
    Camera,
    PersonSpec,
    SceneConfig,
    SceneRenderer,
    crossing_scene,
    walking_scene,
)

ROOT = Path(__file__).resolve().parents[1]
INPUT_SIZE = (192, 256)  # (width, height) of the model input, mmpose order
HEATMAP_SIZE = (48, 64)  # (width, height) of the heatmaps
STRIDE = INPUT_SIZE[0] // HEATMAP_SIZE[0]
MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # RGB
STD = np.array([58.395, 57.12, 57.375], np.float32)
SIGMA = 2.0  # heatmap Gaussian sigma, heatmap pixels
N_JOINTS = len(COCO17)
FLIP_INDEX = [
    COCO17.index(j.replace("left", "#").replace("right", "left").replace("#", "right")) for j in COCO17.joints
]
TRAIN_SEED_BASE = 10**6  # training scenes draw seeds >= this; held-out scenes use seeds below it
DEFAULT_OUT = ROOT / "3rdparty" / "synthetic_pose" / "synthetic_pose.onnx"
QUICK_OUT = ROOT / "build" / "synthetic_pose" / "quick.onnx"
REPORT_NAME = "training_report.json"

IMAGE_SIZES = ((640, 480), (640, 480), (640, 480), (480, 360), (320, 240), (800, 600), (960, 540), (1280, 720))
LARGE_SIZE = (1920, 1080)  # drawn with probability 0.05: its background costs ~0.9 s


# ---------------------------------------------------------------------------------------------------------------
# Crops and decoding: the project's own (pose_pipeline.keypoints.crop / .decode), so training and inference crops
# are made by the same code
# ---------------------------------------------------------------------------------------------------------------


def to_pipeline(box_or_points: np.ndarray, is_box: bool = False) -> np.ndarray:
    """Synthetic ground truth (OpenCV convention: pixel centres at integers) to the pipeline's convention (origin at
    the top-left pixel's corner, `pose_pipeline.formats`): add 0.5 to coordinates (not to box sizes)."""
    shift = np.array([PIXEL_CENTRE, PIXEL_CENTRE, 0.0, 0.0]) if is_box else PIXEL_CENTRE
    return np.asarray(box_or_points, dtype=np.float64) + shift


def center_scale(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (OpenCV coordinates) and aspect-fixed scale of one pipeline-convention box, as the wrapper computes
    them (`box_center_scale` with padding 1.25, `fix_aspect_ratio` to 192 / 256)."""
    center, scale = box_center_scale(box[None], PADDING)
    return center[0], fix_aspect_ratio(scale, INPUT_SIZE[0] / INPUT_SIZE[1])[0]


def augmented_matrix(center, scale, rotation_deg: float = 0.0, flip: bool = False) -> np.ndarray:
    """The wrapper's frame-to-input affine (`warp_matrix`) followed by a rotation about the input's centre and an
    optional horizontal flip of the input (x -> W - 1 - x), as a 2x3 matrix."""
    matrix = np.vstack([warp_matrix(center, scale, INPUT_SIZE), [0.0, 0.0, 1.0]])
    width, height = INPUT_SIZE
    if rotation_deg:
        matrix = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), rotation_deg, 1.0), [0, 0, 1]]) @ matrix
    if flip:
        matrix = np.array([[-1.0, 0.0, width - 1], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ matrix
    return matrix[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to points (..., 2)."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def normalize(crops: np.ndarray) -> np.ndarray:
    """RGB uint8 crops (B, H, W, 3) to the model input (B, 3, H, W) float32 (no channel swap: RGB, as the wrapper)."""
    return np.ascontiguousarray(((crops.astype(np.float32) - MEAN) / STD).transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------------------------
# Synthetic scenes and training samples
# ---------------------------------------------------------------------------------------------------------------


def random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """A clothing colour: one of the scenes' palette, or a random one (dark, saturated or muted)."""
    if rng.random() < 0.4:
        return PALETTE[rng.integers(len(PALETTE))]
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(40, 256)]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def random_scene(rng: np.random.Generator, size=None, seed: int | None = None) -> SceneConfig:
    """A random scene: a ready-made crossing scene, a single walker, or people walking in random directions seen by a
    random camera. ``seed`` (the scene's background and noise seed) defaults to one drawn from ``rng``."""
    if size is None:
        size = LARGE_SIZE if rng.random() < 0.05 else IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    width, height = size
    seed = int(rng.integers(TRAIN_SEED_BASE, 2**31)) if seed is None else seed
    noise = float(rng.choice([0.0, rng.uniform(0.5, 6.0)], p=[0.2, 0.8]))
    n_frames = int(rng.integers(60, 181))
    kind = rng.random()
    if kind < 0.25:
        n_people = int(rng.integers(1, 6))
        return crossing_scene(n_people, width, height, n_frames=n_frames, noise_sigma=noise, seed=seed)
    if kind < 0.35:
        return walking_scene(
            width,
            height,
            n_frames=n_frames,
            scale=float(rng.uniform(0.8, 1.2)),
            color=random_color(rng),
            noise_sigma=noise,
            seed=seed,
        )
    eye = (rng.uniform(-1.5, 1.5), -rng.uniform(3.5, 5.8), rng.uniform(1.0, 2.6))
    target = (eye[0] * rng.uniform(0.0, 0.6), rng.uniform(-1.0, 1.0), rng.uniform(0.6, 1.2))
    camera = Camera.look_at(eye, target, width, height, vertical_fov_deg=float(rng.uniform(35, 60)))
    fps = 30.0
    duration = n_frames / fps
    people = []
    for _ in range(int(rng.integers(1, 6))):
        heading = float(rng.uniform(0, 2 * np.pi)) if rng.random() < 0.6 else float(rng.choice([0.0, np.pi]))
        speed = 0.0 if rng.random() < 0.1 else float(rng.uniform(0.3, 1.8))
        # Pass a random floor point in front of the camera at a random time, so most people are in view.
        via = np.array([rng.uniform(-2.5, 2.5), rng.uniform(-1.8, 2.5)])
        start = via - speed * rng.uniform(0, duration) * np.array([np.cos(heading), np.sin(heading)])
        people.append(
            PersonSpec(
                scale=float(rng.uniform(0.8, 1.2)),
                color=random_color(rng),
                start=(float(start[0]), float(start[1])),
                heading=heading,
                speed=speed,
                phase=float(rng.uniform(0, 2 * np.pi)),
            )
        )
    return SceneConfig(width, height, fps, n_frames, people=tuple(people), noise_sigma=noise, seed=seed, camera=camera)


@dataclass
class Instance:
    """One person in one rendered frame: the frame (RGB), the person's box (x, y, w, h) and joints (17, 2), both in
    the pipeline's pixel convention, and the joints' visibility (17,): 0 outside the image, 1 hidden by another
    person, 2 visible."""

    image: np.ndarray
    box: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray


def frame_instances(renderer: SceneRenderer, index: int, rng: np.random.Generator | None = None, min_height=40):
    """The usable people of one frame (box at least ``min_height`` pixels high, at least 25% of the person's pixels
    visible, at least 6 joints in the image). With ``rng``, the frame is JPEG-compressed half of the time."""
    frame = renderer.frame(index)
    image = frame.image
    if rng is not None and rng.random() < 0.5:
        quality = int(rng.integers(30, 96))
        _, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    keypoints = renderer.camera.project(renderer.joints3d[index])
    labels = frame.labels
    out = []
    for k in range(len(renderer.config.people)):
        box = labels.boxes[k]
        if not np.isfinite(box).all() or box[3] < min_height or not labels.visible_fraction[k] >= 0.25:
            continue
        if np.count_nonzero(labels.visibility[k]) < 6:
            continue
        out.append(Instance(image, to_pipeline(box, is_box=True), to_pipeline(keypoints[k]), labels.visibility[k]))
    return out


def augmented_sample(instance: Instance, rng: np.random.Generator):
    """A training crop of one instance: random box shift (sd 8% of the crop), scale (0.7-1.35), rotation (sd 12
    degrees, half of the time), horizontal flip with left/right joints swapped, brightness/contrast jitter and
    sometimes blur. Returns the RGB crop (256, 192, 3) uint8, crop keypoints (17, 2) and weights (17,)."""
    center, scale = center_scale(instance.box)
    center = center + rng.normal(0, 0.08, 2) * scale
    scale = scale * rng.uniform(0.7, 1.35)
    rotation = float(np.clip(rng.normal(0, 12), -35, 35)) if rng.random() < 0.5 else 0.0
    flip = bool(rng.random() < 0.5)
    matrix = augmented_matrix(center, scale, rotation, flip)
    # The affine works in OpenCV coordinates (pixel centres at integers), as the wrapper's crops do.
    keypoints = np.nan_to_num(instance.keypoints - PIXEL_CENTRE, nan=-1e4)
    weights = (instance.visibility > 0).astype(np.float32)
    if flip:
        keypoints, weights = keypoints[FLIP_INDEX], weights[FLIP_INDEX]
    image = warp(instance.image, Crop(center, scale, matrix), INPUT_SIZE)
    points = apply_affine(matrix, keypoints)
    inside = (points[:, 0] >= 0) & (points[:, 0] <= INPUT_SIZE[0] - 1)
    inside &= (points[:, 1] >= 0) & (points[:, 1] <= INPUT_SIZE[1] - 1)
    weights = weights * inside
    if rng.random() < 0.8:
        gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
        image = cv2.convertScaleAbs(image, alpha=gain, beta=bias)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.3))
    return image, points.astype(np.float32), weights.astype(np.float32)


def heatmap_targets(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gaussian heatmaps (B, 17, 64, 48) centred at crop keypoints / stride (float centres), zero where weight 0."""
    xs = np.arange(HEATMAP_SIZE[0], dtype=np.float32)
    ys = np.arange(HEATMAP_SIZE[1], dtype=np.float32)
    mu = points / STRIDE
    gx = np.exp(-((xs - mu[..., 0:1]) ** 2) / (2 * SIGMA**2))  # (B, K, w)
    gy = np.exp(-((ys - mu[..., 1:2]) ** 2) / (2 * SIGMA**2))  # (B, K, h)
    return gy[..., :, None] * gx[..., None, :] * (weights[..., None, None] > 0)


class SampleStream:
    """Endless random training batches: renders chunks of random scenes, cuts augmented crops, shuffles them.

    Each chunk holds the instances of ``scenes_per_chunk`` scenes (``frames_per_scene`` random frames each); its
    samples are shuffled and handed out in batches, then a new chunk is rendered. Timing is kept in ``seconds``.
    """

    def __init__(self, seed: int, batch_size: int, scenes_per_chunk: int = 24, frames_per_scene: int = 12):
        self.rng = np.random.default_rng([seed, 0x7EA1])
        self.batch_size = batch_size
        self.scenes_per_chunk = scenes_per_chunk
        self.frames_per_scene = frames_per_scene
        self.pool: list = []
        self.seconds = 0.0
        self.scenes = 0
        self.samples = 0

    def _refill(self):
        start = time.perf_counter()
        samples = []
        for _ in range(self.scenes_per_chunk):
            renderer = SceneRenderer(random_scene(self.rng))
            self.scenes += 1
            n = min(self.frames_per_scene, len(renderer))
            for index in sorted(self.rng.choice(len(renderer), size=n, replace=False)):
                for instance in frame_instances(renderer, int(index), self.rng):
                    samples.append(augmented_sample(instance, self.rng))
        order = self.rng.permutation(len(samples))
        self.pool.extend(samples[i] for i in order)
        self.seconds += time.perf_counter() - start

    def next_batch(self):
        """(crops (B, 256, 192, 3) uint8, keypoints (B, 17, 2), weights (B, 17))."""
        while len(self.pool) < self.batch_size:
            self._refill()
        batch, self.pool = self.pool[: self.batch_size], self.pool[self.batch_size :]
        self.samples += len(batch)
        return tuple(np.stack(parts) for parts in zip(*batch))


# ---------------------------------------------------------------------------------------------------------------
# Held-out evaluation
# ---------------------------------------------------------------------------------------------------------------


def heldout_scenes(quick: bool = False) -> dict[str, list[SceneConfig]]:
    """The held-out scenes at 640x480 by group; their seeds (< 10**6) are never drawn for training."""
    rng = np.random.default_rng([20261121, 0x4E1D])
    groups = {
        "crossing": [crossing_scene(3, seed=s, n_frames=150) for s in (101, 102, 103)]
        + [crossing_scene(5, seed=104, n_frames=150)],
        "walking": [
            walking_scene(seed=201, n_frames=120),
            walking_scene(seed=202, n_frames=90, scale=0.85, color=PALETTE[2]),
            walking_scene(seed=203, n_frames=150, scale=1.15, color=PALETTE[4], speed=0.7),
        ],
        "random": [random_scene(rng, size=(640, 480), seed=300 + i) for i in range(6)],
    }
    if quick:
        groups = {name: scenes[:1] for name, scenes in groups.items()}
    return groups


def heldout_instances(configs, frame_step: int) -> list[Instance]:
    """Every ``frame_step``-th frame's usable people (boxes at least 40 pixels high) of the given scenes."""
    instances = []
    for config in configs:
        renderer = SceneRenderer(config)
        for index in range(0, len(renderer), frame_step):
            instances.extend(frame_instances(renderer, index))
    return instances


def torch_estimator(model, max_batch: int = 32):
    """The torch model as a pipeline estimator: ``(frames, boxes) -> [(N_i, 17, 3)]`` with the wrapper's crops
    (`make_crops`, `warp`), normalisation and decoder (``msra``); used to follow training on held-out crops."""
    import torch

    def estimate(frames, boxes):
        crops = [
            (i, c, warp(frame, c, INPUT_SIZE))
            for i, (frame, b) in enumerate(zip(frames, boxes))
            for c in make_crops(b, INPUT_SIZE, PADDING)
        ]
        results = [np.full((len(b), N_JOINTS, 3), np.nan) for b in boxes]
        counts = [0] * len(frames)
        model.eval()
        for start in range(0, len(crops), max_batch):
            chunk = crops[start : start + max_batch]
            with torch.no_grad():
                x = torch.from_numpy(normalize(np.stack([c[2] for c in chunk]))).to(memory_format=torch.channels_last)
                heatmaps = model(x).numpy()
            points = decode_heatmaps(heatmaps, INPUT_SIZE, "msra")
            for (i, c, _), p in zip(chunk, points):
                results[i][counts[i], :, :2] = c.to_frame(p[:, :2])
                results[i][counts[i], :, 2] = p[:, 2]
                counts[i] += 1
        model.train()
        return results

    return estimate


def predict(estimator, instances: list[Instance]) -> np.ndarray:
    """Frame-pixel keypoints (N, 17, 2) of instances read at their ground-truth boxes by a pipeline estimator
    (``estimator(frames, boxes)``, as `pose_pipeline.keypoints` defines it)."""
    results = estimator([inst.image for inst in instances], [inst.box[None] for inst in instances])
    return np.stack([r[0, :, :2] for r in results])


def mean_pose_estimator(groups: dict[str, list[Instance]]):
    """A baseline estimator that puts every joint at its mean model-input position over all held-out crops (an
    optimistic "average pose" that sees no pixels): what the box alone tells."""
    crops, points, valid = [], [], []
    for inst in (inst for instances in groups.values() for inst in instances):
        c = make_crops(inst.box[None], INPUT_SIZE)[0]
        crops.append(c)
        points.append(apply_affine(c.matrix, inst.keypoints - PIXEL_CENTRE))
        valid.append(inst.visibility > 0)
    mean = np.nanmean(np.where(np.array(valid)[..., None], np.array(points), np.nan), axis=0)

    def estimate(frames, boxes):
        out = []
        for b in boxes:
            c = make_crops(b, INPUT_SIZE)[0]
            out.append(np.concatenate([c.to_frame(mean), np.ones((N_JOINTS, 1))], axis=1)[None])
        return out

    return estimate


def error_table(instances: list[Instance], predicted: np.ndarray) -> dict:
    """Per-joint and overall errors (frame pixels) for visible (v=2) and occluded-by-others (v=1) joints: median,
    mean, PCK at 5 and 10 pixels and PCK at 0.1 x box height."""
    truth = np.stack([inst.keypoints for inst in instances])
    vis = np.stack([inst.visibility for inst in instances])
    height = np.array([inst.box[3] for inst in instances])[:, None].repeat(N_JOINTS, 1)
    error = np.linalg.norm(predicted - truth, axis=-1)

    def summary(mask):
        e, h = error[mask], height[mask]
        if e.size == 0:
            return {"n": 0}
        return {
            "n": int(e.size),
            "median_px": float(np.median(e)),
            "mean_px": float(np.mean(e)),
            "pck_5px": float(np.mean(e <= 5)),
            "pck_10px": float(np.mean(e <= 10)),
            "pck_0.1h": float(np.mean(e <= 0.1 * h)),
        }

    return {
        "visible": summary(vis == 2),
        "occluded": summary(vis == 1),
        "per_joint_visible": {
            name: summary((vis == 2) & (np.arange(N_JOINTS) == j)) for j, name in enumerate(COCO17.joints)
        },
    }


def evaluate(estimator, groups: dict[str, list[Instance]]) -> dict:
    """Error tables per held-out group and for all groups together."""
    results = {}
    everything, predictions = [], []
    for name, instances in groups.items():
        predicted = predict(estimator, instances)
        results[name] = error_table(instances, predicted)
        everything.extend(instances)
        predictions.append(predicted)
    results["all"] = error_table(everything, np.concatenate(predictions))
    return results


def format_results(results: dict) -> str:
    """A plain-text summary: per group, then the per-joint table of all groups."""
    lines = ["group      joints   median   mean  PCK@5px PCK@10px PCK@0.1h   (visible; occluded median)"]
    for name, table in results.items():
        v, o = table["visible"], table["occluded"]
        occluded = f"{o['median_px']:.2f}" if o["n"] else "-"
        lines.append(
            f"{name:<10} {v['n']:>6} {v['median_px']:>8.2f} {v['mean_px']:>6.2f} {v['pck_5px']:>8.3f} "
            f"{v['pck_10px']:>8.3f} {v['pck_0.1h']:>8.3f}   ({o['n']} occluded; {occluded})"
        )
    lines.append("")
    lines.append("joint (all groups, visible)  n   median   mean  PCK@5px PCK@10px")
    for name, row in results["all"]["per_joint_visible"].items():
        lines.append(
            f"{name:<18} {row['n']:>10} {row['median_px']:>8.2f} {row['mean_px']:>6.2f} {row['pck_5px']:>8.3f} "
            f"{row['pck_10px']:>8.3f}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------------------


def build_model(widths=(32, 64, 96, 160), blocks=(1, 2, 2, 2), decoder=(32, 64, 64, 64)):
    """The network: a small ResNet-style encoder (a two-convolution stem to stride 4, then basic blocks at strides 4,
    8, 16 and 32 with ``widths`` channels), a global-context vector (average pool of the last stage, 1x1 convolution)
    added to the top of a feature-pyramid decoder back to stride 4 (``decoder`` channels per level, nearest
    upsampling, lateral 1x1 convolutions, one 3x3 convolution per level), then a 1x1 convolution to 17 heatmaps.
    About 1.4 M parameters. The global context tells every position which way the person faces, which decides which
    limb is the left one."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def conv_bn(cin, cout, stride=1, relu=True):
        layers = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(cin, cout, stride), conv_bn(cout, cout, relu=False))
            self.skip = None
            if stride != 1 or cin != cout:
                self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return F.relu(self.body(x) + (x if self.skip is None else self.skip(x)))

    class PoseNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(conv_bn(3, 24, 2), conv_bn(24, widths[0], 2))
            stages, cin = [], widths[0]
            for i, (cout, n) in enumerate(zip(widths, blocks)):
                stride = 1 if i == 0 else 2
                stages.append(nn.Sequential(Block(cin, cout, stride), *[Block(cout, cout, 1) for _ in range(n - 1)]))
                cin = cout
            self.stages = nn.ModuleList(stages)
            self.lateral = nn.ModuleList([nn.Conv2d(c, d, 1) for c, d in zip(widths, decoder)])
            self.reduce = nn.ModuleList(
                [nn.Identity() if a == b else nn.Conv2d(b, a, 1) for a, b in itertools.pairwise(decoder)]
            )
            self.smooth = nn.ModuleList([conv_bn(d, d) for d in decoder[:-1]])
            self.context = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(widths[-1], decoder[-1], 1), nn.ReLU())
            self.head = nn.Conv2d(decoder[0], N_JOINTS, 1)
            nn.init.normal_(self.head.weight, std=0.001)
            nn.init.zeros_(self.head.bias)

        def forward(self, x):
            x = self.stem(x)
            features = []
            for stage in self.stages:
                x = stage(x)
                features.append(x)
            y = self.lateral[-1](features[-1]) + self.context(features[-1])
            for i in range(len(features) - 2, -1, -1):
                y = F.interpolate(self.reduce[i](y), scale_factor=2.0, mode="nearest") + self.lateral[i](features[i])
                y = self.smooth[i](y)
            return self.head(y)

    torch.manual_seed(0)
    return PoseNet()


def export_onnx(model, path: Path) -> None:
    """Export to ONNX (opset 17, dynamic batch; input ``input``, output ``heatmaps``) with the TorchScript exporter,
    which needs no ``onnxscript``."""
    import torch

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, INPUT_SIZE[1], INPUT_SIZE[0])
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=["heatmaps"],
        opset_version=17,
        dynamic_axes={"input": {0: "batch"}, "heatmaps": {0: "batch"}},
        do_constant_folding=True,
        dynamo=False,
    )


def _relative(path) -> str:
    """``path`` relative to the repository when inside it (reports do not depend on the checkout's location)."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------


def train(args) -> dict:
    """Train, evaluate the exported model on held-out scenes, export, and return a report (also written as JSON)."""
    import warnings

    import onnxruntime as ort
    import torch

    from pose_pipeline.keypoints.onnx_topdown import OnnxTopDownEstimator

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    torch.manual_seed(args.seed)
    timings = {}
    t_start = time.perf_counter()

    t0 = time.perf_counter()
    heldout = {name: heldout_instances(configs, args.eval_step) for name, configs in heldout_scenes(args.quick).items()}
    timings["heldout_render_s"] = time.perf_counter() - t0
    print(f"held-out: {', '.join(f'{k} {len(v)} crops' for k, v in heldout.items())}", flush=True)
    monitor = [inst for instances in heldout.values() for inst in instances[:: max(1, args.monitor_step)]]

    model = build_model().to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f} M parameters", flush=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    warmup = min(100, args.iterations // 10)

    def learning_rate(it):
        if it < warmup:
            return args.lr * (it + 1) / warmup
        progress = (it - warmup) / max(1, args.iterations - warmup)
        return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))

    estimate_torch = torch_estimator(model)
    stream = SampleStream(args.seed, args.batch_size)
    t_train = time.perf_counter()
    compute_s = 0.0
    running = None
    history = []
    for it in range(args.iterations):
        crops, points, weights = stream.next_batch()
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(it)
        x = torch.from_numpy(normalize(crops)).to(memory_format=torch.channels_last)
        target = torch.from_numpy(heatmap_targets(points, weights))
        w = torch.from_numpy(weights)[..., None, None]
        out = model(x)
        # Pixel-weighted MSE: foreground pixels count more, so the network leaves the all-zero plateau early.
        pixel_weight = 1.0 + args.fg_weight * target
        loss = ((out - target) ** 2 * pixel_weight * w).mean() * 1000
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        compute_s += time.perf_counter() - t0
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (it + 1) % args.log_every == 0 or it + 1 == args.iterations:
            elapsed = time.perf_counter() - t_train
            line = (
                f"it {it + 1:>5}/{args.iterations} loss {running:.4f} lr {learning_rate(it):.2e} "
                f"{elapsed:.0f} s (data {stream.seconds:.0f} s, {stream.scenes} scenes, {stream.samples} crops)"
            )
            if (it + 1) % (args.log_every * args.eval_every) == 0 or it + 1 == args.iterations:
                table = error_table(monitor, predict(estimate_torch, monitor))["visible"]
                line += (
                    f" | held-out sample median {table['median_px']:.2f} px, PCK@5px {table['pck_5px']:.3f}, "
                    f"PCK@10px {table['pck_10px']:.3f}"
                )
                history.append({"iteration": it + 1, "seconds": elapsed, **table})
            print(line, flush=True)
    timings["train_s"] = time.perf_counter() - t_train
    timings["train_compute_s"] = compute_s
    timings["train_data_s"] = stream.seconds

    t0 = time.perf_counter()
    out_path = Path(args.out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        export_onnx(model, out_path)
    timings["export_s"] = time.perf_counter() - t0
    digest, size = sha256_of(out_path), out_path.stat().st_size

    # The held-out numbers come from the exported file run by the pipeline's own wrapper (heatmap_onnx's class).
    t0 = time.perf_counter()
    onnx_estimator = OnnxTopDownEstimator(
        out_path, joint_set=COCO17.name, decoder="msra", device="cpu", threads=args.threads, max_batch=32
    )
    results = evaluate(onnx_estimator, heldout)
    timings["eval_s"] = time.perf_counter() - t0
    n_eval = sum(len(v) for v in heldout.values())
    baseline = evaluate(mean_pose_estimator(heldout), heldout)["all"]["visible"]
    sample = normalize(
        np.stack([warp(i.image, make_crops(i.box[None], INPUT_SIZE)[0], INPUT_SIZE) for i in monitor[:4]])
    )
    model.eval()
    with torch.no_grad():
        torch_out = model(torch.from_numpy(sample)).numpy()
    onnx_vs_torch = float(np.abs(onnx_estimator.session.run(None, {"input": sample})[0] - torch_out).max())
    timings["total_s"] = time.perf_counter() - t_start

    print()
    print(format_results(results))
    print()
    print(
        f"baseline (every joint at its mean crop position over the held-out set): median {baseline['median_px']:.2f} "
        f"px, PCK@5px {baseline['pck_5px']:.3f}, PCK@10px {baseline['pck_10px']:.3f}"
    )
    print(f"onnx: {out_path} ({size} bytes, sha256 {digest}); max |onnx - torch| = {onnx_vs_torch:.2e}")
    print(
        "timings: "
        + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
        + f"; {stream.scenes} training scenes, {stream.samples} training crops, {n_eval} held-out crops"
    )
    report = {
        "onnx": _relative(out_path),
        "sha256": digest,
        "size": size,
        "parameters": n_params,
        "args": {**vars(args), "out": _relative(args.out), "report": _relative(args.report)},
        "timings_s": timings,
        "training_scenes": stream.scenes,
        "training_crops": stream.samples,
        "heldout_crops": {k: len(v) for k, v in heldout.items()},
        "heldout": results,
        "history": history,
        "mean_pose_baseline": baseline,
        "onnx_vs_torch_max_abs": onnx_vs_torch,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
    }
    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2))
    print(f"report: {report_path}")
    return report


def parse_args(argv=None):
    """Command-line options; ``--quick`` changes the defaults to a one-minute smoke run writing to build/."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (~1 min): few iterations, small held-out set")
    parser.add_argument("--iterations", type=int, help="training iterations (default 1500; quick: 30)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (cosine decay)")
    parser.add_argument("--fg-weight", type=float, default=10.0, help="extra loss weight of heatmap foreground")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training data stream")
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads")
    parser.add_argument("--eval-step", type=int, help="held-out frame step (default 10; quick: 50)")
    parser.add_argument("--monitor-step", type=int, default=8, help="every n-th held-out crop is monitored")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=4, help="monitor the held-out sample every n log lines")
    parser.add_argument("--out", help=f"ONNX file (default {DEFAULT_OUT.relative_to(ROOT)}; quick: build/...)")
    parser.add_argument("--report", help=f"JSON report (default: {REPORT_NAME} next to the ONNX file)")
    args = parser.parse_args(argv)
    if args.iterations is None:
        args.iterations = 30 if args.quick else 1500
    if args.eval_step is None:
        args.eval_step = 50 if args.quick else 10
    if args.out is None:
        args.out = str(QUICK_OUT if args.quick else DEFAULT_OUT)
    if args.report is None:
        args.report = str(QUICK_OUT.with_suffix(".report.json") if args.quick else Path(args.out).parent / REPORT_NAME)
    if args.quick:
        args.log_every = min(args.log_every, 10)
    return args


def main(argv=None) -> None:
    """Entry point: ``python scripts/train_synthetic_pose.py [--quick]``."""
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    args = parse_args(argv)
    print(f"training {args.iterations} iterations of {args.batch_size} crops -> {args.out}", flush=True)
    train(args)


if __name__ == "__main__":
    main()
