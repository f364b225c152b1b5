"""The setup wizard service on a MemoryStore and a simulated Discord."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.errors import (
    ConflictError,
    DiscordRejected,
    IllegalTransition,
    InvalidInput,
    MissingPermissions,
    SessionExpired,
)
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.setup_wizard import SessionCleaner, SetupWizard
from apex_setup.core.wizard import LeaseHeld, WizardPhase, WizardState
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.faults import FaultPlan, FaultRule
from apex_setup.fakes.memory_store import MemoryStore


@dataclass
class World:
    clock: FakeClock
    plan: FaultPlan
    sim: DiscordSimulator
    guild: StandardGuild
    store: MemoryStore
    ctx: SetupContext

    def wizard(self, **options: timedelta) -> SetupWizard:
        return SetupWizard(self.ctx, PanelCatalogue.default(), self.store, self.store, **options)

    def live_panel(self, panel_type: str) -> bool:
        row = self.store.get_panel(self.guild.guild_id, panel_type)
        return row is not None and self.sim.message_exists(row.channel_id, row.message_id)

    def fail_next_send(self) -> None:
        self.plan.add(
            FaultRule(
                "discord.send_message",
                error=lambda: DiscordRejected("Refused.", status=400, discord_code=50035),
                times=1,
            )
        )


@pytest.fixture
def world() -> World:
    clock = FakeClock()
    plan = FaultPlan(sleep=clock.advance)
    sim = DiscordSimulator(clock, faults=plan, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    store = MemoryStore(clock=clock)
    ctx = SetupContext(
        discord=sim.port(guild.bot_id),
        panels=store,
        journal=store,
        audit=store,
        clock=clock,
        retry=RetryPolicy(max_attempts=1),
    )
    return World(clock, plan, sim, guild, store, ctx)


def ready(world: World, wizard: SetupWizard, *panels: str) -> WizardState:
    """A confirmed session for ``panels``, every one going to #general."""
    admin = world.guild.admin_id
    state = wizard.start(world.guild.guild_id, admin, panels or ("rules", "support"))
    for _ in state.panel_types:
        state = wizard.choose_channel(state.session_id, admin, "#general")
    return wizard.confirm(state.session_id, admin)


