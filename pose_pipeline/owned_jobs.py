"""Job reservations owned by the process and the live connection that made them (fixes DataJoint 2.3.5's jobs).

DataJoint's ``Job.reserve`` writes ``Connection.connection_id``, a number read once when the connection was first
opened; after a reconnect (a server restart, a killed connection) it is the id of a dead connection, so another
worker's orphan check frees a job that is still running and a second worker starts the same key. ``Job.complete``
and ``Job.error`` then update the job whoever holds it, and ``error`` raises ("Update can only be applied to one
existing entry") once the job was freed, which crashed the worker.

Here a reservation is owned:

- the reserving connection's id is filled in by the server (``CONNECTION_ID()`` / ``pg_backend_pid()``), so it is
  always the connection that made the reservation;
- the jobs this process holds follow the connection: when it reconnects, their ``connection_id`` is moved to the
  new connection, and if one of them was freed in between (another worker may now run it), the query that
  reconnected fails with `ReservationLost`, so this process drops the job instead of finishing it twice;
- ``complete``, ``error`` and `release` change a job only while this process (host and pid) still holds it;
  otherwise they log and return, so a worker whose job was reclaimed moves on;
- an interrupted job (``SystemExit`` from SIGTERM, ``KeyboardInterrupt``) is released to the queue rather than
  recorded as an error;
- a stopping worker refuses further reservations (`refuse_reservations`), which costs no query per job.

Upstream-shaped note: DataJoint could fill ``connection_id`` on the server in ``reserve``, refresh it in
``Connection.connect()``, and restrict ``complete``/``error`` to the reserving host and pid.
"""

from __future__ import annotations

import logging
import os
import platform

from datajoint import blob
from datajoint import condition as _condition  # looked up per call: _datajoint_fixes patches make_condition
from datajoint.errors import LostConnectionError

logger = logging.getLogger(__name__)

INTERRUPTION_PREFIXES = ("SystemExit", "KeyboardInterrupt")
# Jobs that failed because the database connection went away (a server restart), not because of the job.
CONNECTION_ERROR_PREFIXES = ("LostConnectionError", "ReservationLost", "OperationalError", "InterfaceError")
# A job that lost its connection is put back this many times before its failure is recorded.
max_connection_retries = 3

_refusing = False
_connection_failures: dict[tuple, int] = {}
# (jobs table, key) of jobs put back after a connection failure since `take_requeued` was last called.
_requeued: list[tuple[str, dict]] = []
# Jobs this process holds now: jobs table name -> list of primary-key dicts.
_held: dict[str, list[dict]] = {}


class ReservationLost(LostConnectionError):
    """The connection was lost during a job and the job was freed meanwhile: another worker may be running it."""


def refuse_reservations(refuse: bool = True) -> None:
    """Make every further ``reserve`` in this process return False (a worker asked to stop), or allow them again."""
    global _refusing
    _refusing = refuse


def take_requeued() -> list[tuple[str, dict]]:
    """The (jobs table, key) put back after a connection failure since the last call."""
    taken = list(_requeued)
    _requeued.clear()
    return taken


def held_jobs() -> dict[str, list[dict]]:
    """The jobs this process holds now, by jobs table (a copy)."""
    return {table: list(keys) for table, keys in _held.items() if keys}


def _live_id_sql(adapter) -> str:
    return "pg_backend_pid()" if adapter.backend == "postgresql" else "CONNECTION_ID()"


def _owned(self, pk: dict) -> str:
    """SQL condition: this job, reserved by this process."""
    qi = self.adapter.quote_identifier
    return f"{_condition.make_condition(self, pk, set())} AND {qi('status')}='reserved' AND {qi('host')}=%s AND {qi('pid')}=%s"


def _owner_args() -> list:
    return [platform.node(), os.getpid()]


def _hold(self, pk: dict) -> None:
    _held.setdefault(self.full_table_name, []).append(pk)


def _drop(self, pk: dict) -> None:
    keys = _held.get(self.full_table_name, [])
    if pk in keys:
        keys.remove(pk)


def reserve(self, key: dict) -> bool:
    """Reserve a pending job for this process and its live connection; False if it is not available."""
    if _refusing:
        return False
    pk = self._get_pk(key)
    qi = self.adapter.quote_identifier
    assignments = ", ".join(f"{qi(k)}=%s" for k in ("status", "host", "pid", "user", "version"))
    query = (
        f"UPDATE {self.full_table_name} SET {assignments}, {qi('connection_id')}={_live_id_sql(self.adapter)}, "
        f"{qi('reserved_time')}=CURRENT_TIMESTAMP(3) "
        f"WHERE {_condition.make_condition(self, pk, set())} AND {qi('status')}='pending' "
        f"AND {qi('scheduled_time')} <= CURRENT_TIMESTAMP(3)"
    )
    from datajoint.jobs import _get_job_version

    args = ["reserved", *_owner_args(), self.connection.get_user(), _get_job_version(self.connection._config)]
    if self.connection.query(query, args=args).rowcount != 1:
        return False
    _hold(self, pk)
    return True


