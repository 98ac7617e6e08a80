"""Files in the stores: streamed into ``<object@store>`` fields on insert and into the cache on fetch.

DataJoint's attachment codec reads whole files into memory; videos (sources and overlays) are streamed instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import database

COPY_CHUNK = 16 * 1024 * 1024


def insert_with_file(table, row: dict, field: str, path: Path) -> None:
    """Insert ``row`` into ``table`` with the file at ``path`` streamed into its ``<object@...>`` ``field``.

    On any failure nothing is inserted and the partial object is removed from the store.
    """
    path = Path(path)
    with table.staged_insert1 as staged:
        staged.rec.update(row)
        with open(path, "rb") as source, staged.open(field, path.suffix) as target:
            shutil.copyfileobj(source, target, COPY_CHUNK)


def fetch_to_cache(ref, name: str, size: int | None = None, verify=None) -> Path:
    """Stream a stored object into the managed cache as ``name`` (once) and return the local path.

    ``verify(path)``, if given, checks the fetched copy before it is renamed into place (raise to refuse); a
    cached file of the right ``size`` is returned as is.
    """
    target = database.cache_dir() / "objects" / name
    if target.exists() and (size is None or target.stat().st_size == size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with ref.open() as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        if verify is not None:
            verify(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
