"""Files in the stores: streamed into ``<object@store>`` fields on insert, and handed out of one verified cache.

DataJoint's attachment codec reads whole files into memory; videos (sources and overlays), model snapshots and
every other stored file are streamed instead, and their sha256 is computed while they are copied in.

`fetch_verified` is the one way a stored file reaches a local path: the object is streamed from its store into the
managed cache under its checksum (so identical files are fetched once, whatever table holds them), verified, and
only then renamed into place; a cached copy is verified again every time it is handed out, so a damaged copy is
never used. Verifying streams the file through sha256, cheap beside decoding it (see the video-reader benchmark).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .. import database
from ..video.probe import file_sha256

COPY_CHUNK = 16 * 1024 * 1024


class ChecksumError(OSError):
    """A stored or cached file does not match the checksum recorded when it was stored."""


def insert_with_file(table, row: dict, field: str, path: Path, sha256_field: str | None = "sha256") -> str:
    """Insert ``row`` into ``table`` with the file at ``path`` streamed into its ``<object@...>`` ``field``, and
    return the file's sha256, computed while copying (and stored in ``sha256_field`` unless that is None).

    On any failure nothing is inserted and the partial object is removed from the store.
    """
    path = Path(path)
    digest = hashlib.sha256()
    with table.staged_insert1 as staged:
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
    """
    if not _in_make(table):
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
