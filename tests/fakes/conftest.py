"""Fixtures for the simulator's tests: a still clock, a simulator without rate limits, a guild."""

from __future__ import annotations

import pytest

from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    RateLimitConfig,
    SimulatorPort,
    StandardGuild,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> DiscordSimulator:
    return DiscordSimulator(clock, rate_limits=RateLimitConfig.disabled())


@pytest.fixture
def guild(sim: DiscordSimulator) -> StandardGuild:
    return sim.standard_guild()


@pytest.fixture
def port(sim: DiscordSimulator, guild: StandardGuild) -> SimulatorPort:
    return sim.port(guild.bot_id)
