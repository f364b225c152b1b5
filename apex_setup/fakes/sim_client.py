"""Pointing unmodified discord.py at a ``WireFront``, and running a bot against it.

discord.py reads two module-level addresses: ``discord.http.Route.BASE`` for REST, and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` for the gateway. (An unsharded ``Client``
never asks GET /gateway/bot: it connects straight to ``DEFAULT_GATEWAY``, and goes back to it
after an INVALID_SESSION; only ``AutoShardedClient`` uses the URL from /gateway/bot.)
``pointed_at`` sets both and restores them on exit. They are process-wide: every client in the
process talks to the simulator while the block runs, so run one front per process at a time.

In a test that already runs an event loop (``@pytest.mark.anyio``)::

    wire = WireFront(sim)
    await wire.start()
    bot = make_bot()
    async with running_bot(bot, wire, wire.token_for(guild.bot_id)):
        channel = bot.get_channel(guild.general_id)
        await channel.send("hello")

From synchronous code, ``BotThread`` runs the front and the bot on a loop of its own::

    with BotThread(sim, guild.bot_id) as runner:
        runner.run(runner.bot.get_channel(guild.general_id).send("hello"))

Invariants:
- ``running_bot`` returns only once the bot has dispatched ``on_ready`` (it is logged in, READY
  and every GUILD_CREATE arrived), and on exit closes the bot and waits for its task.
- ``make_bot`` uses a short ``guild_ready_timeout``: discord.py waits that long after the last
  GUILD_CREATE before ``on_ready`` (2 s by default, which would dominate every test).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

import discord
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from apex_setup.fakes.discord_sim import DiscordSimulator
from apex_setup.fakes.sim_rest import API_PREFIX
from apex_setup.fakes.sim_wire import GATEWAY_PATH, WireFront

__all__ = ["BotThread", "bot_intents", "make_bot", "pointed_at", "running_bot"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long discord.py waits after the last GUILD_CREATE before on_ready, in ``make_bot``.
GUILD_READY_TIMEOUT = 0.05


def bot_intents() -> discord.Intents:
    """Default intents plus message content and members, as a setup bot asks."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents


def make_bot(command_prefix: str = "!", **options: Any) -> commands.Bot:
    """A ``commands.Bot`` with ``bot_intents`` and a short ``guild_ready_timeout``."""
    options.setdefault("intents", bot_intents())
    options.setdefault("guild_ready_timeout", GUILD_READY_TIMEOUT)
    return commands.Bot(command_prefix=command_prefix, **options)


def _base(target: WireFront | str) -> str:
    return target.base_url if isinstance(target, WireFront) else target.rstrip("/")


@contextlib.contextmanager
def pointed_at(target: WireFront | str) -> Iterator[None]:
    """Within the block, discord.py's REST and gateway addresses are the front's."""
    base = _base(target)
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = base + API_PREFIX
    ws_base = "ws" + base.removeprefix("http")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws_base + GATEWAY_PATH)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def running_bot(
    bot: discord.Client, target: WireFront | str, token: str, *, timeout: float = 5.0
) -> AsyncIterator[discord.Client]:
    """Log ``bot`` in to the front, connect it, wait for on_ready; close it on exit.

    Raises:
        discord.LoginFailure: the token is not registered with the front.
    """
    with pointed_at(target):
        try:
            await bot.login(token)
        except BaseException:
            await bot.close()  # login opened an HTTP session
            raise
        task = asyncio.ensure_future(bot.connect(reconnect=False))
        try:
            ready = asyncio.ensure_future(bot.wait_until_ready())
            done, _ = await asyncio.wait(
                {ready, task}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
            if ready not in done:
                ready.cancel()
                if task.done():
                    task.result()  # raises what stopped the connection
                raise TimeoutError(f"the bot was not ready within {timeout} s")
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, discord.ConnectionClosed):
                await asyncio.wait_for(task, timeout)


class BotThread:
    """A wire front and a connected ``commands.Bot`` on an event loop in a background thread.

    Args:
        sim: the simulator to serve.
        bot_user_id: the bot user the bot logs in as.
        bot_factory: builds the bot (called on the loop thread); ``make_bot`` by default. Add
            commands, cogs and listeners here, or to ``runner.bot`` before ``start``.
        follow_real_time: passed to ``WireFront``.
    """

    def __init__(
        self,
        sim: DiscordSimulator,
        bot_user_id: int,
        *,
        bot_factory: Callable[[], commands.Bot] = make_bot,
        follow_real_time: bool = False,
    ) -> None:
        self.sim = sim
        self.wire = WireFront(sim, follow_real_time=follow_real_time)
        self.token = self.wire.token_for(bot_user_id)
        self._factory = bot_factory
        self._bot: commands.Bot | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def bot(self) -> commands.Bot:
        if self._bot is None:
            raise RuntimeError("the bot thread is not started")
        return self._bot

    def start(self) -> BotThread:
        """Start the front and the bot; returns once the bot is ready."""
        self.wire.start_in_thread()
        try:
            self.wire.run(self._start_bot())
        except BaseException:
            self.wire.stop_thread()
            raise
        return self

    async def _start_bot(self) -> None:
        self._bot = self._factory()
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(running_bot(self._bot, self.wire, self.token))
        self._stack = stack

    def stop(self) -> None:
        """Close the bot, then the front and the thread."""
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                self.wire.run(stack.aclose())
        finally:
            self.wire.stop_thread()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 5.0) -> T:
        """Run a coroutine on the bot's loop and return its result."""
        return self.wire.run(coro, timeout)

    def call(self, function: Callable[[], T], timeout: float = 5.0) -> T:
        """Call a plain function on the bot's loop (to read its cache safely)."""

        async def call() -> T:
            return function()

        return self.run(call(), timeout)

    def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 3.0, interval: float = 0.005
    ) -> None:
        """Poll ``predicate`` (from this thread) until it holds; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            time.sleep(interval)

    def __enter__(self) -> BotThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
