"""Which MySQL/MariaDB functions and procedures act beyond the rows of the statement that calls them.

A function call anywhere in a statement adds the effects below, so ``SELECT LOAD_FILE('/etc/passwd')`` is a
``select`` *and* a ``file_read``. Names match in lower case by their bare name (``db.sys_exec`` matches
``sys_exec``). Functions not listed add nothing (``SLEEP``, ``BENCHMARK``, ``GET_LOCK``..., as ``pg_sleep`` adds
nothing for PostgreSQL).

=======================================================  =========================================================
function                                                 effects
=======================================================  =========================================================
LOAD_FILE                                                file_read (a file of the database server)
sys_exec, sys_eval, sys_bineval, do_system               program (lib_mysqludf_sys-style UDFs run commands)
sys_set                                                  admin (sets an environment variable of the server)
audit_log_*, keyring_*, version_tokens_*,                admin (server components: audit filters, keys,
group_replication_*, asynchronous_connection_*,          replication topology, the firewall)
set_firewall_mode, mysql_firewall_flush_status
=======================================================  =========================================================

Procedures (``CALL``): ``sys.execute_prepared_stmt`` runs the SQL text it is given (``execute``, dynamic);
``sys.ps_setup_*``, ``sys.ps_truncate_all_tables`` and Amazon RDS's ``mysql.rds_*`` change server-wide state
(``admin``).
"""

from __future__ import annotations

_PROGRAM = frozenset({"program"})
_ADMIN = frozenset({"admin"})
_NONE: frozenset[str] = frozenset()

FUNCTIONS: dict[str, frozenset[str]] = {
    "load_file": frozenset({"file_read"}),
    **dict.fromkeys(("sys_exec", "sys_eval", "sys_bineval", "do_system"), _PROGRAM),
    **dict.fromkeys(("sys_set", "set_firewall_mode", "mysql_firewall_flush_status"), _ADMIN),
}
FUNCTION_PREFIXES = ("audit_log_", "keyring_", "version_tokens_", "group_replication_", "asynchronous_connection_")

PROCEDURES: dict[str, frozenset[str]] = {
    "execute_prepared_stmt": frozenset({"execute"}),
    "ps_truncate_all_tables": _ADMIN,
}
PROCEDURE_PREFIXES = ("ps_setup_", "rds_")

_CACHE: dict[str, frozenset[str]] = {}


def effects_of(name: str) -> frozenset[str]:
    """The effects of calling the function with this bare, lower-case name (empty for an ordinary function)."""
    found = _CACHE.get(name)
    if found is None:
        found = FUNCTIONS.get(name, _NONE)
        if not found and name.startswith(FUNCTION_PREFIXES):
            found = _ADMIN
        if len(_CACHE) < 4096:
            _CACHE[name] = found
    return found


def procedure_effects(name: str) -> frozenset[str]:
    """The effects of ``CALL`` of the procedure with this bare, lower-case name, beyond ``call`` itself."""
    found = PROCEDURES.get(name, _NONE)
    if not found and name.startswith(PROCEDURE_PREFIXES):
        found = _ADMIN
    return found
