"""Benchmark: our skeleton model against the study's reference code (bbo-acm on PyPI) on the same small problem.

    python -m benchmarks.bench_acm_reference [--frames 20] [--em 3] [--keep DIR]

(``uv pip install --target /tmp/bbo --no-deps bbo-acm``: its dependencies, torch, numpy and scipy, are the
project's; ``--bbo`` names another folder holding the ``ACM`` package.)

The synthetic rat scene of ``benchmarks/bench_acm.py`` (4 cameras with radial distortion only, as bbo-acm's
triangulation requires; 2 px noise, occlusion episodes, outliers) is written into bbo-acm's dataset layout: ``configuration.py``, ``multicalibration.npy``
(K, distortion, R, t in cm), ``origin_coord.npy`` (identity), ``model.npy`` (our rat's 29 joints under the study's
joint names, the tree re-rooted at the snout because bbo-acm's first bone carries only the global rotation and
every other bone starts along its parent with +-90 deg spine limits), ``labels_dlc_*.npy`` (detections and
confidences; pcutoff 0.9 as ours) and ``labels_manual.npz`` (the true pixels of every 5th frame plus 2 px noise,
for bbo-acm's anatomy learning). Then bbo-acm's unmodified code runs in a subprocess with one torch thread:
``calibration.main`` (bone lengths and marker offsets from the manual labels), ``initialization.main`` (first frame)
and ``em_run.main`` (its EM with the unscented RTS smoother, ``--em`` iterations, mode 4: angle limits and temporal
model). Ours (``regimes.full_model``: first-frame fit, ``--em`` EM iterations, final smoothing, JAX compile included,
the subject's anatomy given) runs on the same detections. Printed: wall times, the ratio and both joint-position
errors against the scene's ground truth. bbo-acm's joint-angle limits and bone-length bounds are its own (named in
its ``anatomy.py``); its limb conventions were made for its own rest geometry, so its errors on our skeleton are
those of the study's code as it stands, not of the study's model at its best. One shim: torch 2.x removed
``torch.cholesky`` (it raises), and bbo-acm's ``kalman.cholesky_save`` retries it forever inside a bare ``except:``;
the runner restores it as ``torch.linalg.cholesky`` in bbo-acm's process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
).strip()

import numpy as np

# our rat joint -> bbo-acm joint name (the names its anatomy.py looks up for limits and bounds)
JOINTS = {
    "snout": "joint_head_001",
    "head_atlas": "joint_spine_001",
    "spine_cervicothoracic": "joint_spine_002",
    "spine_thoracolumbar": "joint_spine_003",
    "spine_lumbosacral": "joint_spine_004",
    "tail_base": "joint_spine_005",
    **{f"tail_{k}": f"joint_tail_00{k}" for k in range(1, 6)},
    **{
        f"{j}_{side}": f"joint_{j}_{side}"
        for side in ("left", "right")
        for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "paw_hind")
    },
    **{f"finger_{s}": f"joint_finger_{s}_002" for s in ("left", "right")},
    **{f"toe_{s}": f"joint_toe_{s}_002" for s in ("left", "right")},
}
ROOT = "snout"
# our marker -> bbo-acm label stem ('spot_<stem>', 'marker_<stem>_start'); the head pair orients its first pose
MARKERS = {"snout": "head_003", "head_top": "head_002"}
MANUAL_EVERY = 5  # frames between manually labelled frames (bbo-acm's anatomy learning)


def marker_stem(name: str) -> str:
    if name in MARKERS:
        return MARKERS[name]
    for prefix in ("spine_", "tail_"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return f"{prefix}00{name[len(prefix) :]}"
    return name


def to_acm_frame(v):
    """Our body frame (x anterior, y left, z up) -> the re-rooted chain's frame (x right, y up, z posterior)."""
    v = np.asarray(v, dtype=float)
    return np.stack([-v[..., 1], v[..., 2], -v[..., 0]], axis=-1)


