"""Fixes for DataJoint 2.3.5 bugs that the pipeline runs into, each with the change we would propose upstream.

The first breaks the pipeline on MariaDB.

DataJoint issue #1451: store codecs (``<attach@store>``, ``<blob@store>``, ``<npy@store>``...) keep their
metadata in a JSON column. MariaDB reports JSON columns as ``longtext``, and for codec columns the heading
resolves only the first codec of the chain (``<hash>``), never reaching the final ``json`` dtype, so the
JSON flag stays False and the metadata dict reaches the MySQL driver unserialised
(``TypeError: dict can not be used as parameter``).

The fix resolves each codec column's whole chain after the heading is read and sets the JSON flag when the
final storage type is JSON. It is a no-op on MySQL and PostgreSQL (the flag is already set there) and on a
DataJoint that fixed the bug. ``tests/test_database.py`` proves inserts and fetches through every store codec
on every backend.

A second fix silences a misleading warning. A table's foreign-key attributes are declared with the parent's SQL
type but without its core-type alias (``int32``), so DataJoint's generated jobs table of a Computed/Imported table
whose primary key inherits an integer (``subject_id``, ``member``, ``epoch``) declares it as the SQL type
(``integer`` on PostgreSQL, ``int`` on MySQL) and logs "Native type 'integer' is used in attribute ..." whenever the
jobs table is declared. The fix spells such attributes as the core type whose SQL type is exactly that type: the same
column, declared without the warning.

A third fix makes string keys containing a backslash findable on PostgreSQL. DataJoint 2.3.5 writes the values of
a dict (or record) restriction into the SQL text and doubles every backslash (``condition.make_condition``,
``prep_value``): right for MySQL, whose string literals treat a backslash as an escape, wrong for PostgreSQL, whose
literals keep backslashes as they are (``standard_conforming_strings``, on by default). ``Video & {"filename":
"a\\b.mp4"}`` therefore looks for ``a\\\\b.mp4`` and finds nothing: a re-import fails and the row's jobs never
run. Upstream-shaped fix (what we would propose to DataJoint): let the adapter quote string values
(``adapter.quote_string``, which already escapes correctly per backend) instead of one escaping rule for all. Here,
on PostgreSQL only, such values are moved out of the dict into string conditions quoted by the adapter;
``tests/test_import_odd_inputs.py`` proves a name with a backslash is found, re-imported and computed.

A fourth fix concerns workers (see `pose_pipeline.owned_jobs`): ``Connection.connect()`` does not refresh
``connection_id`` after a reconnect, and ``Job.reserve/complete/error`` neither record the live connection nor check
who holds the job. Upstream-shaped note: ``connect()`` should re-read the id (``self.connection_id =
self.adapter.get_connection_id(self._conn)``), and the jobs table should let the server fill it.

A fifth fix keeps the garbage collector from taking files that rows still reference. DataJoint 2.3.5 decides
whether a column is stored hash-addressed (``Attribute.is_hash_object``) by the codec's *name* (``"blob"``,
``"attach"``, ``"hash"``), so a codec that subclasses ``BlobCodec`` under its own name (this project's
``<array@derived>``: a blob without zlib, `pose_pipeline.schema.codecs`) stores its files in ``_hash/`` but is not
scanned for references: ``GarbageCollector`` (and ``pose-pipeline fsck --remove``) would delete every such file.
Upstream-shaped fix: classify by type, as ``is_schema_object`` already does for ``SchemaCodec`` subclasses
(DataJoint #1469). ``tests/test_lifting_stage.py`` proves fsck sees a stored 3D result as referenced.
"""

from __future__ import annotations

import collections.abc

import numpy as np
from datajoint import condition as _condition
from datajoint import connection as _connection
from datajoint import expression as _expression
from datajoint import heading as _heading
from datajoint import jobs as _jobs
from datajoint import table as _table
from datajoint.builtin_codecs.attach import AttachCodec
from datajoint.builtin_codecs.blob import BlobCodec
from datajoint.codecs import resolve_dtype
from datajoint.declare import TYPE_PATTERN
from datajoint.errors import DataJointError

_original_init_from_database = _heading.Heading._init_from_database


