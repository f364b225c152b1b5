"""Turning what an administrator typed into one text channel of their server.

Accepted forms: a mention (``<#123>``), ``#name``, a raw id (``123``) and a plain name
(``rules``). Names compare case-insensitively, after the ``#`` and surrounding spaces are
dropped.

Invariants:
- It only reads: one ``list_channels`` call for the guild, nothing written, nothing sent.
- Only channels of the given guild are found; a channel of another server is "not found".
- Every refusal is ``InvalidInput`` with ``field="channel"`` and ``choices`` holding the guild's
  text channel names (at most ``MAX_CHOICES``), which the message lists too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import ChannelInfo
from apex_setup.core.errors import InvalidInput, quote_input

__all__ = ["MAX_CHOICES", "MAX_INPUT_LENGTH", "parse_channel", "resolve_channel"]

#: Longer input is refused before any lookup.
MAX_INPUT_LENGTH = 100
#: How many text channels an error message lists.
MAX_CHOICES = 25

_MENTION = re.compile(r"^<#(\d{1,20})>$")
_DIGITS = re.compile(r"^\d{1,20}$")


def parse_channel(raw: str) -> tuple[int | None, str | None]:
    """(id, None) for a mention, (id, name) for digits (an id or a name), (None, name) else.

    Raises:
        InvalidInput: empty, or longer than ``MAX_INPUT_LENGTH``.
    """
    text = raw.strip()
    if not text:
        raise InvalidInput("Please name a channel: #name, a mention or its id.", field="channel")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidInput(
            f"That is too long for a channel ({len(text)} characters; at most {MAX_INPUT_LENGTH}).",
            field="channel",
        )
    mention = _MENTION.match(text)
    if mention:
        return int(mention.group(1)), None
    if _DIGITS.match(text):
        return int(text), text
    name = text[1:].strip() if text.startswith("#") else text
    if not name:
        raise InvalidInput("Please name a channel: #name, a mention or its id.", field="channel")
    return None, name


def resolve_channel(ctx: SetupContext, guild_id: int, raw: str) -> ChannelInfo:
    """The text channel of ``guild_id`` that ``raw`` names.

    Raises:
        InvalidInput: empty or too long input, an unknown channel, a channel of another server,
            a channel that holds no messages, or a name several text channels share.
        DiscordFailure: the guild's channels could not be read.
    """
    listed = ctx.call_discord(lambda: ctx.discord.list_channels(guild_id))
    channels = [c for c in listed if c.guild_id == guild_id]
    try:
        channel_id, name = parse_channel(raw)
    except InvalidInput as exc:
        raise _refusal(exc.user_message, channels) from None

    # Step 1: an id (a mention, or digits that match an id) wins over a name.
    if channel_id is not None:
        by_id = [c for c in channels if c.id == channel_id]
        if by_id:
            return _usable(by_id[0], channels)
        if name is None:
            raise _refusal(f"There is no channel {channel_id} in this server.", channels)

    # Step 2: a name, case-insensitively; text channels first.
    assert name is not None
    wanted = name.casefold()
    named = [c for c in channels if c.name.casefold() == wanted]
    text = [c for c in named if c.holds_messages]
    if len(text) == 1:
        return text[0]
    if len(text) > 1:
        ids = ", ".join(f"<#{c.id}> ({c.id})" for c in text)
        raise _refusal(
            f"Several text channels are called #{quote_input(name)}: {ids}. "
            "Give the id or a mention.",
            channels,
        )
    if named:
        return _usable(named[0], channels)
    raise _refusal(f"There is no channel called #{quote_input(name)} in this server.", channels)


def _usable(channel: ChannelInfo, channels: Sequence[ChannelInfo]) -> ChannelInfo:
    if not channel.holds_messages:
        raise _refusal(
            f"#{channel.name} is a {channel.kind.value} channel; panels need a text channel.",
            channels,
        )
    return channel


def _refusal(message: str, channels: Sequence[ChannelInfo]) -> InvalidInput:
    text = sorted(
        (c for c in channels if c.holds_messages), key=lambda c: (c.position, c.name, c.id)
    )
    names = tuple(c.name for c in text[:MAX_CHOICES])
    if not names:
        return InvalidInput(
            f"{message} This server has no text channel the bot can see.", field="channel"
        )
    more = f" and {len(text) - MAX_CHOICES} more" if len(text) > MAX_CHOICES else ""
    listed = ", ".join(f"#{n}" for n in names)
    return InvalidInput(f"{message} Text channels: {listed}{more}.", field="channel", choices=names)
