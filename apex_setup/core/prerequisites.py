"""Checks made before any effect: the target channel, the bot's permissions, the store.

Invariant: these functions only read. A failed check raises before anything is written or sent,
and names everything that is wrong at once (every missing permission, not the first).
"""

from __future__ import annotations

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import ChannelInfo, Permission, permission_names
from apex_setup.core.errors import (
    DiscordForbidden,
    DiscordNotFound,
    InvalidInput,
    MissingPermissions,
)

__all__ = ["PANEL_PERMISSIONS", "check_panel_channel", "check_storage"]

#: What the bot needs in a channel to post a panel and find it again later.
PANEL_PERMISSIONS = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.READ_MESSAGE_HISTORY
)


def check_panel_channel(ctx: SetupContext, guild_id: int, channel_id: int) -> ChannelInfo:
    """The channel, if the bot can post panels in it; InvalidInput or MissingPermissions if not."""
    try:
        channel = ctx.discord.get_channel(channel_id)
    except DiscordNotFound:
        raise InvalidInput(f"Channel {channel_id} does not exist.", field="channel") from None
    except DiscordForbidden:
        raise MissingPermissions(
            permission_names(Permission.VIEW_CHANNEL), where=f"channel {channel_id}"
        ) from None

    if channel.guild_id != guild_id:
        raise InvalidInput(f"Channel {channel_id} belongs to another server.", field="channel")
    if not channel.holds_messages:
        raise InvalidInput(
            f"#{channel.name} is a {channel.kind.value} channel; panels need a text channel.",
            field="channel",
        )

    granted = ctx.discord.bot_permissions(channel_id)
    missing = PANEL_PERMISSIONS & ~granted
    if missing:
        raise MissingPermissions(permission_names(missing), where=f"#{channel.name}")
    return channel


def check_storage(ctx: SetupContext) -> None:
    """Raise StorageFailure when the database cannot be reached."""
    ctx.panels.ping()