def bone_frame(direction):
    z = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def acm_model(skeleton) -> tuple[dict, list[str]]:
    """bbo-acm's model.npy dict from our skeleton; also the joint order (our names)."""
    parent = {j.name: j.parent for j in skeleton.joints}
    rest = {j.name: np.asarray(j.rest, dtype=float) for j in skeleton.joints}
    neighbours: dict[str, list[str]] = {n: [] for n in parent}
    for child, par in parent.items():
        if par is not None:
            neighbours[child].append(par)
            neighbours[par].append(child)
    # rest positions in our body frame
    position = {}
    for j in skeleton.joints:  # definitions list parents first
        position[j.name] = np.zeros(3) if j.parent is None else position[j.parent] + rest[j.name]
    order, edges, queue, seen = [ROOT], [], [ROOT], {ROOT}
    while queue:  # breadth first from the new root: edges in a directed order
        node = queue.pop(0)
        for nxt in neighbours[node]:
            if nxt not in seen:
                seen.add(nxt)
                order.append(nxt)
                edges.append((node, nxt))
                queue.append(nxt)
    index = {n: i for i, n in enumerate(order)}
    n_bones = len(edges)
    edges_idx = np.array([[index[a], index[b]] for a, b in edges], dtype=np.int64)
    verts = to_acm_frame(np.array([position[n] - position[ROOT] for n in order])) * 100.0  # cm
    coords = np.array([bone_frame(verts[b] - verts[a]) for a, b in edges_idx])
    links = np.zeros((n_bones, n_bones), dtype=bool)
    for b, (_, end) in enumerate(edges):
        below, stack = set(), [end]
        while stack:
            node = stack.pop()
            below.add(node)
            stack += [c for a, c in edges if a == node]
        links[b] = [e in below for _, e in edges]
    markers = skeleton.markers
    model = {
        "bone_lengths": np.zeros(n_bones),
        "joint_marker_index": np.array([index[m.joint] for m in markers], dtype=np.int64),
        "joint_marker_order": [f"marker_{marker_stem(m.name)}_start" for m in markers],
        "joint_marker_vectors": np.zeros((len(markers), 3)),
        "joint_order": [JOINTS[n] for n in order],
        "skeleton_coords": coords,
        "skeleton_coords_index": np.arange(n_bones, dtype=np.int64),
        "skeleton_edges": edges_idx,
        "skeleton_vertices": verts,
        "skeleton_vertices_links": links,
        "surface_triangles": np.zeros((0, 3), dtype=np.int32),
        "surface_vertices": np.zeros((0, 3)),
        "surface_vertices_weights": np.zeros((0, len(order))),
    }
    return model, order


CONFIGURATION = """\
import os

mode = 4
pcutoff = 0.9
slope = 1.0
noise = 1e-4
species = "rat"
scale_factor = 1
use_rodrigues = True
use_reparameterization = False
num_tol = 2**-52
normalize_bone_lengths = 1.0
normalize_joint_marker_vec = 1.0
normalize_t0 = 50.0
normalize_r0 = 1.5707963267948966
normalize_camera_sensor_x = {width}.0
normalize_camera_sensor_y = {height}.0
plot_calib = False
sigma_factor = 10.0
body_weight = {weight}
dFrames_calib = {every}
index_frames_calib = "all"
opt_method_calib = "L-BFGS-B"
opt_options_calib__disp = False
opt_options_calib__ftol = 2**-23
opt_options_calib__gtol = 0.0
opt_options_calib__maxiter = float("inf")
opt_options_calib__maxcor = 100
opt_options_calib__maxfun = float("inf")
opt_options_calib__iprint = -1
opt_options_calib__maxls = 200
index_frame_start = 0
index_frame_end = {frames}
plot_ini = False
index_frame_ini = 0
opt_method_ini = "L-BFGS-B"
opt_options_ini__disp = False
opt_options_ini__ftol = 2**-23
opt_options_ini__gtol = 0.0
opt_options_ini__maxiter = float("inf")
opt_options_ini__maxcor = 100
opt_options_ini__maxfun = float("inf")
opt_options_ini__iprint = -1
opt_options_ini__maxls = 200
plot_recon = False
dt = 1
nT = {frames}
opt_method_fit = opt_method_ini
opt_options_fit__disp = False
opt_options_fit__ftol = 2**-23
opt_options_fit__gtol = 0.0
opt_options_fit__maxiter = float("inf")
opt_options_fit__maxcor = 100
opt_options_fit__maxfun = float("inf")
opt_options_fit__iprint = -1
opt_options_fit__maxls = 200
use_cuda = False
slow_mode = True
sigma_point_scheme = 3
tol = 0.0
iter_max = {em}
folder_project = os.path.dirname(os.path.realpath(__file__))
folder_save = os.path.join(folder_project, "results")
folder_init = folder_save
folder_calib = folder_save
file_origin_coord = os.path.join(folder_project, "origin_coord.npy")
file_calibration = os.path.join(folder_project, "multicalibration.npy")
file_model = os.path.join(folder_project, "model.npy")
file_labelsDLC = os.path.join(folder_project, "labels_dlc_000000_{frames:06}.npy")
file_labelsManual = os.path.join(folder_project, "labels_manual.npz")
"""

