"""What the populate benchmarks share: best-of-N timing of rival runs, the target line, and the peak memory of a
fresh process that does nothing but one populate."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def best_of(runs: dict[str, Callable[[], float]], repeats: int = 3) -> dict[str, float]:
    """Each run's fastest of ``repeats`` rounds (seconds). Rounds interleave the runs, so a slow spell of the
    machine hits all of them alike."""
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    return {name: min(seconds) for name, seconds in times.items()}


def print_rates(best: dict[str, float], n_frames: int) -> None:
    width = max(map(len, best))
    for name, seconds in best.items():
        print(f"  {name:{width}s}: {seconds:7.3f} s  {n_frames / seconds:9.1f} frames/s")


def target_line(label: str, ratio: float, target: float, at_most: bool = False) -> str:
    met = ratio <= target if at_most else ratio >= target
    return f"{label}: {ratio:.3f}  (target {'<=' if at_most else '>='} {target}: {'met' if met else 'MISSED'})"


def peak_memory_kib(setup_code: str, populate_code: str, setup_args: list[str], populate_args: list[str],
                    prefix: str) -> int:  # fmt: skip
    """VmHWM (KiB) of a fresh process running ``populate_code`` on an embedded database that another fresh process
    prepared with ``setup_code`` (its last stdout line is handed to ``populate_code`` as the first argument).
    ``populate_code`` must print its VmHWM line's value last (see ``VMHWM``)."""
    home = tempfile.mkdtemp(prefix=f"pose_{prefix}_")
    repo = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    env.update(POSE_PIPELINE_HOME=home, POSE_PIPELINE_SCHEMA_PREFIX=prefix)

    def run(code: str, *args: str) -> str:
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True,
                                cwd=repo, env=env)  # fmt: skip
        return result.stdout.strip().splitlines()[-1]

    prepared = run(setup_code, home, *setup_args, prefix)
    return int(run(populate_code, prepared, *populate_args))


# the last line a ``populate_code`` prints
VMHWM = 'print([line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1])'
