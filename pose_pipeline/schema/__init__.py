"""The pipeline's DataJoint schemas, one module per stage, activated explicitly.

>>> from pose_pipeline import schema
>>> schema.activate()          # connects (embedded PostgreSQL if nothing is configured) and declares tables
>>> from pose_pipeline.schema.video import Video, VideoInfo

Each stage module defines ``schema = dj.Schema()`` (not yet bound to a database) and its tables; `activate`
binds them, in dependency order, to ``<prefix>_<stage>`` schemas on the configured server, stores the built-in
joint sets and makes every method Lookup table follow its registry (`sync_lookup`).
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from contextlib import contextmanager

import datajoint as dj
import numpy as np

from .. import database

# Stage modules in dependency order; later issues append theirs.
STAGE_MODULES = ("joint_sets", "video", "tracking", "keypoints", "imports", "overlays", "lifting", "smpl", "multicam",
                 "skeleton_model", "dlc_data", "dlc_training", "dlc_models", "dlc_report")  # fmt: skip

# The columns of every method Lookup table; ``{name}`` is the table's name attribute (see `sync_lookup`).
LOOKUP_DEFINITION = """
    {name}          : varchar(32)      # registered name
    ---
    version         : varchar(16)
    default_params  : varchar(2000)    # JSON: the wrapper's default parameters
    output_contract : varchar(32)
    requires        : varchar(255)     # optional extras the wrapper needs
    device          : varchar(8)       # cpu, gpu or any
    description     : varchar(1000)
    """

logger = logging.getLogger(__name__)
_active_prefix: str | None = None
_extra_modules: list = []  # user schema modules activated with activate_module()
_read_only: dict[str, bool] = {}  # schema name -> the account may not create or insert there


def stage_modules():
    """The pipeline's own stage modules and any user modules activated with `activate_module`."""
    return [importlib.import_module(f"{__name__}.{name}") for name in STAGE_MODULES] + list(_extra_modules)


def activate(create_tables: bool = True) -> None:
    """Connect and bind every stage schema to the database. Idempotent for the same prefix."""
    global _active_prefix
    from .. import privileges
    from .files import install_rollback_cleanup

    install_rollback_cleanup()  # files written inside a rolled-back transaction are removed
    privileges.install()  # refusals name the missing privilege; PostgreSQL keys readable by SELECT-only accounts
    conn = database.connect()
    prefix = database.schema_prefix()
    if _active_prefix is not None and _active_prefix != prefix:
        raise RuntimeError(f"schemas are active under prefix {_active_prefix!r}; call deactivate() first")
    for module in stage_modules():
        _activate_one(module, conn, create_tables)
    _active_prefix = prefix


def activate_module(module, create_tables: bool = True) -> None:
    """Activate a user schema module (``STAGE`` name and an unbound ``schema = dj.Schema()``) after the pipeline's,
    so workers, `status` and the CLI's ``--module`` option include its computed tables. Its schema is
    `module_schema_name`: ``<prefix>_<STAGE>``, or ``<SCHEMA_PREFIX>_<STAGE>`` if the module sets its own prefix."""
    if not is_active():
        activate(create_tables)
    _activate_one(module, database.connect(), create_tables)
    if module not in _extra_modules:
        _extra_modules.append(module)


def module_schema_name(module) -> str:
    """The database schema of a stage or user module: ``<prefix>_<STAGE>``, or, for a module that sets
    ``SCHEMA_PREFIX`` (a lab keeping its tables under its own name, e.g. ``mylab`` -> ``mylab_<STAGE>``), that
    prefix instead, on the same database."""
    own = getattr(module, "SCHEMA_PREFIX", None)
    if not own:
        return database.schema_name(module.STAGE)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", own):
        raise ValueError(f"{module.__name__}.SCHEMA_PREFIX={own!r}: use lower-case letters, digits and underscores")
    return f"{own}_{module.STAGE}"


def _activate_one(module, conn, create_tables: bool) -> None:
    from ..privileges import missing_schema_message, schema_access

    name = module_schema_name(module)
    # Workers started together would otherwise race to declare the same tables (PostgreSQL then fails on an
    # index that "already exists"): one process at a time declares, the others find everything in place.
    with _server_lock(conn, f"{name}.declare"):
        # A read-only account (SELECT only) binds to what exists: it creates nothing and fills no Lookup rows.
        access = schema_access(conn, name)
        if not access.exists and not access.can_create:
            from ..privileges import PrivilegeError

            raise PrivilegeError(missing_schema_message(conn, access))
        create = create_tables and access.can_create
        if conn.adapter.backend == "mysql" and not access.exists:
            # Binary collation so that keys differing only in case ("Nose", "nose") stay distinct, whatever the
            # server's default; DataJoint would otherwise create the schema with the server's collation.
            conn.query(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        _refuse_old_layouts(module, conn, name)  # before anything is declared beside an old table
        module.schema.activate(name, connection=conn, create_schema=create, create_tables=create)
        if create and access.can_insert:
            for table in _computed_in(module):
                table.jobs  # noqa: B018 - DataJoint declares a jobs table on first access; do it under the lock
            if hasattr(module, "store_built_in"):
                module.store_built_in()
        if access.can_insert:
            for lookup in getattr(module, "METHOD_LOOKUPS", ()):
                sync_lookup(lookup)
        _read_only[name] = access.read_only


def _refuse_old_layouts(module, conn, name: str) -> None:
    """A request table made by pose_pipeline 0.1 (parameters not in the key) would be used silently otherwise."""
    for request in getattr(module, "METHOD_REQUESTS", ()):
        table = dj.utils.from_camel_case(request.__name__)
        columns = conn.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            args=(name, table),
        ).fetchall()
        if columns:
            request.check_layout([column for (column,) in columns], f"{name}.{table}")