class TestStarting:
    def test_unknown_panel_types_are_refused_with_the_valid_ones_and_no_side_effect(
        self, world: World
    ) -> None:
        wizard = world.wizard()

        with pytest.raises(InvalidInput) as caught:
            wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules", "casino"])

        assert "casino" in str(caught.value) and "support" in str(caught.value)
        assert "rules" in caught.value.choices
        assert world.store.list_sessions() == []
        assert world.store.get_lease(world.guild.guild_id) is None

    def test_a_started_session_is_stored_and_holds_the_guild(self, world: World) -> None:
        wizard = world.wizard()

        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["Rules", "support"])

        assert world.store.get_session(state.session_id) == state
        assert state.panel_types == ("rules", "support")
        lease = world.store.get_lease(world.guild.guild_id)
        assert lease is not None and lease.owner == state.session_id

    def test_a_second_admin_is_told_who_runs_setup_and_since_when(self, world: World) -> None:
        wizard = world.wizard()
        wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=5)

        with pytest.raises(ConflictError) as caught:
            wizard.start(world.guild.guild_id, world.guild.owner_id, ["support"])

        assert isinstance(caught.value, LeaseHeld)
        assert "already in progress" in str(caught.value)
        assert f"<@{world.guild.admin_id}>" in str(caught.value)
        assert "idle since" in str(caught.value)
        assert len(world.store.list_sessions()) == 1

    def test_another_user_cannot_drive_someone_elses_session(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        with pytest.raises(ConflictError):
            wizard.choose_channel(state.session_id, world.guild.owner_id, "#general")

        assert wizard.status(state.session_id) == state


class TestTheWholeWizard:
    def test_choosing_confirming_and_running_all_deploys_every_panel(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules", "support")

        results = wizard.run_all(state.session_id, world.guild.admin_id)

        final = wizard.status(state.session_id)
        assert [r.panel_type for r in results] == ["rules", "support"]
        assert final.phase is WizardPhase.COMPLETED
        assert final.completed_panels == ("rules", "support")
        assert world.live_panel("rules") and world.live_panel("support")
        assert world.store.get_lease(world.guild.guild_id) is None
        assert world.store.recent_audit(limit=1)[0].action == "setup_completed"

    def test_a_bad_channel_is_refused_and_the_session_is_unchanged(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        with pytest.raises(InvalidInput):
            wizard.choose_channel(state.session_id, world.guild.admin_id, "Voice")

        assert wizard.status(state.session_id) == state

    def test_an_illegal_event_leaves_the_stored_session_unchanged(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        with pytest.raises(IllegalTransition):
            wizard.confirm(state.session_id, world.guild.admin_id)

        assert wizard.status(state.session_id) == state

    def test_every_transition_bumps_the_stored_version(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        chosen = wizard.choose_channel(state.session_id, world.guild.admin_id, "#general")

        assert (state.version, chosen.version) == (1, 2)
        assert wizard.status(state.session_id).version == 2


class TestFailingSteps:
    def test_a_failed_step_is_rolled_back_and_can_be_retried(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules")
        world.fail_next_send()

        failed = wizard.run_next_step(state.session_id, world.guild.admin_id)
        wizard.retry(state.session_id, world.guild.admin_id)
        retried = wizard.run_next_step(state.session_id, world.guild.admin_id)

        assert failed.error is not None
        assert failed.state.phase is WizardPhase.STEP_FAILED
        assert failed.state.last_error == failed.error.user_message
        assert retried.state.phase is WizardPhase.COMPLETED
        assert world.live_panel("rules")

    def test_skipping_a_failed_panel_moves_on_without_it(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules", "support")
        world.fail_next_send()
        wizard.run_next_step(state.session_id, world.guild.admin_id)

        wizard.skip(state.session_id, world.guild.admin_id)
        results = wizard.run_all(state.session_id, world.guild.admin_id)

        final = results[-1].state
        assert (final.phase, final.completed_panels, final.skipped_panels) == (
            WizardPhase.COMPLETED,
            ("support",),
            ("rules",),
        )
        assert world.store.get_panel(world.guild.guild_id, "rules") is None

    def test_cancel_keeps_the_panels_already_deployed(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules", "support")
        wizard.run_next_step(state.session_id, world.guild.admin_id)

        cancelled = wizard.cancel(state.session_id, world.guild.admin_id)

        assert cancelled.phase is WizardPhase.CANCELLED
        assert world.live_panel("rules")
        assert world.store.get_panel(world.guild.guild_id, "support") is None
        assert world.store.get_lease(world.guild.guild_id) is None


class TestDoubleSubmit:
    def test_the_same_step_submitted_twice_deploys_once(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules", "support")

        first = wizard.run_next_step(
            state.session_id, world.guild.admin_id, expected_version=state.version
        )
        with pytest.raises(ConflictError) as caught:
            wizard.run_next_step(
                state.session_id, world.guild.admin_id, expected_version=state.version
            )

        assert first.deployed is not None
        assert "already submitted" in str(caught.value)
        assert len(world.sim.all_messages(world.guild.guild_id)) == 1
        assert wizard.status(state.session_id).current_panel == "support"

    def test_a_step_claimed_elsewhere_is_not_run_again(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules")
        # Another process claimed the step between our read and our claim.
        world.store.save_session(
            WizardState(**{**state.__dict__, "operation_id": "op-x", "version": state.version + 1}),
            expected_version=state.version,
        )

        with pytest.raises(ConflictError):
            wizard.run_next_step(
                state.session_id, world.guild.admin_id, expected_version=state.version
            )

        assert world.sim.all_messages(world.guild.guild_id) == []


class TestExpiry:
    def test_29_idle_minutes_keep_a_session_and_31_expire_it(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules", "support"])
        world.clock.advance(minutes=29)
        alive = wizard.choose_channel(state.session_id, world.guild.admin_id, "#general")
        world.clock.advance(minutes=31)

        with pytest.raises(SessionExpired):
            wizard.choose_channel(state.session_id, world.guild.admin_id, "#general")

        assert alive.phase is WizardPhase.CHOOSING_CHANNELS
        expired = wizard.status(state.session_id)
        assert expired.phase is WizardPhase.EXPIRED
        assert world.store.get_lease(world.guild.guild_id) is None
        assert world.store.recent_audit(limit=1)[0].action == "expiry"

    def test_activity_resets_the_idle_timer(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules", "support"])

        for _ in range(2):
            world.clock.advance(minutes=20)
            state = wizard.choose_channel(state.session_id, world.guild.admin_id, "#general")
        world.clock.advance(minutes=20)
        confirmed = wizard.confirm(state.session_id, world.guild.admin_id)

        assert confirmed.phase is WizardPhase.DEPLOYING
        assert confirmed.expires_at == world.clock.now() + timedelta(minutes=30)

    def test_the_idle_timeout_is_configurable(self, world: World) -> None:
        wizard = world.wizard(idle_timeout=timedelta(minutes=5))
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=6)

        with pytest.raises(SessionExpired):
            wizard.confirm(state.session_id, world.guild.admin_id)

    def test_input_on_an_expired_session_keeps_raising_session_expired(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=31)
        with pytest.raises(SessionExpired):
            wizard.cancel(state.session_id, world.guild.admin_id)

        with pytest.raises(SessionExpired):
            wizard.cancel(state.session_id, world.guild.admin_id)

    def test_completed_panels_stay_when_the_session_expires(self, world: World) -> None:
        wizard = world.wizard()
        state = ready(world, wizard, "rules", "support")
        wizard.run_next_step(state.session_id, world.guild.admin_id)
        world.clock.advance(minutes=31)

        report = wizard.sweep_expired(world.clock.now(), limit=10)

        assert report.expired == [state.session_id]
        assert world.live_panel("rules")
        assert wizard.status(state.session_id).completed_panels == ("rules",)


class TestSweep:
    def test_the_sweep_expires_only_idle_sessions_and_releases_their_leases(
        self, world: World
    ) -> None:
        wizard = world.wizard()
        other = world.sim.standard_guild("Other")
        world.sim.add_member(other.guild_id, world.guild.bot_id)
        idle = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=20)
        fresh = wizard.start(other.guild_id, other.admin_id, ["rules"])
        world.clock.advance(minutes=11)

        report = wizard.sweep_expired(world.clock.now(), limit=10)

        assert report.expired == [idle.session_id]
        assert wizard.status(fresh.session_id).phase is WizardPhase.CHOOSING_CHANNELS
        assert world.store.get_lease(world.guild.guild_id) is None
        assert world.store.get_lease(other.guild_id) is not None
        entry = world.store.recent_audit(world.guild.guild_id, limit=1)[0]
        assert (entry.action, entry.outcome) == ("expiry", "expired")

    def test_the_sweep_leaves_a_running_step_alone(self, world: World) -> None:
        wizard = world.wizard(lease_ttl=timedelta(hours=2))
        state = ready(world, wizard, "rules")
        running = WizardState(
            **{**state.__dict__, "operation_id": "op-run", "version": state.version + 1}
        )
        world.store.save_session(running, expected_version=state.version)
        world.clock.advance(minutes=31)

        report = wizard.sweep_expired(world.clock.now(), limit=10)

        assert report.running == [state.session_id]
        assert wizard.status(state.session_id).phase is WizardPhase.DEPLOYING

    def test_a_crashed_holders_lease_is_taken_over_after_its_ttl(self, world: World) -> None:
        wizard = world.wizard()
        crashed = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=29)
        with pytest.raises(LeaseHeld):
            wizard.start(world.guild.guild_id, world.guild.owner_id, ["rules"])
        world.clock.advance(minutes=2)

        taken = wizard.start(world.guild.guild_id, world.guild.owner_id, ["rules"])

        lease = world.store.get_lease(world.guild.guild_id)
        assert lease is not None and lease.owner == taken.session_id
        assert wizard.status(crashed.session_id).phase is WizardPhase.EXPIRED


class TestSessionCleanup:
    def test_clean_expired_offers_finished_and_idle_sessions_only(self, world: World) -> None:
        wizard = world.wizard()
        idle = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        world.clock.advance(minutes=31)
        cleaner = SessionCleaner(wizard, only_expired=True)

        offered = cleaner.preview_sessions(world.guild.guild_id)

        assert [r.session_id for r in offered] == [idle.session_id]

    def test_clean_expired_leaves_a_fresh_session_alone(self, world: World) -> None:
        wizard = world.wizard()
        wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        offered = SessionCleaner(wizard, only_expired=True).preview_sessions(world.guild.guild_id)

        assert offered == []

    def test_clean_all_removes_a_live_session_and_frees_the_guild(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        cleaner = SessionCleaner(wizard, only_expired=False)

        removed = cleaner.remove_sessions(cleaner.preview_sessions(world.guild.guild_id))

        assert [r.session_id for r in removed] == [state.session_id]
        assert wizard.list_sessions(world.guild.guild_id) == []
        wizard.start(world.guild.guild_id, world.guild.member_id, ["faq"])  # the lease is free

    def test_a_session_that_changed_after_the_preview_is_kept(self, world: World) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])
        cleaner = SessionCleaner(wizard, only_expired=False)
        preview = cleaner.preview_sessions(world.guild.guild_id)
        wizard.choose_channel(state.session_id, world.guild.admin_id, "#general")

        removed = cleaner.remove_sessions(preview)

        assert removed == []
        assert len(wizard.list_sessions(world.guild.guild_id)) == 1


def test_a_refused_start_leaves_an_audit_record(world: World) -> None:
    wizard = world.wizard()
    wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

    with pytest.raises(LeaseHeld) as caught:
        wizard.start(world.guild.guild_id, world.guild.member_id, ["faq"])

    entry = world.store.recent_audit(world.guild.guild_id, limit=1)[0]
    assert (entry.action, entry.outcome, entry.reference) == (
        "setup_start",
        "refused",
        caught.value.reference,
    )


class TestScriptedPlan:
    def test_a_channel_the_bot_cannot_post_in_is_refused_and_the_session_is_unchanged(
        self, world: World
    ) -> None:
        wizard = world.wizard()
        state = wizard.start(world.guild.guild_id, world.guild.admin_id, ["rules"])

        with pytest.raises(MissingPermissions, match="Send Messages"):
            wizard.choose_channel(state.session_id, world.guild.admin_id, "#read-only")

        assert wizard.status(state.session_id) == state

    def test_a_plan_deploys_every_panel_in_one_call(self, world: World) -> None:
        wizard = world.wizard()

        results = wizard.run_plan(
            world.guild.guild_id,
            world.guild.admin_id,
            [("rules", "#rules"), ("FAQ", f"<#{world.guild.support_id}>")],
        )

        assert [r.panel_type for r in results] == ["rules", "faq"]
        assert results[-1].state.phase is WizardPhase.COMPLETED
        assert world.live_panel("rules") and world.live_panel("faq")

    def test_a_plan_with_a_bad_channel_deploys_nothing_and_frees_the_guild(
        self, world: World
    ) -> None:
        wizard = world.wizard()

        with pytest.raises(InvalidInput):
            wizard.run_plan(
                world.guild.guild_id,
                world.guild.admin_id,
                [("rules", "#rules"), ("faq", "#no-such-channel")],
            )

        assert world.sim.all_messages(world.guild.guild_id) == []
        wizard.start(world.guild.guild_id, world.guild.member_id, ["faq"])  # lease released