def complete(self, key: dict, duration: float | None = None) -> None:
    """Mark this process's job done (deleted, or kept as 'success'); a job no longer held is left alone."""
    pk = self._get_pk(key)
    if self.connection._config.jobs.keep_completed:
        qi = self.adapter.quote_identifier
        duration_sql = f", {qi('duration')}=%s" if duration is not None else ""
        query = (
            f"UPDATE {self.full_table_name} SET {qi('status')}='success', "
            f"{qi('completed_time')}=CURRENT_TIMESTAMP(3){duration_sql} WHERE {_owned(self, pk)}"
        )
        args = ([duration] if duration is not None else []) + _owner_args()
    else:
        query, args = f"DELETE FROM {self.full_table_name} WHERE {_owned(self, pk)}", _owner_args()
    done = self.connection.query(query, args=args).rowcount
    _drop(self, pk)
    if done != 1:
        logger.warning("%s %s finished, but its job was no longer held by this worker", self.target.class_name, pk)


def error(self, key: dict, error_message: str, error_stack: str | None = None) -> None:
    """Record this process's job as failed, or release it if it was interrupted; a job no longer held is left
    alone (another worker reclaimed it)."""
    from datajoint.jobs import ERROR_MESSAGE_LENGTH, TRUNCATION_APPENDIX

    pk = self._get_pk(key)
    if error_message.startswith(INTERRUPTION_PREFIXES):
        release(self, pk)
        return
    if error_message.startswith(CONNECTION_ERROR_PREFIXES):
        attempt = (self.full_table_name, tuple(sorted(pk.items())))
        if _connection_failures.get(attempt, 0) < max_connection_retries:
            _connection_failures[attempt] = _connection_failures.get(attempt, 0) + 1
            release(self, pk)
            _requeued.append((self.full_table_name, pk))
            return
    if len(error_message) > ERROR_MESSAGE_LENGTH:
        error_message = error_message[: ERROR_MESSAGE_LENGTH - len(TRUNCATION_APPENDIX)] + TRUNCATION_APPENDIX
    qi = self.adapter.quote_identifier
    query = (
        f"UPDATE {self.full_table_name} SET {qi('status')}='error', {qi('completed_time')}=CURRENT_TIMESTAMP(3), "
        f"{qi('error_message')}=%s, {qi('error_stack')}=%s WHERE {_owned(self, pk)}"
    )
    stack = None if error_stack is None else blob.pack(error_stack, compress=True)  # the <blob> codec's encoding
    recorded = self.connection.query(query, args=[error_message, stack, *_owner_args()]).rowcount
    _drop(self, pk)
    if recorded != 1:
        logger.warning(
            "%s %s failed (%s), but its job was no longer held by this worker; not recorded",
            self.target.class_name,
            pk,
            error_message.splitlines()[0][:200],
        )


def release(self, key: dict) -> bool:
    """Return this process's job to the queue; False if it no longer held it."""
    pk = self._get_pk(key)
    query = f"DELETE FROM {self.full_table_name} WHERE {_owned(self, pk)}"
    released = self.connection.query(query, args=_owner_args()).rowcount == 1
    _drop(self, pk)
    return released


def follow_connection(conn) -> None:
    """Move the reservations this process holds to ``conn``'s new connection id (called after a reconnect).

    Raises `ReservationLost` if one of them was freed meanwhile, forgetting it.
    """
    lost = []
    for table, keys in list(_held.items()):
        for pk in list(keys):
            qi = conn.adapter.quote_identifier
            where = " AND ".join(f"{qi(k)}=%s" for k in pk)
            moved = conn.query(
                f"UPDATE {table} SET {qi('connection_id')}={_live_id_sql(conn.adapter)} "
                f"WHERE {where} AND {qi('status')}='reserved' AND {qi('host')}=%s AND {qi('pid')}=%s",
                args=[*pk.values(), *_owner_args()],
                reconnect=False,  # called from connect(): never reconnect from here
            ).rowcount
            if moved != 1:
                keys.remove(pk)
                lost.append((table, pk))
    if lost:
        raise ReservationLost(f"reconnected, but job(s) {lost} were freed meanwhile; another worker may run them")


def release_held(conn) -> int:
    """Return every job this process holds to the queue (a worker stopping, or starting over after a reconnect)."""
    released = 0
    for table, keys in list(_held.items()):
        qi = conn.adapter.quote_identifier
        for pk in list(keys):
            where = " AND ".join(f"{qi(k)}=%s" for k in pk)
            released += conn.query(
                f"DELETE FROM {table} WHERE {where} AND {qi('status')}='reserved' AND {qi('host')}=%s AND {qi('pid')}=%s",
                args=[*pk.values(), *_owner_args()],
            ).rowcount
        keys.clear()
    return released