@contextmanager
def _server_lock(conn, name: str, timeout: int = 120):
    """A lock held on the database server, shared by every process of every machine using it."""
    if conn.adapter.backend == "postgresql":
        conn.query("SELECT pg_advisory_lock(hashtext(%s))", args=(name,))
        try:
            yield
        finally:
            conn.query("SELECT pg_advisory_unlock(hashtext(%s))", args=(name,))
    else:
        if conn.query("SELECT GET_LOCK(%s, %s)", args=(name[:64], timeout)).fetchone()[0] != 1:
            raise TimeoutError(f"could not get the server lock {name!r} within {timeout} s")
        try:
            yield
        finally:
            conn.query("SELECT RELEASE_LOCK(%s)", args=(name[:64],))


def _computed_in(module) -> list[type[dj.Table]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, (dj.Computed, dj.Imported))
        and value.__module__ == module.__name__
    ]


def sync_lookup(lookup_table) -> None:
    """Make a method Lookup table follow its registry: new methods are inserted, and a method whose version,
    default parameters or description changed in code is updated in place (and logged). Results are not touched:
    each records the version and merged parameters it was made with, and requests are keyed by their merged
    parameters, so a changed default makes new requests, never a silent change of old ones."""
    name = getattr(lookup_table, "name_attribute", "method_name")
    rows = {row.pop("method_name"): row for row in lookup_table.registry.lookup_rows()}
    stored = {row.pop(name): row for row in lookup_table.to_dicts()}
    new = [{name: method, **row} for method, row in rows.items() if method not in stored]
    if new:
        lookup_table.insert(new, skip_duplicates=True)
    for method, row in rows.items():
        old = stored.get(method)
        changed = {k: v for k, v in row.items() if old is not None and _differs(old.get(k), v)}
        if changed:
            lookup_table.update1({name: method, **row})
            logger.warning(
                "%s %r follows the code: %s", lookup_table.__name__, method,
                ", ".join(f"{k} {old.get(k)!r} -> {v!r}" for k, v in changed.items() if k != "description")
                or "description changed",
            )  # fmt: skip


def _differs(old, new) -> bool:
    if isinstance(new, str) and new.startswith("{"):  # default_params: compare as JSON, not text
        try:
            return json.loads(old) != json.loads(new)
        except (TypeError, ValueError):
            return True
    return old != new


def nan_to_null(values: dict) -> dict:
    """Undefined scores (NaN) as NULL: MySQL and MariaDB store no NaN."""
    return {k: None if isinstance(v, float | np.floating) and not np.isfinite(v) else v for k, v in values.items()}


def is_active() -> bool:
    return _active_prefix is not None


def is_read_only() -> bool:
    """True when the account may not create tables or insert rows in some stage schema (a SELECT-only account:
    queries, exports and ``pose-pipeline status`` work; inserts are refused naming the missing privilege)."""
    return any(_read_only.values())


def computed_tables() -> list[type[dj.Table]]:
    """Every Computed/Imported table of the active pipeline, in dependency order (parents first)."""
    if not is_active():
        activate()
    tables = [table for module in stage_modules() for table in _computed_in(module)]
    conn = database.connect()
    conn.dependencies.load()
    order = {name: i for i, name in enumerate(conn.dependencies.topo_sort())}
    return sorted(tables, key=lambda table: order.get(table.full_table_name, len(order)))


def drop_stages(first: str) -> list[str]:
    """Drop the database schemas of stage ``first`` and of every stage after it (`STAGE_MODULES` order), with
    all their rows; earlier stages (the imported videos, the joint sets) are kept. Returns the schemas dropped.

    This is the upgrade path from pose_pipeline 0.1 (see the README): it works without activating the pipeline,
    since a 0.1 layout refuses activation. Files the dropped rows referenced stay in the stores until
    ``pose-pipeline fsck --remove`` deletes them.
    """
    if first not in STAGE_MODULES:
        raise ValueError(f"no stage {first!r}; the stages are {', '.join(STAGE_MODULES)}")
    if is_active():
        raise RuntimeError("deactivate() the pipeline before dropping its stages")
    conn = database.connect()
    existing = set(dj.list_schemas(conn))
    dropped = []
    for stage in reversed(STAGE_MODULES[STAGE_MODULES.index(first) :]):
        name = database.schema_name(stage)
        if name in existing:
            dj.Schema(name, connection=conn, create_schema=False).drop(prompt=False)
            dropped.append(name)
    return dropped


def deactivate(drop: bool = False) -> None:
    """Unbind the stage schemas (and drop them with ``drop=True``: tests use this to start clean)."""
    global _active_prefix
    for module in reversed(stage_modules()):
        schema = module.schema
        if drop and schema.database is not None and schema.exists:
            schema.drop(prompt=False)
        schema.database = None
        schema.connection = None
    _extra_modules.clear()
    _read_only.clear()
    _active_prefix = None
