"""A worker: populate the pipeline's computed tables with reserved jobs until idle or told to stop.

Start as many as you have GPUs or cores, on as many machines as can reach the database server and the stores
(`pose-pipeline worker`). Jobs are reserved through DataJoint's jobs tables, owned by the reserving process and
its live connection (`pose_pipeline.owned_jobs`), so no key is committed twice; every ``make()`` runs in a
transaction, so a killed worker leaves no partial rows; orphaned reservations are reclaimed
(`pose_pipeline.jobs.reclaim_orphans`); Ctrl-C stops after the running job; SIGTERM hands it back to the queue.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field

import datajoint as dj

from . import jobs, owned_jobs

logger = logging.getLogger(__name__)

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (dj.errors.LostConnectionError,)


def _connection_errors() -> tuple[type[BaseException], ...]:
    errors = list(_CONNECTION_ERRORS)
    try:
        import pymysql

        errors.append(pymysql.err.OperationalError)
        errors.append(pymysql.err.InterfaceError)
    except ImportError:
        pass
    try:
        import psycopg2

        errors.append(psycopg2.OperationalError)
        errors.append(psycopg2.InterfaceError)
    except ImportError:
        pass
    return tuple(errors)


@dataclass
class WorkerReport:
    """What one worker did before it stopped, and why it stopped."""

    jobs_done: int = 0
    jobs_failed: int = 0
    orphans_reclaimed: int = 0
    reconnects: int = 0
    stopped_because: str = ""
    errors: list = field(default_factory=list)


class Worker:
    """Loops ``populate(reserve_jobs=True, suppress_errors=True)`` over tables in dependency order.

    Stopping: SIGINT (Ctrl-C) lets the running job finish and refuses further reservations, so the worker stops
    within one job (a second Ctrl-C interrupts that job too and returns it to the queue); SIGTERM interrupts the
    running job and returns it to the queue. Jobs are owned (`pose_pipeline.owned_jobs`): a job this worker lost
    to another while its connection was down is dropped with a warning, never finished twice, and the worker
    keeps going.
    """

    def __init__(
        self,
        tables,
        *,
        max_jobs: int | None = None,
        idle_timeout: float | None = 60.0,
        poll_interval: float = 2.0,
        orphan_timeout: float | None = 24 * 3600.0,
        reclaim_interval: float = 30.0,
        reconnect_timeout: float = 300.0,
        max_connection_retries: int = 3,
    ):
        self.tables = list(tables)
        self.max_jobs = max_jobs
        self.idle_timeout = idle_timeout
        self.poll_interval = poll_interval
        self.orphan_timeout = orphan_timeout
        self.reclaim_interval = reclaim_interval
        self.reconnect_timeout = reconnect_timeout
        self.max_connection_retries = max_connection_retries
        self.report = WorkerReport()
        self._stop_requested = False

    def request_stop(self, signum=None, frame=None) -> None:
        """Stop after the current job: no further job is reserved. A second SIGINT interrupts the current job."""
        if self._stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._stop_requested = True
        owned_jobs.refuse_reservations()

    def _budget(self) -> int | None:
        if self.max_jobs is None:
            return None
        return self.max_jobs - self.report.jobs_done - self.report.jobs_failed

    def run(self) -> WorkerReport:
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        owned_jobs.refuse_reservations(False)
        owned_jobs.max_connection_retries = self.max_connection_retries
        connection_errors = _connection_errors()
        idle_since = time.monotonic()
        last_reclaim = -float("inf")
        try:
            while not self._stop_requested:
                if self._budget() is not None and self._budget() <= 0:
                    self.report.stopped_because = f"max jobs ({self.max_jobs}) done"
                    break
                try:
                    if time.monotonic() - last_reclaim > self.reclaim_interval:
                        self.report.orphans_reclaimed += jobs.reclaim_orphans(self.tables, self.orphan_timeout)
                        last_reclaim = time.monotonic()
                    worked = self._one_pass()
                except (SystemExit, KeyboardInterrupt):
                    # populate() turns SIGTERM into SystemExit inside make(); the job was handed back.
                    self._stop_requested = True
                    self.report.stopped_because = "interrupted; running job returned to the queue"
                    break
                except connection_errors as error:
                    logger.warning("lost the database connection (%s); reconnecting", error)
                    self._reconnect()
                    last_reclaim = -float("inf")
                    continue
                except Exception as error:  # a bookkeeping failure must not end the worker
                    logger.exception("worker pass failed; going on")
                    self.report.errors.append(("", {}, f"{type(error).__name__}: {error}"))
                    time.sleep(self.poll_interval)
                    continue
                if worked:
                    idle_since = time.monotonic()
                elif self.idle_timeout is not None and time.monotonic() - idle_since >= self.idle_timeout:
                    self.report.stopped_because = f"idle for {self.idle_timeout:g} s"
                    break
                else:
                    time.sleep(self.poll_interval)
            if self._stop_requested and not self.report.stopped_because:
                self.report.stopped_because = "stop requested"
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._release_held()
            owned_jobs.refuse_reservations(False)
        return self.report

    def _one_pass(self) -> bool:
        """Populate each table once; True if any job ran."""
        worked = False
        for table in self.tables:
            if self._stop_requested or (self._budget() is not None and self._budget() <= 0):
                break
            result = table.populate(reserve_jobs=True, suppress_errors=True, max_calls=self._budget())
            # populate() installs its own SIGTERM handler while it runs; put ours back for the gaps between.
            signal.signal(signal.SIGTERM, self.request_stop)
            requeued = {(name, tuple(sorted(key.items()))) for name, key in owned_jobs.take_requeued()}
            if requeued:
                logger.warning("%s: %d job(s) lost their database connection; queued again", table.__name__,
                               len(requeued))  # fmt: skip
            failures = [
                (key, message)
                for key, message in result["error_list"]
                if (table.jobs.full_table_name, tuple(sorted(table.jobs._get_pk(key).items()))) not in requeued
            ]
            self.report.jobs_done += result["success_count"]
            self.report.jobs_failed += len(failures)
            self.report.errors.extend((table.__name__, key, message) for key, message in failures)
            worked = worked or bool(result["success_count"] or result["error_list"])
        return worked

    def _release_held(self) -> None:
        try:
            owned_jobs.release_held(self.tables[0].connection)
            jobs.release_interrupted(self.tables)
        except Exception as error:  # noqa: BLE001 - the database may be gone; reclaiming frees the job later
            logger.warning("could not return interrupted jobs to the queue: %s", error)

    def _reconnect(self) -> None:
        conn = self.tables[0].connection
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.5
        while True:
            try:
                try:
                    conn.connect()  # refreshes connection_id; held jobs follow the new connection
                except owned_jobs.ReservationLost as lost:
                    logger.warning("%s", lost)
                # The transaction that broke with the old connection is gone; DataJoint still thinks it is
                # open until told (a ROLLBACK on the new connection, harmless).
                conn.cancel_transaction()
                owned_jobs.release_held(conn)  # the job that was running is abandoned: back to the queue
                self.report.reconnects += 1
                return
            except Exception as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"database unreachable for {self.reconnect_timeout:g} s: {error}") from error
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


def select_gpu(gpu: str | None) -> None:
    """Pin this worker to GPUs (e.g. "0" or "0,1") before any framework is imported."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def resolve_tables(all_tables, names: list[str] | None):
    """The tables a worker should run: all of them, or those named, kept in dependency order."""
    if not names:
        return list(all_tables)
    by_name = {table.__name__: table for table in all_tables}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; computed tables are {sorted(by_name)}")
    return [table for table in all_tables if table.__name__ in names]
