"""What the database account may do, so that a read-only (SELECT-only) account can use the pipeline.

`schema_access` asks the server (its privilege tables, not a trial write) whether the account can create a stage's
schema or tables and insert into them; ``schema.activate`` then creates nothing and fills no Lookup rows where it
may not, and refuses a missing schema with a message naming the missing privilege.

`install` adds two things to DataJoint (both idempotent, both no-ops for an account with every privilege):

- a refused statement raises `PrivilegeError` naming the account, the privilege (the statement's verb: INSERT,
  CREATE, UPDATE, DELETE...) and the table, instead of DataJoint's bare "Insufficient privileges."
  (Upstream-shaped note: ``translate_query_error`` could name the privilege and the object itself);
- on PostgreSQL, primary keys are read from the system catalog (``pg_index``): ``information_schema.table_constraints``
  shows only tables the account owns or holds a privilege *other than SELECT* on, so DataJoint 2.3.5 found no
  primary key at all for a SELECT-only account, and every table's heading was wrong (upstream-shaped note:
  ``PostgreSQLAdapter.get_primary_key_sql`` and ``load_primary_keys_sql`` should read ``pg_index``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import datajoint as dj
from datajoint import errors
from datajoint.adapters.postgres import PostgreSQLAdapter


class PrivilegeError(errors.AccessError):
    """The database account lacks a privilege the operation needs; the message names it."""


@dataclass(frozen=True)
class SchemaAccess:
    """What the account may do with one database schema (a stage's ``<prefix>_<stage>``)."""

    name: str
    exists: bool
    can_create: bool  # create the schema (when missing) or tables in it
    can_insert: bool  # insert into its tables (fill Lookup rows, store built-in rows, declare jobs)

    @property
    def read_only(self) -> bool:
        return not (self.can_create and self.can_insert)


def schema_access(conn, name: str) -> SchemaAccess:
    """The account's privileges on schema ``name``, read from the server's privilege tables."""
    if conn.adapter.backend == "postgresql":
        return _postgres_access(conn, name)
    return _mysql_access(conn, name)


def _postgres_access(conn, name: str) -> SchemaAccess:
    exists = bool(conn.query("SELECT 1 FROM pg_namespace WHERE nspname = %s", args=(name,)).fetchall())
    if not exists:
        can_create = conn.query("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0]
        return SchemaAccess(name, False, bool(can_create), bool(can_create))
    can_create = conn.query("SELECT has_schema_privilege(%s, 'CREATE')", args=(name,)).fetchone()[0]
    can_insert = conn.query(
        "SELECT coalesce(bool_and(has_table_privilege(c.oid, 'INSERT')), %s) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
        args=(bool(can_create), name),
    ).fetchone()[0]
    return SchemaAccess(name, True, bool(can_create), bool(can_insert))


def _mysql_access(conn, name: str) -> SchemaAccess:
    exists = bool(
        conn.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", args=(name,)).fetchall()
    )
    user, host = conn.query("SELECT CURRENT_USER()").fetchone()[0].rsplit("@", 1)
    grantee = f"'{user}'@'{host}'"
    rows = conn.query(
        "SELECT privilege_type FROM information_schema.user_privileges WHERE grantee = %s "
        "UNION SELECT privilege_type FROM information_schema.schema_privileges "
        "WHERE grantee = %s AND %s LIKE table_schema",
        args=(grantee, grantee, name),
    ).fetchall()
    granted = {privilege.upper() for (privilege,) in rows}
    return SchemaAccess(name, exists, "CREATE" in granted, "INSERT" in granted)


def missing_schema_message(conn, access: SchemaAccess) -> str:
    return (
        f"schema {access.name} does not exist and the database account {_account(conn)} lacks the CREATE privilege "
        "to create it: activate the pipeline once with an account that has it (e.g. `pose-pipeline status`)"
    )


def _account(conn) -> str:
    return repr(str(conn.conn_info.get("user") if hasattr(conn, "conn_info") else dj.config.database.user))


# ---------------------------------------------------------------------------------------------- DataJoint additions

_OBJECT = re.compile(r'(`[^`]+`\.`[^`]+`|"[^"]+"\."[^"]+"|`[^`]+`|"[^"]+")')


def _named_refusal(error: errors.AccessError, query: str, conn) -> PrivilegeError:
    words = query.split()
    verb = words[0].upper() if words else "?"
    if verb in ("CREATE", "DROP", "ALTER") and len(words) > 1:
        target = words[1].upper()
        what = "a schema" if target in ("DATABASE", "SCHEMA") else "a table" if target == "TABLE" else target.lower()
    else:
        what = None
    found = _OBJECT.search(query)
    on = f" on {found.group(1)}" if found else ""
    detail = " ".join(str(arg) for arg in error.args[1:2] if arg).strip()
    message = f"the database account {_account(conn)} lacks the {verb} privilege{on}"
    if what:
        message += f" (needed to {verb.lower()} {what})"
    if detail:
        message += f"; the server said: {detail.splitlines()[0]}"
    return PrivilegeError(message, detail, query)


def install() -> None:
    """Name refused privileges and read PostgreSQL primary keys from the catalog (see the module docstring)."""
    connection = dj.Connection
    if getattr(connection, "_pose_pipeline_privileges", False):
        return
    execute = connection._execute_query

    def _execute_query(self, cursor, query, args, suppress_warnings):
        try:
            return execute(self, cursor, query, args, suppress_warnings)
        except PrivilegeError:
            raise
        except errors.AccessError as error:
            raise _named_refusal(error, query, self) from error

    connection._execute_query = _execute_query
    connection._pose_pipeline_privileges = True
    PostgreSQLAdapter.get_primary_key_sql = _pg_primary_key_sql
    PostgreSQLAdapter.load_primary_keys_sql = _pg_load_primary_keys_sql


def _pg_primary_key_sql(self, schema_name: str, table_name: str) -> str:
    return (
        "SELECT a.attname AS column_name FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        f"WHERE i.indisprimary AND n.nspname = {self.quote_string(schema_name)} "
        f"AND c.relname = {self.quote_string(table_name)} ORDER BY k.ord"
    )


def _pg_load_primary_keys_sql(self, schemas_list: str, like_pattern: str) -> str:
    return (
        "SELECT '\"' || n.nspname || '\".\"' || c.relname || '\"' AS tab, a.attname AS column_name FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        f"WHERE i.indisprimary AND c.relname NOT LIKE {like_pattern} AND n.nspname IN ({schemas_list}) "
        "ORDER BY tab, k.ord"
    )
