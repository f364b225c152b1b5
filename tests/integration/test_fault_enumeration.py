"""Deploying a panel is all-or-nothing whatever fails, and even when the process dies.

For a first deploy and for replacing an existing panel, a fault-free run lists every port call.
Then, for each call in turn, a fresh world is built and the same deploy is run with one fault at
that call:

(a) an error before the effect, (b) an error after the effect (it happened, the caller hears it
failed), (c) a process crash before or after the effect: every in-memory object is dropped, the
bot is rebuilt on the same database file and the same simulated Discord, and ``recover()`` runs;
(d) for every crash of (c), a second crash at each call inside that recovery, then recovery again
once the dead recovery's claim on the operation has lapsed.

After each case: the guild shows either the new panel fully in place or exactly the previous
state, messages and rows alike; no journal entry is open; no nonce produced two messages; a
second ``recover()`` changes nothing; and the injected fault was reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.errors import DiscordUnavailable, SetupOperationError, StorageFailure
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.recovery import CLAIM_TTL, recover
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig
from apex_setup.fakes.faults import (
    FaultInjectingProxy,
    FaultPlan,
    FaultRule,
    Phase,
    SimulatedCrash,
)

PANEL = "rules"
MUTATING_DISCORD_CALLS = ("discord.send_message", "discord.delete_message")


def _error_for(call: str) -> BaseException:
    if call.startswith("discord."):
        return DiscordUnavailable("Discord is unavailable.", status=503)
    return StorageFailure("The bot's database is not available right now.")


class World:
    """Discord and the database file outlive the bot; the bot's objects do not."""

    def __init__(self, tmp_path: Path, *, replace_existing: bool) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        self.guild = self.sim.standard_guild()
        self.db_path = tmp_path / "bot.db"
        self._ids = iter(f"op{n:014d}" for n in range(1, 10_000))
        self.operation_ids: list[str] = []
        self.catalogue = PanelCatalogue.default()
        self.store: PeeweeStore | None = None
        self.boot()
        self.target_channel = self.guild.channels["general"]
        if replace_existing:
            self.deploy(self.guild.channels["rules"])
        self.plan.calls.clear()

    def _new_id(self) -> str:
        op_id = next(self._ids)
        self.operation_ids.append(op_id)
        return op_id

    def boot(self) -> None:
        """Start a bot process: new store connection, new context, nothing from before."""
        self.store = PeeweeStore(open_database(f"sqlite:///{self.db_path}"))
        self.ctx = SetupContext(
            discord=self.sim.port(self.guild.bot_id),
            panels=FaultInjectingProxy(self.store, self.plan, "panels"),
            journal=FaultInjectingProxy(self.store, self.plan, "journal"),
            audit=FaultInjectingProxy(self.store, self.plan, "audit"),
            clock=self.clock,
            retry=RetryPolicy(max_attempts=1),
            new_id=self._new_id,
        )

    def crash(self) -> None:
        assert self.store is not None
        self.store.close()
        self.store = None
        self.boot()

    def deploy(self, channel_id: int | None = None) -> None:
        request = DeployRequest(
            guild_id=self.guild.guild_id,
            panel_type=PANEL,
            channel_id=channel_id or self.target_channel,
            user_id=self.guild.admin_id,
        )
        deploy_panel(self.ctx, self.catalogue, request)

    def snapshot(self) -> tuple[frozenset[tuple[int, int, str]], frozenset[tuple[str, int, int]]]:
        """The bot's live messages and the panel rows, as comparable values."""
        assert self.store is not None
        messages = frozenset(
            (m.channel_id, m.id, m.payload.fingerprint())
            for m in self.sim.all_messages(self.guild.guild_id)
            if m.author_id == self.guild.bot_id
        )
        rows = frozenset(
            (p.panel_type, p.channel_id, p.message_id)
            for p in self.store.list_panels(self.guild.guild_id)
        )
        return messages, rows


@dataclass(frozen=True)
class Injection:
    call: str
    occurrence: int
    when: Phase

    def __str__(self) -> str:
        return f"{self.call}#{self.occurrence}/{self.when.value}"


Call = tuple[str, int, bool]  # name, occurrence, whether it completed (has an "after")


def _calls_since(plan: FaultPlan, start: int) -> list[Call]:
    return [(c.name, c.occurrence, c.seq in plan.completed) for c in plan.calls[start:]]


def _fault_free_calls(tmp_path: Path, replace_existing: bool) -> list[Call]:
    world = World(tmp_path / "probe", replace_existing=replace_existing)
    world.deploy()
    return _calls_since(world.plan, 0)


