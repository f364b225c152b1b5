"""Maintenance: what ``!setup-status`` shows, what ``!setup-cleanup`` removes, manual cleanup.

Cleanup is two calls. ``preview_cleanup`` only reads and returns a ``CleanupPlan``: exactly what
would be removed, and what could not be checked and will not be touched. ``apply_cleanup`` then
removes that plan and nothing else, as one journaled operation (``OperationKind.CLEANUP``).

Invariants:
- A panel is removed only when Discord said its message or channel is gone (``PanelHealth.MISSING``)
  at preview time and again right before the removal. A present panel is never touched; neither is
  anything Discord would not let the bot look at (403) or did not answer about: that is reported as
  unverifiable.
- A message is removed only when it is the bot's, carries the panel marker or is named by a
  manual-cleanup item, no panel row points at it, and no unfinished operation may still own it.
- Apply re-checks every fact of the plan first and skips, with a reason, whatever changed since
  the preview (a row redeployed or removed, a message now in use or already gone). The panel-row
  deletions are compare-and-swap on the version read in that re-check.
- Rows are deleted in the commit; messages are deleted after it as journaled follow-ups. Until
  the commit nothing has changed; after it, any deletion that could not finish stays in the journal
  and ``recover()`` completes it (or records a manual-cleanup item when Discord refuses for good).
- Every apply, refused attempt and item resolution writes an audit record. Status reading never
  fails as a whole: a section that cannot be read says so with a reference id, never with
  exception text.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, cast

from apex_setup.core.atomic import atomic_operation
from apex_setup.core.consistency import PanelHealth, PanelStatus, find_orphans, panel_health
from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import MessageInfo, Permission
from apex_setup.core.errors import (
    ConflictError,
    DiscordFailure,
    DiscordForbidden,
    DiscordNotFound,
    InvalidInput,
    SetupOperationError,
)
from apex_setup.core.panels import panel_type_of
from apex_setup.core.ports import AuditLog, GuildSettingsStore
from apex_setup.core.prerequisites import check_storage
from apex_setup.core.records import (
    AuditRecord,
    ManualCleanupItem,
    Operation,
    OperationKind,
    OperationType,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
)

__all__ = [
    "PLAN_MAX_AGE",
    "CleanupKind",
    "CleanupPlan",
    "CleanupResult",
    "GuildStatus",
    "OrphanMessage",
    "OrphanSource",
    "SessionRemoval",
    "SessionSummary",
    "SessionSweeper",
    "SetupSessionView",
    "Skipped",
    "StaleRow",
    "Unverifiable",
    "apply_cleanup",
    "guild_status",
    "list_cleanup_items",
    "preview_cleanup",
    "preview_full",
    "preview_orphans",
    "resolve_cleanup_item",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: A preview older than this is refused by ``apply_cleanup``: the user must look again.
PLAN_MAX_AGE = timedelta(minutes=15)
#: Clock skew tolerated when deciding whether a message may belong to a send in flight.
CLOCK_SKEW = timedelta(seconds=5)
#: Audit entries ``guild_status`` shows.
STATUS_AUDIT_LIMIT = 5
#: Longest status or plan line, so an embed never overflows on a long audit detail.
MAX_LINE = 180
#: What the bot needs in a channel to see every panel message in it.
_READ = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY


# ---------------------------------------------------------------------------------------------
# What the caller hands in: setup sessions (the wizard's) and the session-cleanup hook


class SetupSessionView(Protocol):
    """What status reads of a setup session; the wizard's ``WizardState`` has these."""

    @property
    def user_id(self) -> int: ...

    @property
    def guild_id(self) -> int: ...

    @property
    def last_activity(self) -> datetime: ...

    @property
    def current_index(self) -> int: ...

    @property
    def panel_types(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SessionRemoval:
    """A setup session the session hook offers to remove."""

    guild_id: int
    user_id: int
    #: As previewed; the hook removes the session only while it is still this one.
    last_activity: datetime
    description: str
    session_id: str = ""
    version: int = 0


class SessionSweeper(Protocol):
    """The wizard's session cleanup, used by ``full``; ``setup_wizard.SessionCleaner``
    implements it (expired sessions only, or all sessions)."""

    def preview_sessions(self, guild_id: int) -> Sequence[SessionRemoval]:
        """Sessions that would be removed; reads only."""
        ...

    def remove_sessions(self, removals: Sequence[SessionRemoval]) -> Sequence[SessionRemoval]:
        """Remove each session still as previewed; return those actually removed."""
        ...


# ---------------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class SessionSummary:
    user_id: int
    last_activity: datetime
    current_index: int
    step_count: int


@dataclass
class GuildStatus:
    """What ``!setup-status`` shows for one guild."""

    guild_id: int
    checked_at: datetime
    panels: list[PanelStatus] = field(default_factory=list)
    open_operations: list[Operation] = field(default_factory=list)
    cleanup_items: list[ManualCleanupItem] = field(default_factory=list)
    recent_audit: list[AuditRecord] = field(default_factory=list)
    sessions: list[SessionSummary] = field(default_factory=list)
    audit_channel_id: int | None = None
    #: Sections that could not be read, with the reference id the log line repeats.
    unavailable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (
            self.unavailable
            or self.open_operations
            or self.cleanup_items
            or any(p.health is not PanelHealth.PRESENT for p in self.panels)
        )

    def lines(self) -> list[str]:
        """Short lines for an embed; user-safe (no exception text)."""
        out = [f"Panels: {len(self.panels)}" + _health_counts(self.panels)]
        for status in self.panels:
            panel = status.panel
            line = f"- {panel.panel_type} in <#{panel.channel_id}>: {status.health.value}"
            if status.health is not PanelHealth.PRESENT and status.reason:
                line += f" ({status.reason})"
            out.append(line)
        if self.open_operations:
            out.append(
                f"Unfinished operations: {len(self.open_operations)} (recovery finishes them)"
            )
            out.extend(
                f"- {o.kind.value} {o.panel_type or ''} {o.state.value} since "
                f"{_when(o.updated_at)}".replace("  ", " ")
                for o in self.open_operations
            )
        if self.cleanup_items:
            out.append(f"Manual cleanup needed: {len(self.cleanup_items)}")
            out.extend(f"- #{i.item_id}: {i.description} ({i.reason})" for i in self.cleanup_items)
        if self.sessions:
            out.append(f"Setup sessions in progress: {len(self.sessions)}")
            for s in self.sessions:
                idle = int((self.checked_at - s.last_activity).total_seconds() // 60)
                out.append(
                    f"- <@{s.user_id}>: step {s.current_index + 1} of {s.step_count}, "
                    f"idle {max(idle, 0)} min"
                )
        channel = f"<#{self.audit_channel_id}>" if self.audit_channel_id else "not set"
        out.append(f"Audit channel: {channel}")
        if self.recent_audit:
            out.append("Recent activity:")
            out.extend(
                f"- {_when(a.created_at)} {a.action} {a.outcome}: {a.detail}"
                for a in self.recent_audit
            )
        out.extend(
            f"{section}: could not be read (reference {reference})"
            for section, reference in self.unavailable
        )
        return [_short(line) for line in out]


def guild_status(
    ctx: SetupContext,
    guild_id: int,
    *,
    sessions: Sequence[SetupSessionView] = (),
    audit_log: AuditLog | None = None,
    settings: GuildSettingsStore | None = None,
    audit_limit: int = STATUS_AUDIT_LIMIT,
) -> GuildStatus:
    """The guild's panels with a health check, unfinished operations, manual-cleanup items,
    recent audit entries and active setup sessions. Reads only.

    Args:
        sessions: the wizard's live sessions (any guild; others are ignored).
        audit_log: where the audit entries are read; ``ctx.journal`` when it is one.
        settings: where the audit channel is read; not shown when None.

    Never raises for a section that cannot be read: it is listed in ``unavailable``.
    """
    status = GuildStatus(guild_id, ctx.clock.now())
    log = audit_log if audit_log is not None else _audit_log_of(ctx)

    def section(name: str, read: Callable[[], T], default: T) -> T:
        try:
            return read()
        except SetupOperationError as exc:
            _log.warning(
                "Status of guild %s: %s unavailable (reference %s)",
                guild_id,
                name,
                exc.reference,
                exc_info=True,
            )
            status.unavailable.append((name, exc.reference))
            return default

    no_panels: list[PanelRecord] = []
    panels = section("Panels", lambda: list(ctx.panels.list_panels(guild_id)), no_panels)
    status.panels = [panel_health(ctx, p) for p in panels]
    status.open_operations = section(
        "Journal",
        lambda: [o for o in ctx.journal.open_operations() if o.guild_id == guild_id],
        [],
    )
    status.cleanup_items = section(
        "Manual cleanup", lambda: list(ctx.journal.manual_cleanup_items(guild_id)), []
    )
    if log is not None:
        status.recent_audit = section(
            "Audit log", lambda: list(log.recent_audit(guild_id, audit_limit)), []
        )
    if settings is not None:
        status.audit_channel_id = section(
            "Settings", lambda: settings.get_audit_channel(guild_id), None
        )
    status.sessions = [
        SessionSummary(s.user_id, s.last_activity, s.current_index, len(s.panel_types))
        for s in sessions
        if s.guild_id == guild_id
    ]
    return status


# ---------------------------------------------------------------------------------------------
# Cleanup plans


class CleanupKind(enum.Enum):
    ORPHANED_ROWS = "orphaned_rows"  # panel rows whose message or channel is gone
    ORPHANED_MESSAGES = "orphaned_messages"  # the bot's panel messages no row knows
    ORPHANS = "orphans"  # both of the above
    SESSIONS = "sessions"  # only the setup sessions the session hook offers
    FULL = "full"  # orphans both ways, and the sessions the session hook offers


class OrphanSource(enum.Enum):
    MARKER = "marker"  # found in channel history by the panel component marker
    JOURNAL = "journal"  # named by a manual-cleanup item: an undo or retirement Discord refused


@dataclass(frozen=True)
class StaleRow:
    """A panel row whose message or channel is gone."""

    panel: PanelRecord
    reason: str

    def describe(self) -> str:
        p = self.panel
        return f"{p.panel_type} panel record (message {p.message_id} in <#{p.channel_id}>)"


@dataclass(frozen=True)
class OrphanMessage:
    """A message of the bot's that no panel row points at."""

    channel_id: int
    message_id: int
    source: OrphanSource
    panel_type: str | None = None
    #: The manual-cleanup item naming this message; resolved once the message is deleted.
    item_id: int | None = None

    def describe(self) -> str:
        kind = f"{self.panel_type} panel message" if self.panel_type else "message"
        return f"{kind} {self.message_id} in <#{self.channel_id}>"


@dataclass(frozen=True)
class Unverifiable:
    """Something the bot could not check; reported and never touched."""

    description: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    """A planned removal apply did not make, and why."""

    description: str
    reason: str


@dataclass(frozen=True)
class CleanupPlan:
    """Exactly what ``apply_cleanup`` may remove, as seen at ``created_at``."""

    guild_id: int
    user_id: int
    kind: CleanupKind
    created_at: datetime
    rows: tuple[StaleRow, ...] = ()
    messages: tuple[OrphanMessage, ...] = ()
    #: Manual-cleanup items whose message is already gone: apply marks them done.
    settled_items: tuple[ManualCleanupItem, ...] = ()
    sessions: tuple[SessionRemoval, ...] = ()
    unverifiable: tuple[Unverifiable, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.rows or self.messages or self.settled_items or self.sessions)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.is_empty:
            out.append("Nothing to clean up.")
        out.extend(f"remove {r.describe()}: {r.reason}" for r in self.rows)
        out.extend(f"delete {m.describe()}" for m in self.messages)
        out.extend(
            f"close manual-cleanup item #{i.item_id}: already gone" for i in self.settled_items
        )
        out.extend(f"end {s.description}" for s in self.sessions)
        out.extend(
            f"not touched, could not be checked: {u.description} ({u.reason})"
            for u in self.unverifiable
        )
        return [_short(line) for line in out]


def preview_cleanup(
    ctx: SetupContext,
    guild_id: int,
    kind: CleanupKind,
    *,
    user_id: int,
    sessions: SessionSweeper | None = None,
    panel_types: Collection[str] | None = None,
) -> CleanupPlan:
    """What a cleanup of ``kind`` would remove now. Reads only.

    Args:
        sessions: the session hook; only ``FULL`` and ``SESSIONS`` use it, and without it they
            offer no session removals.
        panel_types: when given, only messages marked with one of these panel types count as
            orphans (other ``apex:`` components, such as a wizard's, are then left alone).

    Raises:
        StorageFailure: the store cannot be read.
    """
    now = ctx.clock.now()
    want_rows = kind in (CleanupKind.ORPHANED_ROWS, CleanupKind.ORPHANS, CleanupKind.FULL)
    want_messages = kind in (CleanupKind.ORPHANED_MESSAGES, CleanupKind.ORPHANS, CleanupKind.FULL)
    panels = list(ctx.panels.list_panels(guild_id))
    rows: list[StaleRow] = []
    messages: list[OrphanMessage] = []
    settled: list[ManualCleanupItem] = []
    unverifiable: list[Unverifiable] = []

    # Step 1: rows whose message or channel is gone.
    if want_rows:
        for panel in panels:
            status = panel_health(ctx, panel)
            if status.health is PanelHealth.MISSING:
                rows.append(StaleRow(panel, status.reason))
            elif status.health is PanelHealth.UNVERIFIABLE:
                unverifiable.append(Unverifiable(StaleRow(panel, "").describe(), status.reason))

    # Step 2: messages no row knows, from the journal's manual-cleanup items, then by marker.
    if want_messages:
        guard = _InFlight.read(ctx, guild_id)
        live = {p.message_id for p in panels}
        known: set[int] = set()
        for item in ctx.journal.manual_cleanup_items(guild_id):
            if item.channel_id is None or item.message_id is None or item.message_id in live:
                continue
            known.add(item.message_id)
            _classify_item(ctx, item, guard, messages, settled, unverifiable)

        found, unscanned = find_orphans(ctx, guild_id, panels)
        for message in found:
            if message.id in known:
                continue
            panel_type = _marked_type(message)
            if panel_types is not None and panel_type not in panel_types:
                continue
            if guard.owns(message):
                continue  # an unfinished operation's; recovery handles it
            messages.append(
                OrphanMessage(message.channel_id, message.id, OrphanSource.MARKER, panel_type)
            )
        unverifiable.extend(
            Unverifiable(f"<#{c}>", "the bot may not read this channel")
            for c in [*unscanned, *_unreadable_channels(ctx, guild_id, set(unscanned))]
        )

    # Step 3: the session hook, for a full or a sessions-only cleanup.
    session_removals: tuple[SessionRemoval, ...] = ()
    if kind in (CleanupKind.FULL, CleanupKind.SESSIONS) and sessions is not None:
        session_removals = tuple(sessions.preview_sessions(guild_id))

    return CleanupPlan(
        guild_id=guild_id,
        user_id=user_id,
        kind=kind,
        created_at=now,
        rows=tuple(rows),
        messages=tuple(messages),
        settled_items=tuple(settled),
        sessions=session_removals,
        unverifiable=tuple(unverifiable),
    )


def preview_orphans(
    ctx: SetupContext,
    guild_id: int,
    *,
    user_id: int,
    panel_types: Collection[str] | None = None,
) -> CleanupPlan:
    """Orphans both ways: rows whose message is gone, and panel messages no row knows."""
    return preview_cleanup(
        ctx, guild_id, CleanupKind.ORPHANS, user_id=user_id, panel_types=panel_types
    )


def preview_full(
    ctx: SetupContext,
    guild_id: int,
    *,
    user_id: int,
    sessions: SessionSweeper | None = None,
    panel_types: Collection[str] | None = None,
) -> CleanupPlan:
    """Everything: orphans both ways, and the sessions the session hook offers."""
    return preview_cleanup(
        ctx,
        guild_id,
        CleanupKind.FULL,
        user_id=user_id,
        sessions=sessions,
        panel_types=panel_types,
    )


@dataclass
class _InFlight:
    """What unfinished operations of a guild may still own: messages, and sends in flight."""

    message_ids: set[int] = field(default_factory=set)
    #: Channel -> earliest send of unknown outcome there; any later message may be its result.
    unknown_sends: dict[int, datetime] = field(default_factory=dict)

    @classmethod
    def read(cls, ctx: SetupContext, guild_id: int) -> _InFlight:
        guard = cls()
        for operation in ctx.journal.open_operations():
            if operation.guild_id != guild_id:
                continue
            for step in ctx.journal.steps(operation.id):
                info = step.info
                if info.message_id is not None:
                    guard.message_ids.add(info.message_id)
                elif info.operation_type is OperationType.MESSAGE_SENT and info.channel_id:
                    earliest = guard.unknown_sends.get(info.channel_id, info.timestamp)
                    guard.unknown_sends[info.channel_id] = min(earliest, info.timestamp)
        return guard

    def owns(self, message: MessageInfo) -> bool:
        if message.id in self.message_ids:
            return True
        since = self.unknown_sends.get(message.channel_id)
        return since is not None and message.created_at >= since - CLOCK_SKEW


def _classify_item(
    ctx: SetupContext,
    item: ManualCleanupItem,
    guard: _InFlight,
    messages: list[OrphanMessage],
    settled: list[ManualCleanupItem],
    unverifiable: list[Unverifiable],
) -> None:
    """Sort a manual-cleanup item's message: still there (delete it), gone, or unknown."""
    assert item.channel_id is not None and item.message_id is not None
    described = f"message {item.message_id} in <#{item.channel_id}>"
    found = _fetch(ctx, item.channel_id, item.message_id)
    if isinstance(found, str):
        unverifiable.append(Unverifiable(described, found))
    elif found is None:
        settled.append(item)
    elif found.author_id != ctx.discord.bot_user_id:
        unverifiable.append(Unverifiable(described, "not the bot's message"))
    elif not guard.owns(found):
        source = OrphanSource.JOURNAL
        messages.append(
            OrphanMessage(
                item.channel_id, item.message_id, source, _marked_type(found), item.item_id
            )
        )


def _fetch(ctx: SetupContext, channel_id: int, message_id: int) -> MessageInfo | str | None:
    """The message; None when Discord says it is gone; a reason when it could not be checked."""
    try:
        return ctx.call_discord(lambda: ctx.discord.fetch_message(channel_id, message_id))
    except DiscordNotFound:
        return None
    except DiscordForbidden:
        return "the bot may not read the channel"
    except DiscordFailure:
        return "Discord did not answer"


def _unreadable_channels(ctx: SetupContext, guild_id: int, skip: set[int]) -> list[int]:
    """Channels whose history reads as empty because the bot lacks a permission.

    Discord answers Get Channel Messages without Read Message History with an empty list, which
    ``find_orphans`` cannot tell from an empty channel.
    """
    unreadable: list[int] = []
    try:
        channels = ctx.call_discord(lambda: ctx.discord.list_channels(guild_id))
    except DiscordFailure:
        return unreadable
    for channel in channels:
        if not channel.holds_messages or channel.id in skip:
            continue
        try:
            granted = ctx.discord.bot_permissions(channel.id)  # computed locally, no request
        except DiscordFailure:
            unreadable.append(channel.id)
            continue
        if _READ & ~granted:
            unreadable.append(channel.id)
    return unreadable


def _marked_type(message: MessageInfo) -> str | None:
    for custom_id in message.payload.custom_ids():
        panel_type = panel_type_of(custom_id)
        if panel_type:
            return panel_type
    return None


# ---------------------------------------------------------------------------------------------
# Applying a plan


@dataclass
class CleanupResult:
    """What ``apply_cleanup`` did with a plan."""

    plan: CleanupPlan
    operation_id: str | None = None
    removed_rows: list[StaleRow] = field(default_factory=list)
    removed_messages: list[OrphanMessage] = field(default_factory=list)
    #: Deletions committed but not finished yet; ``recover()`` completes them.
    pending_messages: list[OrphanMessage] = field(default_factory=list)
    #: Deletions Discord refused for good; each has a manual-cleanup item now.
    abandoned_messages: list[tuple[OrphanMessage, str]] = field(default_factory=list)
    resolved_items: list[int] = field(default_factory=list)
    removed_sessions: list[SessionRemoval] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.abandoned_messages:
            return "needs_manual_cleanup"
        if self.pending_messages:
            return "pending_recovery"
        return "ok"

    def summary(self) -> str:
        parts = [
            f"{len(self.removed_rows)} panel record(s) and "
            f"{len(self.removed_messages)} message(s) removed"
        ]
        if self.resolved_items:
            parts.append(f"{len(self.resolved_items)} manual-cleanup item(s) closed")
        if self.removed_sessions:
            parts.append(f"{len(self.removed_sessions)} setup session(s) ended")
        if self.pending_messages:
            parts.append(f"{len(self.pending_messages)} deletion(s) left for recovery")
        if self.abandoned_messages:
            parts.append(f"{len(self.abandoned_messages)} refused by Discord (manual cleanup)")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped as changed since the preview")
        return "; ".join(parts) + "."

    def lines(self) -> list[str]:
        out = [self.summary()]
        out.extend(f"removed {r.describe()}" for r in self.removed_rows)
        out.extend(f"deleted {m.describe()}" for m in self.removed_messages)
        out.extend(f"pending: {m.describe()}" for m in self.pending_messages)
        out.extend(f"refused: {m.describe()} ({why})" for m, why in self.abandoned_messages)
        out.extend(f"skipped: {s.description} ({s.reason})" for s in self.skipped)
        return [_short(line) for line in out]


def apply_cleanup(
    ctx: SetupContext,
    plan: CleanupPlan,
    *,
    user_id: int | None = None,
    audit_log: AuditLog | None = None,
    sessions: SessionSweeper | None = None,
) -> CleanupResult:
    """Remove exactly what ``plan`` lists and is still as previewed, as one operation.

    Args:
        user_id: who confirmed; refused unless it is who previewed. Defaults to that user.
        audit_log: where manual-cleanup items are resolved; ``ctx.journal`` when it is one.
        sessions: the session hook, for a plan with session removals.

    Raises:
        InvalidInput: the plan is older than ``PLAN_MAX_AGE`` or someone else's.
        StorageFailure: the store cannot be reached (nothing was changed).
        ConflictError: a panel changed between the re-check and the commit (nothing was changed).
    """
    actor = plan.user_id if user_id is None else user_id
    log = audit_log if audit_log is not None else _audit_log_of(ctx)
    result = CleanupResult(plan)

    # Step 1: validate before anything else; a refusal is audited.
    try:
        _validate(ctx, plan, actor)
    except SetupOperationError as exc:
        _audit(ctx, plan, actor, "refused", f"cleanup refused: {exc.user_message}", None, exc)
        raise

    # Step 2: re-check every fact of the plan; whatever changed is skipped.
    rows = _recheck_rows(ctx, plan, result)
    messages, gone_items = _recheck_messages(ctx, plan, result)

    # Step 3: one operation: rows deleted in the commit, messages after it as follow-ups.
    if rows or messages:
        try:
            _remove(ctx, plan, actor, rows, messages, result)
        except SetupOperationError as exc:
            outcome = exc.rollback_report.outcome if exc.rollback_report else "failed"
            _audit(ctx, plan, actor, outcome, f"cleanup failed: {exc.user_message}", None, exc)
            if isinstance(exc, ConflictError):
                raise ConflictError(
                    "A panel changed while the cleanup ran; nothing was removed. "
                    "Please preview the cleanup again.",
                    reference=exc.reference,
                ) from exc
            raise

    # Step 4: after the commit, close the manual-cleanup items whose message is gone.
    done = [m.item_id for m in result.removed_messages]
    to_resolve = [*done, *gone_items, *(i.item_id for i in plan.settled_items)]
    for item_id in to_resolve:
        if item_id is None:
            continue
        if log is None:
            result.skipped.append(Skipped(f"manual-cleanup item #{item_id}", "no audit log port"))
            continue
        try:
            log.resolve_cleanup_item(item_id)
            result.resolved_items.append(item_id)
        except SetupOperationError:
            _log.warning("Could not resolve manual-cleanup item %s", item_id, exc_info=True)
            result.skipped.append(Skipped(f"manual-cleanup item #{item_id}", "not closed"))

    # Step 5: the session hook, last: sessions are not part of the panel operation.
    if plan.sessions:
        _remove_sessions(plan, sessions, result)

    _audit(ctx, plan, actor, result.outcome, result.summary(), result.operation_id, None)
    return result


def _validate(ctx: SetupContext, plan: CleanupPlan, actor: int) -> None:
    if actor != plan.user_id:
        raise InvalidInput(
            "This cleanup preview belongs to someone else; run your own preview.", field="user"
        )
    if ctx.clock.now() - plan.created_at > PLAN_MAX_AGE:
        minutes = int(PLAN_MAX_AGE.total_seconds() // 60)
        raise InvalidInput(
            f"This cleanup preview is older than {minutes} minutes; please preview again.",
            field="plan",
        )
    check_storage(ctx)


def _recheck_rows(ctx: SetupContext, plan: CleanupPlan, result: CleanupResult) -> list[StaleRow]:
    keep: list[StaleRow] = []
    for row in plan.rows:
        planned = row.panel
        current = ctx.panels.get_panel(planned.guild_id, planned.panel_type)
        if current is None:
            result.skipped.append(Skipped(row.describe(), "already removed"))
            continue
        if (current.version, current.message_id, current.channel_id) != (
            planned.version,
            planned.message_id,
            planned.channel_id,
        ):
            result.skipped.append(Skipped(row.describe(), "redeployed since the preview"))
            continue
        status = panel_health(ctx, current)
        if status.health is not PanelHealth.MISSING:
            result.skipped.append(Skipped(row.describe(), f"now {status.health.value}"))
            continue
        keep.append(StaleRow(current, row.reason))
    return keep


def _recheck_messages(
    ctx: SetupContext, plan: CleanupPlan, result: CleanupResult
) -> tuple[list[OrphanMessage], list[int]]:
    """The messages still to delete, and the items whose message is gone meanwhile."""
    keep: list[OrphanMessage] = []
    gone_items: list[int] = []
    if not plan.messages:
        return keep, gone_items
    live = {p.message_id for p in ctx.panels.list_panels(plan.guild_id)}
    guard = _InFlight.read(ctx, plan.guild_id)
    for orphan in plan.messages:
        if orphan.message_id in live:
            result.skipped.append(Skipped(orphan.describe(), "now a live panel's message"))
            continue
        found = _fetch(ctx, orphan.channel_id, orphan.message_id)
        if isinstance(found, str):
            result.skipped.append(Skipped(orphan.describe(), f"could not be checked: {found}"))
        elif found is None:
            result.skipped.append(Skipped(orphan.describe(), "already gone"))
            if orphan.item_id is not None:
                gone_items.append(orphan.item_id)
        elif found.author_id != ctx.discord.bot_user_id:
            result.skipped.append(Skipped(orphan.describe(), "not the bot's message"))
        elif guard.owns(found):
            result.skipped.append(Skipped(orphan.describe(), "an unfinished operation owns it"))
        else:
            keep.append(orphan)
    return keep, gone_items


def _remove(
    ctx: SetupContext,
    plan: CleanupPlan,
    actor: int,
    rows: list[StaleRow],
    messages: list[OrphanMessage],
    result: CleanupResult,
) -> None:
    with atomic_operation(ctx, OperationKind.CLEANUP, guild_id=plan.guild_id, user_id=actor) as op:
        result.operation_id = op.id
        for row in rows:
            write = PanelWrite(PanelWriteKind.DELETE, expected=row.panel)
            op.write_panel(write, OperationType.PANEL_DELETED)
        for orphan in messages:
            op.retire_message_after_commit(orphan.channel_id, orphan.message_id)
        op.commit()
    result.removed_rows.extend(rows)

    follow_ups = op.follow_ups
    if follow_ups is None:
        return
    finished = {(i.channel_id, i.message_id) for i in follow_ups.finished}
    refused = {(i.channel_id, i.message_id): why for i, why in follow_ups.abandoned}
    for orphan in messages:
        key = (orphan.channel_id, orphan.message_id)
        if key in finished:
            result.removed_messages.append(orphan)
        elif key in refused:
            result.abandoned_messages.append((orphan, refused[key]))
        else:
            result.pending_messages.append(orphan)


def _remove_sessions(
    plan: CleanupPlan, sessions: SessionSweeper | None, result: CleanupResult
) -> None:
    if sessions is None:
        result.skipped.extend(
            Skipped(s.description, "session cleanup is not available") for s in plan.sessions
        )
        return
    try:
        removed = list(sessions.remove_sessions(plan.sessions))
    except SetupOperationError:
        _log.warning("Could not end the setup sessions of guild %s", plan.guild_id, exc_info=True)
        result.skipped.extend(Skipped(s.description, "could not be ended") for s in plan.sessions)
        return
    result.removed_sessions.extend(removed)
    result.skipped.extend(
        Skipped(s.description, "changed since the preview")
        for s in plan.sessions
        if s not in removed
    )


def _audit(
    ctx: SetupContext,
    plan: CleanupPlan,
    actor: int,
    outcome: str,
    detail: str,
    operation_id: str | None,
    error: SetupOperationError | None,
) -> None:
    ctx.write_audit(
        AuditRecord(
            guild_id=plan.guild_id,
            user_id=actor,
            action="cleanup",
            outcome=outcome,
            detail=f"{plan.kind.value}: {detail}",
            created_at=ctx.clock.now(),
            operation_id=operation_id,
            reference=error.reference if error is not None else None,
        )
    )


# ---------------------------------------------------------------------------------------------
# Manual cleanup items


def list_cleanup_items(ctx: SetupContext, guild_id: int) -> list[ManualCleanupItem]:
    """The guild's unresolved manual-cleanup items, oldest first."""
    return list(ctx.journal.manual_cleanup_items(guild_id))


def resolve_cleanup_item(
    ctx: SetupContext,
    guild_id: int,
    item_id: int,
    *,
    user_id: int,
    audit_log: AuditLog | None = None,
) -> ManualCleanupItem:
    """Mark one of the guild's manual-cleanup items done, after a human dealt with it.

    Raises:
        InvalidInput: the guild has no open item ``item_id`` (audited as refused).
        StorageFailure: the store cannot be reached.
    """
    log = audit_log if audit_log is not None else _audit_log_of(ctx)
    item = next((i for i in list_cleanup_items(ctx, guild_id) if i.item_id == item_id), None)
    if item is None or log is None:
        error = InvalidInput(
            f"There is no open manual-cleanup item {item_id} in this server.", field="item_id"
        )
        ctx.write_audit(
            AuditRecord(
                guild_id=guild_id,
                user_id=user_id,
                action="manual_cleanup",
                outcome="refused",
                detail=f"item #{item_id}: {error.user_message}",
                created_at=ctx.clock.now(),
                reference=error.reference,
            )
        )
        raise error
    log.resolve_cleanup_item(item_id)
    ctx.write_audit(
        AuditRecord(
            guild_id=guild_id,
            user_id=user_id,
            action="manual_cleanup",
            outcome="resolved",
            detail=f"item #{item_id}: {item.description}",
            created_at=ctx.clock.now(),
            operation_id=item.operation_id,
        )
    )
    return item


# ---------------------------------------------------------------------------------------------
# Small helpers


def _audit_log_of(ctx: SetupContext) -> AuditLog | None:
    """The journal's store as an ``AuditLog``, when it is one (both stores are).

    Plain attribute lookups, not ``isinstance`` on a runtime protocol: since Python 3.12 that
    ignores ``__getattr__``, so a wrapped store (a proxy) would not be recognised.
    """
    journal: object = ctx.journal
    names = ("recent_audit", "resolve_cleanup_item")
    if all(callable(getattr(journal, name, None)) for name in names):
        return cast(AuditLog, journal)
    return None


def _health_counts(panels: Sequence[PanelStatus]) -> str:
    if not panels:
        return ""
    counts = {h: sum(1 for p in panels if p.health is h) for h in PanelHealth}
    return " (" + ", ".join(f"{n} {h.value}" for h, n in counts.items() if n) + ")"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _short(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"
