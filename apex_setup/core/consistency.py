"""Compare what the store believes with what Discord shows, for one guild. Read only.

A panel row is PRESENT when its message exists, MISSING when Discord says the message or the
channel is gone, and UNVERIFIABLE when the bot may not look (403) or Discord did not answer.
An orphan is a message the bot authored, carrying apex-setup's component marker, that no panel
row points at. Only MISSING rows and orphans are safe to clean up: an unverifiable check is
reported and never acted on.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import MessageInfo
from apex_setup.core.errors import DiscordFailure, DiscordForbidden, DiscordNotFound
from apex_setup.core.panels import panel_type_of
from apex_setup.core.records import ManualCleanupItem, Operation, PanelRecord

__all__ = [
    "ConsistencyReport",
    "PanelHealth",
    "PanelStatus",
    "check_guild",
    "find_orphans",
    "panel_health",
]

_log = logging.getLogger(__name__)

#: Messages read per channel when looking for orphans.
ORPHAN_SCAN_LIMIT = 100


class PanelHealth(enum.Enum):
    PRESENT = "present"  # the message exists
    MISSING = "missing"  # Discord says the message or its channel is gone
    UNVERIFIABLE = "unverifiable"  # the bot may not look, or Discord did not answer


@dataclass(frozen=True)
class PanelStatus:
    panel: PanelRecord
    health: PanelHealth
    reason: str = ""


@dataclass
class ConsistencyReport:
    guild_id: int
    panels: list[PanelStatus] = field(default_factory=list)
    orphans: list[MessageInfo] = field(default_factory=list)
    unscanned_channels: list[int] = field(default_factory=list)
    open_operations: list[Operation] = field(default_factory=list)
    cleanup_items: list[ManualCleanupItem] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not (
            self.orphans
            or self.open_operations
            or any(p.health is PanelHealth.MISSING for p in self.panels)
        )

    def lines(self) -> list[str]:
        out = []
        for status in self.panels:
            p = status.panel
            note = f" ({status.reason})" if status.reason else ""
            out.append(
                f"panel {p.panel_type}: message {p.message_id} in channel {p.channel_id} "
                f"is {status.health.value}{note}"
            )
        out.extend(
            f"orphan: message {m.id} in channel {m.channel_id} has no panel record"
            for m in self.orphans
        )
        out.extend(f"channel {c} could not be scanned" for c in self.unscanned_channels)
        out.extend(
            f"open operation {o.id} ({o.kind.value} {o.panel_type or ''}, {o.state.value})"
            for o in self.open_operations
        )
        out.extend(f"manual cleanup: {i.description} ({i.reason})" for i in self.cleanup_items)
        out.append("consistent" if self.consistent else "NOT consistent")
        return out


def panel_health(ctx: SetupContext, panel: PanelRecord) -> PanelStatus:
    try:
        message = ctx.call_discord(
            lambda: ctx.discord.fetch_message(panel.channel_id, panel.message_id)
        )
    except DiscordNotFound:
        return PanelStatus(panel, PanelHealth.MISSING, "message or channel deleted")
    except DiscordForbidden:
        return PanelStatus(panel, PanelHealth.UNVERIFIABLE, "the bot may not read the channel")
    except DiscordFailure:
        return PanelStatus(panel, PanelHealth.UNVERIFIABLE, "Discord did not answer")
    if message.author_id != ctx.discord.bot_user_id:
        return PanelStatus(panel, PanelHealth.MISSING, "the message is not the bot's")
    return PanelStatus(panel, PanelHealth.PRESENT)


def _read_history(ctx: SetupContext, channel_id: int) -> Sequence[MessageInfo]:
    return ctx.call_discord(lambda: ctx.discord.history(channel_id, limit=ORPHAN_SCAN_LIMIT))


def find_orphans(
    ctx: SetupContext, guild_id: int, panels: Sequence[PanelRecord]
) -> tuple[list[MessageInfo], list[int]]:
    """Bot-authored, marked messages no row knows; and the channels that could not be read."""
    known = {p.message_id for p in panels}
    bot = ctx.discord.bot_user_id
    orphans: list[MessageInfo] = []
    unscanned: list[int] = []
    for channel in ctx.discord.list_channels(guild_id):
        if not channel.holds_messages:
            continue
        channel_id = channel.id
        try:
            history = _read_history(ctx, channel_id)
        except DiscordFailure:
            _log.debug("Channel %s could not be scanned for orphans", channel_id)
            unscanned.append(channel_id)
            continue
        for message in history:
            if message.author_id != bot or message.id in known:
                continue
            if any(panel_type_of(cid) for cid in message.payload.custom_ids()):
                orphans.append(message)
    return orphans, unscanned


def check_guild(ctx: SetupContext, guild_id: int) -> ConsistencyReport:
    report = ConsistencyReport(guild_id)
    panels = list(ctx.panels.list_panels(guild_id))
    report.panels = [panel_health(ctx, p) for p in panels]
    report.orphans, report.unscanned_channels = find_orphans(ctx, guild_id, panels)
    report.open_operations = [o for o in ctx.journal.open_operations() if o.guild_id == guild_id]
    report.cleanup_items = list(ctx.journal.manual_cleanup_items(guild_id))
    return report
