"""Fixtures of the cog tests: the simulator, a SQLite file, and the cog's bot connected to both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cog_harness import Driver, leaked_texts, start_cog_bot

from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild


@pytest.fixture
def discord_sim() -> DiscordSimulator:
    """The simulator on a still FakeClock that starts now: discord.py judges an interaction's
    15 minutes by its snowflake time against the real clock."""
    return DiscordSimulator(
        FakeClock(datetime.now(timezone.utc)), rate_limits=RateLimitConfig.disabled()
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


@pytest.fixture
def driver(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, db_path: Path
) -> Iterator[Driver]:
    runner = start_cog_bot(discord_sim, sim_guild, db_path)
    the_driver = Driver(discord_sim, sim_guild, runner, db_path)
    try:
        yield the_driver
    finally:
        the_driver.runner.stop()
    assert leaked_texts(discord_sim, sim_guild) == []
