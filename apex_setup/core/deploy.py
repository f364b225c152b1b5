"""Deploy a panel: post it, record it, and retire the one it replaces, all or nothing.

The sequence, as journaled steps:

    1. send the new message            (intent durable first; nonce = operation id + step)
    2. insert or replace the panel row  (same transaction as the commit)
       -- commit --
    3. delete the replaced message      (follow-up: finished, never undone)

Invariants:
- One live panel per (guild, panel type): the store's unique key and the row's version settle
  races; the loser's own message is deleted by its compensation.
- The previous panel is only retired after the new one has committed, so a failure anywhere
  leaves the old panel working.
- Nothing is sent or written before the request has been validated: panel type, payload limits,
  channel, permissions and storage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apex_setup.core.atomic import AtomicOperation
from apex_setup.core.context import SetupContext
from apex_setup.core.errors import ConflictError, SetupOperationError
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.prerequisites import check_panel_channel, check_storage
from apex_setup.core.records import (
    AuditRecord,
    OperationKind,
    OperationType,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
)

__all__ = ["DeployRequest", "DeployResult", "deploy_panel"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployRequest:
    guild_id: int
    panel_type: str
    channel_id: int
    user_id: int


@dataclass(frozen=True)
class DeployResult:
    panel: PanelRecord
    replaced: PanelRecord | None
    operation_id: str
    #: False when retiring the replaced message must wait for recovery or a human.
    old_message_retired: bool
    journal_commits: int


def deploy_panel(
    ctx: SetupContext, catalogue: PanelCatalogue, request: DeployRequest
) -> DeployResult:
    """Deploy one panel; raises a SetupOperationError (with a rollback report) on failure."""
    try:
        spec = catalogue.get(request.panel_type)
        payload = spec.render()
        check_panel_channel(ctx, request.guild_id, request.channel_id)
        check_storage(ctx)
        old = ctx.panels.get_panel(request.guild_id, spec.panel_type)
    except SetupOperationError as exc:
        _audit_failure(ctx, request, None, exc, outcome="refused")
        raise

    op = AtomicOperation(
        ctx,
        OperationKind.DEPLOY_PANEL,
        guild_id=request.guild_id,
        user_id=request.user_id,
        panel_type=spec.panel_type,
    )
    try:
        with op:
            message = op.send_message(request.channel_id, payload)

            now = ctx.clock.now()
            record = PanelRecord(
                guild_id=request.guild_id,
                panel_type=spec.panel_type,
                channel_id=request.channel_id,
                message_id=message.id,
                created_by=request.user_id,
                created_at=old.created_at if old else now,
                updated_at=now,
                operation_id=op.id,
                version=old.version + 1 if old else 1,
                panel_id=old.panel_id if old else None,
            )
            if old is None:
                op.write_panel(
                    PanelWrite(PanelWriteKind.INSERT, record=record), OperationType.PANEL_CREATED
                )
            else:
                op.write_panel(
                    PanelWrite(PanelWriteKind.REPLACE, record=record, expected=old),
                    OperationType.PANEL_UPDATED,
                )
                op.retire_message_after_commit(old.channel_id, old.message_id)
            op.commit()
    except ConflictError as exc:
        report = exc.rollback_report
        raise_conflict = ConflictError(
            f"Another setup deployed the {spec.panel_type} panel at the same time; "
            "this attempt was withdrawn.",
            reference=exc.reference,
        )
        raise_conflict.rollback_report = report
        _audit_failure(ctx, request, op.id, raise_conflict)
        raise raise_conflict from exc
    except SetupOperationError as exc:
        _audit_failure(ctx, request, op.id, exc)
        raise

    retired = op.follow_ups is None or not (
        op.follow_ups.left_for_recovery or op.follow_ups.abandoned
    )
    detail = f"{spec.panel_type} panel posted in channel {request.channel_id}"
    if old is not None:
        detail += f", replacing message {old.message_id} in channel {old.channel_id}"
    ctx.write_audit(
        AuditRecord(
            guild_id=request.guild_id,
            user_id=request.user_id,
            action="deploy",
            outcome="ok" if retired else "ok_old_message_pending",
            detail=detail,
            created_at=ctx.clock.now(),
            operation_id=op.id,
        )
    )
    return DeployResult(
        panel=record,
        replaced=old,
        operation_id=op.id,
        old_message_retired=retired,
        journal_commits=op.commits,
    )


def _audit_failure(
    ctx: SetupContext,
    request: DeployRequest,
    operation_id: str | None,
    error: SetupOperationError,
    *,
    outcome: str | None = None,
) -> None:
    report = error.rollback_report
    ctx.write_audit(
        AuditRecord(
            guild_id=request.guild_id,
            user_id=request.user_id,
            action="deploy",
            outcome=outcome or (report.outcome if report else "failed"),
            detail=f"{request.panel_type} panel not deployed: {error.user_message}",
            created_at=ctx.clock.now(),
            operation_id=operation_id,
            reference=error.reference,
        )
    )