def _init_from_database_with_codec_json(self) -> None:
    _original_init_from_database(self)
    for name, attr in list(self._attributes.items()):
        if attr.codec is None or attr.json or not str(attr.type).startswith("<"):
            continue
        try:
            final_type, _, _ = resolve_dtype(attr.type)
        except DataJointError:  # an unknown codec: DataJoint reports it on first use
            continue
        if TYPE_PATTERN["JSON"].match(final_type):
            self._attributes[name] = attr._replace(json=True)


_original_fk_derived_pk_attrs = _jobs.Job._get_fk_derived_pk_attrs


def _fk_derived_pk_attrs_as_core_types(self) -> list[tuple[str, str]]:
    adapter = self._connection.adapter
    attrs = []
    for name, dtype in _original_fk_derived_pk_attrs(self):
        core = adapter.sql_type_to_core(dtype)
        if core and core != dtype and adapter.core_type_to_sql(core) == dtype:  # the same column, as a core type
            dtype = core
        attrs.append((name, dtype))
    return attrs


_original_make_condition = _condition.make_condition


def _make_condition_keeping_backslashes(query_expression, condition, columns, semantic_check=True):
    if query_expression.connection.adapter.backend == "postgresql":
        condition = _backslash_values_as_literals(query_expression, condition)
    return _original_make_condition(query_expression, condition, columns, semantic_check)


def _backslash_values_as_literals(query_expression, condition):
    """A dict or record restriction with backslashes in string values, as an AndList of the rest of the dict and
    one adapter-quoted string condition per such value (negations kept); anything else unchanged."""
    negations, inner = 0, condition
    while isinstance(inner, _condition.Not):
        negations, inner = negations + 1, inner.restriction
    if isinstance(inner, np.void):
        inner = {name: inner[name] for name in inner.dtype.fields}
    if not isinstance(inner, collections.abc.Mapping):
        return condition
    names = query_expression.heading.names
    literal = {k: v for k, v in inner.items() if k in names and isinstance(v, str) and "\\" in v}
    if not literal:
        return condition
    adapter = query_expression.connection.adapter
    rewritten = _condition.AndList(
        [
            {k: v for k, v in inner.items() if k not in literal},
            *(f"{adapter.quote_identifier(k)}={adapter.quote_string(v)}" for k, v in literal.items()),
        ]
    )
    return _condition.Not(rewritten) if negations % 2 else rewritten


_original_connect = _connection.Connection.connect
# DataJoint's own jobs methods, kept for benchmarks that compare against them
ORIGINAL_JOB_METHODS = {name: getattr(_jobs.Job, name) for name in ("reserve", "complete", "error")}


def _connect_with_live_id(self) -> None:
    from . import owned_jobs

    _original_connect(self)
    self.connection_id = self.adapter.get_connection_id(self._conn)
    if owned_jobs.held_jobs():
        owned_jobs.follow_connection(self)


_original_is_hash_object = _heading.Attribute.is_hash_object


def _is_hash_object_by_type(self) -> bool:
    if isinstance(self.codec, BlobCodec | AttachCodec) and self.store is not None:
        return True
    return _original_is_hash_object.fget(self)


def apply_fixes() -> None:
    """Install the fixes once."""
    from . import owned_jobs

    if _connection.Connection.connect is not _connect_with_live_id:
        _connection.Connection.connect = _connect_with_live_id
    for name in ("reserve", "complete", "error"):
        setattr(_jobs.Job, name, getattr(owned_jobs, name))
    if _heading.Attribute.is_hash_object.fget is not _is_hash_object_by_type:
        _heading.Attribute.is_hash_object = property(_is_hash_object_by_type)
    if _heading.Heading._init_from_database is not _init_from_database_with_codec_json:
        _heading.Heading._init_from_database = _init_from_database_with_codec_json
    if _jobs.Job._get_fk_derived_pk_attrs is not _fk_derived_pk_attrs_as_core_types:
        _jobs.Job._get_fk_derived_pk_attrs = _fk_derived_pk_attrs_as_core_types
    # Modules that imported make_condition by name hold their own reference; autopopulate imports it per call.
    for module in (_condition, _expression, _jobs, _table):
        if getattr(module, "make_condition", None) is _original_make_condition:
            module.make_condition = _make_condition_keeping_backslashes
