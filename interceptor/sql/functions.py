"""Which PostgreSQL functions act beyond the rows of the statement that calls them.

A function call anywhere in a statement (a target list, a WHERE clause, a DEFAULT expression, a view body...) adds
the effects below, so ``SELECT pg_read_file('/etc/passwd')`` is a ``select`` *and* a ``file_read``. Names are
matched in lower case, by their bare name (``pg_catalog.pg_read_file`` and ``pg_read_file`` both match), because a
policy must not be side-stepped by qualifying or quoting a name. Functions not listed add nothing: ``pg_sleep``,
``nextval``/``setval`` (they move a sequence counter only), ``pg_advisory_lock``, ``current_setting``...

``set_config`` is listed here for its plain effects; whether it changes how the server parses later statements
(``standard_conforming_strings``...) is decided by :mod:`interceptor.sql.settings`.
"""

from __future__ import annotations

_FILE_READ = frozenset({"file_read"})
_FILE_WRITE = frozenset({"file_write"})
_ADMIN = frozenset({"admin"})
_EXECUTE = frozenset({"execute"})

EXACT: dict[str, frozenset[str]] = {
    # Read files and directories of the database server (core, and the old adminpack names).
    **dict.fromkeys(
        (
            "pg_read_file",
            "pg_read_binary_file",
            "pg_stat_file",
            "pg_file_read",
            "pg_logdir_ls",
            "lo_import",  # reads a server file into a new large object
        ),
        _FILE_READ,
    ),
    # Write, rename or remove files of the database server (core lo_export, and the adminpack extension).
    **dict.fromkeys(
        ("lo_export", "pg_file_write", "pg_file_rename", "pg_file_unlink", "pg_file_sync"),
        _FILE_WRITE,
    ),
    # Large objects are file-like blobs kept by the server outside any table, so a policy's insert/update/delete
    # cannot name them: creating, writing, truncating or removing one counts as a file_write. Reads (lo_get,
    # loread, lo_open) add nothing.
    **dict.fromkeys(
        ("lo_create", "lo_creat", "lo_from_bytea", "lo_put", "lowrite", "lo_truncate", "lo_truncate64", "lo_unlink"),
        _FILE_WRITE,
    ),
    # Act on other sessions: cancel, terminate, or make them log.
    **dict.fromkeys(("pg_cancel_backend", "pg_terminate_backend", "pg_log_backend_memory_contexts"), _ADMIN),
    # Change the server's state: configuration, log files, WAL, backups, recovery, replication, statistics.
    **dict.fromkeys(
        (
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_logfile_rotate",
            "pg_promote",
            "pg_switch_wal",
            "pg_switch_xlog",
            "pg_create_restore_point",
            "pg_backup_start",
            "pg_backup_stop",
            "pg_start_backup",
            "pg_stop_backup",
            "pg_wal_replay_pause",
            "pg_wal_replay_resume",
            "pg_xlog_replay_pause",
            "pg_xlog_replay_resume",
            "pg_create_physical_replication_slot",
            "pg_create_logical_replication_slot",
            "pg_copy_physical_replication_slot",
            "pg_copy_logical_replication_slot",
            "pg_drop_replication_slot",
            "pg_replication_slot_advance",
            "pg_sync_replication_slots",
            "pg_logical_slot_get_changes",
            "pg_logical_slot_get_binary_changes",
            "pg_logical_slot_peek_changes",
            "pg_logical_slot_peek_binary_changes",
            "pg_logical_emit_message",
            "pg_import_system_collations",
            "pg_set_relation_stats",
            "pg_clear_relation_stats",
            "pg_restore_relation_stats",
            "pg_restore_attribute_stats",
            "pg_clear_attribute_stats",
        ),
        _ADMIN,
    ),
    # The function form of SET. It also counts as admin: inside an expression its arguments may be computed, so the
    # gateway cannot see what it changes (SET itself is plain "set").
    "set_config": frozenset({"set", "admin"}),
    # The function form of NOTIFY.
    "pg_notify": frozenset({"notify"}),
    # Run SQL passed as a string, or read whole tables, schemas or databases named by a string: the gateway cannot
    # see what these touch, so they count like EXECUTE (dynamic SQL).
    **dict.fromkeys(
        (
            "query_to_xml",
            "query_to_xmlschema",
            "query_to_xml_and_xmlschema",
            "table_to_xml",
            "table_to_xmlschema",
            "table_to_xml_and_xmlschema",
            "schema_to_xml",
            "schema_to_xmlschema",
            "schema_to_xml_and_xmlschema",
            "database_to_xml",
            "database_to_xmlschema",
            "database_to_xml_and_xmlschema",
            "ts_stat",
        ),
        _EXECUTE,
    ),
}

PREFIXES: tuple[tuple[str, frozenset[str]], ...] = (
    # pg_ls_dir, pg_ls_logdir, pg_ls_waldir, pg_ls_tmpdir, pg_ls_archive_statusdir, pg_ls_logicalsnapdir,
    # pg_ls_logicalmapdir, pg_ls_replslotdir, pg_ls_summariesdir... list server directories.
    ("pg_ls_", _FILE_READ),
    # dblink, dblink_exec, dblink_connect, dblink_send_query...: connect to (and run SQL on) another server.
    ("dblink", _ADMIN),
    # pg_stat_reset, pg_stat_reset_shared, pg_stat_reset_single_table_counters...: wipe server statistics.
    ("pg_stat_reset", _ADMIN),
    # pg_replication_origin_create / _drop / _advance / _session_setup...: replication bookkeeping.
    ("pg_replication_origin_", _ADMIN),
    # binary_upgrade_*: pg_upgrade's internal functions, which write catalogs directly.
    ("binary_upgrade_", _ADMIN),
)

_NONE: frozenset[str] = frozenset()
_CACHE: dict[str, frozenset[str]] = {}


def effects_of(name: str) -> frozenset[str]:
    """The effects of calling the function with this bare, lower-case name (empty for an ordinary function)."""
    found = _CACHE.get(name)
    if found is None:
        found = EXACT.get(name, _NONE)
        if not found:
            for prefix, effects in PREFIXES:
                if name.startswith(prefix):
                    found = effects
                    break
        if len(_CACHE) < 4096:
            _CACHE[name] = found
    return found
