"""What an administrator may type for a channel, against a simulated guild."""

from __future__ import annotations

import pytest

from apex_setup.core.channel_input import MAX_CHOICES, parse_channel, resolve_channel
from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import ChannelKind
from apex_setup.core.errors import InvalidInput
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.memory_store import MemoryStore


@pytest.fixture
def sim() -> DiscordSimulator:
    return DiscordSimulator(FakeClock(), rate_limits=RateLimitConfig.disabled())


@pytest.fixture
def guild(sim: DiscordSimulator) -> StandardGuild:
    return sim.standard_guild()


@pytest.fixture
def ctx(sim: DiscordSimulator, guild: StandardGuild) -> SetupContext:
    store = MemoryStore()
    return SetupContext(
        discord=sim.port(guild.bot_id),
        panels=store,
        journal=store,
        audit=store,
        clock=sim.clock,
    )


ACCEPTED = [
    pytest.param("<#{rules}>", "rules", id="mention"),
    pytest.param("#rules", "rules", id="hash-name"),
    pytest.param("{rules}", "rules", id="raw-id"),
    pytest.param("rules", "rules", id="plain-name"),
    pytest.param("  RULES  ", "rules", id="name-any-case-and-spaces"),
    pytest.param("# Shop", "shop", id="hash-space-name"),
    pytest.param("audit-log", "audit-log", id="name-with-dash"),
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_every_accepted_form_resolves_to_the_channel(
    ctx: SetupContext, guild: StandardGuild, raw: str, expected: str
) -> None:
    text = raw.format(rules=guild.rules_id)

    channel = resolve_channel(ctx, guild.guild_id, text)

    assert channel.id == guild.channels[expected]


REFUSED = [
    pytest.param("", "Please name a channel", id="empty"),
    pytest.param("   ", "Please name a channel", id="blank"),
    pytest.param("#", "Please name a channel", id="just-a-hash"),
    pytest.param("x" * 101, "too long", id="over-100-characters"),
    pytest.param("no-such-channel", "no channel called #no-such-channel", id="unknown-name"),
    pytest.param("<#1234>", "no channel 1234", id="unknown-mention"),
    pytest.param("Voice", "voice channel", id="voice-channel"),
    pytest.param("#info", "category channel", id="category"),
    pytest.param("{voice}", "voice channel", id="voice-by-id"),
]


@pytest.mark.parametrize(("raw", "reason"), REFUSED)
def test_refused_input_names_the_problem_and_lists_the_text_channels(
    ctx: SetupContext, guild: StandardGuild, raw: str, reason: str
) -> None:
    text = raw.format(voice=guild.voice_id)

    with pytest.raises(InvalidInput) as caught:
        resolve_channel(ctx, guild.guild_id, text)

    assert reason in str(caught.value)
    assert "general" in caught.value.choices and "rules" in caught.value.choices
    assert "Voice" not in caught.value.choices and "Info" not in caught.value.choices
    assert "#general" in str(caught.value)
    assert caught.value.field == "channel"


def test_a_channel_of_another_server_is_not_found(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    elsewhere = sim.create_guild("Elsewhere", guild.owner_id)
    foreign = sim.create_channel(elsewhere, "foreign")

    with pytest.raises(InvalidInput) as caught:
        resolve_channel(ctx, guild.guild_id, f"<#{foreign}>")

    assert f"no channel {foreign}" in str(caught.value)


def test_a_name_two_text_channels_share_is_ambiguous_and_lists_both_ids(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    twin = sim.create_channel(guild.guild_id, "rules")

    with pytest.raises(InvalidInput) as caught:
        resolve_channel(ctx, guild.guild_id, "#rules")

    assert "Several text channels" in str(caught.value)
    assert str(guild.rules_id) in str(caught.value) and str(twin) in str(caught.value)


def test_an_ambiguous_name_still_resolves_by_id(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    twin = sim.create_channel(guild.guild_id, "rules")

    channel = resolve_channel(ctx, guild.guild_id, f"<#{twin}>")

    assert channel.id == twin


def test_a_text_channel_wins_over_a_voice_channel_of_the_same_name(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    sim.create_channel(guild.guild_id, "general", ChannelKind.VOICE)

    channel = resolve_channel(ctx, guild.guild_id, "general")

    assert channel.id == guild.general_id


def test_digits_that_are_no_id_are_tried_as_a_name(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    numbered = sim.create_channel(guild.guild_id, "2026")

    channel = resolve_channel(ctx, guild.guild_id, "2026")

    assert channel.id == numbered


def test_the_listed_choices_are_capped(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    for n in range(40):
        sim.create_channel(guild.guild_id, f"extra-{n:02d}")

    with pytest.raises(InvalidInput) as caught:
        resolve_channel(ctx, guild.guild_id, "nowhere")

    assert len(caught.value.choices) == MAX_CHOICES
    assert "more." in str(caught.value)


def test_resolving_sends_and_stores_nothing(
    ctx: SetupContext, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    with pytest.raises(InvalidInput):
        resolve_channel(ctx, guild.guild_id, "nowhere")

    assert [r.route for r in sim.requests] == ["list_channels"]
    assert sim.all_messages(guild.guild_id) == []


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("<#12>", (12, None)),
        ("12", (12, "12")),
        ("#news", (None, "news")),
        ("news", (None, "news")),
    ],
)
def test_parsing_separates_ids_from_names(raw: str, parsed: tuple[int | None, str | None]) -> None:
    result = parse_channel(raw)

    assert result == parsed
