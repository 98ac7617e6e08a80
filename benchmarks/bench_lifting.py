"""Benchmark: LiftingPerson.populate against the bare onnxruntime loop over the same windows, and its memory
against the subject's length.

    python -m benchmarks.bench_lifting

The 2D input is a long walk: a short synthetic video is rendered, imported, tracked and annotated (the lifting
stage needs a subject and the video's size), and its TopDownPerson row is written directly with the walk's true
2D joints over ``N_FRAMES`` frames plus 2 px of noise, so the benchmark measures lifting, not 2D estimation.

1. Throughput, in one run, same model file and session settings (``synthetic_lifter``, flip on, one thread):
   - pipeline: ``LiftingPerson.populate(reserve_jobs=True)`` (fetch, checks, wrapper, contract, insert);
   - bare loop: COCO -> H36M mapping, pose normalisation, edge padding, ``session.run`` on batches of 256
     windows and on their mirrored copies, in plain numpy;
   - one core (the synthetic lifter's frames/s, flip off, is printed for reference).
   Target: pipeline >= 0.85x the bare loop.
2. Peak memory (VmHWM of a fresh process) populating a subject 10x longer: at most 1.2x the short one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database
from benchmarks.timing import VMHWM, best_of, peak_memory_kib, print_rates, target_line

N_FRAMES = 20000
METHOD = "synthetic_lifter"
PARAMS = {"flip": True, "device": "cpu", "threads": 1}


def walk_2d(n_frames: int):
    """COCO-17 pixels (frames, 17, 3) of the benchmark walker seen by the default camera, 2 px noise."""
    import numpy as np

    from pose_pipeline.synthetic import default_camera, walking_joints

    times = (np.arange(n_frames) % 300) / 30.0  # the same 10 s walk across the view, again and again
    joints = walking_joints(times, start=(-3.0, 1.0), heading=0.0, speed=0.6)
    pixels = default_camera(640, 480).project(joints)
    pixels += np.random.default_rng(0).normal(scale=2.0, size=pixels.shape)
    return np.concatenate([pixels, np.full((n_frames, 17, 1), 0.9)], axis=2).astype(np.float32)


def setup(home: Path, n_frames: int, prefix: str) -> dict:
    """A tracked, annotated walker with a TopDownPerson of ``n_frames`` frames; returns the TopDownPerson key."""
    use_embedded_database(home, prefix)

    from pose_pipeline import schema
    from pose_pipeline.schema.keypoints import TopDownMethod, TopDownPerson
    from pose_pipeline.schema.tracking import PersonBbox, TrackingBbox, TrackingBboxMethod, auto_annotate
    from pose_pipeline.schema.video import VideoInfo, insert_local_video
    from pose_pipeline.synthetic import render_scene, walking_scene

    schema.activate()
    video = home / "walker.mp4"
    render_scene(walking_scene(n_frames=20, seed=5), video)
    key = insert_local_video(video, "bench")
    VideoInfo.populate(key)
    tracking = {**key, "tracking_method": "bytetrack", "detector": "motion"}
    TrackingBboxMethod.insert1(tracking)
    TrackingBbox.populate(key)
    [person] = auto_annotate(tracking)["annotated"]
    PersonBbox.populate(person)
    request = TopDownMethod.request_key({**person, "top_down_method": "synthetic_pose"})
    TopDownMethod.insert1(request)
    TopDownPerson.insert1(
        {
            **request,
            "keypoints": walk_2d(n_frames),
            "joint_set": "COCO-17",
            "num_frames": n_frames,
            "provenance": {"benchmark": "true 2D of a synthetic walk"},
            "seconds": 0.0,
        },
        allow_direct_insert=True,
    )
    return request


def throughput() -> float:
    import numpy as np

    from pose_pipeline.lifting.joints import coco_to_h36m_standard
    from pose_pipeline.lifting.onnx_lifter import _SWAP, normalise
    from pose_pipeline.schema.keypoints import TopDownPerson
    from pose_pipeline.schema.lifting import LiftingMethod, LiftingPerson
    from pose_pipeline.stages import LIFTING

    two_d = setup(Path(tempfile.mkdtemp(prefix="pose_bench_lifting_")), N_FRAMES, "bench_lifting")
    lifter = LIFTING.build(METHOD, PARAMS)
    session, window = lifter.session, lifter.window
    name = session.get_inputs()[0].name

    def bare() -> float:
        start = time.perf_counter()
        keypoints = (TopDownPerson & two_d).fetch1("keypoints")
        x = normalise(coco_to_h36m_standard(keypoints), "pose", None).astype(np.float32)
        pad = window // 2
        padded = np.pad(x, ((pad, pad), (0, 0), (0, 0)), mode="edge")
        out = np.empty((len(x), 17, 3), np.float32)
        for s in range(0, len(x), 256):
            batch = np.stack([padded[t : t + window] for t in range(s, min(s + 256, len(x)))])
            mirrored = batch[:, :, _SWAP] * np.array([-1, 1], np.float32)
            a = session.run(None, {name: batch})[0][:, 0]
            b = session.run(None, {name: mirrored})[0][:, 0][:, _SWAP] * np.array([-1, 1, 1], np.float32)
            out[s : s + len(batch)] = (a + b) / 2
        out -= out[:, :1]
        return time.perf_counter() - start

    def pipeline() -> float:
        (LiftingMethod & two_d).delete(prompt=False)
        LiftingMethod.insert1({**two_d, "lifting_method": METHOD, "params": PARAMS})
        start = time.perf_counter()
        assert LiftingPerson.populate(two_d, reserve_jobs=True)["success_count"] == 1
        return time.perf_counter() - start

    def no_flip() -> float:
        fast = LIFTING.build(METHOD, {**PARAMS, "flip": False})
        keypoints = (TopDownPerson & two_d).fetch1("keypoints")
        start = time.perf_counter()
        fast(keypoints, "COCO-17", (640, 480))
        return time.perf_counter() - start

    best = best_of({"bare loop": bare, "pipeline": pipeline, "wrapper, flip off": no_flip})
    print(f"LiftingPerson: {N_FRAMES} frames, {METHOD} (window {window}), one core, best of 3")
    print_rates(best, N_FRAMES)
    ratio = best["bare loop"] / best["pipeline"]
    print("  " + target_line("pipeline / bare loop", ratio, 0.85))
    return ratio


SETUP = """
import json, sys
from pathlib import Path
from benchmarks.bench_lifting import setup
print(json.dumps(setup(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))
"""

POPULATE = f"""
import json, sys
from pose_pipeline import schema
schema.activate()
from pose_pipeline.schema.lifting import LiftingMethod, LiftingPerson
two_d = json.loads(sys.argv[1])
LiftingMethod.insert1({{**two_d, "lifting_method": sys.argv[2], "params": json.loads(sys.argv[3])}})
assert LiftingPerson.populate(two_d)["success_count"] == 1
{VMHWM}
"""


def peak_memory(n_frames: int) -> int:
    """VmHWM (KiB) of a fresh process that does nothing but populate LiftingPerson for ``n_frames`` frames."""
    return peak_memory_kib(SETUP, POPULATE, [str(n_frames)], [METHOD, json.dumps(PARAMS)],
                           f"bench_lifting_memory_{n_frames}")  # fmt: skip


def main() -> int:
    ratio = throughput()
    short, long = peak_memory(N_FRAMES // 10), peak_memory(N_FRAMES)
    memory_ratio = long / short
    print(
        f"\npeak memory populating LiftingPerson: {N_FRAMES // 10} frames {short / 1024:.0f} MiB, "
        f"{N_FRAMES} frames {long / 1024:.0f} MiB; " + target_line("ratio", memory_ratio, 1.2, at_most=True)
    )
    return 0 if ratio >= 0.85 and memory_ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
