"""Benchmark: the cost of distributed populate on the embedded database, and scaling over worker processes.

    python -m benchmarks.bench_populate

1. Per-job overhead of ``populate(reserve_jobs=True)`` with a trivial ``make()``, against plain
   ``populate()`` (no job reservation) measured in the same run. Target: 20 ms per job or less.
2. Two ``pose-pipeline worker`` processes against one on a CPU-bound ``make()``, wall time from launch to
   the last job. Target: at least 1.7x.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database

REPO = Path(__file__).resolve().parents[1]
N_TRIVIAL = 300
N_CPU = 24
CPU_SECONDS_PER_JOB = 0.4
WORKER_COMMAND = [
    sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "benchmarks.populate_pipeline",
    "--table", "CpuBound", "--idle-timeout", "0.5", "--poll-interval", "0.1",
]  # fmt: skip


def calibrate_work(seconds: float) -> int:
    n = 200_000
    while True:
        start = time.perf_counter()
        total = 0
        for i in range(n):
            total += i * i % 7
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            return int(n * seconds / elapsed)
        n *= 4


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="pose_bench_"))
    use_embedded_database(home, "bench")

    from benchmarks import populate_pipeline as bench
    from pose_pipeline import database, schema

    schema.activate()
    schema.activate_module(bench)
    print(f"database: {database.status().server_version} (embedded) in {home}")

    # 1. per-job overhead
    bench.Job.insert([{"job_id": i, "work": 0} for i in range(N_TRIVIAL)])
    start = time.perf_counter()
    bench.Trivial.populate()
    plain = (time.perf_counter() - start) / N_TRIVIAL
    bench.Trivial.delete(prompt=False)
    start = time.perf_counter()
    result = bench.Trivial.populate(reserve_jobs=True)
    reserved = (time.perf_counter() - start) / N_TRIVIAL
    assert result["success_count"] == N_TRIVIAL, result
    print(f"\n1. trivial make(), {N_TRIVIAL} jobs")
    print(f"   populate() without reservation : {plain * 1e3:6.2f} ms/job")
    print(f"   populate(reserve_jobs=True)    : {reserved * 1e3:6.2f} ms/job  (ratio {reserved / plain:.2f}x)")
    overhead_ok = reserved * 1e3 <= 20

    # 2. worker scaling
    work = calibrate_work(CPU_SECONDS_PER_JOB)
    bench.Job.delete(prompt=False)
    bench.Job.insert([{"job_id": i, "work": work} for i in range(N_CPU)])
    env = {**os.environ, **worker_env()}
    times = {}
    for n_workers in (1, 2):
        bench.CpuBound.delete(prompt=False)
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                WORKER_COMMAND,
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(n_workers)
        ]
        for proc in procs:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
        times[n_workers] = time.perf_counter() - start
        assert len(bench.CpuBound()) == N_CPU
        pids = len(set(bench.CpuBound.to_arrays("pid")))
        print(f"   {n_workers} worker(s): {times[n_workers]:6.2f} s wall, jobs done by {pids} process(es)")
    speedup = times[1] / times[2]
    print(f"\n2. CPU-bound make(), {N_CPU} jobs of ~{CPU_SECONDS_PER_JOB} s: 2 workers {speedup:.2f}x one worker")
    scaling_ok = speedup >= 1.7

    schema.deactivate(drop=True)
    print(f"\ntargets: overhead <= 20 ms/job: {'met' if overhead_ok else 'MISSED'}; "
          f"2 workers >= 1.7x: {'met' if scaling_ok else 'MISSED'}")  # fmt: skip
    return 0 if overhead_ok and scaling_ok else 1


def worker_env() -> dict[str, str]:
    import datajoint as dj

    return {
        "DJ_BACKEND": "postgresql",
        "DJ_HOST": str(dj.config.database.host),
        "DJ_PORT": str(dj.config.database.port),
        "DJ_USER": str(dj.config.database.user),
        "DJ_PASS": "",
        "DJ_USE_TLS": "false",
    }


if __name__ == "__main__":
    sys.exit(main())
