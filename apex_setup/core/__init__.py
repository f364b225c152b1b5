"""The pure core: rollback, journal, deployment and recovery, with no I/O of its own.

It reaches Discord, the database and the clock only through the ports in
``apex_setup.core.ports``; it imports nothing from discord.py, peewee, anyio or asyncio.
"""

from apex_setup.core.atomic import AtomicOperation, atomic_operation
from apex_setup.core.audit_channel import AuditChannelSink, configure_audit_channel
from apex_setup.core.channel_input import resolve_channel
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
from apex_setup.core.maintenance import (
    CleanupKind,
    CleanupPlan,
    CleanupResult,
    GuildStatus,
    apply_cleanup,
    guild_status,
    preview_cleanup,
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
from apex_setup.core.remove import RemoveResult, remove_panel
from apex_setup.core.setup_wizard import SessionCleaner, SetupWizard, StepResult
from apex_setup.core.wizard import WizardPhase, WizardState

__all__ = [
    "AtomicOperation",
    "AuditChannelSink",
    "AuditRecord",
    "CleanupKind",
    "CleanupPlan",
    "CleanupResult",
    "ConflictError",
    "ConsistencyReport",
    "DeployRequest",
    "DeployResult",
    "DiscordFailure",
    "DiscordForbidden",
    "DiscordNotFound",
    "DiscordRejected",
    "DiscordUnavailable",
    "GuildStatus",
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
    "RemoveResult",
    "RetryPolicy",
    "RollbackInfo",
    "RollbackReport",
    "SessionCleaner",
    "SessionExpired",
    "SetupContext",
    "SetupOperationError",
    "SetupWizard",
    "StepResult",
    "StorageFailure",
    "WizardPhase",
    "WizardState",
    "apply_cleanup",
    "atomic_operation",
    "check_guild",
    "configure_audit_channel",
    "deploy_panel",
    "guild_status",
    "preview_cleanup",
    "recover",
    "remove_panel",
    "resolve_channel",
    "validate_payload",
]
