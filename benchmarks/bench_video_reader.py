"""Benchmark of VideoReader against bare PyAV decoding, and of its memory use on a short vs a 10x longer video.

Run from the repository root:  python -m benchmarks.bench_video_reader   (or  python benchmarks/bench_video_reader.py)

(a) Throughput: decode a 1080p H.264 file to RGB arrays with bare PyAV
    (``for f in container.decode(video=0): f.to_ndarray(format="rgb24")``, same thread_type) and with VideoReader
    iteration; report frames/s and the ratio. Target: VideoReader >= 0.9x bare PyAV.
(b) Memory: read a short file and a 10x longer one with VideoReader, each in a fresh subprocess, and compare the
    subprocesses' peak RSS (VmHWM, see `peak_rss_kib`). Target: long / short <= 1.2.
(c) Verification: every file handed out of a store or the cache is checked against its sha256 first
    (`pose_pipeline.schema.files.fetch_verified`, streamed like `file_sha256`). Time that check on the same file and
    report it as a fraction of decoding the file with VideoReader, in the same run. Target: <= 0.1 (a tenth).
    Measured here (2 cores, 120 frames of 1080p at 2.3 MB): 1.7 ms against 1342 ms of decoding, 0.0012; sha256
    streams at about 1.3 GB/s, so even a 50 Mbit/s recording costs under 1 % of its decoding time.

The 1080p file is encoded once with VideoWriter from a moving textured pattern; the 10x longer file is made by
copying its packets ten times with shifted timestamps (no re-encoding, so creating it takes a second, and it decodes
exactly like a 10x longer recording). Exits with status 1 if a target is missed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pose_pipeline.video import VideoReader, VideoWriter
from pose_pipeline.video.probe import file_sha256

SPEED_TARGET = 0.9
MEMORY_TARGET = 1.2
VERIFY_TARGET = 0.1


def textured_frames(n_frames: int, size: tuple[int, int], seed: int = 0):
    """Yield RGB frames: a blocky random texture scrolling diagonally, a drifting colour gradient, a moving bar."""
    width, height = size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, ((height + 4 * n_frames) // 8 + 2, (width + 6 * n_frames) // 8 + 2, 3), np.uint8)
    texture = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    gradient = np.linspace(0, 80, width, dtype=np.float32)[None, :, None]
    for i in range(n_frames):
        frame = texture[4 * i : 4 * i + height, 6 * i : 6 * i + width].astype(np.float32) * 0.6
        frame += gradient + (i % 60)
        bar = (12 * i) % (width - 40)
        frame[:, bar : bar + 40] = 250
        yield frame.astype(np.uint8)


def make_video(path: Path, n_frames: int, size: tuple[int, int], fps: float = 30.0) -> Path:
    """Encode the textured pattern with the project's VideoWriter (H.264, fixed settings)."""
    with VideoWriter(path, fps, size) as writer:
        for frame in textured_frames(n_frames, size):
            writer.write(frame)
    return path


