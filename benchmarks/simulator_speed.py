"""What a typical bot test costs: in-process simulator, wire front + discord.py, and dpytest.

The scenario, N times: a fresh guild with a channel, the bot sends an embed there, the test checks
it arrived. Measured side by side in one run:

- in-process: ``DiscordSimulator`` + ``standard_guild`` + ``port().send_message`` + an assertion;
- wire, per test: the same world, plus a ``WireFront`` and an unmodified discord.py
  ``commands.Bot`` that logs in, receives READY and GUILD_CREATE, sends through REST, and is
  closed again - what the ``sim_bot`` fixture costs a test;
- wire, per send: one already connected bot sending N embeds (the steady-state REST round trip);
- dpytest 0.7.0 (discord.py's usual test helper), per test: ``dpytest.configure`` + send +
  ``verify().message().embed()``. It runs in a separate virtualenv so the project's stays clean:

      python -m venv /work/bench-venv
      /work/bench-venv/bin/pip install dpytest==0.7.0 discord.py==2.7.1

  Without that virtualenv, the dpytest line says so and the other figures still print.

    python benchmarks/simulator_speed.py [--iterations N] [--bench-python PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import discord

from apex_setup.core.payload import Embed, MessagePayload
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig
from apex_setup.fakes.sim_client import make_bot, running_bot
from apex_setup.fakes.sim_wire import WireFront

TITLE = "Support"
DESCRIPTION = "Press the button to open a ticket."

DPYTEST_SCENARIO = """
import asyncio, json, sys, time
import discord
import discord.ext.test as dpytest
from discord.ext import commands

async def one_test():
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    bot = commands.Bot(command_prefix="!", intents=intents)
    await bot._async_setup_hook()
    dpytest.configure(bot, guilds=1, text_channels=1, members=2)
    channel = bot.guilds[0].text_channels[0]
    embed = discord.Embed(title=sys.argv[2], description=sys.argv[3])
    await channel.send(embed=embed)
    assert dpytest.verify().message().embed(embed)
    await dpytest.empty_queue()

async def main(n):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await one_test()
        times.append(time.perf_counter() - start)
    print(json.dumps(times))

asyncio.run(main(int(sys.argv[1])))
"""


def in_process(iterations: int) -> list[float]:
    """The world dpytest's ``configure(guilds=1, text_channels=1, members=2)`` builds."""
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
        owner = sim.create_user("owner")
        bot = sim.create_user("bot", bot=True)
        guild = sim.create_guild("Test Guild", owner)
        sim.add_member(guild, bot)
        channel = sim.create_channel(guild, "general")
        payload = MessagePayload(embeds=(Embed(title=TITLE, description=DESCRIPTION),))
        sent = sim.port(bot).send_message(channel, payload, nonce="n")
        assert (
            sim.messages(channel)[0].payload.embeds[0].title
            == TITLE
            == sent.payload.embeds[0].title
        )
        times.append(time.perf_counter() - start)
    return times


def in_process_standard(iterations: int) -> list[float]:
    """The same with ``standard_guild()``: 9 channels, 4 roles, 4 members, overwrites."""
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
        guild = sim.standard_guild()
        payload = MessagePayload(embeds=(Embed(title=TITLE, description=DESCRIPTION),))
        sent = sim.port(guild.bot_id).send_message(guild.general_id, payload, nonce="n")
        assert sim.messages(guild.general_id)[0].id == sent.id
        times.append(time.perf_counter() - start)
    return times


async def _timed(iterations: int, body: Callable[[], Awaitable[None]]) -> list[float]:
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        await body()
        times.append(time.perf_counter() - start)
    return times


async def wire_per_test(iterations: int) -> list[float]:
    async def one_test() -> None:
        sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
        guild = sim.standard_guild()
        wire = WireFront(sim)
        await wire.start()
        try:
            async with running_bot(make_bot(), wire, wire.token_for(guild.bot_id)) as bot:
                channel = bot.get_channel(guild.general_id)
                assert isinstance(channel, discord.TextChannel)
                embed = discord.Embed(title=TITLE, description=DESCRIPTION)
                sent = await channel.send(embed=embed)
                assert sim.messages(guild.general_id)[0].id == sent.id
        finally:
            await wire.stop()

    return await _timed(iterations, one_test)


async def wire_per_send(iterations: int) -> list[float]:
    sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    wire = WireFront(sim)
    await wire.start()
    try:
        async with running_bot(make_bot(), wire, wire.token_for(guild.bot_id)) as bot:
            channel = bot.get_channel(guild.general_id)
            assert isinstance(channel, discord.TextChannel)

            async def one_send() -> None:
                sent = await channel.send(embed=discord.Embed(title=TITLE))
                assert sim.messages(guild.general_id)[-1].id == sent.id

            return await _timed(iterations, one_send)
    finally:
        await wire.stop()


def dpytest_per_test(iterations: int, python: Path) -> list[float] | str:
    if not python.exists():
        return f"not run: {python} does not exist (see this script's docstring to create it)"
    done = subprocess.run(
        [str(python), "-c", DPYTEST_SCENARIO, str(iterations), TITLE, DESCRIPTION],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed: {last}"
    times: list[float] = json.loads(done.stdout.strip().splitlines()[-1])
    return times


def _ms(times: list[float]) -> str:
    mean = statistics.fmean(times) * 1000
    median = statistics.median(times) * 1000
    return f"mean {mean:8.3f} ms   median {median:8.3f} ms   min {min(times) * 1000:8.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--bench-python", type=Path, default=Path("/work/bench-venv/bin/python"))
    args = parser.parse_args()
    n = args.iterations

    in_process(min(n, 20))  # warm up imports and caches
    local = in_process(n)
    standard = in_process_standard(n)
    per_test = asyncio.run(wire_per_test(n))
    per_send = asyncio.run(wire_per_send(n))
    dpy = dpytest_per_test(n, args.bench_python)

    base = statistics.fmean(local)
    print(f"{n} iterations of: a guild, a channel, send an embed, check it")
    print(f"in-process simulator      {_ms(local)}   1.0x")
    print(f"  with standard_guild()   {_ms(standard)}   {statistics.fmean(standard) / base:.1f}x")
    print(f"wire + discord.py, test   {_ms(per_test)}   {statistics.fmean(per_test) / base:.1f}x")
    print(f"wire + discord.py, send   {_ms(per_send)}   {statistics.fmean(per_send) / base:.1f}x")
    if isinstance(dpy, str):
        print(f"dpytest 0.7.0, test       {dpy}")
    else:
        print(f"dpytest 0.7.0, test       {_ms(dpy)}   {statistics.fmean(dpy) / base:.1f}x")


if __name__ == "__main__":
    main()
