"""pytest fixtures for testing a discord.py bot against the simulator, through the wire.

Registered as the ``apex_setup`` pytest11 entry point, so installing apex-setup makes these
fixtures available everywhere; no pytest-asyncio needed (the bot runs on an event loop in a
background thread, and the test talks to it with ``sim_bot.run``):

- ``discord_sim``: a ``DiscordSimulator`` on a still ``FakeClock``, rate limits off;
- ``sim_guild``: its ``standard_guild()`` (owner, the bot, an admin, a member, the usual channels);
- ``sim_bot_factory``: what builds the bot (``make_bot``: prefix ``!``, default intents plus
  message content and members); override it to add commands, cogs or views;
- ``sim_bot``: a ``BotThread`` - a wire front and that bot, logged in, READY and connected.

A complete test::

    from discord.ext import commands
    import pytest
    from apex_setup.core.payload import MessagePayload
    from apex_setup.fakes.sim_client import make_bot

    @pytest.fixture
    def sim_bot_factory():
        def factory() -> commands.Bot:
            bot = make_bot()

            @bot.command(name="setup-status")
            async def status(ctx: commands.Context) -> None:
                await ctx.send("all set")

            return bot

        return factory

    def test_a_member_asking_for_the_status_gets_an_answer(discord_sim, sim_guild, sim_bot):
        discord_sim.post_as(
            sim_guild.member_id, sim_guild.general_id, MessagePayload(content="!setup-status")
        )

        sim_bot.wait_until(
            lambda: discord_sim.messages(sim_guild.general_id)[-1].payload.content == "all set"
        )

Cached discord.py objects belong to the bot's loop: read them with ``sim_bot.call(lambda: ...)``
and await their coroutines with ``sim_bot.run(coro)``. Tests that run their own loop
(``@pytest.mark.anyio``) use ``WireFront.start`` and ``sim_client.running_bot`` instead.

Invariant: every fixture cleans up after itself; ``sim_bot`` closes the bot, then the front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from discord.ext import commands

from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.sim_client import BotThread, make_bot

__all__ = ["discord_sim", "sim_bot", "sim_bot_factory", "sim_guild"]


@pytest.fixture
def discord_sim() -> DiscordSimulator:
    """A simulator on a still FakeClock, without rate limits."""
    return DiscordSimulator(FakeClock(), rate_limits=RateLimitConfig.disabled())


@pytest.fixture
def sim_guild(discord_sim: DiscordSimulator) -> StandardGuild:
    """The simulator's standard guild."""
    return discord_sim.standard_guild()


@pytest.fixture
def sim_bot_factory() -> Callable[[], commands.Bot]:
    """Builds the bot ``sim_bot`` runs; override to add commands, cogs or views."""
    return make_bot


@pytest.fixture
def sim_bot(
    discord_sim: DiscordSimulator,
    sim_guild: StandardGuild,
    sim_bot_factory: Callable[[], commands.Bot],
) -> Iterator[BotThread]:
    """A connected bot, logged in as the standard guild's bot user, on a background loop."""
    runner = BotThread(discord_sim, sim_guild.bot_id, bot_factory=sim_bot_factory)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