def _assert_consistent(world: World, before: object, expected_fingerprint: str) -> str:
    """Assert the invariants; returns "new" or "old" for the end state reached."""
    assert world.store is not None
    state = world.snapshot()
    messages, rows = state
    if state == before:
        outcome = "old"
    else:
        # The new panel fully in place: one row pointing at one live bot message with the
        # panel's payload in the target channel, and no other bot message at all.
        assert len(rows) == 1, f"expected one panel row, got {rows}"
        (row,) = rows
        assert row[1] == world.target_channel
        assert messages == {(world.target_channel, row[2], expected_fingerprint)}, messages
        outcome = "new"

    assert world.store.open_operations() == []
    for op_id in world.operation_ids:
        for index in range(4):
            created = world.sim.messages_created_with_nonce(world.guild.bot_id, f"{op_id}:{index}")
            assert created <= 1, f"nonce {op_id}:{index} produced {created} messages"

    sends_before = [world.plan.count(c) for c in MUTATING_DISCORD_CALLS]
    applies_before = world.plan.count("journal.apply")
    again = recover(world.ctx)
    assert again.touched == 0 and not again.still_open
    assert [world.plan.count(c) for c in MUTATING_DISCORD_CALLS] == sends_before
    assert world.plan.count("journal.apply") == applies_before
    assert world.snapshot() == state
    return outcome


def _run_case(
    tmp_path: Path,
    replace_existing: bool,
    injection: Injection,
    make_error: Callable[[str], BaseException],
) -> tuple[World, object, str]:
    world = World(tmp_path, replace_existing=replace_existing)
    before = world.snapshot()
    fingerprint = world.catalogue.render(PANEL).fingerprint()
    rule = world.plan.add(
        FaultRule(
            call=injection.call,
            occurrence=injection.occurrence,
            when=injection.when,
            error=lambda: make_error(injection.call),
            times=1,
        )
    )

    try:
        world.deploy()
    except SimulatedCrash:
        world.crash()
    except SetupOperationError:
        pass

    assert rule.fired == 1, f"injection point {injection} was never reached"
    return world, before, fingerprint


def _injections(calls: list[Call]) -> Iterator[Injection]:
    """Before every call; after every call that completed (one that raised has no "after")."""
    for name, occurrence, completed in calls:
        yield Injection(name, occurrence, Phase.BEFORE)
        if completed:
            yield Injection(name, occurrence, Phase.AFTER)


@pytest.mark.parametrize("replace_existing", [False, True], ids=["first-deploy", "replace"])
def test_an_error_at_any_port_call_leaves_all_or_nothing(
    tmp_path: Path, replace_existing: bool
) -> None:
    calls = _fault_free_calls(tmp_path, replace_existing)
    outcomes: dict[str, str] = {}

    for n, injection in enumerate(_injections(calls)):
        world, before, fingerprint = _run_case(
            tmp_path / f"error{n}", replace_existing, injection, _error_for
        )
        recover(world.ctx)  # what the bot's periodic reconciliation does
        outcomes[str(injection)] = _assert_consistent(world, before, fingerprint)

    assert len(calls) >= 8
    assert "old" in outcomes.values() and "new" in outcomes.values()


@pytest.mark.parametrize("replace_existing", [False, True], ids=["first-deploy", "replace"])
def test_a_crash_at_any_port_call_is_recovered_after_restart(
    tmp_path: Path, replace_existing: bool
) -> None:
    calls = _fault_free_calls(tmp_path, replace_existing)

    for n, injection in enumerate(_injections(calls)):
        world, before, fingerprint = _run_case(
            tmp_path / f"crash{n}", replace_existing, injection, lambda _: SimulatedCrash()
        )
        recover(world.ctx)
        _assert_consistent(world, before, fingerprint)


@pytest.mark.parametrize("replace_existing", [False, True], ids=["first-deploy", "replace"])
def test_a_second_crash_inside_recovery_is_recovered_too(
    tmp_path: Path, replace_existing: bool
) -> None:
    calls = _fault_free_calls(tmp_path, replace_existing)
    nested_cases = 0

    for n, injection in enumerate(_injections(calls)):
        # Learn which calls the recovery after this crash makes.
        probe, _, _ = _run_case(
            tmp_path / f"probe{n}", replace_existing, injection, lambda _: SimulatedCrash()
        )
        start = len(probe.plan.calls)
        recover(probe.ctx)
        recovery_calls = _calls_since(probe.plan, start)

        for m, second in enumerate(_injections(recovery_calls)):
            world, before, fingerprint = _run_case(
                tmp_path / f"nested{n}-{m}", replace_existing, injection, lambda _: SimulatedCrash()
            )
            rule = world.plan.add(
                FaultRule(
                    call=second.call,
                    occurrence=second.occurrence,
                    when=second.when,
                    error=SimulatedCrash,
                    times=1,
                )
            )
            try:
                recover(world.ctx)
            except SimulatedCrash:
                world.crash()
            assert rule.fired == 1, f"recovery point {second} after {injection} never reached"

            world.clock.advance(CLAIM_TTL.total_seconds())  # a dead recovery's claim lapses
            recover(world.ctx)
            _assert_consistent(world, before, fingerprint)
            nested_cases += 1

    assert nested_cases > 0
