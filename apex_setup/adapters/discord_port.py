"""The core's DiscordPort over a running discord.py client.

The core is synchronous and runs in worker threads started with ``anyio.to_thread.run_sync``;
each call here hops back to the client's event loop with ``anyio.from_thread.run`` and waits for
the answer. Nothing here runs on the event loop thread itself: calling a method from the loop
would deadlock, and anyio refuses it with a RuntimeError.

Channel, channel list and permission reads come from discord.py's gateway cache (no REST
request), read on the event loop too (the cache is only consistent there); sends, fetches,
deletes and history are REST requests. discord.py objects that need a running loop (a ``View``)
are built inside the coroutine that runs on the loop, never in the worker thread. discord.py's
exceptions become the core's Discord errors with Discord's status and JSON code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import anyio.from_thread
import discord

from apex_setup.core.discord_types import ChannelInfo, ChannelKind, MessageInfo, Permission
from apex_setup.core.errors import (
    DiscordFailure,
    DiscordForbidden,
    DiscordNotFound,
    DiscordRejected,
    DiscordUnavailable,
)
from apex_setup.core.payload import Button, MessagePayload

__all__ = ["DiscordPyPort", "build_view", "translate_error"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: Discord's documented window for ``enforce_nonce`` ("the past few minutes"); we assume 5.
DEFAULT_NONCE_WINDOW = 300.0


def translate_error(exc: BaseException) -> DiscordFailure:
    """The core's error for a discord.py or network exception; the message is user-safe."""
    if isinstance(exc, discord.RateLimited):
        return DiscordUnavailable(
            "Discord is rate limiting the bot; try again shortly.",
            status=429,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        if isinstance(exc, discord.Forbidden):
            return DiscordForbidden(
                "Discord refused: the bot lacks access or permission.",
                status=status,
                discord_code=code,
            )
        if isinstance(exc, discord.NotFound):
            return DiscordNotFound(
                "Discord could not find that channel or message.", status=status, discord_code=code
            )
        if status >= 500 or status == 429:
            return DiscordUnavailable(
                "Discord is not answering properly right now.", status=status, discord_code=code
            )
        return DiscordRejected(
            f"Discord rejected the request (code {code}).", status=status, discord_code=code
        )
    return DiscordUnavailable("Discord could not be reached.", status=0)


def build_view(payload: MessagePayload) -> discord.ui.View | None:
    """A discord.py View carrying the payload's components, for sending only; call it on the
    event loop (discord.py's View needs the running loop).

    The view is stopped before it is returned, so discord.py does not register it for
    dispatch: the persistent views the cog registers at startup answer the interactions.
    """
    if not payload.rows:
        return None
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(payload.rows):
        for component in row.components:
            if isinstance(component, Button):
                view.add_item(
                    discord.ui.Button(
                        custom_id=component.custom_id,
                        label=component.label,
                        style=discord.ButtonStyle(int(component.style)),
                        row=row_index,
                    )
                )
            else:
                options = [
                    discord.SelectOption(
                        label=o.label, value=o.value, description=o.description or None
                    )
                    for o in component.options
                ]
                view.add_item(
                    discord.ui.Select(
                        custom_id=component.custom_id,
                        placeholder=component.placeholder or None,
                        options=options,
                        row=row_index,
                    )
                )
    view.stop()
    return view


def _kind(channel: Any) -> ChannelKind:
    if isinstance(channel, discord.CategoryChannel):
        return ChannelKind.CATEGORY
    if isinstance(channel, discord.TextChannel):
        return ChannelKind.NEWS if channel.is_news() else ChannelKind.TEXT
    return ChannelKind.VOICE


def _channel_info(channel: Any) -> ChannelInfo:
    return ChannelInfo(
        id=channel.id,
        guild_id=channel.guild.id,
        name=channel.name,
        kind=_kind(channel),
        parent_id=getattr(channel, "category_id", None),
        position=getattr(channel, "position", 0),
    )


def _message_info(message: discord.Message, nonce: str | None = None) -> MessageInfo:
    payload = MessagePayload.from_dict(
        {
            "content": message.content,
            "embeds": [e.to_dict() for e in message.embeds],
            "components": [c.to_dict() for c in message.components],
        }
    )
    return MessageInfo(
        id=message.id,
        channel_id=message.channel.id,
        author_id=message.author.id,
        created_at=message.created_at,
        payload=payload,
        nonce=nonce,
    )


def _embeds(payload: MessagePayload) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in payload.to_dict()["embeds"]]


