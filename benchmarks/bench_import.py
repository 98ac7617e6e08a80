"""Benchmark: what reading each imported file once costs.

Run from the repository root:  python -m benchmarks.bench_import [--frames 60 --repeat 20 --runs 3]

`insert_local_video` copies the source once into a private scratch file while hashing it, then decodes and stores
that copy, so a file rewritten during the import cannot be stored other than as validated. The earlier import read
the source three times instead (decode, hash, copy into the store). Both are timed here, alternating, on the same
large 1080p H.264 file (about 250 MB by default) and the embedded database. The file is in the page cache for both
(with a cold cache, reading once also saves two disk reads of the source). Also reported: the parts (copy while
hashing, decode, hash alone) with their throughput, so the figures extrapolate to other sizes and bitrates.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks.bench_video_reader import repeat_packets, textured_frames
from benchmarks.embedded import use_embedded_database


def make_camera_like_video(path: Path, n_frames: int, size=(1920, 1080), noise: int = 6) -> Path:
    """The reader benchmark's pattern with sensor-like pixel noise: about 200 KB a 1080p frame (50 Mbit/s at 30 fps,
    a high-bitrate camera), so bytes per second of decoding are high and copying weighs as much as it can."""
    from pose_pipeline.video import VideoWriter

    rng = np.random.default_rng(0)
    with VideoWriter(path, 30, size, options={"crf": "18", "preset": "ultrafast"}) as writer:
        for frame in textured_frames(n_frames, size):
            grain = rng.integers(-noise, noise + 1, frame.shape, dtype=np.int16)
            writer.write(np.clip(frame.astype(np.int16) + grain, 0, 255).astype(np.uint8))
    return path


def _timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames encoded (1080p)")
    parser.add_argument("--repeat", type=int, default=20, help="the encoded packets repeated this many times")
    parser.add_argument("--runs", type=int, default=3, help="imports timed per way (the fastest is reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_import_") as work:
        work = Path(work)
        use_embedded_database(work / "home", f"bench_{uuid.uuid4().hex[:8]}")
        from pose_pipeline import schema
        from pose_pipeline.schema import video as video_stage
        from pose_pipeline.schema.files import insert_with_file
        from pose_pipeline.video.probe import file_sha256, probe_video

        schema.activate()
        try:
            short = make_camera_like_video(work / "short.mp4", args.frames)
            source = repeat_packets(short, work / "large.mp4", args.repeat)
            size_mb = source.stat().st_size / 1e6
            print(
                f"import benchmark: {size_mb:.0f} MB 1080p H.264 ({args.frames * args.repeat} frames), {os.cpu_count()} CPU(s)"
            )

            def three_reads(project):  # the earlier import: decode, hash and copy the source itself
                probe_video(source)
                row = {"video_project": project, "filename": source.name, "source_sha256": file_sha256(source)}
                row.update(size_bytes=source.stat().st_size, source_path=str(source), recompressed=False)
                insert_with_file(video_stage.Video, row, "video", source)

            def read_once(project):
                video_stage.insert_local_video(source, project)

            times = {"three reads": [], "read once": []}
            for run in range(args.runs):
                times["three reads"].append(_timed(three_reads, f"old{run}"))
                times["read once"].append(_timed(read_once, f"new{run}"))
            for name, values in times.items():
                shown = ", ".join(f"{v:.2f}" for v in values)
                print(
                    f"  {name:12s}: fastest {min(values):6.2f} s, median {statistics.median(values):6.2f} s  ({shown})"
                )
            extra = min(times["read once"]) - min(times["three reads"])  # the fastest run is the least disturbed
            print(f"  read once costs {extra:+.2f} s ({extra / min(times['three reads']):+.1%}, fastest runs)")

            copy = work / "copy.mp4"
            parts = {
                "copy+hash": lambda: video_stage._copy_hashing(source, copy),
                "decode": lambda: probe_video(source),
                "hash only": lambda: file_sha256(source),
            }
            for name, part in parts.items():
                seconds = min(_timed(part) for _ in range(args.runs))
                print(f"  {name:12s}: {seconds:6.2f} s  ({size_mb / seconds:7.0f} MB/s)")
            # The read-once import replaces the three-read import's hash of the source by copy+hash, and reads the
            # private copy where the other read the source: what it adds is the write of the private copy.
        finally:
            schema.deactivate(drop=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
