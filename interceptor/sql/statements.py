"""The effect of every PostgreSQL statement (the policy vocabulary of ``interceptor.policy.EFFECTS``).

Statements and their effects (a text with several statements carries all of them):

==============================================================  ==================================================
statement                                                       effects
==============================================================  ==================================================
SELECT, VALUES, TABLE; FETCH / MOVE                             select (SELECT ... INTO also create)
DECLARE c CURSOR FOR q                                          q's effects; CLOSE: transaction
INSERT / UPDATE / DELETE                                        insert / update / delete (ON CONFLICT DO UPDATE
                                                                also update); UPDATE pg_settings: parser state
MERGE                                                           merge, plus the insert/update/delete of its WHENs
COPY ... TO / FROM                                              copy_to / copy_from; PROGRAM: program; a server
                                                                file: file_write / file_read
REFRESH MATERIALIZED VIEW                                       update (it rewrites stored rows)
EXPLAIN q                                                       explain; q's effects only with ANALYZE (q's tables
                                                                and functions are always reported)
SHOW                                                            show
CREATE * (incl. EXTENSION, CREATE TABLE AS, IMPORT FOREIGN      create (TABLE AS / MATERIALIZED VIEW: also q's
SCHEMA)                                                         effects; SUBSCRIPTION: also admin; TABLESPACE:
                                                                also file_write)
ALTER * (incl. RENAME, OWNER, SET SCHEMA, REASSIGN OWNED,       alter (ALTER DEFAULT PRIVILEGES: also grant or
COMMENT ON, SECURITY LABEL)                                     revoke)
DROP * (incl. DROP OWNED), TRUNCATE                             drop, truncate
GRANT / REVOKE (privileges or roles)                            grant / revoke
CALL, DO, PREPARE p AS q, EXECUTE                               call, do (body not read), prepare + q's effects,
                                                                execute; DEALLOCATE: prepare (it manages
                                                                prepared statements, like PREPARE)
ALTER SYSTEM, LOAD, CHECKPOINT, VACUUM, ANALYZE, REINDEX,       admin (server-wide work, or locks that stall other
CLUSTER, LOCK                                                   sessions)
SET / RESET / SET LOCAL, DISCARD                                set (SET TRANSACTION: transaction)
BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION,        transaction
SET CONSTRAINTS
LISTEN / UNLISTEN, NOTIFY                                       listen, notify
anything else, or text the parser rejects                       unknown (with a reason)
==============================================================  ==================================================

Choices worth knowing: LOCK is admin because an explicit lock stalls other sessions (like cancelling them);
VACUUM, ANALYZE, REINDEX and CLUSTER are admin (maintenance that rewrites or locks whole tables); COMMENT ON and
SECURITY LABEL are alter (catalog metadata); CLOSE is transaction (cursor bookkeeping, like COMMIT ending them).
A PostgreSQL FunctionCall message (no text, a function OID) is ``call`` + ``unknown`` (see ``classify_command``).

:data:`STATEMENT_EFFECTS` holds the statements whose effects never depend on their fields. The others (SELECT ...
INTO, INSERT ... ON CONFLICT DO UPDATE, MERGE's WHEN clauses, GRANT or REVOKE, EXPLAIN's ANALYZE, COPY's direction
and target, SET's setting, DO) are decided by handlers in :mod:`interceptor.sql.postgres`.
"""

from __future__ import annotations


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


_CREATE, _ALTER, _DROP, _ADMIN = _fs("create"), _fs("alter"), _fs("drop"), _fs("admin")
_NONE: frozenset[str] = frozenset()

#: statement node name (pglast) -> its effects

STATEMENT_EFFECTS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        """CreateStmt CreateTableAsStmt ViewStmt IndexStmt CreateSchemaStmt CreateSeqStmt CreateFunctionStmt
        CreateRoleStmt CreatedbStmt CreateExtensionStmt CreateDomainStmt CreateEnumStmt
        CreateRangeStmt DefineStmt RuleStmt CreatePolicyStmt CreatePublicationStmt CreateForeignServerStmt
        CreateForeignTableStmt CreateUserMappingStmt CreateFdwStmt CreateConversionStmt
        CreateCastStmt CreateOpClassStmt CreateOpFamilyStmt CreateTransformStmt CreateAmStmt CreatePLangStmt
        CreateStatsStmt ImportForeignSchemaStmt""".split(),
        _CREATE,
    ),
    "CreateSubscriptionStmt": _fs("create", "admin"),  # connects to another server and starts a worker
    "CreateTableSpaceStmt": _fs("create", "file_write"),  # creates a directory at a server path
    **dict.fromkeys(
        """AlterTableStmt AlterDomainStmt AlterRoleStmt AlterRoleSetStmt AlterDatabaseStmt AlterDatabaseSetStmt
        AlterDatabaseRefreshCollStmt AlterSeqStmt AlterFunctionStmt AlterObjectSchemaStmt AlterOwnerStmt
        AlterOperatorStmt AlterTypeStmt AlterEnumStmt AlterExtensionStmt AlterExtensionContentsStmt AlterFdwStmt
        AlterForeignServerStmt AlterUserMappingStmt AlterPolicyStmt AlterPublicationStmt AlterSubscriptionStmt
        AlterEventTrigStmt AlterCollationStmt AlterTableSpaceOptionsStmt AlterTableMoveAllStmt
        AlterTSDictionaryStmt AlterTSConfigurationStmt AlterOpFamilyStmt AlterStatsStmt AlterObjectDependsStmt
        RenameStmt ReassignOwnedStmt ReplicaIdentityStmt""".split(),
        _ALTER,
    ),
    **dict.fromkeys(
        "DropRoleStmt DropdbStmt DropTableSpaceStmt DropSubscriptionStmt DropUserMappingStmt DropOwnedStmt".split(),
        _DROP,
    ),
    "TruncateStmt": _fs("truncate"),
    **dict.fromkeys(
        "AlterSystemStmt LoadStmt CheckPointStmt VacuumStmt ReindexStmt ClusterStmt LockStmt".split(), _ADMIN
    ),
    "DeleteStmt": _fs("delete"),
    "RefreshMatViewStmt": _fs("update"),
    "FetchStmt": _fs("select"),
    "DeclareCursorStmt": _NONE,
    "ClosePortalStmt": _fs("transaction"),
    "VariableShowStmt": _fs("show"),
    "CallStmt": _fs("call"),
    "PrepareStmt": _fs("prepare"),
    "DeallocateStmt": _fs("prepare"),
    "ExecuteStmt": _fs("execute"),
    "DiscardStmt": _fs("set"),
    "TransactionStmt": _fs("transaction"),
    "ConstraintsSetStmt": _fs("transaction"),
    "ListenStmt": _fs("listen"),
    "UnlistenStmt": _fs("listen"),
    "NotifyStmt": _fs("notify"),
}

# DROP / COMMENT ON / SECURITY LABEL object types whose names are relations (reported in ``tables``).
RELATION_OBJECTS = frozenset(
    {"OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_INDEX", "OBJECT_SEQUENCE", "OBJECT_FOREIGN_TABLE"}
)