class DiscordPyPort:
    """Implements the core's DiscordPort for the bot user of ``client``."""

    def __init__(
        self, client: discord.Client, *, nonce_window_seconds: float = DEFAULT_NONCE_WINDOW
    ) -> None:
        self._client = client
        self._nonce_window = nonce_window_seconds

    @property
    def bot_user_id(self) -> int:
        user = self._client.user
        if user is None:
            raise DiscordUnavailable("The bot is not connected to Discord.", status=0)
        return user.id

    @property
    def nonce_window_seconds(self) -> float:
        return self._nonce_window

    def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        async def call() -> T:
            try:
                return await make()
            except (discord.HTTPException, discord.RateLimited) as exc:
                raise translate_error(exc) from exc
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise translate_error(exc) from exc

        return anyio.from_thread.run(call)

    def _on_loop(self, read: Callable[[], T]) -> T:
        """Read discord.py's cache on the event loop and return the result here."""
        return anyio.from_thread.run_sync(read)

    def _cached_channel(self, channel_id: int) -> Any:
        return self._on_loop(lambda: self._client.get_channel(channel_id))

    def _messageable(self, channel_id: int) -> Any:
        channel = self._cached_channel(channel_id)
        if channel is None:
            raise DiscordNotFound("Unknown channel.", status=404, discord_code=10003)
        return channel

    def get_channel(self, channel_id: int) -> ChannelInfo:
        channel = self._cached_channel(channel_id)
        if channel is None:
            channel = self._run(lambda: self._client.fetch_channel(channel_id))
        if not hasattr(channel, "guild"):
            raise DiscordNotFound("Unknown channel.", status=404, discord_code=10003)
        return self._on_loop(lambda: _channel_info(channel))

    def list_channels(self, guild_id: int) -> Sequence[ChannelInfo]:
        def read() -> list[ChannelInfo] | None:
            guild = self._client.get_guild(guild_id)
            return None if guild is None else [_channel_info(c) for c in guild.channels]

        channels = self._on_loop(read)
        if channels is None:
            raise DiscordNotFound("Unknown guild.", status=404, discord_code=10004)
        return channels

    def bot_permissions(self, channel_id: int) -> Permission:
        channel = self._messageable(channel_id)
        return Permission(self._on_loop(lambda: channel.permissions_for(channel.guild.me).value))

    def send_message(self, channel_id: int, payload: MessagePayload, *, nonce: str) -> MessageInfo:
        channel = self._messageable(channel_id)

        async def send() -> discord.Message:
            view = build_view(payload)  # a View needs the running loop
            kwargs: dict[str, Any] = {"embeds": _embeds(payload), "nonce": nonce}
            if payload.content:
                kwargs["content"] = payload.content
            if view is not None:
                kwargs["view"] = view
            message: discord.Message = await channel.send(**kwargs)
            return message

        return _message_info(self._run(send), nonce=nonce)

    def fetch_message(self, channel_id: int, message_id: int) -> MessageInfo:
        channel = self._messageable(channel_id)
        message: discord.Message = self._run(lambda: channel.fetch_message(message_id))
        return _message_info(message)

    def delete_message(self, channel_id: int, message_id: int) -> None:
        channel = self._messageable(channel_id)
        self._run(lambda: channel.get_partial_message(message_id).delete())

    def history(
        self,
        channel_id: int,
        *,
        limit: int = 100,
        before: int | None = None,
        after: int | None = None,
    ) -> Sequence[MessageInfo]:
        channel = self._messageable(channel_id)

        async def read() -> list[discord.Message]:
            return [
                m
                async for m in channel.history(
                    limit=limit,
                    before=discord.Object(before) if before else None,
                    after=discord.Object(after) if after else None,
                    oldest_first=False,
                )
            ]

        return [_message_info(m) for m in self._run(read)]
