"""Remove one panel: its row goes in the commit, its message right after, all or nothing.

The sequence, as journaled steps:

    1. delete the panel row            (with its before-image; lands with the commit)
       -- commit --
    2. delete the panel's message      (follow-up: finished, never undone)

Invariants:
- Nothing is written before the request has been validated: the panel type is known and the
  guild has a panel of that type.
- The row deletion is a compare-and-swap on the version read here: a panel redeployed in the
  meantime is left alone (ConflictError, nothing changed).
- The message is deleted only after the row's deletion is durable, so a failure before the commit
  leaves the panel fully working; a deletion that cannot finish stays in the journal and
  ``recover()`` completes it, or records a manual-cleanup item when Discord refuses for good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apex_setup.core.atomic import AtomicOperation
from apex_setup.core.context import SetupContext
from apex_setup.core.errors import ConflictError, InvalidInput, SetupOperationError, quote_input
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.prerequisites import check_storage
from apex_setup.core.records import (
    AuditRecord,
    OperationKind,
    OperationType,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
)

__all__ = ["RemoveResult", "remove_panel"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoveResult:
    panel: PanelRecord
    operation_id: str
    #: False when deleting the message must wait for recovery or a human.
    message_deleted: bool


def remove_panel(
    ctx: SetupContext,
    guild_id: int,
    panel_type: str,
    user_id: int,
    *,
    catalogue: PanelCatalogue | None = None,
) -> RemoveResult:
    """Take the guild's ``panel_type`` panel down: its row, then its message.

    Raises:
        InvalidInput: the panel type is unknown (the valid ones listed) or not deployed here.
        StorageFailure: the store cannot be reached (nothing was changed).
        ConflictError: the panel changed meanwhile (nothing was changed).
    """
    # Step 1: validate, before any effect.
    try:
        name = (catalogue or PanelCatalogue.default()).get(panel_type).panel_type
        check_storage(ctx)
        panel = ctx.panels.get_panel(guild_id, name)
        if panel is None:
            raise InvalidInput(f"There is no {name} panel in this server.", field="panel_type")
    except SetupOperationError as exc:
        _audit(ctx, guild_id, user_id, panel_type, None, "refused", exc)
        raise

    # Step 2: one operation; the row in the commit, the message as its follow-up.
    op = AtomicOperation(
        ctx, OperationKind.REMOVE_PANEL, guild_id=guild_id, user_id=user_id, panel_type=name
    )
    try:
        with op:
            op.write_panel(
                PanelWrite(PanelWriteKind.DELETE, expected=panel), OperationType.PANEL_DELETED
            )
            op.retire_message_after_commit(panel.channel_id, panel.message_id)
            op.commit()
    except ConflictError as exc:
        conflict = ConflictError(
            f"The {name} panel changed while it was being removed; nothing was removed.",
            reference=exc.reference,
        )
        conflict.rollback_report = exc.rollback_report
        _audit(ctx, guild_id, user_id, name, op.id, "refused", conflict)
        raise conflict from exc
    except SetupOperationError as exc:
        report = exc.rollback_report
        _audit(ctx, guild_id, user_id, name, op.id, report.outcome if report else "failed", exc)
        raise

    # Step 3: report whether the message is gone already.
    follow_ups = op.follow_ups
    deleted = follow_ups is None or not (follow_ups.left_for_recovery or follow_ups.abandoned)
    _audit(ctx, guild_id, user_id, name, op.id, "ok" if deleted else "ok_message_pending", None)
    return RemoveResult(panel=panel, operation_id=op.id, message_deleted=deleted)


def _audit(
    ctx: SetupContext,
    guild_id: int,
    user_id: int,
    panel_type: str,
    operation_id: str | None,
    outcome: str,
    error: SetupOperationError | None,
) -> None:
    if error is None:
        detail = f"{panel_type} panel removed"
    else:
        detail = f"{quote_input(panel_type)} panel not removed: {error.user_message}"
    ctx.write_audit(
        AuditRecord(
            guild_id=guild_id,
            user_id=user_id,
            action="remove",
            outcome=outcome,
            detail=detail,
            created_at=ctx.clock.now(),
            operation_id=operation_id,
            reference=error.reference if error is not None else None,
        )
    )
