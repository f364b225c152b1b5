"""Finish what a dead process left open, using only the journal and Discord.

``recover()`` runs at startup before any command is served, and may run again at any time.

Invariants:
- It touches only open operations. A PENDING one is compensated; a COMMITTED one has its
  follow-ups finished; a COMPENSATING one is taken over only when its claim is older than
  ``CLAIM_TTL`` (its holder died). Final states are never revisited.
- It is idempotent: a second run right after a complete one makes no Discord call that changes
  anything and writes nothing.
- It is crash-safe: every pass records its progress before the next effect that depends on it
  (see ``apex_setup.core.compensation``), so dying at any point inside it and running it again
  converges on the same end state.
- ``older_than`` keeps it away from operations another live process may still be running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from apex_setup.core.compensation import compensate, finish_follow_ups
from apex_setup.core.context import SetupContext
from apex_setup.core.errors import SetupOperationError
from apex_setup.core.records import AuditRecord, Operation, OperationState

__all__ = ["CLAIM_TTL", "RecoveryReport", "recover"]

_log = logging.getLogger(__name__)

#: A compensation claim not renewed for this long belongs to a process that died.
CLAIM_TTL = timedelta(minutes=1)


@dataclass
class RecoveryReport:
    rolled_back: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    needs_manual_cleanup: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)

    @property
    def touched(self) -> int:
        return len(self.rolled_back) + len(self.finished) + len(self.needs_manual_cleanup)


def recover(ctx: SetupContext, *, older_than: timedelta = timedelta(0)) -> RecoveryReport:
    """Compensate or finish every open operation last updated at least ``older_than`` ago."""
    report = RecoveryReport()
    cutoff = ctx.clock.now() - older_than
    now = ctx.clock.now()
    for operation in ctx.journal.open_operations():
        if operation.updated_at > cutoff:
            continue
        if (
            operation.state is OperationState.COMPENSATING
            and now - operation.updated_at < CLAIM_TTL
        ):
            report.still_open.append(operation.id)  # another process is compensating it
            continue
        try:
            _recover_one(ctx, operation, report)
        except SetupOperationError:
            _log.warning("Recovery of operation %s must wait", operation.id, exc_info=True)
            report.still_open.append(operation.id)
    if report.touched or report.still_open:
        _log.info(
            "Recovery: %d rolled back, %d finished, %d need manual cleanup, %d still open",
            len(report.rolled_back),
            len(report.finished),
            len(report.needs_manual_cleanup),
            len(report.still_open),
        )
    return report


def _recover_one(ctx: SetupContext, operation: Operation, report: RecoveryReport) -> None:
    steps = ctx.journal.steps(operation.id)

    if operation.state in (OperationState.PENDING, OperationState.COMPENSATING):
        rollback = compensate(ctx, operation, steps)
        if rollback.left_for_recovery:
            report.still_open.append(operation.id)
            return
        bucket = report.rolled_back if rollback.fully_rolled_back else report.needs_manual_cleanup
        bucket.append(operation.id)
        outcome, detail = rollback.outcome, rollback.summary()
    else:
        follow_ups = finish_follow_ups(ctx, operation, steps)
        if follow_ups.left_for_recovery:
            report.still_open.append(operation.id)
            return
        if follow_ups.abandoned:
            report.needs_manual_cleanup.append(operation.id)
            outcome = "needs_manual_cleanup"
            detail = "; ".join(f"{i.describe()} ({why})" for i, why in follow_ups.abandoned)
        else:
            report.finished.append(operation.id)
            outcome, detail = "finished", "Finished after a restart."

    ctx.write_audit(
        AuditRecord(
            guild_id=operation.guild_id,
            user_id=operation.user_id,
            action="recovery",
            outcome=outcome,
            detail=f"{operation.kind.value} {operation.panel_type or ''}: {detail}",
            created_at=ctx.clock.now(),
            operation_id=operation.id,
        )
    )
