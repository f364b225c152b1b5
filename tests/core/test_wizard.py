"""The wizard's state machine on its own: the table, its special cases, refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from apex_setup.core import wizard
from apex_setup.core.errors import IllegalTransition
from apex_setup.core.wizard import (
    TERMINAL_PHASES,
    TRANSITIONS,
    Lease,
    LeaseHeld,
    WizardEvent,
    WizardPhase,
    WizardState,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def started(*panels: str) -> WizardState:
    return wizard.start(
        session_id="s-1",
        user_id=7,
        guild_id=1,
        panel_types=panels or ("rules", "support"),
        now=T0,
        expires_at=T0 + timedelta(minutes=30),
    )


def confirmed(*panels: str) -> WizardState:
    state = started(*panels)
    for n, panel in enumerate(state.panel_types):
        state = wizard.choose_channel(state, panel, 100 + n)
    return wizard.confirm(state)


def failed() -> WizardState:
    return wizard.step_failed(wizard.run_step(confirmed(), "op-1"), "Discord said no.")


class TestStarting:
    def test_a_started_session_asks_for_the_first_panels_channel(self) -> None:
        state = started("rules", "support")

        assert state.phase is WizardPhase.CHOOSING_CHANNELS
        assert state.current_panel == "rules"
        assert (state.started_at, state.last_activity, state.version) == (T0, T0, 0)

    def test_start_refuses_duplicate_or_no_panel_types(self) -> None:
        with pytest.raises(ValueError):
            started("rules", "rules")


class TestChoosingChannels:
    def test_each_channel_moves_to_the_next_panel_and_the_last_to_confirming(self) -> None:
        state = started("rules", "support")

        first = wizard.choose_channel(state, "rules", 100)
        second = wizard.choose_channel(first, "support", 200)

        assert (first.phase, first.current_panel) == (WizardPhase.CHOOSING_CHANNELS, "support")
        assert second.phase is WizardPhase.CONFIRMING
        assert dict(second.channels) == {"rules": 100, "support": 200}

    def test_a_channel_can_be_changed_while_confirming(self) -> None:
        ready = wizard.choose_channel(started("rules"), "rules", 100)

        changed = wizard.choose_channel(ready, "rules", 300)

        assert (changed.phase, changed.channels["rules"]) == (WizardPhase.CONFIRMING, 300)

    def test_a_channel_for_a_panel_outside_the_session_is_refused(self) -> None:
        state = started("rules")

        with pytest.raises(IllegalTransition):
            wizard.choose_channel(state, "faq", 100)


class TestDeploying:
    def test_confirm_starts_deploying_at_the_first_panel(self) -> None:
        state = confirmed("rules", "support")

        assert (state.phase, state.current_panel) == (WizardPhase.DEPLOYING, "rules")

    def test_a_claimed_step_records_its_journal_operation(self) -> None:
        state = wizard.run_step(confirmed(), "op-1")

        assert state.operation_id == "op-1"
        assert state.step_in_flight

    def test_a_done_step_is_completed_and_the_next_panel_comes_up(self) -> None:
        state = wizard.step_done(wizard.run_step(confirmed("rules", "support"), "op-1"))

        assert state.completed_panels == ("rules",)
        assert (state.current_panel, state.operation_id) == ("support", None)

    def test_a_failed_step_keeps_its_panel_current_and_says_why(self) -> None:
        state = failed()

        assert state.phase is WizardPhase.STEP_FAILED
        assert (state.current_panel, state.last_error) == ("rules", "Discord said no.")

    def test_retry_returns_to_deploying_the_same_panel(self) -> None:
        state = wizard.retry(failed())

        assert (state.phase, state.current_panel, state.last_error) == (
            WizardPhase.DEPLOYING,
            "rules",
            None,
        )

    def test_skip_after_a_failure_moves_past_the_panel(self) -> None:
        state = wizard.skip(failed())

        assert (state.phase, state.current_panel) == (WizardPhase.DEPLOYING, "support")
        assert state.skipped_panels == ("rules",)

    def test_complete_after_the_last_panel_ends_the_session(self) -> None:
        state = wizard.step_done(wizard.run_step(confirmed("rules"), "op-1"))

        done = wizard.complete(state)

        assert done.phase is WizardPhase.COMPLETED
        assert done.expires_at is None

    def test_complete_with_a_panel_left_is_refused(self) -> None:
        state = confirmed("rules")

        with pytest.raises(IllegalTransition):
            wizard.complete(state)


class TestStoppingEarly:
    def test_cancel_keeps_completed_panels(self) -> None:
        state = wizard.step_done(wizard.run_step(confirmed("rules", "support"), "op-1"))

        cancelled = wizard.cancel(state)

        assert cancelled.phase is WizardPhase.CANCELLED
        assert cancelled.completed_panels == ("rules",)

    def test_expire_works_even_with_a_step_marked_in_flight(self) -> None:
        state = wizard.run_step(confirmed(), "op-1")

        expired = wizard.expire(state)

        assert (expired.phase, expired.operation_id, expired.expires_at) == (
            WizardPhase.EXPIRED,
            None,
            None,
        )


def _events() -> dict[str, Callable[[WizardState], WizardState]]:
    return {
        "choose_channel": lambda s: wizard.choose_channel(s, s.panel_types[0], 1),
        "confirm": wizard.confirm,
        "run_step": lambda s: wizard.run_step(s, "op-9"),
        "step_done": wizard.step_done,
        "step_failed": lambda s: wizard.step_failed(s, "no"),
        "skip": wizard.skip,
        "retry": wizard.retry,
        "cancel": wizard.cancel,
        "expire": wizard.expire,
        "complete": wizard.complete,
    }


def _in_phase(phase: WizardPhase) -> WizardState:
    return {
        WizardPhase.CHOOSING_CHANNELS: started(),
        WizardPhase.CONFIRMING: wizard.choose_channel(started("rules"), "rules", 1),
        WizardPhase.DEPLOYING: confirmed(),
        WizardPhase.STEP_FAILED: failed(),
        WizardPhase.COMPLETED: wizard.complete(
            wizard.step_done(wizard.run_step(confirmed("rules"), "op-1"))
        ),
        WizardPhase.CANCELLED: wizard.cancel(started()),
        WizardPhase.EXPIRED: wizard.expire(started()),
    }[phase]


class TestIllegalTransitions:
    @pytest.mark.parametrize(
        "phase", [WizardPhase.COMPLETED, WizardPhase.CANCELLED, WizardPhase.EXPIRED]
    )
    @pytest.mark.parametrize("event", sorted(_events()))
    def test_a_terminal_session_refuses_every_event_and_stays_as_it_was(
        self, phase: WizardPhase, event: str
    ) -> None:
        state = _in_phase(phase)
        before = repr(state)

        with pytest.raises(IllegalTransition) as caught:
            _events()[event](state)

        assert caught.value.state.startswith(phase.value)
        assert caught.value.event == event
        assert repr(state) == before

    @pytest.mark.parametrize("event", ["confirm", "skip", "retry", "cancel", "run_step"])
    def test_a_running_step_refuses_everything_but_its_outcome_and_expiry(self, event: str) -> None:
        state = wizard.run_step(confirmed(), "op-1")
        before = repr(state)

        with pytest.raises(IllegalTransition) as caught:
            _events()[event](state)

        assert "a step is running" in caught.value.state
        assert repr(state) == before

    def test_every_pair_missing_from_the_table_is_refused(self) -> None:
        live = [p for p in WizardPhase if p not in TERMINAL_PHASES and p is not WizardPhase.NEW]
        refused = 0

        for phase in live:
            for name, event in _events().items():
                if (phase, WizardEvent(name)) in TRANSITIONS:
                    continue
                state = _in_phase(phase)
                with pytest.raises(IllegalTransition):
                    event(state)
                refused += 1

        assert refused > 10

    def test_the_error_names_the_phase_and_the_event(self) -> None:
        with pytest.raises(IllegalTransition) as caught:
            wizard.confirm(started())

        assert (caught.value.state, caught.value.event) == ("choosing_channels", "confirm")
        assert "confirm" in str(caught.value)


class TestTheLease:
    def test_a_lease_is_live_until_its_expiry(self) -> None:
        lease = Lease(1, "s-1", 7, T0, T0, T0 + timedelta(minutes=30))

        assert lease.is_live(T0 + timedelta(minutes=29))
        assert not lease.is_live(T0 + timedelta(minutes=30))

    def test_lease_held_mentions_the_holder_and_when_they_were_last_active(self) -> None:
        lease = Lease(1, "s-1", 7, T0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=33))

        error = LeaseHeld(lease)

        assert "<@7>" in str(error)
        assert f"<t:{int((T0 + timedelta(minutes=3)).timestamp())}:R>" in str(error)
        assert error.code == "conflict"


def test_the_terminal_phases_are_completed_cancelled_and_expired() -> None:
    terminal = {p for p in WizardPhase if p.is_terminal}

    assert terminal == set(TERMINAL_PHASES)
    assert terminal == {WizardPhase.COMPLETED, WizardPhase.CANCELLED, WizardPhase.EXPIRED}