# runs inside the dataset folder (configuration.py first on sys.path), bbo-acm's code unmodified
RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    import torch
    torch.set_num_threads(1)
    # torch >= 2.x removed torch.cholesky (it now raises); bbo-acm's kalman.cholesky_save calls it inside a bare
    # ``except:`` that retries with growing jitter forever. Restore the removed function's documented behaviour
    # (torch.cholesky(A) == torch.linalg.cholesky(A); upper=True -> .mH); bbo-acm's own code stays unmodified.
    torch.cholesky = lambda A, upper=False, out=None: (
        torch.linalg.cholesky(A).mH if upper else torch.linalg.cholesky(A))
    sys.path.insert(0, os.getcwd())
    import configuration as cfg
    os.makedirs(cfg.folder_save, exist_ok=True)
    from ACM import calibration, initialization, em_run
    times = {}
    for name, step in (("calibration", calibration.main), ("initialization", initialization.main),
                       ("em_run", em_run.main)):
        started = time.perf_counter()
        step()
        times[name] = time.perf_counter() - started
    print("BBO_TIMES " + json.dumps(times))
    """
)


def write_dataset(folder: Path, scene, skeleton, em: int, rng) -> list[str]:
    """bbo-acm's dataset layout for ``scene``; returns the joint order (our names) of its results."""
    cams = scene.cameras
    frames = len(scene.pixels)
    import cv2

    np.save(
        folder / "multicalibration.npy",
        {
            "nCameras": len(cams),
            "A_fit": cams.K.copy(),
            "k_fit": cams.dist.copy(),
            "RX1_fit": cams.R.copy(),
            "rX1_fit": np.array([cv2.Rodrigues(r)[0].ravel() for r in cams.R]),
            "tX1_fit": cams.t * 100.0,  # metres -> cm (bbo-acm works in cm)
            "scale_factor": 1,
        },
        allow_pickle=True,
    )
    np.save(folder / "origin_coord.npy", {"origin": np.zeros(3), "coord": np.eye(3)}, allow_pickle=True)
    model, order = acm_model(skeleton)
    np.save(folder / "model.npy", model, allow_pickle=True)
    pixels = np.nan_to_num(scene.pixels, nan=0.0)
    confidence = np.where(np.isnan(scene.pixels).any(-1), 0.0, scene.confidence)
    np.save(
        folder / f"labels_dlc_000000_{frames:06}.npy",
        {
            "file_save": "",
            "frame_list": np.arange(frames, dtype=np.int64),
            "labels_all": np.concatenate([pixels, confidence[..., None]], axis=-1),
        },
        allow_pickle=True,
    )
    manual = {}
    for f in range(0, frames, MANUAL_EVERY):
        noisy = scene.true_pixels[f] + rng.normal(0, 2.0, scene.true_pixels[f].shape)
        manual[f] = {f"spot_{marker_stem(m.name)}": noisy[:, i] for i, m in enumerate(skeleton.markers)}
    np.savez(folder / "labels_manual.npz", manual)
    width, height = (2 * cams.K[:, 0, 2].max(), 2 * cams.K[:, 1, 2].max())
    weight = skeleton.params.get("body_weight_g", 284.4)
    text = CONFIGURATION.format(
        width=round(width), height=round(height), weight=weight, every=MANUAL_EVERY, frames=frames, em=em
    )
    (folder / "configuration.py").write_text(text)
    return order


