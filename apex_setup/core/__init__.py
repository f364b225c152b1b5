"""The pure core: rollback, journal, deployment and recovery, with no I/O of its own.

It reaches Discord, the database and the clock only through the ports in
``apex_setup.core.ports``; it imports nothing from discord.py, peewee, anyio or asyncio.
"""

from apex_setup.core.atomic import AtomicOperation, atomic_operation
from apex_setup.core.consistency import ConsistencyReport, PanelHealth, check_guild
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, DeployResult, deploy_panel
from apex_setup.core.errors import (
    ConflictError,
    DiscordFailure,
    DiscordForbidden,
    DiscordNotFound,
    DiscordRejected,
    DiscordUnavailable,
    IllegalTransition,
    InvalidInput,
    MissingPermissions,
    SessionExpired,
    SetupOperationError,
    StorageFailure,
)
from apex_setup.core.panels import PanelCatalogue, PanelSpec
from apex_setup.core.payload import MessagePayload, validate_payload
from apex_setup.core.records import (
    AuditRecord,
    OperationState,
    OperationType,
    PanelRecord,
    RollbackInfo,
    RollbackReport,
)
from apex_setup.core.recovery import RecoveryReport, recover

__all__ = [
    "AtomicOperation",
    "AuditRecord",
    "ConflictError",
    "ConsistencyReport",
    "DeployRequest",
    "DeployResult",
    "DiscordFailure",
    "DiscordForbidden",
    "DiscordNotFound",
    "DiscordRejected",
    "DiscordUnavailable",
    "IllegalTransition",
    "InvalidInput",
    "MessagePayload",
    "MissingPermissions",
    "OperationState",
    "OperationType",
    "PanelCatalogue",
    "PanelHealth",
    "PanelRecord",
    "PanelSpec",
    "RecoveryReport",
    "RetryPolicy",
    "RollbackInfo",
    "RollbackReport",
    "SessionExpired",
    "SetupContext",
    "SetupOperationError",
    "StorageFailure",
    "atomic_operation",
    "check_guild",
    "deploy_panel",
    "recover",
    "validate_payload",
]
