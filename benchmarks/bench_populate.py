"""Benchmark: the cost of distributed populate and of the worker, and scaling over worker processes.

    python -m benchmarks.bench_populate                    # the embedded database (the zero-setup default)
    python -m benchmarks.bench_populate --server mariadb   # or postgres: the test servers on 127.0.0.1

1. Per-job cost with a trivial ``make()``, all in one run: ``populate()`` without reservation, DataJoint's own
   ``populate(reserve_jobs=True)``, the same with this project's owned reservations, and `Worker.run` in this
   process. Per job: the time for all jobs minus that of the same call with nothing to do, divided by the jobs
   (the call's fixed cost is printed apart). The worker's overhead is its per-job time minus bare
   ``populate(reserve_jobs=True)``'s.
   Targets: at most 3 ms/job on the embedded database, 20 ms/job on a server.
2. Worker start-up: a ``pose-pipeline worker`` process with nothing to do, launch to exit (reported on its own).
3. Two worker processes against one on a CPU-bound ``make()``: the span from the first job's start to the last
   job's end (start-up excluded), and wall time from launch to exit. Target: 2 workers at least 1.7x one (span),
   on 2 free cores; other load on the machine lowers it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
from benchmarks.embedded import use_embedded_database

REPO = Path(__file__).resolve().parents[1]
N_TRIVIAL = 300
ROUNDS = 3
N_CPU = 40
CPU_SECONDS_PER_JOB = 0.5
SERVERS = {
    "mariadb": {"DJ_BACKEND": "mysql", "DJ_HOST": "127.0.0.1", "DJ_PORT": "3306", "DJ_USER": "root"},
    "postgres": {"DJ_BACKEND": "postgresql", "DJ_HOST": "127.0.0.1", "DJ_PORT": "5432", "DJ_USER": "postgres"},
}
WORKER_COMMAND = [
    sys.executable, "-m", "pose_pipeline.cli", "worker", "--module", "benchmarks.populate_pipeline",
    "--table", "CpuBound", "--idle-timeout", "0.5", "--poll-interval", "0.1",
]  # fmt: skip


def calibrate_work(seconds: float) -> int:
    """Loop iterations for ``seconds`` of work; the fastest of several timings, so a busy machine does not make the
    jobs shorter than meant."""
    n = 200_000
    while True:
        elapsed = min(_time_loop(n) for _ in range(5))
        if elapsed > 0.05:
            return int(n * seconds / elapsed)
        n *= 4


def _time_loop(n: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    return time.perf_counter() - start


def use_server(name: str, home: Path) -> None:
    os.environ.update(SERVERS[name], DJ_PASS="", DJ_USE_TLS="false")
    os.environ["POSE_PIPELINE_HOME"] = str(home)
    os.environ["POSE_PIPELINE_SCHEMA_PREFIX"] = f"bench_{uuid.uuid4().hex[:8]}"
    stores = {name: {"protocol": "file", "location": str(home / name)} for name in ("raw", "derived")}
    os.environ["DJ_STORES"] = json.dumps({**stores, "default": "derived"})
    import datajoint as dj

    dj.config["safemode"] = False


def per_job(run, n: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["embedded", *SERVERS], default="embedded")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pose_bench_"))
    if args.server == "embedded":
        use_embedded_database(home, "bench")
    else:
        use_server(args.server, home)

    from benchmarks import populate_pipeline as bench
    from pose_pipeline import _datajoint_fixes, database, schema
    from pose_pipeline.worker import Worker

    schema.activate()
    schema.activate_module(bench)
    print(f"database: {args.server}, {database.status().server_version}")

    # 1. per-job cost, one trivial make() each; the jobs table declared first, each variant best of ROUNDS
    bench.Job.insert([{"job_id": i, "work": 0} for i in range(N_TRIVIAL)])
    from datajoint import jobs as dj_jobs

    owned = {name: getattr(dj_jobs.Job, name) for name in _datajoint_fixes.ORIGINAL_JOB_METHODS}

    def datajoint_jobs(use: bool) -> None:
        for name, method in (_datajoint_fixes.ORIGINAL_JOB_METHODS if use else owned).items():
            setattr(dj_jobs.Job, name, method)

    def reset() -> None:
        bench.Trivial.delete(prompt=False)
        bench.Trivial.jobs.delete_quick()

    def datajoint_populate() -> None:
        datajoint_jobs(True)
        try:
            bench.Trivial.populate(reserve_jobs=True)
        finally:
            datajoint_jobs(False)

    variants = {
        "plain": bench.Trivial.populate,
        "datajoint": datajoint_populate,
        "owned": lambda: bench.Trivial.populate(reserve_jobs=True),
        "worker": lambda: Worker([bench.Trivial], idle_timeout=0, poll_interval=0).run(),
    }
    # Per job: (time for N jobs - time of the same call with nothing to do) / N, so a call's fixed cost (the queue
    # refresh, the worker's orphan check and idle pass) is reported apart instead of being spread over the jobs.
    best = dict.fromkeys(variants, float("inf"))
    fixed = dict.fromkeys(variants, float("inf"))
    reset()
    for _ in range(ROUNDS):
        for name, run in variants.items():
            total = per_job(run, 1)
            assert len(bench.Trivial()) == N_TRIVIAL, name
            idle = per_job(run, 1)
            best[name] = min(best[name], (total - idle) / N_TRIVIAL)
            fixed[name] = min(fixed[name], idle)
            reset()
    overhead = best["worker"] - best["owned"]
    limit = 3.0 if args.server == "embedded" else 20.0
    print(f"\n1. trivial make(), {N_TRIVIAL} jobs, best of {ROUNDS} rounds; per job, and per call with nothing to do")
    labels = {
        "plain": "populate() without reservation",
        "datajoint": "populate(reserve_jobs=True), DataJoint's",
        "owned": "populate(reserve_jobs=True), owned jobs",
        "worker": "Worker.run (in this process)",
    }
    for name, label in labels.items():
        print(f"   {label:42s}: {best[name] * 1e3:6.2f} ms/job  {fixed[name] * 1e3:7.1f} ms/call")
    print(f"   worker overhead over bare populate        : {overhead * 1e3:6.2f} ms/job  (target <= {limit:g})")
    overhead_ok = overhead * 1e3 <= limit

    env = {**os.environ, **worker_env()}
    bench.Job.delete(prompt=False)
    # 2. worker start-up, nothing to do
    startups = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(WORKER_COMMAND, cwd=REPO, env=env, check=True, capture_output=True)
        startups.append(time.perf_counter() - start)
    print(f"\n2. worker start-up (launch to exit, no jobs): {min(startups):.2f} s (best of 3)")

    # 3. worker scaling
    work = calibrate_work(CPU_SECONDS_PER_JOB)
    bench.Job.insert([{"job_id": i, "work": work} for i in range(N_CPU)])
    spans, walls = {}, {}
    print(f"\n3. CPU-bound make(), {N_CPU} jobs of ~{CPU_SECONDS_PER_JOB} s")
    for n_workers in (1, 2):
        bench.CpuBound.delete(prompt=False)
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                WORKER_COMMAND, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for _ in range(n_workers)
        ]
        for proc in procs:
            _, err = proc.communicate()
            assert proc.returncode == 0, err
        walls[n_workers] = time.perf_counter() - start
        assert len(bench.CpuBound()) == N_CPU
        started, finished, pids = bench.CpuBound.to_arrays("started", "finished", "pid")
        spans[n_workers] = finished.max() - started.min()
        print(f"   {n_workers} worker(s): {spans[n_workers]:6.2f} s from first job to last, {walls[n_workers]:6.2f} s "
              f"wall; jobs done by {len(set(pids))} process(es)")  # fmt: skip
    speedup = spans[1] / spans[2]
    print(f"   2 workers: {speedup:.2f}x one worker (span), {walls[1] / walls[2]:.2f}x (wall incl. start-up)")
    scaling_ok = speedup >= 1.7

    schema.deactivate(drop=True)
    print(f"\ntargets: worker overhead <= {limit:g} ms/job: {'met' if overhead_ok else 'MISSED'}; "
          f"2 workers >= 1.7x: {'met' if scaling_ok else 'MISSED'}")  # fmt: skip
    return 0 if overhead_ok and scaling_ok else 1


def worker_env() -> dict[str, str]:
    """Where worker processes find this run's database (the embedded server's socket, or the server)."""
    import datajoint as dj

    return {
        "DJ_BACKEND": str(dj.config.database.backend),
        "DJ_HOST": str(dj.config.database.host),
        "DJ_PORT": str(dj.config.database.port),
        "DJ_USER": str(dj.config.database.user),
        "DJ_PASS": "",
        "DJ_USE_TLS": "false",
    }


if __name__ == "__main__":
    sys.exit(main())
