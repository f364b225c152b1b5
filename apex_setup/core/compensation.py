"""Undo an unfinished operation, or finish a committed one, from what the journal says.

The same code serves an in-process rollback (right after a failure) and ``recover()`` (after a
restart), so both behave alike.

Invariants:
- Steps are undone in reverse order. A failed undo is logged and does not stop the others.
- Resolve, record, then undo: a send whose outcome is unknown is first resolved to a message id
  (repeat the send with the same nonce inside Discord's window; search the channel's history by
  author, time and payload fingerprint beyond it), the id is made durable, and only then is the
  message deleted. A second recovery therefore never repeats a nonce whose message is gone.
- "It never happened" counts as undone: Unknown Message on delete, a panel row this operation
  never wrote.
- A transient failure (429, 5xx, storage down) stops the pass and leaves the operation open for
  the next recovery; a permanent refusal (403) abandons that step and records a manual-cleanup
  item. Nothing is dropped silently and nothing is reported undone that was not.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import MessageInfo, time_snowflake
from apex_setup.core.errors import (
    ConflictError,
    DiscordFailure,
    DiscordForbidden,
    DiscordNotFound,
    SetupOperationError,
    StorageFailure,
)
from apex_setup.core.payload import MessagePayload
from apex_setup.core.records import (
    JournalChange,
    ManualCleanupItem,
    Operation,
    OperationState,
    OperationType,
    PanelWrite,
    PanelWriteKind,
    RollbackInfo,
    RollbackReport,
    Step,
    StepState,
)

__all__ = ["FollowUpReport", "compensate", "finish_follow_ups", "locate_sent_message"]

_log = logging.getLogger(__name__)

#: Repeat a send only this far inside Discord's nonce window, to stay clear of its edge.
NONCE_SAFETY_MARGIN = timedelta(seconds=30)
#: How long after its intent a send can have landed (retries and backoff included).
SEND_HORIZON = timedelta(minutes=2)
#: Clock skew tolerated between this machine and Discord when bounding history searches.
CLOCK_SKEW = timedelta(seconds=5)
#: History pages (of 100 messages) searched for a send of unknown outcome.
HISTORY_PAGES = 10


class _StopPass(Exception):
    """A transient failure: stop here and leave the rest to the next recovery."""


def locate_sent_message(ctx: SetupContext, info: RollbackInfo) -> MessageInfo | None:
    """Find the message a send of unknown outcome created, or None if it created none."""
    assert info.channel_id is not None and info.nonce is not None
    channel_id, nonce = info.channel_id, info.nonce
    age = ctx.clock.now() - info.timestamp
    window = timedelta(seconds=ctx.discord.nonce_window_seconds)

    if info.payload is not None and age < window - NONCE_SAFETY_MARGIN:
        # Discord answers a repeated nonce with the message it created the first time; if the
        # first send never landed, this creates it now and we delete it like any other.
        payload = MessagePayload.from_dict(info.payload)
        return ctx.call_discord(lambda: ctx.discord.send_message(channel_id, payload, nonce=nonce))

    low = time_snowflake(info.timestamp - CLOCK_SKEW)
    high = time_snowflake(info.timestamp + SEND_HORIZON)
    live = {p.message_id for p in ctx.panels.list_panels(info.guild_id)}
    bot = ctx.discord.bot_user_id

    def page_after(cursor: int) -> Sequence[MessageInfo]:
        return ctx.call_discord(lambda: ctx.discord.history(channel_id, limit=100, after=cursor))

    after = low
    for _ in range(HISTORY_PAGES):
        page = page_after(after)
        if not page:
            return None
        for message in sorted(page, key=lambda m: m.id):
            if message.id > high:
                return None
            if (
                message.author_id == bot
                and message.id not in live
                and message.payload.fingerprint() == info.fingerprint
            ):
                return message
        after = max(m.id for m in page)
    return None


def _delete_message(ctx: SetupContext, channel_id: int, message_id: int) -> None:
    """Delete a message; one that is already gone counts as deleted."""
    try:
        ctx.call_discord(lambda: ctx.discord.delete_message(channel_id, message_id))
    except DiscordNotFound:
        _log.debug("Message %s in channel %s was already gone", message_id, channel_id)


@dataclass
class _Pass:
    """The journal change a compensation pass is building, and its report."""

    operation: Operation
    report: RollbackReport
    change: JournalChange = field(default_factory=JournalChange)

    def mark(self, step: Step, state: StepState, info: RollbackInfo | None = None) -> None:
        self.change.steps.append(replace(step, state=state, info=info or step.info))

    def abandon(self, ctx: SetupContext, step: Step, reason: str) -> None:
        info = step.info
        self.mark(step, StepState.ABANDONED)
        self.report.not_undone.append((info, reason))
        self.change.cleanup_items.append(
            ManualCleanupItem(
                operation_id=step.operation_id,
                guild_id=info.guild_id,
                description=info.describe(),
                reason=reason,
                created_at=ctx.clock.now(),
                channel_id=info.channel_id,
                message_id=info.message_id,
            )
        )


def compensate(
    ctx: SetupContext,
    operation: Operation,
    steps: Sequence[Step],
    *,
    no_effect: Collection[int] = (),
    unrecorded: Collection[int] = (),
) -> RollbackReport:
    """Undo every step of a PENDING operation, newest first, and record the outcome.

    ``no_effect`` holds indexes of INTENDED steps this process knows had no effect (never
    started, or refused by Discord with a 4xx); they are marked undone without asking Discord.
    ``unrecorded`` holds indexes whose latest state may not be durable yet; a send among them is
    recorded before its undo.
    """
    report = RollbackReport(operation.id)
    work = _Pass(operation, report)
    try:
        for step in sorted(steps, key=lambda s: s.index, reverse=True):
            if step.follow_up or step.state not in (StepState.INTENDED, StepState.DONE):
                continue
            _undo_step(ctx, work, step, step.index in no_effect, step.index in unrecorded)
    except _StopPass:
        report.left_for_recovery = True

    if not report.left_for_recovery:
        state = (
            OperationState.NEEDS_MANUAL_CLEANUP if report.not_undone else OperationState.ROLLED_BACK
        )
        work.change.operation = replace(operation, state=state, updated_at=ctx.clock.now())
    try:
        if not work.change.is_empty():
            ctx.journal.apply(work.change)
    except (StorageFailure, ConflictError):
        _log.warning("Could not record the rollback of operation %s", operation.id, exc_info=True)
        report.left_for_recovery = True
    return report


def _undo_step(
    ctx: SetupContext, work: _Pass, step: Step, no_effect: bool, unrecorded: bool
) -> None:
    info = step.info
    try:
        if info.operation_type is OperationType.MESSAGE_SENT:
            _undo_send(ctx, work, step, no_effect, unrecorded)
        elif info.operation_type in (
            OperationType.PANEL_CREATED,
            OperationType.PANEL_UPDATED,
            OperationType.PANEL_DELETED,
        ):
            _undo_panel_write(ctx, work, step)
        else:
            work.mark(step, StepState.UNDONE)
    except DiscordForbidden:
        _log.warning("Discord refused to undo %s", info.describe(), exc_info=True)
        work.abandon(ctx, step, "Discord refused: missing permission or access")
    except DiscordFailure as exc:
        if not exc.transient:
            _log.warning("Discord rejected the undo of %s", info.describe(), exc_info=True)
            work.abandon(ctx, step, f"Discord rejected the request (code {exc.discord_code})")
            return
        _log.warning("Discord unavailable while undoing %s", info.describe(), exc_info=True)
        raise _StopPass from exc
    except StorageFailure as exc:
        _log.warning("Storage unavailable while undoing %s", info.describe(), exc_info=True)
        raise _StopPass from exc


def _undo_send(
    ctx: SetupContext, work: _Pass, step: Step, no_effect: bool, unrecorded: bool
) -> None:
    info = step.info
    if step.state is StepState.DONE and unrecorded:
        ctx.journal.apply(JournalChange(steps=[step]))  # record the id before deleting
    elif step.state is StepState.INTENDED:
        if no_effect:
            work.mark(step, StepState.UNDONE)
            return
        found = locate_sent_message(ctx, info)
        if found is None:
            work.mark(step, StepState.UNDONE)
            return
        # Record the id before deleting, so a crash between the two never leads a later
        # recovery to repeat a nonce whose message is already gone.
        info = info.with_message(found.id)
        step = replace(step, state=StepState.DONE, info=info)
        ctx.journal.apply(JournalChange(steps=[step]))

    assert info.channel_id is not None and info.message_id is not None
    _delete_message(ctx, info.channel_id, info.message_id)
    work.mark(step, StepState.UNDONE, info)
    work.report.undone.append(info)


def _undo_panel_write(ctx: SetupContext, work: _Pass, step: Step) -> None:
    info = step.info
    assert info.panel_type is not None
    current = ctx.panels.get_panel(info.guild_id, info.panel_type)
    ours = current is not None and current.operation_id == step.operation_id

    if info.operation_type is OperationType.PANEL_DELETED:
        landed = current is None and info.before is not None
        if landed:
            work.change.panel_writes.append(PanelWrite(PanelWriteKind.INSERT, record=info.before))
    elif not ours:
        landed = False  # the write never became durable: nothing to undo
    elif info.before is None:
        work.change.panel_writes.append(PanelWrite(PanelWriteKind.DELETE, expected=current))
        landed = True
    else:
        # Restore the before-image under a new version, so versions only ever grow and a
        # writer that read the row before this operation cannot win a stale compare-and-swap.
        assert current is not None
        restored = replace(info.before, version=current.version + 1)
        write = PanelWrite(PanelWriteKind.REPLACE, record=restored, expected=current)
        work.change.panel_writes.append(write)
        landed = True

    work.mark(step, StepState.UNDONE)
    if landed:
        work.report.undone.append(info)


@dataclass
class FollowUpReport:
    finished: list[RollbackInfo] = field(default_factory=list)
    abandoned: list[tuple[RollbackInfo, str]] = field(default_factory=list)
    left_for_recovery: bool = False
    #: Whether the outcome was written to the journal (one commit).
    recorded: bool = False


def finish_follow_ups(
    ctx: SetupContext, operation: Operation, steps: Sequence[Step]
) -> FollowUpReport:
    """Run the after-commit steps of a COMMITTED operation (retiring the old panel's message)."""
    report = FollowUpReport()
    work = _Pass(operation, RollbackReport(operation.id))
    for step in sorted(steps, key=lambda s: s.index):
        if not step.follow_up or step.state is not StepState.INTENDED:
            continue
        info = step.info
        try:
            if info.operation_type is OperationType.MESSAGE_RETIRED:
                assert info.channel_id is not None and info.message_id is not None
                _delete_message(ctx, info.channel_id, info.message_id)
            work.mark(step, StepState.DONE)
            report.finished.append(info)
        except DiscordFailure as exc:
            if exc.transient:
                _log.warning("Discord unavailable while finishing %s", info.describe())
                report.left_for_recovery = True
                break
            reason = (
                "Discord refused: missing permission or access"
                if isinstance(exc, DiscordForbidden)
                else f"Discord rejected the request (code {exc.discord_code})"
            )
            _log.warning("Could not finish %s: %s", info.describe(), reason)
            work.abandon(ctx, step, reason)
            report.abandoned.append((info, reason))

    if not report.left_for_recovery:
        state = OperationState.NEEDS_MANUAL_CLEANUP if report.abandoned else OperationState.DONE
        work.change.operation = replace(operation, state=state, updated_at=ctx.clock.now())
    try:
        if not work.change.is_empty():
            ctx.journal.apply(work.change)
            report.recorded = True
    except SetupOperationError:
        _log.warning("Could not record the follow-ups of operation %s", operation.id, exc_info=True)
        report.left_for_recovery = True
    return report
