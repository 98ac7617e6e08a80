"""Train the project's own small 2D -> 3D lifter on synthetic walkers and export it to ONNX.

No pretrained lifter can be downloaded where the project is built, so the demo's lifter is trained here, from
scratch, on 2D-3D pairs made by the synthetic generator's motion model (`pose_pipeline.synthetic.walking_joints`)
seen through random cameras, and shipped as ``3rdparty/synthetic_lifter/synthetic_lifter.onnx`` (manifest entry
``synthetic_lifter_h36m17``). It knows only the synthetic walkers.

Data (generated, never stored): walkers with random body scale 0.8-1.2, speed 0-1.8 m/s, heading, gait phase and
start; cameras at 2.5-10 m, 0.3-2.8 m high, looking at the walker's path from any side, vertical field of view
30-75 degrees, image sizes 320x240-1920x1080. Cameras closer than 1 m to the test scenes' camera (the default
camera, 5.5 m in front at 1.7 m) are redrawn, so no training view is a test scene's view. 2D: the projected COCO-17
joints plus Gaussian noise (0-3% of the pose's size), runs of 1-10 frames of single joints removed and refilled by
the pipeline's own gap filling (`pose_pipeline.lifting.gaps`), converted by the standard COCO -> H36M-17 mapping.
3D targets: the same mapping of the 3D joints, in the camera's axes (x right, y down, z forward), relative to the
root, in metres.

Model: the input the wrapper gives ``normalisation="pose"`` models (each frame minus its root, divided by its RMS
joint radius), a window of 27 frames; an MLP 918 -> 256 -> 256 -> 256 -> 51 with ReLU; the output is the centre
frame's 17 x 3 joints. Exported as plain ONNX (Reshape, Gemm, Relu) with a dynamic batch: input ``input``
[N, 27, 17, 2], output ``output`` [N, 1, 17, 3], run by `pose_pipeline.lifting.OnnxWindowLifter`.

Run from the repository root (2-3 minutes on one CPU core; a rerun reproduces the file bit for bit)::

    python scripts/train_synthetic_lifter.py

It writes the ONNX file and ``training_report.json`` next to it and prints the manifest values (sha256, size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from pose_pipeline.lifting.gaps import fill_gaps
from pose_pipeline.lifting.joints import coco_to_h36m_standard
from pose_pipeline.lifting.metrics import lifting_accuracy
from pose_pipeline.lifting.onnx_lifter import normalise
from pose_pipeline.skeletons import H36M17
from pose_pipeline.synthetic import Camera, default_camera, walking_joints

WINDOW, HIDDEN, LAYERS = 27, 256, 3
OUT = Path(__file__).resolve().parents[1] / "3rdparty" / "synthetic_lifter"
TEST_EYE = default_camera(640, 480).center


def random_camera(rng: np.random.Generator, target) -> Camera:
    sizes = [(320, 240), (640, 480), (1280, 720), (1920, 1080)]
    width, height = sizes[rng.integers(len(sizes))]
    while True:
        azimuth = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(2.5, 10.0)
        eye = np.array([target[0] + distance * np.cos(azimuth), target[1] + distance * np.sin(azimuth),
                        rng.uniform(0.3, 2.8)])  # fmt: skip
        if np.linalg.norm(eye - TEST_EYE) > 1.0:
            break
    look = np.array([target[0], target[1], rng.uniform(0.7, 1.2)]) + rng.normal(scale=0.3, size=3)
    return Camera.look_at(eye, look, width, height, vertical_fov_deg=rng.uniform(30, 75))


def clip(rng: np.random.Generator, n_frames: int, fps: float = 30.0):
    """One walker seen by one random camera: normalised H36M-17 2D (frames, 17, 2), 3D targets (frames, 17, 3)."""
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.choice([0.0, rng.uniform(0.2, 1.8)], p=[0.1, 0.9])
    times = np.arange(n_frames) / fps
    joints = walking_joints(times, scale=rng.uniform(0.8, 1.2), start=rng.uniform(-2, 2, size=2), heading=heading,
                            speed=speed, phase=rng.uniform(0, 2 * np.pi))  # fmt: skip
    middle = joints[n_frames // 2].mean(axis=0)
    camera = random_camera(rng, middle)
    pixels = camera.project(joints)
    size = np.nanmean(np.linalg.norm(pixels - np.nanmean(pixels, axis=1, keepdims=True), axis=-1))
    pixels = pixels + rng.normal(scale=rng.uniform(0, 0.03) * size, size=pixels.shape)
    for _ in range(rng.integers(0, 4)):  # short runs of one missing joint, refilled as the pipeline does
        start, joint = rng.integers(1, n_frames - 11), rng.integers(17)
        pixels[start : start + rng.integers(1, 11), joint] = np.nan
    h36m_2d = fill_gaps(coco_to_h36m_standard(pixels), max_gap=10).keypoints
    target = coco_to_h36m_standard(camera.to_camera(joints))
    return normalise(h36m_2d, "pose", None), target - target[:, :1]


def dataset(seed: int, n_clips: int, n_frames: int):
    rng = np.random.default_rng(seed)
    inputs, targets = [], []
    pad = WINDOW // 2
    for _ in range(n_clips):
        x, y = clip(rng, n_frames)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            continue  # a joint behind the camera or an unfilled run: skip the clip
        inputs.append(np.pad(x, ((pad, pad), (0, 0), (0, 0)), mode="edge"))
        targets.append(y)
    return np.stack(inputs).astype(np.float32), np.stack(targets).astype(np.float32)


def windows(inputs, clips, frames):
    import torch

    offsets = torch.arange(WINDOW)
    return inputs[clips[:, None], frames[:, None] + offsets]  # (B, W, 17, 2)


def build_model():
    import torch

    layers, width = [], WINDOW * 17 * 2
    for _ in range(LAYERS):
        layers += [torch.nn.Linear(width, HIDDEN), torch.nn.ReLU()]
        width = HIDDEN
    layers.append(torch.nn.Linear(width, 17 * 3))
    return torch.nn.Sequential(*layers)


def export(model, path: Path) -> None:
    """The MLP as plain ONNX: Reshape -> (Gemm, Relu) x LAYERS -> Gemm -> Reshape."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    linear = [m for m in model if hasattr(m, "weight")]
    constants = {"flat": np.array([-1, WINDOW * 17 * 2], np.int64), "joints": np.array([-1, 1, 17, 3], np.int64)}
    nodes = [helper.make_node("Reshape", ["input", "flat"], ["h0"])]
    for i, layer in enumerate(linear):
        constants[f"w{i}"] = layer.weight.detach().numpy().astype(np.float32)
        constants[f"b{i}"] = layer.bias.detach().numpy().astype(np.float32)
        out = f"g{i}" if i < len(linear) - 1 else "flat_out"
        nodes.append(helper.make_node("Gemm", [f"h{i}", f"w{i}", f"b{i}"], [out], transB=1))
        if i < len(linear) - 1:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"]))
    nodes.append(helper.make_node("Reshape", ["flat_out", "joints"], ["output"]))
    graph = helper.make_graph(
        nodes,
        "synthetic_lifter",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", WINDOW, 17, 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, 17, 3])],
        initializer=[numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pose_pipeline")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, path)


def evaluate(path: Path, seed: int, n_clips: int, n_frames: int) -> dict:
    """The exported file run by the pipeline's wrapper on held-out clips: MPJPE and PA-MPJPE in mm."""
    from pose_pipeline.lifting.onnx_lifter import OnnxWindowLifter

    lifter = OnnxWindowLifter(path, window=WINDOW, normalisation="pose", flip=False, device="cpu", threads=1)
    inputs, targets = dataset(seed, n_clips, n_frames)
    pad = WINDOW // 2
    predicted = np.concatenate([lifter.lift_segment(x[pad:-pad]) for x in inputs])
    predicted = predicted - predicted[:, :1]
    truth = targets.reshape(-1, 17, 3)
    acc = lifting_accuracy(predicted, truth, bones=H36M17.bones)
    mean_pose = np.broadcast_to(truth.mean(axis=0), truth.shape)
    baseline = lifting_accuracy(mean_pose, truth, bones=H36M17.bones)
    return {"mpjpe_mm": acc["mpjpe"], "pa_mpjpe_mm": acc["pa_mpjpe"], "n_mpjpe_mm": acc["n_mpjpe"],
            "mean_pose_baseline_mpjpe_mm": baseline["mpjpe"], "frames": len(truth)}  # fmt: skip


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=1500)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    started = time.perf_counter()
    inputs, targets = dataset(seed=1, n_clips=args.clips, n_frames=args.frames)
    x_all, y_all = torch.from_numpy(inputs), torch.from_numpy(targets)
    model = build_model()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.steps)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for step in range(args.steps):
        clips = torch.randint(len(x_all), (512,), generator=generator)
        frames = torch.randint(y_all.shape[1], (512,), generator=generator)
        batch = windows(x_all, clips, frames)
        flip = torch.rand(512, generator=generator) < 0.5  # mirrored copies, as the flip augmentation runs
        swap = torch.from_numpy(np.array(flip_index()))
        batch[flip] = batch[flip][:, :, swap] * torch.tensor([-1.0, 1.0])
        target = y_all[clips, frames]
        target[flip] = target[flip][:, swap] * torch.tensor([-1.0, 1.0, 1.0])
        loss = (model(batch.reshape(512, -1)).reshape(512, 17, 3) - target).norm(dim=-1).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step}: mean joint error {1000 * np.mean(losses[-100:]):.1f} mm", flush=True)
    train_seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "synthetic_lifter.onnx"
    export(model.eval(), path)
    report = {
        "script": "scripts/train_synthetic_lifter.py",
        "settings": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
            "window": WINDOW,
            "hidden": HIDDEN,
            "layers": LAYERS,
            "batch": 512,
            "seed": 0,
        },
        "train_seconds": round(train_seconds, 1),
        "final_train_error_mm": round(1000 * float(np.mean(losses[-100:])), 2),
        "held_out": evaluate(path, seed=2, n_clips=60, n_frames=90),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "size": path.stat().st_size,
    }
    (args.out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def flip_index() -> list[int]:
    from pose_pipeline.lifting.onnx_lifter import _SWAP

    return _SWAP.tolist()


if __name__ == "__main__":
    main()
