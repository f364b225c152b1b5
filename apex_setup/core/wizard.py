"""The setup wizard's state machine: pure values and a transition table, no I/O.

An administrator picks panel types, a channel for each, confirms, and the panels are deployed
one by one. ``WizardState`` is everything needed to continue after a restart; the service in
``apex_setup.core.setup_wizard`` loads it, applies one transition and saves it back.

    NEW ──start──▶ CHOOSING_CHANNELS ──choose (last one)──▶ CONFIRMING ──confirm──▶ DEPLOYING
                                                                              │  ▲     │
                                                            step failed ──────┘  │     │
                                                            ▼               retry│     │ complete
                                                       STEP_FAILED ──skip────────┘     ▼
                                                                                   COMPLETED
    every live phase ──cancel──▶ CANCELLED          every live phase ──expire──▶ EXPIRED

Invariants:
- A state is in exactly one phase. COMPLETED, CANCELLED and EXPIRED are terminal: every event
  is refused there.
- A transition returns a new state; an illegal one raises ``IllegalTransition`` naming the
  phase and the event and leaves the state it was given untouched (states are frozen).
- ``operation_id`` is set exactly while a deploy step is in flight (between RUN_STEP and
  STEP_DONE / STEP_FAILED); it is the journal's operation id, so a restarted bot can read how
  the step ended. While it is set, only STEP_DONE, STEP_FAILED and EXPIRE are accepted.
- ``completed_panels`` and ``skipped_panels`` only grow; a panel in ``completed_panels`` was
  committed by its own atomic operation and stays when the session later ends in any way.
- ``version`` belongs to storage: the service bumps it on every save (compare-and-swap); the
  transitions here never change it.
- Every time is timezone-aware and comes from the caller (the clock port).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from apex_setup.core.errors import ConflictError, IllegalTransition, quote_input

__all__ = [
    "TERMINAL_PHASES",
    "TRANSITIONS",
    "Lease",
    "LeaseHeld",
    "WizardEvent",
    "WizardPhase",
    "WizardState",
    "cancel",
    "choose_channel",
    "complete",
    "confirm",
    "expire",
    "mention",
    "retry",
    "run_step",
    "skip",
    "start",
    "step_done",
    "step_failed",
]


class WizardPhase(enum.Enum):
    """Where a setup session stands; exactly one at a time."""

    NEW = "new"  # built in memory, not yet started; never stored
    CHOOSING_CHANNELS = "choosing_channels"  # asking a channel for panel_types[current_index]
    CONFIRMING = "confirming"  # every panel has a channel; waiting for the go
    DEPLOYING = "deploying"  # deploying panel_types[current_index] next (or now, if in flight)
    STEP_FAILED = "step_failed"  # panel_types[current_index] failed and was rolled back
    COMPLETED = "completed"  # every panel deployed or skipped; terminal
    CANCELLED = "cancelled"  # the admin stopped; deployed panels stay; terminal
    EXPIRED = "expired"  # idle too long; deployed panels stay; terminal

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_PHASES


TERMINAL_PHASES = frozenset({WizardPhase.COMPLETED, WizardPhase.CANCELLED, WizardPhase.EXPIRED})


class WizardEvent(enum.Enum):
    """What can happen to a session."""

    START = "start"  # the admin starts setup with a list of panel types
    CHOOSE_CHANNEL = "choose_channel"  # a channel is given for one panel type
    CONFIRM = "confirm"  # the admin confirms the plan
    RUN_STEP = "run_step"  # a deploy step is claimed and about to run
    STEP_DONE = "step_done"  # the step in flight committed
    STEP_FAILED = "step_failed"  # the step in flight failed and was compensated
    SKIP = "skip"  # leave the current panel out
    RETRY = "retry"  # try the failed panel again
    CANCEL = "cancel"  # the admin stops the session
    EXPIRE = "expire"  # idle longer than the timeout
    COMPLETE = "complete"  # every panel is handled


_P = WizardPhase
_E = WizardEvent
_LIVE = (_P.CHOOSING_CHANNELS, _P.CONFIRMING, _P.DEPLOYING, _P.STEP_FAILED)

#: (phase, event) -> next phase. A pair missing here is an illegal transition.
TRANSITIONS: Mapping[tuple[WizardPhase, WizardEvent], WizardPhase] = MappingProxyType(
    {
        (_P.NEW, _E.START): _P.CHOOSING_CHANNELS,
        (_P.CHOOSING_CHANNELS, _E.CHOOSE_CHANNEL): _P.CHOOSING_CHANNELS,  # (1)
        (_P.CONFIRMING, _E.CHOOSE_CHANNEL): _P.CONFIRMING,  # change one before confirming
        (_P.CONFIRMING, _E.CONFIRM): _P.DEPLOYING,
        (_P.DEPLOYING, _E.RUN_STEP): _P.DEPLOYING,  # (2)
        (_P.DEPLOYING, _E.STEP_DONE): _P.DEPLOYING,  # (2) (3)
        (_P.DEPLOYING, _E.STEP_FAILED): _P.STEP_FAILED,  # (2)
        (_P.DEPLOYING, _E.SKIP): _P.DEPLOYING,  # (2) (3)
        (_P.STEP_FAILED, _E.SKIP): _P.DEPLOYING,  # (3)
        (_P.STEP_FAILED, _E.RETRY): _P.DEPLOYING,
        (_P.DEPLOYING, _E.COMPLETE): _P.COMPLETED,  # (4)
        **{(phase, _E.CANCEL): _P.CANCELLED for phase in _LIVE},  # (2)
        **{(phase, _E.EXPIRE): _P.EXPIRED for phase in _LIVE},
    }
)
# Special cases, checked by the functions below:
# (1) the channel for the last panel type moves the session on to CONFIRMING.
# (2) while a step is in flight (operation_id set) only STEP_DONE, STEP_FAILED and EXPIRE are
#     accepted; RUN_STEP needs no step in flight and a panel left to deploy.
# (3) STEP_DONE and SKIP advance current_index; past the last panel the service fires COMPLETE.
# (4) COMPLETE is refused while a panel is left.

_IN_FLIGHT_EVENTS = frozenset({_E.STEP_DONE, _E.STEP_FAILED, _E.EXPIRE})


@dataclass(frozen=True)
class WizardState:
    """One setup session, as stored. Fields up to ``started_at`` are the original design's."""

    user_id: int
    guild_id: int
    panel_types: tuple[str, ...]
    #: Choosing: the panel type waiting for a channel. Deploying: the next panel to deploy.
    current_index: int
    completed_panels: tuple[str, ...]
    #: The journal operation of the step in flight (its rollback link); None between steps.
    operation_id: str | None
    started_at: datetime
    last_activity: datetime
    #: When the session expires unless something happens: last_activity + the idle timeout.
    #: None once terminal, so the expiry sweep's index never sees finished sessions.
    expires_at: datetime | None
    phase: WizardPhase
    session_id: str
    #: The chosen channel per panel type.
    channels: Mapping[str, int] = field(default_factory=dict)
    skipped_panels: tuple[str, ...] = ()
    #: The user-safe message of the last failed step, while in STEP_FAILED.
    last_error: str | None = None
    #: Compare-and-swap counter; 0 before the first save.
    version: int = 0

    @property
    def step_in_flight(self) -> bool:
        return self.operation_id is not None

    @property
    def current_panel(self) -> str | None:
        """The panel type the session is working on, or None when past the last one."""
        if self.current_index < len(self.panel_types):
            return self.panel_types[self.current_index]
        return None

    @property
    def remaining(self) -> tuple[str, ...]:
        """The panel types not yet deployed or skipped."""
        handled = set(self.completed_panels) | set(self.skipped_panels)
        return tuple(p for p in self.panel_types if p not in handled)

    def idle_deadline(self, idle_timeout: timedelta) -> datetime:
        return self.last_activity + idle_timeout

    def to_dict(self) -> dict[str, Any]:
        """The parts a store keeps as one JSON document (the rest have columns)."""
        return {
            "panel_types": list(self.panel_types),
            "current_index": self.current_index,
            "completed_panels": list(self.completed_panels),
            "skipped_panels": list(self.skipped_panels),
            "channels": dict(self.channels),
            "operation_id": self.operation_id,
            "last_error": self.last_error,
        }

    def with_data(self, data: Mapping[str, Any]) -> WizardState:
        """This state with the parts ``to_dict`` wrote restored."""
        return replace(
            self,
            panel_types=tuple(str(p) for p in data["panel_types"]),
            current_index=int(data["current_index"]),
            completed_panels=tuple(str(p) for p in data["completed_panels"]),
            skipped_panels=tuple(str(p) for p in data["skipped_panels"]),
            channels={str(k): int(v) for k, v in data["channels"].items()},
            operation_id=data.get("operation_id"),
            last_error=data.get("last_error"),
        )