def run_reference(folder: Path, bbo: str) -> tuple[dict, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([bbo, str(folder)]), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    (folder / "bbo_acm.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"bbo-acm failed (log {folder / 'bbo_acm.log'}):\n{done.stderr[-3000:]}")
    import json

    line = [x for x in done.stdout.splitlines() if x.startswith("BBO_TIMES ")][-1]
    pose = np.load(folder / "results" / "pose.npy", allow_pickle=True).item()
    return json.loads(line.split(" ", 1)[1]), pose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--em", type=int, default=3, help="EM iterations on both sides")
    parser.add_argument("--bbo", default="/tmp/bbo", help="folder holding bbo-acm's ACM package")
    parser.add_argument("--keep", default=None, help="write the bbo-acm dataset here (default: a temporary folder)")
    args = parser.parse_args()
    if not (Path(args.bbo) / "ACM" / "em_run.py").exists():
        print(f"bbo-acm not found under {args.bbo}: uv pip install --target {args.bbo} --no-deps bbo-acm")
        return 2

    from pose_pipeline.skeleton_model import definitions, regimes, synthetic

    rat = definitions.rat()
    # radial distortion only: bbo-acm's triangulation (interp_3d.calc_udst, used to place its first poses)
    # asserts that the tangential and k3 coefficients are zero
    cameras = synthetic.ring_cameras(distortion=(-0.12, 0.03, 0.0, 0.0, 0.0))
    scene = synthetic.scene(rat, frames=args.frames, rate_hz=100.0, cameras=cameras, seed=0, noise_px=2.0,
                            occlusion=0.15, outliers=0.03)  # fmt: skip
    print(f"scene: {args.frames} frames, {len(scene.cameras)} cameras, {len(rat.markers)} markers, "
          f"{len(rat.joints)} joints; EM iterations {args.em} on both sides")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        order = write_dataset(folder, scene, rat, args.em, np.random.default_rng(1))
        times, pose = run_reference(folder, args.bbo)
    ref_joints = np.asarray(pose["joint_positions_3d"]) / 100.0  # cm -> m, bbo-acm's joint order
    names = rat.joint_names
    truth = scene.joints[:, [names.index(n) for n in order]]
    ref_err = np.linalg.norm(ref_joints - truth[: len(ref_joints)], axis=-1) * 1000

    def run_ours():
        started = time.perf_counter()
        result = regimes.full_model(
            scene.pixels, scene.cameras, rat, scene.anatomy, scene.confidence, em_iterations=args.em, tol=0.0
        )
        return result, time.perf_counter() - started

    ours, ours_s = run_ours()  # JAX compilation included
    _, warm_s = run_ours()  # the same call again (the EM step and the first-frame fit are compiled once per process)
    our_err = regimes.position_errors(ours, scene.joints) * 1000

    pose_s = times["initialization"] + times["em_run"]
    print(f"bbo-acm (1 torch thread): anatomy learning {times['calibration']:.1f} s, first frame "
          f"{times['initialization']:.1f} s, EM + smoother {times['em_run']:.1f} s")  # fmt: skip
    print(f"ours (1 core, anatomy given, {ours.info['em_iterations']} EM iterations): {ours_s:.1f} s first call "
          f"(JAX compile included), {warm_s:.1f} s second call")  # fmt: skip
    print(f"pose inference ratio (bbo-acm first frame + EM / ours): {pose_s / ours_s:.1f}x first call, "
          f"{pose_s / warm_s:.1f}x second; with bbo-acm's anatomy learning: "
          f"{(pose_s + times['calibration']) / ours_s:.1f}x first call")  # fmt: skip
    for label, err in (("bbo-acm", ref_err), ("ours", our_err)):
        print(f"{label:8s} joint error median {np.median(err):.1f} mm, 95th percentile {np.percentile(err, 95):.1f} mm, "
              f"above 1 cm {np.mean(err > 10):.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
