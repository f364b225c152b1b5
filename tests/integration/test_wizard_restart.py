"""The wizard across bot restarts, on a SQLite file and the simulated Discord.

Discord and the database file outlive the bot; every bot object is rebuilt on ``restart``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import ConflictError
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.recovery import recover
from apex_setup.core.setup_wizard import SetupWizard
from apex_setup.core.wizard import LeaseHeld, WizardPhase
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, Overwrite, RateLimitConfig
from apex_setup.fakes.faults import (
    FaultInjectingProxy,
    FaultPlan,
    FaultRule,
    Phase,
    SimulatedCrash,
)


class Bot:
    """One bot process: its own store connection, context and wizard."""

    def __init__(self, path: Path, sim: DiscordSimulator, bot_id: int, plan: FaultPlan) -> None:
        self.store = PeeweeStore(open_database(f"sqlite:///{path}"))
        sessions = FaultInjectingProxy(self.store, plan, "sessions")
        self.ctx = SetupContext(
            discord=sim.port(bot_id),
            panels=self.store,
            journal=self.store,
            audit=self.store,
            clock=sim.clock,
            retry=RetryPolicy(max_attempts=1),
        )
        self.wizard = SetupWizard(self.ctx, PanelCatalogue.default(), sessions, self.store)

    def close(self) -> None:
        self.store.close()


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        self.guild = self.sim.standard_guild()
        self.path = tmp_path / "bot.db"
        self.bot = self.boot()

    def boot(self) -> Bot:
        return Bot(self.path, self.sim, self.guild.bot_id, self.plan)

    def restart(self) -> Bot:
        """The process died: drop everything in memory, start again, recover the journal."""
        self.bot.close()
        self.plan.rules.clear()
        self.bot = self.boot()
        recover(self.bot.ctx)
        return self.bot

    def live_panel(self, panel_type: str) -> bool:
        row = self.bot.store.get_panel(self.guild.guild_id, panel_type)
        return row is not None and self.sim.message_exists(row.channel_id, row.message_id)

    def bot_messages(self) -> int:
        return sum(
            1
            for m in self.sim.all_messages(self.guild.guild_id)
            if m.author_id == self.guild.bot_id
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def confirmed(world: World, *panels: str) -> str:
    wizard, admin = world.bot.wizard, world.guild.admin_id
    state = wizard.start(world.guild.guild_id, admin, panels)
    for _ in panels:
        state = wizard.choose_channel(state.session_id, admin, "#general")
    return wizard.confirm(state.session_id, admin).session_id


class TestRestartAndResume:
    def test_a_session_continues_where_it_was_after_a_restart(self, world: World) -> None:
        admin = world.guild.admin_id
        session_id = confirmed(world, "rules", "support")
        world.bot.wizard.run_next_step(session_id, admin)

        bot = world.restart()
        resumed = bot.wizard.resume(world.guild.guild_id, admin)
        results = bot.wizard.run_all(session_id, admin)

        assert (resumed.session_id, resumed.current_panel) == (session_id, "support")
        assert [r.panel_type for r in results] == ["support"]
        assert results[-1].state.phase is WizardPhase.COMPLETED
        assert world.live_panel("rules") and world.live_panel("support")
        assert world.bot_messages() == 2

    def test_a_committed_step_whose_old_message_could_not_be_retired_counts_as_done(
        self, world: World
    ) -> None:
        guild, admin = world.guild, world.guild.admin_id
        first = confirmed(world, "rules")
        world.bot.wizard.run_all(first, admin)  # rules in #general
        world.sim.set_overwrite(
            guild.general_id,
            Overwrite(guild.bot_id, is_role=False, deny=int(Permission.VIEW_CHANNEL)),
        )
        second = world.bot.wizard.start(guild.guild_id, admin, ["rules"])
        world.bot.wizard.choose_channel(second.session_id, admin, "#support")
        world.bot.wizard.confirm(second.session_id, admin)
        world.plan.add(FaultRule("discord.delete_message", error=SimulatedCrash))
        with pytest.raises(SimulatedCrash):
            world.bot.wizard.run_next_step(second.session_id, admin)  # dies after the commit
        world.plan.clear()

        bot = world.restart()  # recovery: the old message cannot be retired (no access)
        resumed = bot.wizard.resume(guild.guild_id, admin)

        assert resumed.phase is WizardPhase.COMPLETED
        row = bot.store.get_panel(guild.guild_id, "rules")
        assert row is not None and row.channel_id == guild.support_id

    def test_a_session_half_way_through_choosing_channels_resumes_there(self, world: World) -> None:
        admin = world.guild.admin_id
        wizard = world.bot.wizard
        state = wizard.start(world.guild.guild_id, admin, ["rules", "support"])
        wizard.choose_channel(state.session_id, admin, "#rules")

        resumed = world.restart().wizard.resume(world.guild.guild_id, admin)

        assert resumed.phase is WizardPhase.CHOOSING_CHANNELS
        assert (resumed.current_panel, dict(resumed.channels)) == (
            "support",
            {"rules": world.guild.rules_id},
        )

    def test_the_lease_survives_a_restart_and_still_keeps_a_second_admin_out(
        self, world: World
    ) -> None:
        confirmed(world, "rules")

        bot = world.restart()

        with pytest.raises(LeaseHeld):
            bot.wizard.start(world.guild.guild_id, world.guild.owner_id, ["faq"])

    def test_a_crash_after_the_deploy_committed_counts_the_panel_as_done(
        self, world: World
    ) -> None:
        admin = world.guild.admin_id
        session_id = confirmed(world, "rules", "support")
        saves = world.plan.count("sessions.save_session")
        # The claim is the next save; the crash hits the save after the deploy.
        world.plan.add(
            FaultRule("sessions.save_session", error=SimulatedCrash, occurrence=saves + 2)
        )
        with pytest.raises(SimulatedCrash):
            world.bot.wizard.run_next_step(session_id, admin)

        resumed = world.restart().wizard.resume(world.guild.guild_id, admin)

        assert resumed.completed_panels == ("rules",)
        assert (resumed.phase, resumed.current_panel) == (WizardPhase.DEPLOYING, "support")
        assert world.live_panel("rules")
        assert world.bot_messages() == 1

    def test_a_crash_in_the_middle_of_a_deploy_is_rolled_back_and_can_be_retried(
        self, world: World
    ) -> None:
        admin = world.guild.admin_id
        session_id = confirmed(world, "rules")
        world.plan.add(
            FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER, times=1)
        )
        with pytest.raises(SimulatedCrash):
            world.bot.wizard.run_next_step(session_id, admin)

        bot = world.restart()
        resumed = bot.wizard.resume(world.guild.guild_id, admin)
        bot.wizard.retry(session_id, admin)
        done = bot.wizard.run_next_step(session_id, admin)

        assert resumed.phase is WizardPhase.STEP_FAILED
        assert resumed.operation_id is None
        assert done.state.phase is WizardPhase.COMPLETED
        assert world.live_panel("rules")
        assert world.bot_messages() == 1


class TestTwoProcessesOnOneDatabase:
    def test_a_double_click_handled_by_two_processes_deploys_once(self, world: World) -> None:
        admin = world.guild.admin_id
        session_id = confirmed(world, "rules", "support")
        other = world.boot()
        version = world.bot.wizard.status(session_id).version

        first = world.bot.wizard.run_next_step(session_id, admin, expected_version=version)
        with pytest.raises(ConflictError) as caught:
            other.wizard.run_next_step(session_id, admin, expected_version=version)

        assert first.deployed is not None
        assert "already submitted" in str(caught.value)
        assert world.bot_messages() == 1
        other.close()

    def test_a_second_process_cannot_start_setup_in_a_held_guild(self, world: World) -> None:
        confirmed(world, "rules")
        other = world.boot()

        with pytest.raises(LeaseHeld) as caught:
            other.wizard.start(world.guild.guild_id, world.guild.owner_id, ["faq"])

        assert f"<@{world.guild.admin_id}>" in str(caught.value)
        other.close()
