"""Undo an unfinished operation, or finish a committed one, from what the journal says.

The same code serves an in-process rollback (right after a failure) and ``recover()`` (after a
restart), so both behave alike.

Invariants:
- Claim first: a compensation starts by moving the operation to COMPENSATING with a
  compare-and-swap on its stored state. Whoever loses (a commit, or a second recovery in
  another process) leaves the operation alone, so two parties never undo the same steps.
- Steps are undone in reverse order. A failed undo is logged and does not stop the others.
- Resolve, record, then undo: a send whose outcome is unknown is first resolved to a message id
  (repeat the send with the same nonce inside Discord's window; search the channel's history by
  author, time and payload fingerprint beyond it), the id is made durable, and only then is the
  message deleted. A later recovery therefore never repeats a nonce whose message is gone.
- Only what is durable is undone in storage: a panel write whose step never became durable was
  part of a transaction that did not land, and there is nothing to put back.
- "It never happened" counts as undone: Unknown Message on delete, a channel that is gone, a
  panel row this operation never wrote. An empty history is only believed when the bot may read
  the channel's history; otherwise the send is reported for manual cleanup.
- A transient failure (429, 5xx, storage down) stops the pass and leaves the operation open for
  the next recovery; a permanent refusal (403) abandons that step and records a manual-cleanup
  item. Nothing is dropped silently, and nothing is reported undone before it is durable.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import MessageInfo, Permission, time_snowflake
from apex_setup.core.errors import (
    ConflictError,
    DiscordFailure,
    DiscordForbidden,
    DiscordNotFound,
    OperationTakenOver,
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
#: What the bot needs for an empty history to prove that a message is not there.
_READ_HISTORY = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY


class _StopPass(Exception):
    """A transient failure: stop here and leave the rest to the next recovery."""


def locate_sent_message(ctx: SetupContext, info: RollbackInfo) -> MessageInfo | None:
    """Find the message a send of unknown outcome created, or None if it created none.

    Raises DiscordForbidden when the bot may not read the channel's history, so that an empty
    answer is never mistaken for proof.
    """
    assert info.channel_id is not None and info.nonce is not None
    channel_id, nonce = info.channel_id, info.nonce
    age = ctx.clock.now() - info.timestamp
    window = timedelta(seconds=ctx.discord.nonce_window_seconds)

    if info.payload is not None and age < window - NONCE_SAFETY_MARGIN:
        # Discord answers a repeated nonce with the message it created the first time; if the
        # first send never landed, this creates it now and we delete it like any other.
        payload = MessagePayload.from_dict(info.payload)
        return ctx.call_discord(lambda: ctx.discord.send_message(channel_id, payload, nonce=nonce))

    if _READ_HISTORY & ~ctx.discord.bot_permissions(channel_id):
        raise DiscordForbidden(
            "The bot may not read this channel's history.", status=403, discord_code=50001
        )
    # The message may come from the first send or from a repeat inside the window.
    low = time_snowflake(info.timestamp - CLOCK_SKEW)
    high = time_snowflake(info.timestamp + window + SEND_HORIZON + CLOCK_SKEW)
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
    """A compensation pass: the claim it holds, the change it builds, and its report."""

    claim: Operation
    report: RollbackReport
    change: JournalChange = field(default_factory=JournalChange)
    #: (step index, what was undone) for Discord undos, which happened as they ran.
    undone: list[tuple[int, RollbackInfo]] = field(default_factory=list)
    #: The same for storage undos staged in ``change``: undone once the change is durable.
    staged_undone: list[tuple[int, RollbackInfo]] = field(default_factory=list)

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

    def record(self, ctx: SetupContext, steps: list[Step]) -> None:
        """Make ``steps`` durable now, renewing the claim in the same compare-and-swap."""
        renewed = replace(self.claim, updated_at=ctx.clock.now())
        ctx.journal.apply(JournalChange(operation=renewed, expected=self.claim, steps=steps))
        self.claim = renewed


def compensate(
    ctx: SetupContext,
    operation: Operation,
    steps: Sequence[Step],
    *,
    no_effect: Collection[int] = (),
    unrecorded: Collection[int] = (),
) -> RollbackReport:
    """Claim ``operation`` (as stored: PENDING, or COMPENSATING with a stale claim), undo its
    steps newest first, and record the outcome.

    ``no_effect`` holds indexes of INTENDED steps this process knows had no effect (never
    started, or refused by Discord with a 4xx); they are marked undone without asking Discord.
    ``unrecorded`` holds indexes whose latest state is not durable: a send among them is
    recorded with the claim, before its undo; a panel write among them never landed.
    """
    report = RollbackReport(operation.id)
    now = ctx.clock.now()
    ordered = sorted(steps, key=lambda s: s.index, reverse=True)

    # Step 1: claim, recording the ids of sends this process saw succeed.
    claim = replace(operation, state=OperationState.COMPENSATING, updated_at=now)
    seen = [
        s
        for s in ordered
        if s.index in unrecorded
        and s.state is StepState.DONE
        and s.info.operation_type is OperationType.MESSAGE_SENT
    ]
    try:
        ctx.journal.apply(JournalChange(operation=claim, expected=operation, steps=seen))
    except OperationTakenOver:
        _log.info("Operation %s is being compensated or finished elsewhere", operation.id)
        report.left_for_recovery = True
        return report
    except SetupOperationError:
        _log.warning("Could not claim operation %s for compensation", operation.id, exc_info=True)
        report.left_for_recovery = True
        return report

    # Step 2: undo, newest first.
    work = _Pass(claim, report)
    try:
        for step in ordered:
            if step.follow_up or step.state not in (StepState.INTENDED, StepState.DONE):
                continue
            _undo_step(ctx, work, step, step.index in no_effect, step.index in unrecorded)
    except _StopPass:
        report.left_for_recovery = True

    # Step 3: record the outcome and release the claim (back to PENDING when the pass had
    # to stop, so the next recovery may claim it at once).
    if report.left_for_recovery:
        # Keep what Discord already undid; storage undos are redone by the next pass.
        state = OperationState.PENDING
        work.change.panel_writes.clear()
        work.staged_undone.clear()
        work.change.steps = [
            s for s in work.change.steps if s.info.operation_type is OperationType.MESSAGE_SENT
        ]
    elif report.not_undone:
        state = OperationState.NEEDS_MANUAL_CLEANUP
    else:
        state = OperationState.ROLLED_BACK
    work.change.operation = replace(work.claim, state=state, updated_at=ctx.clock.now())
    work.change.expected = work.claim
    try:
        ctx.journal.apply(work.change)
    except (StorageFailure, ConflictError):
        _log.warning("Could not record the rollback of operation %s", operation.id, exc_info=True)
        report.left_for_recovery = True
        work.staged_undone.clear()
    undone = sorted(work.undone + work.staged_undone, key=lambda pair: -pair[0])
    report.undone = [info for _, info in undone]
    return report


def _undo_step(
    ctx: SetupContext, work: _Pass, step: Step, no_effect: bool, unrecorded: bool
) -> None:
    info = step.info
    try:
        if info.operation_type is OperationType.MESSAGE_SENT:
            _undo_send(ctx, work, step, no_effect)
        elif info.operation_type in (
            OperationType.PANEL_CREATED,
            OperationType.PANEL_UPDATED,
            OperationType.PANEL_DELETED,
        ):
            _undo_panel_write(ctx, work, step, unrecorded)
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
    except (StorageFailure, ConflictError) as exc:
        _log.warning("Storage unavailable while undoing %s", info.describe(), exc_info=True)
        raise _StopPass from exc


def _undo_send(ctx: SetupContext, work: _Pass, step: Step, no_effect: bool) -> None:
    info = step.info
    if step.state is StepState.INTENDED:
        if no_effect:
            work.mark(step, StepState.UNDONE)
            return
        try:
            found = locate_sent_message(ctx, info)
        except DiscordNotFound:
            found = None  # the channel is gone, and any message with it
        if found is None:
            work.mark(step, StepState.UNDONE)
            return
        # Record the id before deleting, so a crash between the two never leads a later
        # recovery to repeat a nonce whose message is already gone.
        info = info.with_message(found.id)
        step = replace(step, state=StepState.DONE, info=info)
        work.record(ctx, [step])

    assert info.channel_id is not None and info.message_id is not None
    _delete_message(ctx, info.channel_id, info.message_id)
    work.mark(step, StepState.UNDONE, info)
    work.undone.append((step.index, info))


def _undo_panel_write(ctx: SetupContext, work: _Pass, step: Step, unrecorded: bool) -> None:
    info = step.info
    assert info.panel_type is not None
    if unrecorded:
        # Its journal row was never durable, so neither was the write: one transaction.
        work.mark(step, StepState.UNDONE)
        return
    current = ctx.panels.get_panel(info.guild_id, info.panel_type)
    ours = current is not None and current.operation_id == step.operation_id

    if info.operation_type is OperationType.PANEL_DELETED:
        # The delete is durable (its step is), so a missing row is ours to restore; a row
        # that is back means someone deployed since, and theirs stays.
        if current is None and info.before is not None:
            work.change.panel_writes.append(PanelWrite(PanelWriteKind.INSERT, record=info.before))
            work.staged_undone.append((step.index, info))
    elif ours and info.before is None:
        work.change.panel_writes.append(PanelWrite(PanelWriteKind.DELETE, expected=current))
        work.staged_undone.append((step.index, info))
    elif ours and info.before is not None:
        # Restore the before-image under a new version, so versions only ever grow and a
        # writer that read the row before this operation cannot win a stale compare-and-swap.
        assert current is not None
        restored = replace(info.before, version=current.version + 1)
        work.change.panel_writes.append(
            PanelWrite(PanelWriteKind.REPLACE, record=restored, expected=current)
        )
        work.staged_undone.append((step.index, info))
    work.mark(step, StepState.UNDONE)


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
    """Run the after-commit steps of a COMMITTED operation (``operation`` as stored).

    Follow-ups are idempotent (deleting a deleted message is done), so two parties finishing
    the same operation is harmless: the second one's record loses the compare-and-swap.
    """
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

    if report.left_for_recovery:
        work.change.cleanup_items.clear()  # recorded with the final outcome, once
        return report
    state = OperationState.NEEDS_MANUAL_CLEANUP if report.abandoned else OperationState.DONE
    work.change.operation = replace(operation, state=state, updated_at=ctx.clock.now())
    work.change.expected = operation
    try:
        ctx.journal.apply(work.change)
        report.recorded = True
    except OperationTakenOver:
        _log.info("Operation %s was finished elsewhere", operation.id)
    except SetupOperationError:
        _log.warning("Could not record the follow-ups of operation %s", operation.id, exc_info=True)
        report.left_for_recovery = True
    return report