def repeat_packets(src: Path, dst: Path, times: int) -> Path:
    """Write `dst` holding the packets of `src` `times` times in a row, timestamps shifted (no re-encoding)."""
    with av.open(str(src)) as source:
        stream_in = source.streams.video[0]
        packets = [p for p in source.demux(stream_in) if p.dts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        with av.open(str(dst), "w") as target:
            stream_out = target.add_stream_from_template(stream_in)
            for copy in range(times):
                for packet in packets:
                    clone = av.Packet(bytes(packet))
                    clone.pts, clone.dts = packet.pts + copy * span, packet.dts + copy * span
                    clone.duration, clone.time_base = packet.duration, packet.time_base
                    clone.is_keyframe = packet.is_keyframe
                    clone.stream = stream_out
                    target.mux(clone)
    return dst


def decode_bare_pyav(path: Path) -> int:
    count = 0
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def decode_video_reader(path: Path) -> int:
    count = 0
    with VideoReader(path) as reader:
        for _frame in reader:
            count += 1
    return count


def measure_speed(path: Path, repeats: int) -> dict[str, list[float]]:
    """Frames/s of each method over `repeats` rounds; the order alternates per round so neither always goes first."""
    methods = [("bare PyAV", decode_bare_pyav), ("VideoReader", decode_video_reader)]
    rates: dict[str, list[float]] = {name: [] for name, _ in methods}
    for round_ in range(repeats):
        for name, decode in methods[:: 1 if round_ % 2 == 0 else -1]:
            start = time.perf_counter()
            count = decode(path)
            rates[name].append(count / (time.perf_counter() - start))
    return rates


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB.

    VmHWM is per address space and starts afresh at exec; getrusage's ru_maxrss of a child would also count the
    parent's memory copied at fork time, hiding the child's own use when the parent is larger.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage // 1024 if sys.platform == "darwin" else usage  # bytes on macOS, KiB on Linux


def child_peak_rss_mib(mode: str, path: Path) -> tuple[float, int]:
    """Run this script in a fresh interpreter (`mode` "imports" or "read"); return (its peak RSS in MiB, frames read)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    frames, peak_kib = int(output[0]), int(output[1])
    return peak_kib / 1024, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames in the 1080p test file")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        # mode "imports": the interpreter with numpy, av and pose_pipeline.video loaded, nothing read
        frames = decode_video_reader(Path(path)) if mode == "read" else 0
        print(frames, peak_rss_kib())
        return 0

    size = (1920, 1080)
    print(
        f"VideoReader benchmark: {size[0]}x{size[1]} H.264, {os.cpu_count()} CPU(s), PyAV {av.__version__}, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_video_") as tmp:
        short = Path(tmp) / "short.mp4"
        start = time.perf_counter()
        make_video(short, args.frames, size)
        print(
            f"  encoded {args.frames} frames ({short.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s"
        )
        long = repeat_packets(short, Path(tmp) / "long.mp4", 10)
        print(f"  long file: the same packets 10x = {10 * args.frames} frames ({long.stat().st_size / 1e6:.1f} MB)")

        # Cheap operations, for information.
        start = time.perf_counter()
        with VideoReader(short) as reader:
            opened = time.perf_counter() - start
            start = time.perf_counter()
            reader[args.frames // 2]
            first_seek = time.perf_counter() - start
            rng = np.random.default_rng(0)
            start = time.perf_counter()
            for index in rng.integers(0, len(reader), 10):
                reader[int(index)]
            seek = (time.perf_counter() - start) / 10
        print(
            f"  open {1000 * opened:.0f} ms; first random read (incl. packet scan) {1000 * first_seek:.0f} ms; "
            f"later random reads {1000 * seek:.0f} ms each"
        )

        decode_bare_pyav(short)  # warm the page cache and the libraries
        rates = measure_speed(short, args.repeats)
        best = {name: max(values) for name, values in rates.items()}
        median = {name: statistics.median(values) for name, values in rates.items()}
        speed_ratio = best["VideoReader"] / best["bare PyAV"]
        verify_s = min(_timed(file_sha256, short) for _ in range(args.repeats))  # page cache warm, as for decoding
        decode_s = args.frames / best["VideoReader"]
        verify_ratio = verify_s / decode_s

        base_rss, _ = child_peak_rss_mib("imports", short)
        short_rss, short_count = child_peak_rss_mib("read", short)
        long_rss, long_count = child_peak_rss_mib("read", long)
        memory_ratio = long_rss / short_rss
    if short_count != args.frames or long_count != 10 * args.frames:
        print(f"FAILED: frame counts {short_count}, {long_count} != {args.frames}, {10 * args.frames}")
        return 1

    speed_ok, memory_ok = speed_ratio >= SPEED_TARGET, memory_ratio <= MEMORY_TARGET
    verify_ok = verify_ratio <= VERIFY_TARGET
    rows = [
        ("decode to RGB, bare PyAV", f"{best['bare PyAV']:.1f} frames/s", f"(median {median['bare PyAV']:.1f})"),
        ("decode to RGB, VideoReader", f"{best['VideoReader']:.1f} frames/s", f"(median {median['VideoReader']:.1f})"),
        ("  ratio VideoReader / PyAV", f"{speed_ratio:.3f}", f">= {SPEED_TARGET}  {'ok' if speed_ok else 'MISSED'}"),
        ("sha256 check of the file", f"{1000 * verify_s:.1f} ms", f"(decoding it: {1000 * decode_s:.0f} ms)"),
        ("  ratio check / decode", f"{verify_ratio:.4f}", f"<= {VERIFY_TARGET}  {'ok' if verify_ok else 'MISSED'}"),
        ("peak RSS, imports only", f"{base_rss:.0f} MiB", ""),
        (f"peak RSS, read {args.frames} frames", f"{short_rss:.0f} MiB", ""),
        (f"peak RSS, read {10 * args.frames} frames", f"{long_rss:.0f} MiB", ""),
        ("  ratio long / short", f"{memory_ratio:.3f}", f"<= {MEMORY_TARGET}  {'ok' if memory_ok else 'MISSED'}"),
    ]
    print(f"\n{'measure':<32} {'value':>18}   target")
    for name, value, target in rows:
        print(f"{name:<32} {value:>18}   {target}")
    print(
        f"(frames/s: best of {args.repeats} alternating runs, the ratio uses the best; peak RSS: VmHWM of a fresh "
        "subprocess per read)"
    )
    return 0 if speed_ok and memory_ok and verify_ok else 1


def _timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
