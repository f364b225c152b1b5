"""The setup wizard service: drives ``WizardState`` through storage, the lease and deploys.

Every public method loads a session, applies transitions from ``apex_setup.core.wizard`` and
saves after each one, so a restarted bot continues where the last one stopped.

Invariants:
- Validate first: unknown panel types, bad channel input and illegal events raise before
  anything is saved, sent or leased.
- One live session per guild, across processes: ``start`` takes the guild's lease (owner: the
  session id) before the session is stored; terminal transitions release it. Every input
  extends it by ``lease_ttl``, which defaults to the idle timeout, so an idle but live session
  keeps its guild and a crashed holder's lease lapses on its own.
- Every save is a compare-and-swap on ``version``. A step is claimed (RUN_STEP, with the journal
  operation id it will use) by such a save before anything is deployed, so the same step
  submitted twice deploys once: the second submission loses the swap or finds the claim.
- Each panel is its own atomic operation (``deploy_panel``), which compensates itself on
  failure. Completed panels are never undone by the wizard: cancel and expiry keep them.
- Expiry is measured from ``last_activity`` with the clock port's aware times. Input on a
  timed-out session marks it EXPIRED, releases its lease, writes an audit record and raises
  ``SessionExpired``; ``sweep_expired`` does the same for sessions nobody touches, reading
  only the expired ones through the store's ``expires_at`` index and leaving a session whose
  step is running (a step in flight and a live lease) alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from apex_setup.core import wizard
from apex_setup.core.channel_input import resolve_channel
from apex_setup.core.context import SetupContext
from apex_setup.core.deploy import DeployRequest, DeployResult, deploy_panel
from apex_setup.core.errors import (
    ConflictError,
    IllegalTransition,
    InvalidInput,
    SessionExpired,
    SetupOperationError,
    quote_input,
)
from apex_setup.core.maintenance import SessionRemoval
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.ports import LeaseStore, SessionStore
from apex_setup.core.prerequisites import check_panel_channel
from apex_setup.core.records import AuditRecord, OperationState
from apex_setup.core.wizard import LeaseHeld, WizardPhase, WizardState, mention

__all__ = ["DEFAULT_IDLE_TIMEOUT", "SessionCleaner", "SetupWizard", "StepResult", "SweepReport"]

_log = logging.getLogger(__name__)

#: A session with no input for this long expires.
DEFAULT_IDLE_TIMEOUT = timedelta(minutes=30)
#: At most this many panel types in one session.
MAX_PANELS = 25

_SUCCEEDED = (OperationState.COMMITTED, OperationState.DONE)
_FAILED = (OperationState.ROLLED_BACK, OperationState.NEEDS_MANUAL_CLEANUP)


@dataclass(frozen=True)
class StepResult:
    """What one ``run_next_step`` did."""

    state: WizardState
    panel_type: str
    deployed: DeployResult | None = None
    #: The failure, when the step failed (it was rolled back by its atomic operation).
    error: SetupOperationError | None = None


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    #: Sessions past their expiry whose step is still running; the next sweep looks again.
    running: list[str] = field(default_factory=list)
    #: Sessions that changed between reading and expiring them (someone typed in between).
    raced: list[str] = field(default_factory=list)


class SetupWizard:
    """The multi-step setup of a guild's panels, persisted at every step.

    Args:
        ctx: the ports; ``ctx.clock`` gives every time used here.
        catalogue: the panel types that may be chosen.
        sessions: where sessions live.
        leases: the per-guild lease.
        idle_timeout: a session with no input for this long expires.
        lease_ttl: how long a lease outlives its holder's last sign of life; the idle timeout
            when None. Shorter than the idle timeout would let a second admin in while the
            first one's session is still alive.
    """

    def __init__(
        self,
        ctx: SetupContext,
        catalogue: PanelCatalogue,
        sessions: SessionStore,
        leases: LeaseStore,
        *,
        idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT,
        lease_ttl: timedelta | None = None,
    ) -> None:
        if idle_timeout <= timedelta(0):
            raise ValueError("idle_timeout must be positive")
        self._ctx = ctx
        self._catalogue = catalogue
        self._sessions = sessions
        self._leases = leases
        self.idle_timeout = idle_timeout
        self.lease_ttl = lease_ttl if lease_ttl is not None else idle_timeout

    # -- starting and finding sessions --------------------------------------------------------

    def start(self, guild_id: int, user_id: int, panel_types: Sequence[str]) -> WizardState:
        """Start setup in a guild.

        Raises:
            InvalidInput: no panel types, too many, or an unknown one (the valid ones listed).
            LeaseHeld: setup is already in progress in the guild (a ``ConflictError``).
        """
        # Step 1: validate, before any effect; step 2: take the guild. A refusal is audited.
        now = self._ctx.clock.now()
        session_id = self._ctx.new_id()
        try:
            chosen = self._validate_panel_types(panel_types)
            self._leases.acquire_lease(guild_id, session_id, user_id, now, self.lease_ttl)
        except SetupOperationError as exc:
            self._ctx.write_audit(
                AuditRecord(
                    guild_id=guild_id,
                    user_id=user_id,
                    action="setup_start",
                    outcome="refused",
                    detail=f"setup not started: {exc.user_message}",
                    created_at=now,
                    reference=exc.reference,
                )
            )
            raise

        # Step 3: sessions whose lease lapsed are over; then store the new one.
        try:
            for stale in self._sessions.list_sessions(guild_id):
                if not stale.phase.is_terminal:
                    self._expire(stale, now, reason="replaced by a new setup")
            state = wizard.start(
                session_id=session_id,
                user_id=user_id,
                guild_id=guild_id,
                panel_types=chosen,
                now=now,
                expires_at=now + self.idle_timeout,
            )
            return self._save(state, expected_version=0)
        except BaseException:
            self._leases.release_lease(guild_id, session_id)
            raise

    def resume(self, guild_id: int, user_id: int) -> WizardState:
        """The guild's live session, continued where it was (after a restart too).

        A step that was in flight when the last process died is settled from the journal: a
        committed operation counts as done, a rolled-back or missing one as failed.

        Raises:
            InvalidInput: the guild has no live session.
            LeaseHeld: another admin runs it.
            SessionExpired: it timed out (it is marked expired now).
            ConflictError: its step is still being deployed or recovered.
        """
        live = [s for s in self._sessions.list_sessions(guild_id) if not s.phase.is_terminal]
        if not live:
            raise InvalidInput("There is no setup in progress in this server.", field="session")
        state = self._load_for_input(live[-1].session_id, user_id)
        now = self._ctx.clock.now()
        self._leases.acquire_lease(guild_id, state.session_id, user_id, now, self.lease_ttl)
        if state.operation_id is not None:
            state = self._settle_in_flight(state)
        if state.phase.is_terminal:  # the settled step was the last one
            return state
        return self._touch(state)

    def status(self, session_id: str) -> WizardState:
        """The session as stored; read only (an idle session is expired by input or the sweep).

        Raises:
            InvalidInput: there is no such session.
        """
        state = self._sessions.get_session(session_id)
        if state is None:
            raise InvalidInput("There is no such setup session.", field="session")
        return state

    def list_sessions(self, guild_id: int | None = None) -> Sequence[WizardState]:
        return self._sessions.list_sessions(guild_id)

    def is_idle_expired(self, state: WizardState, now: datetime | None = None) -> bool:
        """Whether ``state`` has been idle for the timeout (whatever its stored phase)."""
        moment = now if now is not None else self._ctx.clock.now()
        return not state.phase.is_terminal and moment >= state.idle_deadline(self.idle_timeout)

    # -- input ----------------------------------------------------------------------------------

    def choose_channel(
        self, session_id: str, user_id: int, raw: str, *, panel_type: str | None = None
    ) -> WizardState:
        """Give a channel for ``panel_type`` (the one being asked for when None).

        Raises:
            InvalidInput: the channel input names no usable text channel (choices listed), or
                ``panel_type`` is not part of this session.
            MissingPermissions: the bot cannot post panels there (every missing one named).
            IllegalTransition: the session is not choosing channels any more.
        """
        state = self._load_for_input(session_id, user_id)
        target = panel_type if panel_type is not None else state.current_panel
        if target is None or state.phase not in (
            WizardPhase.CHOOSING_CHANNELS,
            WizardPhase.CONFIRMING,
        ):
            raise IllegalTransition(state.phase.value, wizard.WizardEvent.CHOOSE_CHANNEL.value)
        if target not in state.panel_types:
            raise InvalidInput(
                f"'{quote_input(target)}' is not part of this setup; it has: "
                f"{', '.join(state.panel_types)}.",
                field="panel_type",
                choices=state.panel_types,
            )
        channel = resolve_channel(self._ctx, state.guild_id, raw)
        check_panel_channel(self._ctx, state.guild_id, channel.id)
        return self._advance(state, wizard.choose_channel(state, target, channel.id))

    def run_plan(
        self, guild_id: int, user_id: int, assignments: Sequence[tuple[str, str]]
    ) -> list[StepResult]:
        """The whole wizard in one call: ``assignments`` pairs a panel type with channel input.

        Every channel is checked before anything is deployed; a bad one cancels the session
        and raises, with nothing deployed.
        """
        state = self.start(guild_id, user_id, [panel_type for panel_type, _ in assignments])
        try:
            for panel_type, raw in assignments:
                name = self._catalogue.get(panel_type).panel_type
                self.choose_channel(state.session_id, user_id, raw, panel_type=name)
            self.confirm(state.session_id, user_id)
        except SetupOperationError:
            self.cancel(state.session_id, user_id)
            raise
        return self.run_all(state.session_id, user_id)

    def confirm(self, session_id: str, user_id: int) -> WizardState:
        state = self._load_for_input(session_id, user_id)
        return self._advance(state, wizard.confirm(state))

    def skip(self, session_id: str, user_id: int) -> WizardState:
        """Leave the current panel out; completes the session after the last one."""
        state = self._load_for_input(session_id, user_id)
        return self._finish_if_done(self._advance(state, wizard.skip(state)))

    def retry(self, session_id: str, user_id: int) -> WizardState:
        """Go back to deploying the panel that failed; ``run_next_step`` then tries it again."""
        state = self._load_for_input(session_id, user_id)
        return self._advance(state, wizard.retry(state))

    def cancel(self, session_id: str, user_id: int) -> WizardState:
        """Stop the session; panels already deployed stay. Refused while a step is running."""
        state = self._load_for_input(session_id, user_id)
        cancelled = self._advance(state, wizard.cancel(state))
        self._leases.release_lease(state.guild_id, state.session_id)
        self._audit(cancelled, "setup_cancelled", "cancelled", _summary(cancelled))
        return cancelled

    def run_next_step(
        self, session_id: str, user_id: int, *, expected_version: int | None = None
    ) -> StepResult:
        """Deploy the current panel as one atomic operation.

        Pass the ``version`` the admin's button was rendered with as ``expected_version``: a
        second click on the same button then raises instead of deploying again.

        Returns:
            The outcome; a failed deploy is not raised but reported in ``error`` (the session
            is then STEP_FAILED and accepts retry, skip or cancel).

        Raises:
            ConflictError: this step was already submitted (stale version or lost claim).
            IllegalTransition: the session is not deploying, or a step is running.
        """
        state = self._load_for_input(session_id, user_id)
        if expected_version is not None and state.version != expected_version:
            raise _already_submitted()
        panel_type = state.current_panel
        operation_id = self._ctx.new_id()

        # Step 1: claim the step; the loser of a double submit stops here.
        claimed = wizard.run_step(state, operation_id)
        assert panel_type is not None  # run_step refuses when no panel is left
        try:
            claimed = self._advance(state, claimed)
        except ConflictError as exc:
            current = self._sessions.get_session(session_id)
            if current is not None and current.version != state.version:
                raise _already_submitted() from exc
            raise

        # Step 2: deploy, as its own atomic operation with the claimed journal id.
        request = DeployRequest(
            guild_id=claimed.guild_id,
            panel_type=panel_type,
            channel_id=claimed.channels[panel_type],
            user_id=claimed.user_id,
        )
        ctx = replace(self._ctx, new_id=_first_then(operation_id, self._ctx.new_id))
        try:
            deployed = deploy_panel(ctx, self._catalogue, request)
        except SetupOperationError as exc:
            failed = self._save_after_step(claimed, wizard.step_failed(claimed, exc.user_message))
            return StepResult(failed, panel_type, error=exc)
        except Exception:
            self._save_after_step(
                claimed, wizard.step_failed(claimed, "An unexpected error stopped this step.")
            )
            raise

        # Step 3: record it, and finish after the last panel.
        done = self._save_after_step(claimed, wizard.step_done(claimed))
        return StepResult(self._finish_if_done(done), panel_type, deployed=deployed)

    def run_all(self, session_id: str, user_id: int) -> list[StepResult]:
        """Deploy every remaining panel in order; stops at the first failure."""
        results: list[StepResult] = []
        while True:
            state = self._load_for_input(session_id, user_id)
            if state.phase is not WizardPhase.DEPLOYING or state.current_panel is None:
                return results
            result = self.run_next_step(session_id, user_id, expected_version=state.version)
            results.append(result)
            if result.error is not None or result.state.phase is not WizardPhase.DEPLOYING:
                return results

    # -- expiry ---------------------------------------------------------------------------------

    def sweep_expired(self, now: datetime, *, limit: int = 500) -> SweepReport:
        """Expire up to ``limit`` sessions idle past their deadline; costs O(expired).

        A session whose step is running (a step in flight and its lease still live) is left
        alone. Each expiry releases the lease and writes an audit record.
        """
        report = SweepReport()
        for state in self._sessions.expired_sessions(now, limit=limit):
            if state.operation_id is not None and self._lease_live(state, now):
                report.running.append(state.session_id)
                continue
            try:
                self._expire(state, now, reason="idle")
            except ConflictError:
                report.raced.append(state.session_id)
                continue
            report.expired.append(state.session_id)
        if report.expired:
            _log.info("expired %d idle setup sessions", len(report.expired))
        return report

    # -- internals ------------------------------------------------------------------------------

    def _validate_panel_types(self, panel_types: Sequence[str]) -> tuple[str, ...]:
        valid = ", ".join(self._catalogue.names())
        if not panel_types:
            raise InvalidInput(
                f"Choose at least one panel type: {valid}.",
                field="panel_types",
                choices=self._catalogue.names(),
            )
        if len(panel_types) > MAX_PANELS:
            raise InvalidInput(f"Choose at most {MAX_PANELS} panel types.", field="panel_types")
        chosen: list[str] = []
        for raw in panel_types:
            name = self._catalogue.get(raw).panel_type  # InvalidInput listing the valid ones
            if name not in chosen:
                chosen.append(name)
        return tuple(chosen)

    def _load_for_input(self, session_id: str, user_id: int) -> WizardState:
        """The session, if ``user_id`` may give it input now; expires it when it timed out."""
        state = self._sessions.get_session(session_id)
        if state is None:
            raise InvalidInput("There is no such setup session.", field="session")
        if state.phase is WizardPhase.EXPIRED:
            raise SessionExpired("This setup session expired; start a new one.")

        # Expiry first, whoever asks: a timed-out session blocks nobody, even before the sweep.
        now = self._ctx.clock.now()
        if self.is_idle_expired(state, now) and not (
            state.operation_id is not None and self._lease_live(state, now)
        ):
            try:
                self._expire(state, now, reason="idle")
            except ConflictError:
                _log.debug("session %s changed while being expired", session_id)
            minutes = int(self.idle_timeout.total_seconds() // 60)
            raise SessionExpired(
                f"This setup session expired after {minutes} minutes without activity; "
                "panels already deployed stay. Start a new one to continue."
            )

        if user_id != state.user_id:
            lease = self._leases.get_lease(state.guild_id)
            if lease is not None and lease.owner == state.session_id and lease.is_live(now):
                raise LeaseHeld(lease)
            raise ConflictError(
                f"This setup session belongs to {mention(state.user_id)}.",
            )
        return state

    def _lease_live(self, state: WizardState, now: datetime) -> bool:
        lease = self._leases.get_lease(state.guild_id)
        return lease is not None and lease.owner == state.session_id and lease.is_live(now)

    def _save(self, state: WizardState, *, expected_version: int) -> WizardState:
        saved = replace(state, version=expected_version + 1)
        self._sessions.save_session(saved, expected_version=expected_version)
        return saved

    def _advance(self, old: WizardState, new: WizardState) -> WizardState:
        """Save ``new`` over ``old`` as input: activity now, deadline and lease extended."""
        now = self._ctx.clock.now()
        if not new.phase.is_terminal:
            new = replace(new, last_activity=now, expires_at=now + self.idle_timeout)
            self._leases.heartbeat_lease(new.guild_id, new.session_id, now, self.lease_ttl)
        else:
            new = replace(new, last_activity=now)
        return self._save(new, expected_version=old.version)

    def _touch(self, state: WizardState) -> WizardState:
        return self._advance(state, state)

    def _save_after_step(self, claimed: WizardState, new: WizardState) -> WizardState:
        try:
            return self._advance(claimed, new)
        except ConflictError:
            # Only a process that took over a lapsed lease can get here; the journal and the
            # panel rows stay right, the session just misses this step's bookkeeping.
            _log.warning(
                "session %s changed while its step %s ran", claimed.session_id, claimed.operation_id
            )
            raise

    def _finish_if_done(self, state: WizardState) -> WizardState:
        if state.phase is not WizardPhase.DEPLOYING or state.current_panel is not None:
            return state
        completed = self._advance(state, wizard.complete(state))
        self._leases.release_lease(state.guild_id, state.session_id)
        self._audit(completed, "setup_completed", "ok", _summary(completed))
        return completed

    def _expire(self, state: WizardState, now: datetime, *, reason: str) -> WizardState:
        saved = self._save(wizard.expire(state), expected_version=state.version)
        self._leases.release_lease(state.guild_id, state.session_id)
        idle = now - state.last_activity
        self._audit(
            saved,
            "expiry",
            "expired",
            f"setup session {state.session_id} expired ({reason}, idle {_minutes(idle)}); "
            + _summary(saved),
            now=now,
        )
        return saved

    def _settle_in_flight(self, state: WizardState) -> WizardState:
        """Finish the bookkeeping of a step a dead process left in flight."""
        assert state.operation_id is not None
        operation = self._ctx.journal.get_operation(state.operation_id)
        if operation is not None and operation.state in (
            OperationState.PENDING,
            OperationState.COMPENSATING,
        ):
            raise ConflictError(
                "A panel of this setup is still being deployed or rolled back; try again soon."
            )
        if operation is not None and (
            operation.state in _SUCCEEDED or self._panel_written_by(state, operation.id)
        ):
            # NEEDS_MANUAL_CLEANUP after a commit (the old message could not be retired) still
            # means the new panel is live: the row is this operation's.
            return self._finish_if_done(self._save_after_step(state, wizard.step_done(state)))
        reason = "The bot restarted during this step; it was rolled back."
        if operation is not None and operation.state in _FAILED:
            reason = "This step failed and was rolled back."
        return self._save_after_step(state, wizard.step_failed(state, reason))

    def _panel_written_by(self, state: WizardState, operation_id: str) -> bool:
        panel_type = state.current_panel
        if panel_type is None:
            return False
        row = self._ctx.panels.get_panel(state.guild_id, panel_type)
        return row is not None and row.operation_id == operation_id

    def _audit(
        self,
        state: WizardState,
        action: str,
        outcome: str,
        detail: str,
        *,
        now: datetime | None = None,
    ) -> None:
        self._ctx.write_audit(
            AuditRecord(
                guild_id=state.guild_id,
                user_id=state.user_id,
                action=action,
                outcome=outcome,
                detail=detail,
                created_at=now if now is not None else self._ctx.clock.now(),
            )
        )


def _first_then(first: str, then: Callable[[], str]) -> Callable[[], str]:
    """An id source that gives ``first`` once, then defers to ``then``."""
    pending = [first]

    def new_id() -> str:
        return pending.pop() if pending else then()

    return new_id


def _already_submitted() -> ConflictError:
    return ConflictError(
        "This step was already submitted; it runs once. Refresh the setup to see where it is."
    )


def _summary(state: WizardState) -> str:
    done = ", ".join(state.completed_panels) or "none"
    text = f"deployed: {done}"
    if state.skipped_panels:
        text += f"; skipped: {', '.join(state.skipped_panels)}"
    if state.remaining:
        text += f"; not deployed: {', '.join(state.remaining)}"
    return text


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


class SessionCleaner:
    """Removes stored setup sessions for the cleanup commands, in two steps (preview, remove).

    Implements ``apex_setup.core.maintenance.SessionSweeper``. With ``only_expired`` it offers
    finished sessions (completed, cancelled, expired) and live ones idle past the timeout;
    otherwise every session of the guild. Either way a session whose step is running is never
    offered, and a session that changed after the preview is left alone.
    """

    def __init__(self, wizard: SetupWizard, *, only_expired: bool) -> None:
        self._wizard = wizard
        self._only_expired = only_expired

    def _removable(self, state: WizardState, now: datetime) -> bool:
        if state.operation_id is not None and self._wizard._lease_live(state, now):
            return False  # a step is running
        if not self._only_expired:
            return True
        return state.phase.is_terminal or self._wizard.is_idle_expired(state, now)

    def preview_sessions(self, guild_id: int) -> Sequence[SessionRemoval]:
        now = self._wizard._ctx.clock.now()
        return [
            SessionRemoval(
                guild_id=state.guild_id,
                user_id=state.user_id,
                last_activity=state.last_activity,
                description=(
                    f"setup session of {mention(state.user_id)} ({state.phase.value}, "
                    f"{len(state.completed_panels)}/{len(state.panel_types)} panels done)"
                ),
                session_id=state.session_id,
                version=state.version,
            )
            for state in self._wizard.list_sessions(guild_id)
            if self._removable(state, now)
        ]

    def remove_sessions(self, removals: Sequence[SessionRemoval]) -> Sequence[SessionRemoval]:
        wizard = self._wizard
        now = wizard._ctx.clock.now()
        removed: list[SessionRemoval] = []
        for removal in removals:
            state = wizard._sessions.get_session(removal.session_id)
            if state is None or state.version != removal.version or not self._removable(state, now):
                _log.debug("session %s changed since the preview; kept", removal.session_id)
                continue
            wizard._sessions.delete_sessions([state.session_id])
            wizard._leases.release_lease(state.guild_id, state.session_id)
            removed.append(removal)
        return removed
