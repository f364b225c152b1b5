"""Unmodified discord.py driving the simulator through the wire front."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import discord
import pytest
from discord.ext import commands

from apex_setup.core.discord_types import ChannelKind
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    RateLimitConfig,
    ResponseKind,
    StandardGuild,
)
from apex_setup.fakes.sim_client import BotThread, make_bot, running_bot
from apex_setup.fakes.sim_wire import WireFront


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class PanelView(discord.ui.View):
    """A panel with one button that answers the presser ephemerally."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Open ticket", custom_id="panel:open")
    async def open_ticket(
        self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]
    ) -> None:
        await interaction.response.send_message("Ticket opened", ephemeral=True)


async def send_panel(channel: discord.TextChannel) -> discord.Message:
    embed = discord.Embed(title="Support", description="Press to open a ticket")
    return await channel.send(embed=embed, view=PanelView())


# ---------------------------------------------------------------------------- logging in


def test_the_bot_sees_the_guild_its_channels_and_roles_after_ready(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    guild = sim_bot.call(lambda: sim_bot.bot.get_guild(sim_guild.guild_id))

    assert guild is not None
    assert sim_bot.call(lambda: sim_bot.bot.is_ready())
    assert {c.id for c in guild.channels} == set(sim_guild.channels.values())
    assert [r.id for r in guild.roles] == discord_sim.role_ids(sim_guild.guild_id)
    assert guild.me.id == sim_guild.bot_id
    assert guild.owner_id == sim_guild.owner_id


def test_the_bot_computes_the_same_channel_permissions_as_the_simulator(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    # Compared on channel permissions: discord.py strips voice permissions in text channels and
    # keeps guild-only ones (Change Nickname...) where the bot cannot view; the simulator does
    # neither. Both agree on every permission that matters inside a channel.
    voice_bits = discord.Permissions.voice().value
    channel_bits = discord.Permissions.all_channel().value

    def both() -> list[tuple[str, int, int]]:
        guild = sim_bot.bot.get_guild(sim_guild.guild_id)
        assert guild is not None
        pairs = []
        for channel in guild.channels:
            theirs = int(discord_sim.permissions_for(sim_guild.bot_id, channel.id))
            if isinstance(channel, discord.TextChannel):
                theirs &= ~voice_bits
            ours = channel.permissions_for(guild.me).value
            pairs.append((channel.name, ours & channel_bits, theirs & channel_bits))
        return pairs

    pairs = sim_bot.call(both)

    assert [(name, ours) for name, ours, _ in pairs] == [(name, sim) for name, _, sim in pairs]
    assert len(pairs) == len(sim_guild.channels)


def test_a_wrong_token_fails_login() -> None:
    sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    runner = BotThread(sim, guild.bot_id)
    runner.token = "not-a-registered-token"

    with pytest.raises(discord.LoginFailure):
        runner.start()


@pytest.mark.anyio
async def test_a_bot_in_the_tests_own_loop_logs_in_and_a_wrong_token_does_not() -> None:
    sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    wire = WireFront(sim)
    await wire.start()
    try:
        async with running_bot(make_bot(), wire, wire.token_for(guild.bot_id)) as bot:
            assert bot.get_guild(guild.guild_id) is not None

        with pytest.raises(discord.LoginFailure):
            async with running_bot(make_bot(), wire, "wrong"):
                pass
    finally:
        await wire.stop()


# ---------------------------------------------------------------------------- messages


def test_an_embed_with_buttons_sent_by_discord_py_is_in_the_simulator(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    sent = sim_bot.run(send_panel(channel))

    stored = discord_sim.messages(sim_guild.general_id)
    assert [m.id for m in stored] == [sent.id]
    assert stored[0].author_id == sim_guild.bot_id
    assert stored[0].payload.embeds[0].title == "Support"
    assert stored[0].payload.custom_ids() == ["panel:open"]


def test_a_repeated_nonce_through_discord_py_creates_one_message(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    first = sim_bot.run(channel.send("deploy", nonce="deploy-1"))
    second = sim_bot.run(channel.send("deploy", nonce="deploy-1"))

    assert first.id == second.id
    assert len(discord_sim.messages(sim_guild.general_id)) == 1
    assert discord_sim.messages_created_with_nonce(sim_guild.bot_id, "deploy-1") == 1


def test_an_oversized_embed_is_refused_with_invalid_form_body(
    sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.HTTPException) as caught:
        sim_bot.run(channel.send(embed=discord.Embed(description="x" * 5000)))

    assert caught.value.status == 400
    assert caught.value.code == 50035
    assert "embeds.0.description" in caught.value.text


def test_sending_in_the_staff_only_channel_is_forbidden(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.staff_only_id))
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.Forbidden) as caught:
        sim_bot.run(channel.send("hello"))

    assert caught.value.code in (50001, 50013)
    assert discord_sim.messages(sim_guild.staff_only_id) == []


def test_deleting_an_unknown_message_raises_not_found(
    sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.NotFound) as caught:
        sim_bot.run(channel.get_partial_message(4242).delete())

    assert caught.value.code == 10008


def test_history_edit_and_delete_round_trip_through_the_wire(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)
    sent = sim_bot.run(channel.send("first"))

    async def edit_and_read() -> list[str]:
        await sent.edit(content="edited")
        return [m.content async for m in channel.history(limit=10)]

    assert sim_bot.run(edit_and_read()) == ["edited"]
    sim_bot.run(sent.delete())
    assert discord_sim.messages(sim_guild.general_id) == []


def test_a_429_is_retried_by_discord_py_and_then_succeeds() -> None:
    limits = RateLimitConfig.disabled().with_route("send_message", 1, 0.05)
    sim = DiscordSimulator(FakeClock(), rate_limits=limits)
    guild = sim.standard_guild()

    with BotThread(sim, guild.bot_id, follow_real_time=True) as runner:
        channel = runner.call(lambda: runner.bot.get_channel(guild.general_id))
        assert isinstance(channel, discord.TextChannel)

        async def send_two() -> None:
            await channel.send("one")
            await channel.send("two")

        runner.run(send_two())

    assert [m.payload.content for m in sim.messages(guild.general_id)] == ["one", "two"]
    assert [r.status for r in sim.requests if r.route == "send_message"] == [200, 429, 200]


# ---------------------------------------------------------------------------- gateway events


def test_pressing_a_button_runs_the_views_callback_which_responds(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)
    panel = sim_bot.run(send_panel(channel))

    interaction = discord_sim.press_button(
        sim_guild.member_id, sim_guild.general_id, panel.id, "panel:open"
    )

    sim_bot.wait_until(lambda: len(discord_sim.interaction_responses) == 1)
    response = discord_sim.interaction_responses[0]
    assert response.interaction_id == interaction.id
    assert response.kind is ResponseKind.MESSAGE
    assert response.ephemeral
    assert response.payload is not None and response.payload.content == "Ticket opened"


def status_bot() -> commands.Bot:
    bot = make_bot()

    @bot.command(name="setup-status")
    async def setup_status(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.send(f"status for {ctx.author.id}")

    return bot


@pytest.mark.parametrize("sim_bot_factory", [status_bot], ids=["status-bot"])
def test_a_prefix_command_posted_by_a_member_reaches_the_bot(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    discord_sim.post_as(
        sim_guild.member_id, sim_guild.general_id, MessagePayload(content="!setup-status")
    )

    expected = f"status for {sim_guild.member_id}"
    sim_bot.wait_until(
        lambda: discord_sim.messages(sim_guild.general_id)[-1].payload.content == expected
    )


def test_channels_made_in_process_or_over_the_wire_reach_the_bots_cache(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    made_here = discord_sim.create_channel(sim_guild.guild_id, "made-in-process")
    guild = sim_bot.call(lambda: sim_bot.bot.get_guild(sim_guild.guild_id))
    assert guild is not None

    made_there = sim_bot.run(guild.create_text_channel("made-over-the-wire"))

    sim_bot.wait_until(lambda: sim_bot.call(lambda: guild.get_channel(made_here)) is not None)
    assert discord_sim.channel(made_there.id) is not None
    discord_sim.delete_channel(made_here)
    sim_bot.wait_until(lambda: sim_bot.call(lambda: guild.get_channel(made_here)) is None)
    kinds = {c.name: c.kind for c in discord_sim.channels(sim_guild.guild_id)}
    assert kinds["made-over-the-wire"] is ChannelKind.TEXT


def test_slash_commands_sync_and_a_simulated_user_can_run_one(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    bot = sim_bot.bot

    @bot.tree.command(name="ping", description="Answers pong")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    synced = sim_bot.run(bot.tree.sync())
    discord_sim.run_command(sim_guild.member_id, sim_guild.general_id, "ping")

    assert [c.name for c in synced] == ["ping"]
    sim_bot.wait_until(lambda: len(discord_sim.interaction_responses) == 1)
    assert discord_sim.messages(sim_guild.general_id)[-1].payload.content == "pong"


# ---------------------------------------------------------------------------- as a process


@pytest.fixture
def wire_process() -> Iterator[dict[str, object]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "apex_setup.fakes.sim_wire", "--no-rate-limits"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(5)


@pytest.mark.anyio
async def test_a_restarted_bot_finds_what_it_sent_in_a_simulator_process(
    wire_process: dict[str, object],
) -> None:
    url, token = str(wire_process["url"]), str(wire_process["token"])
    ids = wire_process["guild"]
    assert isinstance(ids, dict)
    general = int(ids["general_id"])

    async with running_bot(make_bot(), url, token) as first:
        channel = first.get_channel(general)
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send("before the restart")
    async with running_bot(make_bot(), url, token) as second:
        channel = second.get_channel(general)
        assert isinstance(channel, discord.TextChannel)
        found = await channel.fetch_message(sent.id)

    assert found.content == "before the restart"


def test_fixtures_are_plain_functions_for_the_plugin(
    sim_bot_factory: Callable[[], commands.Bot],
) -> None:
    assert sim_bot_factory is make_bot


class NameModal(discord.ui.Modal, title="Your name"):
    name: discord.ui.TextInput[NameModal] = discord.ui.TextInput(label="Name", custom_id="name")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Hello {self.name.value}", ephemeral=True)


class FormView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Fill in", custom_id="form:open")
    async def open_form(
        self, interaction: discord.Interaction, button: discord.ui.Button[FormView]
    ) -> None:
        await interaction.response.send_modal(NameModal(custom_id="form:modal"))

    @discord.ui.select(
        custom_id="form:colour",
        options=[
            discord.SelectOption(label="Red", value="red"),
            discord.SelectOption(label="Blue", value="blue"),
        ],
    )
    async def colour(
        self, interaction: discord.Interaction, select: discord.ui.Select[FormView]
    ) -> None:
        await interaction.response.edit_message(content=f"colour: {select.values[0]}")


def test_a_modal_opened_by_a_button_and_submitted_reaches_on_submit(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    async def send_form() -> discord.Message:
        return await channel.send("form", view=FormView())

    form = sim_bot.run(send_form())
    discord_sim.press_button(sim_guild.member_id, sim_guild.general_id, form.id, "form:open")
    sim_bot.wait_until(lambda: len(discord_sim.interaction_responses) == 1)
    discord_sim.submit_modal(sim_guild.member_id, "form:modal", {"name": "Ada"})

    sim_bot.wait_until(lambda: len(discord_sim.interaction_responses) == 2)
    opened, answered = discord_sim.interaction_responses
    assert opened.kind is ResponseKind.MODAL and opened.modal_custom_id == "form:modal"
    assert answered.payload is not None and answered.payload.content == "Hello Ada"


def test_a_select_choice_updates_the_message_it_is_on(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, sim_bot: BotThread
) -> None:
    channel = sim_bot.call(lambda: sim_bot.bot.get_channel(sim_guild.general_id))
    assert isinstance(channel, discord.TextChannel)

    async def send_form() -> discord.Message:
        return await channel.send("form", view=FormView())

    form = sim_bot.run(send_form())
    discord_sim.choose_select(
        sim_guild.member_id, sim_guild.general_id, form.id, "form:colour", ["blue"]
    )

    sim_bot.wait_until(lambda: len(discord_sim.interaction_responses) == 1)
    assert discord_sim.interaction_responses[0].kind is ResponseKind.UPDATE_MESSAGE
    stored = discord_sim.messages(sim_guild.general_id)[0]
    assert stored.payload.content == "colour: blue"
    assert stored.payload.custom_ids() == ["form:open", "form:colour"]
