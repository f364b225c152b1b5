"""Random sequences of wizard input, idle time, restarts and deploy faults keep the invariants.

After every step:
- every stored session is in exactly one phase, never NEW, and no step is left in flight;
- every panel a session lists as completed is live: its row exists and so does its message;
- a guild has at most one live session, and a live lease belongs to that session;
- the journal has no open operation (each deploy committed or was compensated).
"""

from __future__ import annotations

import contextlib
from collections import Counter

import hypothesis.strategies as st
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.errors import (
    DiscordRejected,
    DiscordUnavailable,
    SessionExpired,
    SetupOperationError,
)
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.setup_wizard import SetupWizard
from apex_setup.core.wizard import WizardPhase
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.faults import FaultPlan, FaultRule, Phase
from apex_setup.fakes.memory_store import MemoryStore

PANELS = ("rules", "support", "faq")
CHANNEL_INPUT = ("#general", "#shop", "rules", "#general", "Voice", "nowhere", "")
FAULTS = ("none", "refused", "unavailable_after")


class WizardMachine(RuleBasedStateMachine):
    clock: FakeClock
    plan: FaultPlan
    sim: DiscordSimulator
    guilds: list[StandardGuild]
    store: MemoryStore
    wizard: SetupWizard

    @initialize()
    def build(self) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        first = self.sim.standard_guild("First")
        second = self.sim.standard_guild("Second")
        self.sim.add_member(second.guild_id, first.bot_id, [second.bot_role_id])
        self.guilds = [first, second]
        self.store = MemoryStore(clock=self.clock)
        self.restart()

    def restart(self) -> None:
        ctx = SetupContext(
            discord=self.sim.port(self.guilds[0].bot_id),
            panels=self.store,
            journal=self.store,
            audit=self.store,
            clock=self.clock,
            retry=RetryPolicy(max_attempts=1),
        )
        self.wizard = SetupWizard(ctx, PanelCatalogue.default(), self.store, self.store)

    def user(self, guild: int, who: int) -> int:
        g = self.guilds[guild]
        return (g.admin_id, g.owner_id)[who]

    def session_id(self, guild: int) -> str | None:
        sessions = self.store.list_sessions(self.guilds[guild].guild_id)
        return sessions[-1].session_id if sessions else None

    def attempt(self, action: str, guild: int, who: int, *args: str) -> None:
        session_id = self.session_id(guild)
        if session_id is None:
            return
        method = getattr(self.wizard, action)
        try:
            method(session_id, self.user(guild, who), *args)
        except SessionExpired:
            stored = self.store.get_session(session_id)
            assert stored is not None and stored.phase is WizardPhase.EXPIRED
            event(f"{action}: expired")
        except SetupOperationError as exc:
            event(f"{action}: {type(exc).__name__}")
        else:
            event(f"{action}: ok")

    # -- rules ----------------------------------------------------------------------------------

    @rule(
        guild=st.integers(0, 1),
        who=st.integers(0, 1),
        panels=st.lists(st.sampled_from(PANELS), min_size=1, max_size=3, unique=True),
    )
    def start(self, guild: int, who: int, panels: list[str]) -> None:
        with contextlib.suppress(SetupOperationError):
            self.wizard.start(self.guilds[guild].guild_id, self.user(guild, who), panels)

    @rule(guild=st.integers(0, 1), who=st.integers(0, 1), raw=st.sampled_from(CHANNEL_INPUT))
    def choose_channel(self, guild: int, who: int, raw: str) -> None:
        self.attempt("choose_channel", guild, who, raw)

    @rule(guild=st.integers(0, 1), who=st.integers(0, 1))
    def confirm(self, guild: int, who: int) -> None:
        self.attempt("confirm", guild, who)

    @rule(
        guild=st.integers(0, 1),
        panels=st.lists(st.sampled_from(PANELS), min_size=1, max_size=3, unique=True),
    )
    def start_choose_every_channel_and_confirm(self, guild: int, panels: list[str]) -> None:
        self.start(guild, 0, panels)
        for _ in PANELS:
            self.attempt("choose_channel", guild, 0, "#general")
        self.attempt("confirm", guild, 0)

    @rule(guild=st.integers(0, 1))
    def run_all(self, guild: int) -> None:
        self.attempt("run_all", guild, 0)

    @rule(guild=st.integers(0, 1), fault=st.sampled_from(FAULTS))
    def run_next_step(self, guild: int, fault: str) -> None:
        if fault == "refused":
            error = DiscordRejected("Refused.", status=400, discord_code=50035)
            self.plan.add(FaultRule("discord.send_message", error=lambda: error, times=1))
        elif fault == "unavailable_after":
            unavailable = DiscordUnavailable("Down.", status=503)
            self.plan.add(
                FaultRule(
                    "discord.send_message",
                    error=lambda: unavailable,
                    when=Phase.AFTER,
                    times=1,
                )
            )
        self.attempt("run_next_step", guild, 0)
        self.plan.rules.clear()
        phases = sorted(p.phase.value for p in self.store.list_sessions())
        event(f"after a step: {' '.join(phases)}")

    @rule(guild=st.integers(0, 1))
    def skip(self, guild: int) -> None:
        self.attempt("skip", guild, 0)

    @rule(guild=st.integers(0, 1))
    def retry(self, guild: int) -> None:
        self.attempt("retry", guild, 0)

    @rule(guild=st.integers(0, 1), who=st.integers(0, 1))
    def cancel(self, guild: int, who: int) -> None:
        self.attempt("cancel", guild, who)

    @rule(guild=st.integers(0, 1), who=st.integers(0, 1))
    def resume(self, guild: int, who: int) -> None:
        with contextlib.suppress(SetupOperationError):
            self.wizard.resume(self.guilds[guild].guild_id, self.user(guild, who))

    @rule(minutes=st.sampled_from([1, 5, 29, 31]))
    def idle(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    @rule()
    def sweep(self) -> None:
        self.wizard.sweep_expired(self.clock.now(), limit=10)

    @rule()
    def restart_the_bot(self) -> None:
        self.restart()

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def every_session_is_in_one_real_phase_with_nothing_in_flight(self) -> None:
        for state in self.store.list_sessions():
            assert isinstance(state.phase, WizardPhase)
            assert state.phase is not WizardPhase.NEW
            assert state.operation_id is None
            assert (state.expires_at is None) == state.phase.is_terminal

    @invariant()
    def completed_panels_are_live(self) -> None:
        for state in self.store.list_sessions():
            for panel_type in state.completed_panels:
                row = self.store.get_panel(state.guild_id, panel_type)
                assert row is not None
                assert self.sim.message_exists(row.channel_id, row.message_id)

    @invariant()
    def a_guild_has_at_most_one_live_session_and_it_owns_the_lease(self) -> None:
        now = self.clock.now()
        live = Counter(s.guild_id for s in self.store.list_sessions() if not s.phase.is_terminal)
        assert all(count <= 1 for count in live.values())
        for guild in self.guilds:
            lease = self.store.get_lease(guild.guild_id)
            if lease is None or not lease.is_live(now):
                continue
            holder = self.store.get_session(lease.owner)
            assert holder is not None and not holder.phase.is_terminal

    @invariant()
    def no_journal_operation_is_left_open(self) -> None:
        assert self.store.open_operations() == []


WizardMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWizardInvariants = WizardMachine.TestCase