# ---------------------------------------------------------------------------------------------
# Transitions. Each checks the table and its special case, then returns a new state.


def _next_phase(state: WizardState, event: WizardEvent) -> WizardPhase:
    if state.step_in_flight and event not in _IN_FLIGHT_EVENTS:
        raise IllegalTransition(f"{state.phase.value} (a step is running)", event.value)
    if not state.step_in_flight and event in (_E.STEP_DONE, _E.STEP_FAILED):
        raise IllegalTransition(f"{state.phase.value} (no step is running)", event.value)
    try:
        return TRANSITIONS[(state.phase, event)]
    except KeyError:
        raise IllegalTransition(state.phase.value, event.value) from None


def _advanced(state: WizardState) -> int:
    return state.current_index + 1


def start(
    *,
    session_id: str,
    user_id: int,
    guild_id: int,
    panel_types: Sequence[str],
    now: datetime,
    expires_at: datetime,
) -> WizardState:
    """A started session for already validated, non-empty, distinct ``panel_types``."""
    if not panel_types or len(set(panel_types)) != len(panel_types):
        raise ValueError("start needs distinct panel types, at least one")
    new = WizardState(
        user_id=user_id,
        guild_id=guild_id,
        panel_types=tuple(panel_types),
        current_index=0,
        completed_panels=(),
        operation_id=None,
        started_at=now,
        last_activity=now,
        expires_at=expires_at,
        phase=WizardPhase.NEW,
        session_id=session_id,
    )
    return replace(new, phase=_next_phase(new, _E.START))


