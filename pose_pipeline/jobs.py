"""Job bookkeeping on top of DataJoint's per-table jobs tables: progress, orphan reclaiming, error clearing.

DataJoint records who reserved each job (host, pid, database connection id) but leaves the job of a worker
that died (SIGKILL, lost machine, server restart) ``reserved`` forever. `reclaim_orphans` frees such jobs by
evidence rather than by age alone: the reserving database connection no longer exists, or the reserving
process on this host is gone. Age (``orphan_timeout``) is only the fallback for what cannot be seen, e.g. a
worker on another host whose connection the server hides from this user.
"""

from __future__ import annotations

import os
import platform

import datajoint as dj
import pandas as pd

from .database import process_alive
from .owned_jobs import CONNECTION_ERROR_PREFIXES, INTERRUPTION_PREFIXES  # noqa: F401 - part of this API


def live_connection_ids(conn: dj.Connection) -> set[int]:
    """Ids of the connections the server has open now (those this user may see on MySQL/MariaDB)."""
    if conn.adapter.backend == "postgresql":
        sql = "SELECT pid FROM pg_stat_activity"
    else:
        sql = "SELECT ID FROM information_schema.PROCESSLIST"
    return {int(row[0]) for row in conn.query(sql).fetchall()}


def _job_key(table, job: dict) -> dict:
    return {name: job[name] for name in table.jobs.primary_key}


def reclaim_orphans(tables, orphan_timeout: float | None = None, *, busy: bool = False) -> int:
    """Return orphaned reservations of ``tables`` to the queue; returns how many were freed.

    A reservation is orphaned when its database connection is gone (and the server shows this user's
    connections, i.e. it was made by the same database user), when it was made on this host by a process that
    no longer exists, or by this very process while it is not running a job (``busy=False``: a reconnecting
    worker), or when it is older than ``orphan_timeout`` seconds. Freed jobs are deleted from the jobs table;
    the next ``populate`` re-adds them as pending.
    """
    if not tables:
        return 0
    conn = tables[0].connection
    # Read the reservations before the live connections: a worker that connects and reserves in between must
    # not look dead (its connection would be missing from an older snapshot).
    reserved = {}
    for table in tables:
        if not table.jobs.is_declared:
            continue
        too_old = set()
        if orphan_timeout is not None:
            # the server's clock judges age, as DataJoint's own jobs.refresh() does
            interval = conn.adapter.interval_expr(orphan_timeout, "second")
            old = table.jobs.reserved & f"reserved_time < CURRENT_TIMESTAMP - {interval}"
            too_old = {_frozen(_job_key(table, job)) for job in old.proj().to_dicts()}
        reserved[table] = [(job, _frozen(_job_key(table, job)) in too_old) for job in table.jobs.reserved.to_dicts()]
    live = live_connection_ids(conn)
    user = conn.get_user()
    host = platform.node()
    freed = 0
    for table, jobs_of_table in reserved.items():
        for job, is_too_old in jobs_of_table:
            same_host = job["host"] == host
            dead = (
                (job["user"] == user and job["connection_id"] not in live)
                or (same_host and not process_alive(job["pid"]))
                or (same_host and job["pid"] == os.getpid() and not busy)
                or is_too_old
            )
            if dead:
                # only if still reserved by the same connection: it may have finished since we looked
                stale = table.jobs.reserved & _job_key(table, job) & {"connection_id": job["connection_id"]}
                freed += stale.delete_quick(get_count=True)
    return freed


def _frozen(key: dict) -> tuple:
    return tuple(sorted(key.items()))


def release_interrupted(tables) -> int:
    """Return to the queue the jobs this process was running when it was interrupted (SIGTERM, Ctrl-C).

    DataJoint records an interrupted ``make()`` as an error; a worker asked to stop should hand its job back
    instead, so nobody has to clear an error that was never one.
    """
    released = 0
    for table in tables:
        if not table.jobs.is_declared:
            continue
        mine = table.jobs.errors & {"host": platform.node(), "pid": os.getpid()}
        for job in mine.to_dicts():
            if job["error_message"].startswith(INTERRUPTION_PREFIXES):
                (table.jobs & _job_key(table, job)).delete_quick()
                released += 1
    return released


def requeue(table, keys) -> int:
    """Delete the job records of ``keys`` so the next populate queues them again."""
    count = 0
    for key in keys:
        count += (table.jobs & _job_key(table, key)).delete_quick(get_count=True)
    return count


def progress(tables) -> pd.DataFrame:
    """One row per table: keys done, still to do, and the jobs queue's pending / reserved / error counts."""
    rows = []
    for table in tables:
        total = len(table.key_source)
        done = len(table())
        queue = table.jobs.progress()
        rows.append(
            {
                "table": table.__name__,
                "done": done,
                "to_do": total - done,
                "pending": queue["pending"],
                "reserved": queue["reserved"],
                "error": queue["error"],
            }
        )
    return pd.DataFrame(rows, columns=["table", "done", "to_do", "pending", "reserved", "error"]).set_index("table")


def errors(tables) -> pd.DataFrame:
    """One row per failed job: table, key, host, time and error message (the traceback stays in the jobs table)."""
    rows = []
    for table in tables:
        if not table.jobs.is_declared:
            continue
        for job in table.jobs.errors.to_dicts():
            key = _job_key(table, job)
            rows.append(
                {
                    "table": table.__name__,
                    "key": key,
                    "host": job["host"],
                    "time": job["completed_time"],
                    "error_message": job["error_message"],
                }
            )
    return pd.DataFrame(rows, columns=["table", "key", "host", "time", "error_message"])


def clear_errors(tables) -> int:
    """Delete error records so their keys are retried on the next populate; returns how many were cleared."""
    return sum(table.jobs.errors.delete_quick(get_count=True) for table in tables if table.jobs.is_declared)
