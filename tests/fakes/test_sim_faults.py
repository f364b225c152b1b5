"""Fault injection around effects, the call and request logs, latency, the port contract."""

from __future__ import annotations

import threading

import pytest

from apex_setup.core.errors import DiscordForbidden, DiscordUnavailable
from apex_setup.core.payload import MessagePayload
from apex_setup.core.ports import DiscordPort
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    RateLimitConfig,
    RequestRecord,
    SimulatorPort,
    SimulatorUsageError,
    StandardGuild,
)
from apex_setup.fakes.faults import FaultPlan, FaultRule, Phase, SimulatedCrash


def text(content: str) -> MessagePayload:
    return MessagePayload(content=content)


def server_error() -> DiscordUnavailable:
    return DiscordUnavailable("Server error", status=500)


def test_a_fault_before_the_effect_leaves_nothing_behind(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.faults.add(FaultRule("discord.send_message", server_error, when=Phase.BEFORE))

    with pytest.raises(DiscordUnavailable):
        port.send_message(guild.general_id, text("x"), nonce="op-1")

    assert sim.messages(guild.general_id) == []
    assert sim.requests == []


def test_a_fault_after_the_effect_raises_though_the_message_exists(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.faults.add(FaultRule("discord.send_message", server_error, when=Phase.AFTER, times=1))

    with pytest.raises(DiscordUnavailable):
        port.send_message(guild.general_id, text("x"), nonce="op-1")
    retried = port.send_message(guild.general_id, text("x"), nonce="op-1")

    assert [m.id for m in sim.messages(guild.general_id)] == [retried.id]
    assert sim.messages_created_with_nonce(guild.bot_id, "op-1") == 1


def test_a_simulated_crash_after_the_effect_keeps_the_effect(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.faults.add(FaultRule("discord.delete_message", SimulatedCrash, when=Phase.AFTER))
    message = port.send_message(guild.general_id, text("x"), nonce="op-1")

    with pytest.raises(SimulatedCrash):
        port.delete_message(guild.general_id, message.id)

    assert not sim.message_exists(guild.general_id, message.id)


def test_the_fault_plan_logs_every_port_call_in_order(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    port.get_channel(guild.general_id)
    message = port.send_message(guild.general_id, text("x"), nonce="op-1")
    port.fetch_message(guild.general_id, message.id)
    port.bot_permissions(guild.general_id)

    names = [call.name for call in sim.faults.calls]

    assert names == [
        "discord.get_channel",
        "discord.send_message",
        "discord.fetch_message",
        "discord.bot_permissions",
    ]


def test_faults_can_target_the_nth_call(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.faults.add(FaultRule("discord.send_message", server_error, occurrence=2))
    port.send_message(guild.general_id, text("1"), nonce="a")

    with pytest.raises(DiscordUnavailable):
        port.send_message(guild.general_id, text("2"), nonce="b")
    port.send_message(guild.general_id, text("3"), nonce="c")

    assert [m.payload.content for m in sim.messages(guild.general_id)] == ["1", "3"]


def test_the_request_log_records_route_resource_and_status(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    message = port.send_message(guild.general_id, text("x"), nonce="n")
    port.delete_message(guild.general_id, message.id)
    with pytest.raises(DiscordForbidden):
        port.get_channel(guild.staff_only_id)

    requests = sim.requests

    assert requests == [
        RequestRecord("send_message", guild.general_id, 200),
        RequestRecord("delete_message", guild.general_id, 204),
        RequestRecord("get_channel", guild.staff_only_id, 403),
    ]


def test_latency_moves_the_clock_on_every_port_call(clock: FakeClock) -> None:
    sim = DiscordSimulator(clock, rate_limits=RateLimitConfig.disabled(), latency=0.25)
    guild = sim.standard_guild()
    port = sim.port(guild.bot_id)
    start = clock.now()

    port.get_channel(guild.general_id)
    port.send_message(guild.general_id, text("x"), nonce="n")

    assert (clock.now() - start).total_seconds() == pytest.approx(0.5)


def test_rule_latency_uses_the_simulators_clock(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    sim.faults.add(FaultRule("discord.get_channel", latency=2.0))
    start = clock.now()

    port.get_channel(guild.general_id)

    assert (clock.now() - start).total_seconds() == pytest.approx(2.0)


def test_a_shared_fault_plan_orders_calls_across_ports(clock: FakeClock) -> None:
    plan = FaultPlan()
    sim = DiscordSimulator(clock, faults=plan, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()

    plan.before("journal.apply")
    sim.port(guild.bot_id).get_channel(guild.general_id)

    assert [c.name for c in plan.calls] == ["journal.apply", "discord.get_channel"]


def test_a_rebuilt_port_sees_everything_the_old_one_made(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    old = sim.port(guild.bot_id)
    sent = old.send_message(guild.general_id, text("x"), nonce="op-1")
    del old

    new: DiscordPort = sim.port(guild.bot_id)
    again = new.send_message(guild.general_id, text("x"), nonce="op-1")

    assert again.id == sent.id
    assert [m.id for m in new.history(guild.general_id)] == [sent.id]


def test_only_bot_users_get_a_port(sim: DiscordSimulator, guild: StandardGuild) -> None:
    with pytest.raises(SimulatorUsageError):
        sim.port(guild.member_id)


def test_threads_sending_at_once_lose_no_message(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    def worker(n: int) -> None:
        for i in range(25):
            port.send_message(guild.general_id, text(f"{n}-{i}"), nonce=f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [m.id for m in sim.messages(guild.general_id)]
    assert len(ids) == 100
    assert ids == sorted(set(ids))