def choose_channel(state: WizardState, panel_type: str, channel_id: int) -> WizardState:
    """Record ``channel_id`` for ``panel_type``; the last one moves on to CONFIRMING."""
    phase = _next_phase(state, _E.CHOOSE_CHANNEL)
    if panel_type not in state.panel_types:
        raise IllegalTransition(
            state.phase.value, f"choose a channel for '{quote_input(panel_type)}'"
        )
    channels = {**state.channels, panel_type: channel_id}
    index = state.current_index
    if phase is _P.CHOOSING_CHANNELS:
        while index < len(state.panel_types) and state.panel_types[index] in channels:
            index += 1
        if index == len(state.panel_types):
            phase, index = _P.CONFIRMING, 0
    return replace(state, phase=phase, channels=channels, current_index=index)


def confirm(state: WizardState) -> WizardState:
    return replace(state, phase=_next_phase(state, _E.CONFIRM), current_index=0)


def run_step(state: WizardState, operation_id: str) -> WizardState:
    """Claim the current panel's deploy; ``operation_id`` is the journal id it will use."""
    phase = _next_phase(state, _E.RUN_STEP)
    if state.current_panel is None:
        raise IllegalTransition(f"{state.phase.value} (no panel left)", _E.RUN_STEP.value)
    return replace(state, phase=phase, operation_id=operation_id, last_error=None)


def step_done(state: WizardState) -> WizardState:
    phase = _next_phase(state, _E.STEP_DONE)
    panel = state.panel_types[state.current_index]
    return replace(
        state,
        phase=phase,
        operation_id=None,
        completed_panels=(*state.completed_panels, panel),
        current_index=_advanced(state),
    )


def step_failed(state: WizardState, reason: str) -> WizardState:
    phase = _next_phase(state, _E.STEP_FAILED)
    return replace(state, phase=phase, operation_id=None, last_error=reason)


def skip(state: WizardState) -> WizardState:
    phase = _next_phase(state, _E.SKIP)
    panel = state.current_panel
    if panel is None:
        raise IllegalTransition(f"{state.phase.value} (no panel left)", _E.SKIP.value)
    return replace(
        state,
        phase=phase,
        skipped_panels=(*state.skipped_panels, panel),
        current_index=_advanced(state),
        last_error=None,
    )


def retry(state: WizardState) -> WizardState:
    return replace(state, phase=_next_phase(state, _E.RETRY), last_error=None)


def complete(state: WizardState) -> WizardState:
    phase = _next_phase(state, _E.COMPLETE)
    if state.current_panel is not None:
        raise IllegalTransition(f"{state.phase.value} (panels left)", _E.COMPLETE.value)
    return replace(state, phase=phase, expires_at=None)


def cancel(state: WizardState) -> WizardState:
    return replace(state, phase=_next_phase(state, _E.CANCEL), expires_at=None)


def expire(state: WizardState) -> WizardState:
    """Close an idle session; a step still marked in flight is left to the journal's recovery."""
    return replace(state, phase=_next_phase(state, _E.EXPIRE), expires_at=None, operation_id=None)


# ---------------------------------------------------------------------------------------------
# The guild lease: one setup per guild, across bot processes.


@dataclass(frozen=True)
class Lease:
    """The right to run setup in one guild, held by one session until it ends or lapses."""

    guild_id: int
    #: The session holding it (its session id).
    owner: str
    #: The admin running that session.
    holder_user_id: int
    acquired_at: datetime
    #: The holder's last sign of life.
    heartbeat_at: datetime
    #: After this the lease is free for anyone: a crashed holder loses it on its own.
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


def mention(user_id: int) -> str:
    """A Discord user mention."""
    return f"<@{user_id}>"


class LeaseHeld(ConflictError):
    """Setup is already running in the guild; ``lease`` says by whom and since when."""

    def __init__(self, lease: Lease, *, reference: str | None = None) -> None:
        since = lease.heartbeat_at.astimezone(timezone.utc)
        idle_since = int(since.timestamp())
        super().__init__(
            f"Setup is already in progress in this server, run by {mention(lease.holder_user_id)}"
            f", idle since <t:{idle_since}:R> ({since:%Y-%m-%d %H:%M} UTC). "
            "Wait for it to finish or expire, or ask them to cancel it.",
            reference=reference,
        )
        self.lease = lease
