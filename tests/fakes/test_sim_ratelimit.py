"""Rate limits: 429 with retry_after and no effect, then success once the clock has moved."""

from __future__ import annotations

import pytest

from apex_setup.core.errors import DiscordForbidden, DiscordUnavailable
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    RateLimitConfig,
    RequestRecord,
    StandardGuild,
)
from apex_setup.fakes.sim_ratelimit import RateLimiter


def text(content: str) -> MessagePayload:
    return MessagePayload(content=content)


@pytest.fixture
def limited(clock: FakeClock) -> DiscordSimulator:
    return DiscordSimulator(clock)


def test_the_sixth_send_in_five_seconds_is_429_with_retry_after_and_no_effect(
    limited: DiscordSimulator, clock: FakeClock
) -> None:
    guild = limited.standard_guild()
    port = limited.port(guild.bot_id)
    for i in range(5):
        port.send_message(guild.general_id, text(str(i)), nonce=f"n{i}")
        clock.advance(0.5)

    with pytest.raises(DiscordUnavailable) as raised:
        port.send_message(guild.general_id, text("5"), nonce="n5")

    assert raised.value.status == 429
    assert raised.value.retry_after == pytest.approx(2.5)
    assert len(limited.messages(guild.general_id)) == 5
    assert limited.messages_created_with_nonce(guild.bot_id, "n5") == 0
    assert limited.requests[-1] == RequestRecord("send_message", guild.general_id, 429)


def test_after_retry_after_the_same_send_succeeds(
    limited: DiscordSimulator, clock: FakeClock
) -> None:
    guild = limited.standard_guild()
    port = limited.port(guild.bot_id)
    for i in range(5):
        port.send_message(guild.general_id, text(str(i)), nonce=f"n{i}")
    with pytest.raises(DiscordUnavailable) as raised:
        port.send_message(guild.general_id, text("5"), nonce="n5")
    assert raised.value.retry_after is not None
    clock.advance(raised.value.retry_after)

    message = port.send_message(guild.general_id, text("5"), nonce="n5")

    assert limited.message_exists(guild.general_id, message.id)


def test_buckets_are_per_channel(limited: DiscordSimulator) -> None:
    guild = limited.standard_guild()
    port = limited.port(guild.bot_id)
    for i in range(5):
        port.send_message(guild.general_id, text(str(i)), nonce=f"g{i}")

    message = port.send_message(guild.shop_id, text("elsewhere"), nonce="s0")

    assert limited.message_exists(guild.shop_id, message.id)


def test_the_global_limit_caps_all_routes_together(clock: FakeClock) -> None:
    config = RateLimitConfig(routes={}, global_limit=(3, 1.0))
    sim = DiscordSimulator(clock, rate_limits=config)
    guild = sim.standard_guild()
    port = sim.port(guild.bot_id)
    port.get_channel(guild.general_id)
    port.history(guild.shop_id)
    port.send_message(guild.support_id, text("x"), nonce="n")

    with pytest.raises(DiscordUnavailable) as raised:
        port.get_channel(guild.rules_id)

    assert raised.value.retry_after == pytest.approx(1.0)


def test_channel_creation_is_stricter_and_configurable(clock: FakeClock) -> None:
    config = RateLimitConfig.disabled().with_route("create_channel", 2, 10.0)
    sim = DiscordSimulator(clock, rate_limits=config)
    guild = sim.standard_guild()
    port = sim.port(guild.bot_id)
    port.create_channel(guild.guild_id, "a")
    port.create_channel(guild.guild_id, "b")
    before = sim.channels(guild.guild_id)

    with pytest.raises(DiscordUnavailable) as raised:
        port.create_channel(guild.guild_id, "c")

    assert raised.value.retry_after == pytest.approx(10.0)
    assert sim.channels(guild.guild_id) == before


def test_a_429_is_counted_as_an_invalid_request_and_so_is_a_403(
    limited: DiscordSimulator,
) -> None:
    guild = limited.standard_guild()
    port = limited.port(guild.bot_id)
    for i in range(5):
        port.send_message(guild.general_id, text(str(i)), nonce=f"n{i}")
    with pytest.raises(DiscordUnavailable):
        port.send_message(guild.general_id, text("x"), nonce="x")
    with pytest.raises(DiscordForbidden):
        port.get_channel(guild.staff_only_id)

    count = limited.invalid_request_count

    assert count == 2


def test_invalid_requests_leave_the_count_after_ten_minutes(
    limited: DiscordSimulator, clock: FakeClock
) -> None:
    guild = limited.standard_guild()
    port = limited.port(guild.bot_id)
    with pytest.raises(DiscordForbidden):
        port.get_channel(guild.staff_only_id)
    clock.advance(minutes=10)

    count = limited.invalid_request_count

    assert count == 0


def test_too_many_invalid_requests_get_the_bot_refused_everywhere(clock: FakeClock) -> None:
    config = RateLimitConfig(routes={}, global_limit=None, invalid_requests=(3, 600.0))
    sim = DiscordSimulator(clock, rate_limits=config)
    guild = sim.standard_guild()
    port = sim.port(guild.bot_id)
    for _ in range(3):
        with pytest.raises(DiscordForbidden):
            port.get_channel(guild.staff_only_id)

    with pytest.raises(DiscordUnavailable) as raised:
        port.get_channel(guild.general_id)
    clock.advance(600)
    allowed = port.get_channel(guild.general_id)

    assert raised.value.retry_after == pytest.approx(600.0)
    assert allowed.id == guild.general_id


def test_disabled_rate_limits_never_refuse(sim: DiscordSimulator, guild: StandardGuild) -> None:
    port = sim.port(guild.bot_id)

    ids = [port.send_message(guild.general_id, text(str(i)), nonce=str(i)).id for i in range(60)]

    assert len(set(ids)) == 60


def test_a_refused_request_spends_nothing_from_the_other_buckets() -> None:
    limiter = RateLimiter(RateLimitConfig(routes={"r": (1, 10.0)}, global_limit=(2, 10.0)))
    assert limiter.check(1, "r", 5, now=0.0) is None

    refused = limiter.check(1, "r", 5, now=1.0)
    other = limiter.check(1, "r", 6, now=1.0)

    assert refused is not None and refused.scope == "user"
    assert other is None
