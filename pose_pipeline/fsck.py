"""Check the stores against the database: files no row references, rows whose files are missing or damaged.

``pose-pipeline fsck`` is the command line of this module. `check` lists

- orphans: files in a store that no row of the pipeline's schemas references (a worker SIGKILLed between writing a
  file and inserting its row, rows deleted since: DataJoint deletes rows, not their files). Files younger than
  ``grace`` seconds are left out, because a running job's file has no row yet;
- missing: rows whose file is not in its store;
- stale scratch folders: private working copies in this machine's cache (an import's copy of a raw video, a blur
  or overlay being written) left by a process killed with SIGKILL, older than ``grace``;
- damaged: rows whose file no longer matches the sha256 recorded when it was stored (streamed, one file at a time),
  or, for content-addressed ``<blob@store>`` / ``<attach@store>`` files, the hash in their metadata.

`remove_orphans` deletes the orphans (DataJoint's own garbage collector lists them; only this pipeline's schemas
are scanned, so other schemas sharing a store are never touched); `delete_damaged` deletes the rows with missing or
damaged files, with everything computed from them, so that the pipeline computes them again (a source video is
gone for good: import it again).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import datajoint as dj
from datajoint.gc import GarbageCollector
from datajoint.hash_registry import delete_path, get_hash

from . import database, schema

logger = logging.getLogger(__name__)

DEFAULT_GRACE = 6 * 3600.0  # seconds; longer than any job that writes a file
_CHUNK = 16 * 1024 * 1024


class FsckError(RuntimeError):
    """The check could not be completed (a store or a table could not be read); nothing was removed."""


@dataclass(frozen=True)
class Orphan:
    """A file in a store that no row references."""

    store: str
    path: str  # relative to the store's location
    size: int
    age_s: float
    hash_addressed: bool  # a ``<blob@>`` / ``<attach@>`` content file rather than an ``<object@>`` file


@dataclass(frozen=True)
class BadRow:
    """A row whose file is missing from its store or does not match its recorded sha256."""

    table: type[dj.Table]
    key: dict
    attribute: str
    path: str
    problem: str  # "missing" or "damaged"
    detail: str

    def __str__(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        return f"{self.table.__name__}({key}).{self.attribute}: {self.problem}: {self.detail} [{self.path}]"


@dataclass
class FsckReport:
    """What `check` found; ``young`` counts unreferenced files left alone because they are younger than grace."""

    orphans: list[Orphan] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    stale_scratch: list[Path] = field(default_factory=list)
    young: int = 0
    files_checked: int = 0

    @property
    def clean(self) -> bool:
        return not self.orphans and not self.bad_rows and not self.stale_scratch

    def summary(self) -> str:
        lines = [f"orphan file in store {o.store!r}: {o.path} ({o.size} bytes)" for o in self.orphans]
        lines += [
            f"stale scratch folder in the cache (a killed process's working copy): {p}" for p in self.stale_scratch
        ]
        lines += [str(row) for row in self.bad_rows]
        missing = sum(row.problem == "missing" for row in self.bad_rows)
        lines.append(
            f"{self.files_checked} stored file(s) checked: {len(self.orphans)} orphan(s), {missing} missing, "
            f"{len(self.bad_rows) - missing} damaged"
            + (f"; {self.young} unreferenced file(s) younger than the grace period left alone" if self.young else "")
        )
        return "\n".join(lines)


def _schemas() -> list[dj.Schema]:
    if not schema.is_active():
        schema.activate(create_tables=False)
    return [module.schema for module in schema.stage_modules() if module.schema.database is not None]


def _store_names() -> list[str]:
    return [name for name, spec in dict(dj.config.stores).items() if isinstance(spec, dict)]


@contextmanager
def _tables_read_once(schemas):
    """Read the dependency graph, each schema's table list and each table's heading once for the block.
    DataJoint's GarbageCollector reaches every table through ``Schema.list_tables`` and ``get_table``, each of
    which reloads the whole dependency graph (``Dependencies.load``, ``force=True`` by default) and, for
    ``get_table``, the table's heading: a graph reload per table per scan, quadratic in the tables, and the scan
    runs twice per store (hash- and schema-addressed files). On the pipeline's ~100 tables that was 90 of fsck's
    100 s. The collector only reads, so one graph and one table object per name serve every scan in the block."""
    dependencies = schemas[0].connection.dependencies
    dependencies.load()
    reload = dependencies.load
    dependencies.load = lambda force=True, schema_names=None: (
        None if schema_names is None else reload(force, schema_names)
    )
    for one in schemas:
        tables = one.list_tables()
        one.list_tables = lambda tables=tables: list(tables)
        one.get_table = functools.cache(one.get_table)  # a table object per name (not its truth value: a count)
    try:
        yield
    finally:
        for one in schemas:  # the class's methods again
            del one.list_tables, one.get_table
        del dependencies.load


def _collect(store: str, schemas) -> tuple[GarbageCollector, dict]:
    """DataJoint's garbage collector's dry run, refused when any table could not be scanned: a table it fails to
    read would make every file of that table look orphaned. (Upstream-shaped note: ``GarbageCollector`` logs
    reference-scan failures as warnings and goes on; it should count them as scan errors.)"""
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    handler = Collect()
    dj_logger = logging.getLogger("datajoint")
    dj_logger.addHandler(handler)
    try:
        collector = GarbageCollector(*schemas, store=store)
        stats = collector.collect(dry_run=True)
    finally:
        dj_logger.removeHandler(handler)
    problems = warnings + list(stats["scan_errors"])
    if problems:
        raise FsckError(f"store {store!r} could not be checked: {'; '.join(problems[:3])}")
    return collector, stats


def _age(fs, full_path: str, now: datetime) -> float:
    try:
        modified = fs.modified(full_path)
    except (NotImplementedError, FileNotFoundError, OSError):
        return float("inf")
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return (now - modified).total_seconds()


def _orphans(report: FsckReport, grace: float, schemas) -> None:
    now = datetime.now(UTC)
    for store in _store_names():
        collector, stats = _collect(store, schemas)
        candidates = [(p, True) for p in stats["orphaned_hash_paths"]]
        candidates += [(p, False) for p in stats["orphaned_schema_paths"]]
        for path, hashed in candidates:
            full = collector.backend._full_path(path)
            age = _age(collector.backend.fs, full, now)
            if age < grace:
                report.young += 1
                continue
            try:
                size = collector.backend.fs.size(full)
            except OSError:
                size = 0
            report.orphans.append(Orphan(store, path, int(size or 0), age, hashed))


# the prefixes of the private working folders made in the cache (tempfile's default "tmp" for blurs and overlays)
SCRATCH_PREFIXES = ("import-", "tmp")


def _stale_scratch(report: FsckReport, grace: float) -> None:
    """Working folders that the ``with TemporaryDirectory`` of a killed process could not remove. Younger than
    ``grace``, a folder may belong to a running import or job on this machine and is left alone."""
    now = time.time()
    for path in sorted(database.cache_dir().iterdir()):
        if path.is_dir() and not path.is_symlink() and path.name.startswith(SCRATCH_PREFIXES):
            if now - path.stat().st_mtime >= grace:
                report.stale_scratch.append(path)
            else:
                report.young += 1


def _tables_with_files(schemas) -> list[type[dj.Table]]:
    tables = []
    for module in schema.stage_modules():
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, dj.Table) and value.__module__ == module.__name__:
                candidates = [value] + [
                    p for p in vars(value).values() if isinstance(p, type) and issubclass(p, dj.Part)
                ]
                tables += [
                    t
                    for t in candidates
                    if t.database is not None and (t().heading.schema_objects or t().heading.hash_objects)
                ]
    return tables


def _sha256(ref) -> str:
    digest = hashlib.sha256()
    with ref.open() as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _bad_hashed(report: FsckReport, table, verify: bool) -> None:
    """``<blob@>`` / ``<attach@>`` columns: content-addressed files, checked against the hash in their metadata."""
    config = table.connection._config
    for attribute in table().heading.hash_objects:
        for row in table().proj(attribute).cursor(as_dict=True):  # the stored metadata, not the decoded value
            meta = row[attribute]
            if meta is None:
                continue
            meta = json.loads(meta) if isinstance(meta, str | bytes) else meta
            key = {k: row[k] for k in table.primary_key}
            report.files_checked += 1
            try:
                if verify:
                    get_hash(meta, config=config)  # DataJoint re-hashes the content and compares
                elif not dj.hash_registry.get_store_backend(meta.get("store"), config=config).exists(meta["path"]):
                    raise dj.errors.MissingExternalFile(meta["path"])
            except dj.errors.MissingExternalFile:
                report.bad_rows.append(BadRow(table, key, attribute, meta["path"], "missing", "not in its store"))
            except FileNotFoundError:
                report.bad_rows.append(BadRow(table, key, attribute, meta["path"], "missing", "not in its store"))
            except dj.errors.DataJointError as error:
                if "mismatch" not in str(error):
                    raise
                detail = "content does not match the hash recorded when it was stored"
                report.bad_rows.append(BadRow(table, key, attribute, meta["path"], "damaged", detail))


def _bad_rows(report: FsckReport, schemas, verify: bool) -> None:
    for table in _tables_with_files(schemas):
        _bad_hashed(report, table, verify)
        heading = table().heading
        has_sha = "sha256" in heading.names
        attributes = list(heading.schema_objects)
        for row in (table().proj(*attributes, *(["sha256"] if has_sha else []))).to_dicts():
            key = {k: row[k] for k in table.primary_key}
            for attribute in attributes:
                ref = row[attribute]
                if ref is None:
                    continue
                report.files_checked += 1
                path = getattr(ref, "path", str(ref))
                if not ref.exists():
                    report.bad_rows.append(BadRow(table, key, attribute, path, "missing", "not in its store"))
                    continue
                if not (verify and has_sha and len(attributes) == 1):
                    continue
                digest = _sha256(ref)
                if digest != row["sha256"]:
                    detail = f"sha256 {digest[:12]}..., {row['sha256'][:12]}... was recorded when it was stored"
                    report.bad_rows.append(BadRow(table, key, attribute, path, "damaged", detail))


def check(grace: float = DEFAULT_GRACE, verify: bool = True) -> FsckReport:
    """Find orphan files (older than ``grace`` seconds) and rows whose files are missing or, with ``verify``,
    do not match their recorded sha256. Raises `FsckError` when a store or a table cannot be read."""
    schemas = _schemas()
    report = FsckReport()
    with _tables_read_once(schemas):
        _orphans(report, grace, schemas)
    _stale_scratch(report, grace)
    _bad_rows(report, schemas, verify)
    return report


def remove_orphans(report: FsckReport) -> int:
    """Delete the orphan files of ``report``; returns how many were removed."""
    schemas = _schemas()
    removed = 0
    for orphan in report.orphans:
        if orphan.hash_addressed:
            removed += bool(delete_path(orphan.path, orphan.store, config=schemas[0].connection._config))
        else:
            removed += GarbageCollector(*schemas, store=orphan.store).delete_schema_path(orphan.path)
    return removed


def remove_stale_scratch(report: FsckReport) -> int:
    """Delete the stale scratch folders of ``report``; returns how many were removed."""
    for folder in report.stale_scratch:
        shutil.rmtree(folder, ignore_errors=True)
    return sum(not folder.exists() for folder in report.stale_scratch)


def delete_damaged(report: FsckReport) -> int:
    """Delete the rows of ``report`` whose files are missing or damaged, with everything computed from them (for a
    part table, its master row). Returns the number of rows named in the report that were deleted."""
    deleted = 0
    for row in report.bad_rows:
        table = row.table.master if issubclass(row.table, dj.Part) else row.table
        restricted = table & row.key
        if len(restricted):
            restricted.delete(prompt=False)
            deleted += 1
    return deleted
