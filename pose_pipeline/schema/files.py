"""Files in the stores: streamed into ``<object@store>`` fields on insert, and handed out of one verified cache.

DataJoint's attachment codec reads whole files into memory; videos (sources and overlays), model snapshots and
every other stored file are streamed instead, and their sha256 is computed while they are copied in.

`fetch_verified` is the one way a stored file reaches a local path: the object is streamed from its store into the
managed cache under its checksum (so identical files are fetched once, whatever table holds them), verified, and
only then renamed into place; a cached copy is verified again every time it is handed out, so a damaged copy is
never used. Verifying streams the file through sha256, cheap beside decoding it (see the video-reader benchmark).

A file written into a store is never left there without its row: `staged_insert` removes it when the insert fails
for any reason, Ctrl-C, ``sys.exit`` and SIGTERM included (SIGTERM, when nothing else handles it, is turned into
`Terminated` for the duration of the copy), and when the transaction it was written in is rolled back
(`install_rollback_cleanup`, done by ``schema.activate``). Only SIGKILL or a power cut can leave one behind:
``pose-pipeline fsck`` finds those.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import datajoint as dj
from datajoint.staged_insert import StagedInsert

from .. import database
from ..video.probe import file_sha256

COPY_CHUNK = 16 * 1024 * 1024
logger = logging.getLogger(__name__)


class ChecksumError(OSError):
    """A stored or cached file does not match the checksum recorded when it was stored."""


class Terminated(BaseException):
    """SIGTERM arrived while a file was being written into a store (raised by `terminate_as_exception`)."""


@contextmanager
def terminate_as_exception():
    """Turn SIGTERM into `Terminated` inside the block, so ``finally`` clauses and cleanups run.

    Only when SIGTERM would otherwise kill the process at once (the default action) and only in the main thread:
    a handler someone else installed (the worker's, or populate's, which raises SystemExit) is left in charge.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not (
        signal.SIG_DFL
    ):
        yield
        return

    def handler(signum, frame):
        raise Terminated("SIGTERM received while writing a file into a store")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def staged_insert(table):
    """DataJoint's ``table.staged_insert1``, with the written files removed on *every* failure.

    DataJoint's own context manager cleans up only on ``Exception``: Ctrl-C, ``sys.exit`` or SIGTERM during the copy
    left a partial file (for a source video: identifiable data) in the store with no row. (Upstream-shaped note:
    ``datajoint.staged_insert.staged_insert1`` should catch ``BaseException`` for its cleanup.) A file written
    inside a transaction is also removed if that transaction is rolled back (`install_rollback_cleanup`).
    """
    staged = StagedInsert(table() if isinstance(table, type) else table)
    try:
        with terminate_as_exception():
            yield staged
            staged._finalize()
    except BaseException:
        staged._cleanup()
        raise
    connection = staged._table.connection
    if connection.in_transaction:
        _written_in_transaction(connection).append(staged)


def _written_in_transaction(connection) -> list[StagedInsert]:
    written = connection.__dict__.get("_pose_pipeline_written")
    if written is None:
        written = connection.__dict__["_pose_pipeline_written"] = []
    return written


def install_rollback_cleanup() -> None:
    """Make every DataJoint connection remove the files written into stores inside a transaction when that
    transaction is rolled back (populate does so when ``make()`` fails), and forget them when it commits.

    The files are removed even when the rollback itself fails: a connection lost mid-transaction is rolled back by
    the server. Idempotent. (Upstream-shaped note: DataJoint's ``Connection`` has no hook for this; object stores
    and transactions are not coordinated there.)
    """
    connection_class = dj.Connection
    if getattr(connection_class, "_pose_pipeline_rollback_cleanup", False):
        return
    cancel, commit = connection_class.cancel_transaction, connection_class.commit_transaction

    def cancel_transaction(self) -> None:
        try:
            cancel(self)
        finally:
            written = self.__dict__.pop("_pose_pipeline_written", None) or []
            for staged in written:
                staged._cleanup()
            if written:
                logger.info("transaction rolled back: removed %d file(s) written in it", len(written))

    def commit_transaction(self) -> None:
        try:
            commit(self)
        finally:  # committed or not, never delete files a committed row may reference
            self.__dict__.pop("_pose_pipeline_written", None)

    connection_class.cancel_transaction = cancel_transaction
    connection_class.commit_transaction = commit_transaction
    connection_class._pose_pipeline_rollback_cleanup = True


