"""The atomic operation: a unit of work across Discord and the store, journaled ahead.

    with atomic_operation(ctx, OperationKind.DEPLOY_PANEL, guild_id=g, user_id=u) as op:
        message = op.send_message(channel_id, payload, panel_type="rules")
        op.write_panel(PanelWrite(PanelWriteKind.INSERT, record=...), ...)
        op.commit()

Invariants:
- Roll back by default, commit explicitly. Leaving the block without ``commit()``, or with an
  exception, compensates every step in reverse order; the original exception is re-raised with
  a ``rollback_report`` attached, and an audit record says exactly what was and was not undone.
- Write-ahead: before each external effect, its intent and everything staged so far is made
  durable in one commit. Storage steps are staged and ride along with the next commit, in the
  same transaction as their journal rows. A deploy of N steps therefore costs N+1 commits at most.
- A commit whose outcome is unknown (the store raised after the transaction may have landed) is
  settled by reading the operation back: committed means committed; still PENDING means it may
  be compensated; unreadable means nobody can tell, and it is left to ``recover()``.
- Every state change of the operation is a compare-and-swap on the state last made durable, so
  a commit and a compensation by another process (a recovery) cannot both win.
- A ``SimulatedCrash`` or any other BaseException that is not an Exception runs no compensation:
  a dying process cannot compensate; ``recover()`` does it on the next start.
- After commit, follow-ups (retiring the replaced panel's message) run at once; any that cannot
  finish stay in the journal for ``recover()``. They never undo the committed change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType

from apex_setup.core.compensation import FollowUpReport, compensate, finish_follow_ups
from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import MessageInfo
from apex_setup.core.errors import (
    DiscordFailure,
    IllegalTransition,
    OperationTakenOver,
    SetupOperationError,
    StorageFailure,
)
from apex_setup.core.payload import MessagePayload
from apex_setup.core.records import (
    AuditRecord,
    JournalChange,
    Operation,
    OperationKind,
    OperationState,
    OperationType,
    PanelWrite,
    RollbackInfo,
    RollbackReport,
    Step,
    StepState,
)

__all__ = ["AtomicOperation", "atomic_operation"]

_log = logging.getLogger(__name__)


class AtomicOperation:
    def __init__(
        self,
        ctx: SetupContext,
        kind: OperationKind,
        *,
        guild_id: int,
        user_id: int,
        panel_type: str | None = None,
    ) -> None:
        now = ctx.clock.now()
        self._ctx = ctx
        self.operation = Operation(
            id=ctx.new_id(),
            kind=kind,
            guild_id=guild_id,
            user_id=user_id,
            state=OperationState.PENDING,
            created_at=now,
            updated_at=now,
            panel_type=panel_type,
        )
        self._steps: dict[int, Step] = {}
        self._staged = JournalChange(operation=self.operation)
        self._no_effect: set[int] = set()
        self._unrecorded: set[int] = set()
        #: The operation as last made durable; the expected value of the next state change.
        self._durable: Operation | None = None
        #: Whether a commit raised: what is durable is then unknown until read back.
        self._flush_failed = False
        #: Set when another process owns the operation now, or its state cannot be read.
        self._leave_to_recovery = False
        self.committed = False
        self.rollback_report: RollbackReport | None = None
        self.follow_ups: FollowUpReport | None = None
        #: Journal commits made so far, for benchmarks and tests.
        self.commits = 0

    @property
    def id(self) -> str:
        return self.operation.id

    # Recording steps

    def _info(self, operation_type: OperationType, **fields: object) -> RollbackInfo:
        op = self.operation
        fields.setdefault("panel_type", op.panel_type)
        return RollbackInfo(
            operation_type=operation_type,
            guild_id=op.guild_id,
            user_id=op.user_id,
            timestamp=self._ctx.clock.now(),
            **fields,  # type: ignore[arg-type]
        )

    def _stage(self, step: Step) -> None:
        self._steps[step.index] = step
        self._staged.steps.append(step)
        self._unrecorded.add(step.index)

    def _next_index(self) -> int:
        return len(self._steps)

    def _flush(self) -> None:
        change, self._staged = self._staged, JournalChange()
        if change.is_empty():
            return
        if change.operation is not None:
            change.expected = self._durable
        try:
            self._ctx.journal.apply(change)
        except Exception:
            self._flush_failed = True
            raise
        self.commits += 1
        self._unrecorded.clear()
        if change.operation is not None:
            self._durable = change.operation

    def _require_open(self, event: str) -> None:
        if self.committed:
            raise IllegalTransition("committed", event)

    def send_message(
        self, channel_id: int, payload: MessagePayload, *, panel_type: str | None = None
    ) -> MessageInfo:
        """Post a message as a journaled step; undone by deleting it."""
        self._require_open("send_message")
        index = self._next_index()
        nonce = f"{self.id}:{index}"
        info = self._info(
            OperationType.MESSAGE_SENT,
            channel_id=channel_id,
            nonce=nonce,
            fingerprint=payload.fingerprint(),
            payload=payload.to_dict(),
        )
        if panel_type is not None:
            info = replace(info, panel_type=panel_type)
        step = Step(self.id, index, StepState.INTENDED, info)
        self._stage(step)
        self._no_effect.add(index)

        self._flush()  # the intent is durable before Discord hears of it

        self._no_effect.discard(index)
        discord = self._ctx.discord
        effect_possible = False

        def attempt() -> MessageInfo:
            nonlocal effect_possible
            try:
                return discord.send_message(channel_id, payload, nonce=nonce)
            except DiscordFailure as exc:
                # 4xx (429 included) means Discord refused before acting; 5xx may hide a post.
                effect_possible = effect_possible or exc.status >= 500 or exc.status == 0
                raise
            except Exception:
                effect_possible = True
                raise

        try:
            message = self._ctx.call_discord(attempt)
        except DiscordFailure:
            if not effect_possible:
                self._no_effect.add(index)
            raise
        self._stage(replace(step, state=StepState.DONE, info=info.with_message(message.id)))
        return message

    def write_panel(self, write: PanelWrite, operation_type: OperationType) -> None:
        """Stage a panel row change; it lands with the next commit, with its journal row."""
        self._require_open("write_panel")
        record = write.record or write.expected
        assert record is not None
        info = self._info(
            operation_type,
            panel_type=record.panel_type,
            channel_id=record.channel_id,
            message_id=record.message_id,
            panel_id=record.panel_id,
            before=write.expected,
            after=write.record,
        )
        self._staged.panel_writes.append(write)
        self._stage(Step(self.id, self._next_index(), StepState.DONE, info))

    def retire_message_after_commit(self, channel_id: int, message_id: int) -> None:
        """Delete a message once the operation has committed (the panel it replaces)."""
        self._require_open("retire_message_after_commit")
        info = self._info(
            OperationType.MESSAGE_RETIRED, channel_id=channel_id, message_id=message_id
        )
        self._stage(Step(self.id, self._next_index(), StepState.INTENDED, info, follow_up=True))

    # Ending

    def commit(self) -> None:
        """Make the operation's changes durable, then run its follow-ups."""
        self._require_open("commit")
        has_follow_ups = any(s.follow_up for s in self._steps.values())
        state = OperationState.COMMITTED if has_follow_ups else OperationState.DONE
        self.operation = replace(self.operation, state=state, updated_at=self._ctx.clock.now())
        self._staged.operation = self.operation
        try:
            self._flush()
        except OperationTakenOver:
            self._leave_to_recovery = True
            raise
        except StorageFailure:
            if not self._settle_unknown_commit():
                raise
            _log.info(
                "Commit of operation %s landed although the store reported a failure", self.id
            )
            self._durable = self.operation
        self.committed = True

        if has_follow_ups:
            steps = list(self._steps.values())
            self.follow_ups = finish_follow_ups(self._ctx, self.operation, steps)
            self.commits += int(self.follow_ups.recorded)

    def _settle_unknown_commit(self) -> bool:
        """After a commit raised: True if it landed. If it did not, compensation may run; if
        nobody can tell (the store does not answer) or another process owns the operation,
        compensation is left to ``recover()``, which reads the durable state."""
        try:
            durable = self._ctx.journal.get_operation(self.id)
        except SetupOperationError:
            _log.warning("Operation %s: commit outcome unknown; left to recovery", self.id)
            self._leave_to_recovery = True
            return False
        if durable is not None and durable.state in (
            OperationState.COMMITTED,
            OperationState.DONE,
        ):
            return True
        if durable is None or durable.state is not OperationState.PENDING:
            self._leave_to_recovery = True
        return False

    def _durable_view(self) -> tuple[Operation | None, set[int]] | None:
        """The operation as stored and the steps whose latest state is not durable; None when
        the store cannot say."""
        if not self._flush_failed:
            return self._durable, set(self._unrecorded)
        try:
            durable = self._ctx.journal.get_operation(self.id)
            stored = {s.index: s for s in self._ctx.journal.steps(self.id)}
        except SetupOperationError:
            return None
        unrecorded = {
            index
            for index, step in self._steps.items()
            if index not in stored or stored[index].state is not step.state
        }
        return durable, unrecorded

    def rollback(self) -> RollbackReport:
        """Compensate every step recorded so far, newest first."""
        if self.committed:
            raise IllegalTransition("committed", "rollback")
        view = None if self._leave_to_recovery else self._durable_view()
        if view is None:
            report = RollbackReport(self.id, left_for_recovery=True)
        else:
            durable, unrecorded = view
            if durable is None:
                # Nothing of this operation is durable, so nothing reached Discord either:
                # every send waits for its intent to be durable.
                report = RollbackReport(self.id)
            elif durable.state is not OperationState.PENDING:
                report = RollbackReport(self.id, left_for_recovery=True)
            else:
                report = compensate(
                    self._ctx,
                    durable,
                    list(self._steps.values()),
                    no_effect=self._no_effect,
                    unrecorded=unrecorded,
                )
        self.rollback_report = report
        return report

    def _audit_rollback(self, report: RollbackReport, error: BaseException | None) -> None:
        reference = error.reference if isinstance(error, SetupOperationError) else None
        op = self.operation
        self._ctx.write_audit(
            AuditRecord(
                guild_id=op.guild_id,
                user_id=op.user_id,
                action="rollback",
                outcome=report.outcome,
                detail=f"{op.kind.value} {op.panel_type or ''}: {report.summary()}".strip(),
                created_at=self._ctx.clock.now(),
                operation_id=op.id,
                reference=reference,
            )
        )

    def __enter__(self) -> AtomicOperation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.committed:
            return
        if exc is not None and not isinstance(exc, Exception):
            return  # the process is going away: recovery compensates on the next start

        report = self.rollback()
        if exc is None:
            _log.info("Operation %s left without commit: rolled back", self.id)
        else:
            _log.warning(
                "Operation %s failed (%s, reference %s); %s",
                self.id,
                type(exc).__name__,
                getattr(exc, "reference", "-"),
                report.summary(),
            )
        if report.undone or report.not_undone or report.left_for_recovery:
            self._audit_rollback(report, exc)
        if isinstance(exc, SetupOperationError):
            exc.rollback_report = report


@contextmanager
def atomic_operation(
    ctx: SetupContext,
    kind: OperationKind,
    *,
    guild_id: int,
    user_id: int,
    panel_type: str | None = None,
) -> Iterator[AtomicOperation]:
    """Run a block as one all-or-nothing operation; see the module docstring."""
    with AtomicOperation(
        ctx, kind, guild_id=guild_id, user_id=user_id, panel_type=panel_type
    ) as op:
        yield op
