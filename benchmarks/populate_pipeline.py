"""Tables for the populate benchmark: a trivial make() and a CPU-bound one."""

import os
import time

import datajoint as dj

STAGE = "bench"
schema = dj.Schema()


@schema
class Job(dj.Manual):
    """One unit of benchmark work."""

    definition = """
    job_id    : int32
    ---
    work      : int64     # loop iterations for the CPU-bound table
    """


@schema
class Trivial(dj.Computed):
    """Copies a number: measures the pipeline's per-job overhead."""

    definition = """
    -> Job
    ---
    value     : int64
    """

    def make(self, key):
        self.insert1(dict(key, value=key["job_id"]))


@schema
class CpuBound(dj.Computed):
    """Burns CPU in pure Python (no threads, no GIL release): measures scaling over worker processes."""

    definition = """
    -> Job
    ---
    value     : int64
    pid       : int32
    started   : float64   # time.time() when make() began
    finished  : float64   # time.time() when the work was done
    """

    def make(self, key):
        started = time.time()
        n = (Job & key).fetch1("work")
        total = 0
        for i in range(n):
            total += i * i % 7
        self.insert1(dict(key, value=total, pid=os.getpid(), started=started, finished=time.time()))


ROOT_TABLES = (Job,)