def insert_with_file(table, row: dict, field: str, path: Path, sha256_field: str | None = "sha256") -> str:
    """Insert ``row`` into ``table`` with the file at ``path`` streamed into its ``<object@...>`` ``field``, and
    return the file's sha256, computed while copying (and stored in ``sha256_field`` unless that is None).

    On any failure (interrupts and SIGTERM included, see `staged_insert`) nothing is inserted and the partial
    object is removed from the store.
    """
    path = Path(path)
    digest = hashlib.sha256()
    with staged_insert(table) as staged:
        staged.rec.update(row)
        _clear_stale_attempts(table, staged, field, path.suffix)
        with open(path, "rb") as source, staged.open(field, path.suffix) as target:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                target.write(chunk)
        if sha256_field is not None:
            staged.rec[sha256_field] = digest.hexdigest()
    return digest.hexdigest()


def _in_make(table) -> bool:
    """True while ``table`` (or its master, for a part table) runs ``make()`` under populate."""
    owner = getattr(table, "master", None) or table
    owner = owner if isinstance(owner, type) else type(owner)
    return bool(owner.__dict__.get("_allow_insert", False))


def _clear_stale_attempts(table, staged, field: str, ext: str) -> None:
    """Remove what an earlier, killed attempt at this key left in the key's folder of the store.

    DataJoint writes a key's object to ``<schema>/<table>/<key>/<field>_<token><ext>``, one folder per key. A worker
    killed (SIGKILL) during ``make()`` leaves its file there with no row. Inside ``make()`` no row of this key exists
    and the job reservation keeps every other worker out, so whatever ``<field>_*`` that folder holds is such a
    leftover. Outside ``make()`` (an import) nothing is removed: a concurrent writer of the same key may own it.

    A worker whose database connection was killed keeps running its ``make()`` while another worker reclaims the
    job and may commit the key first; that committed row's file is no leftover. So the row is looked up first, in
    this job's transaction: a dead connection raises there (no reconnection inside a transaction), and a row
    committed by another worker leaves the folder alone.
    """
    if not _in_make(table):
        return
    key = {name: staged.rec[name] for name in table.primary_key}
    if table & key:
        return
    relative_path, backend = staged._resolve_field(field, ext)  # DataJoint's own path for this key (private API)
    folder = backend._full_path(relative_path).rsplit("/", 1)[0]
    ours = backend._full_path(relative_path)
    if not backend.fs.exists(folder):
        return
    for entry in backend.fs.ls(folder, detail=False):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if str(entry) != ours and name.startswith(f"{field}_"):
            backend.fs.rm(entry, recursive=True)


def fetch_verified(ref, sha256: str, what: str) -> Path:
    """A verified local copy of the stored object ``ref`` whose recorded checksum is ``sha256``.

    ``what`` names the file in errors (e.g. ``"video clinic/walk.mp4"``). Raises `ChecksumError` when the stored
    object does not match; a cached copy that no longer matches is fetched again.
    """
    target = database.cache_dir() / "objects" / sha256[:2] / f"{sha256}{ref.ext or ''}"
    if target.exists():
        if file_sha256(target) == sha256:
            return target
        target.unlink(missing_ok=True)  # damaged in the cache: the store's copy decides
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        digest = hashlib.sha256()
        with ref.open() as source, open(partial, "wb") as out:
            while chunk := source.read(COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ChecksumError(
                f"{what}: the stored file has checksum {digest.hexdigest()[:12]}..., {sha256[:12]}... was recorded "
                "when it was stored; the store's copy is damaged"
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def cached_bytes() -> int:
    """Bytes held in the managed cache of stored objects."""
    root = database.cache_dir() / "objects"
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0


def clear_cache() -> int:
    """Delete every cached copy of a stored object; returns the bytes freed. The stores are untouched."""
    freed = cached_bytes()
    shutil.rmtree(database.cache_dir() / "objects", ignore_errors=True)
    return freed
