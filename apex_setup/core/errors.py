"""The package's errors: one root, split by who is at fault.

    SetupOperationError                 root; code "setup_failed"
    ├── InvalidInput                    the caller's input was wrong           "invalid_input"
    ├── MissingPermissions              the bot lacks Discord permissions     "missing_permissions"
    ├── DiscordFailure                  Discord answered with an error        "discord_error"
    │   ├── DiscordUnavailable          transient: 429 or 5xx, worth a retry  "discord_unavailable"
    │   ├── DiscordForbidden            403 (50013, 50001)                    "discord_forbidden"
    │   ├── DiscordNotFound             404 (10003, 10008, 10011, ...)        "discord_not_found"
    │   └── DiscordRejected             400 and other refusals (50035, ...)   "discord_rejected"
    ├── StorageFailure                  the database failed or is unreachable "storage_error"
    ├── ConflictError                   someone else changed the same thing   "conflict"
    │   └── OperationTakenOver          another process claimed the operation "operation_taken_over"
    ├── SessionExpired                  a setup session timed out             "session_expired"
    └── IllegalTransition               an event the current state refuses    "illegal_transition"

Invariant: ``str(error)`` and ``error.user_message`` never contain exception text, tracebacks
or SQL. The technical cause travels as ``__cause__`` (``raise ... from exc``) and reaches the
logs only. Every error carries a ``reference`` id that the log line repeats, so a user can quote
it to the bot's owner.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from apex_setup.core.records import RollbackInfo, RollbackReport

__all__ = [
    "ConflictError",
    "DiscordFailure",
    "DiscordForbidden",
    "DiscordNotFound",
    "DiscordRejected",
    "DiscordUnavailable",
    "IllegalTransition",
    "InvalidInput",
    "MissingPermissions",
    "OperationTakenOver",
    "SessionExpired",
    "SetupOperationError",
    "StorageFailure",
    "lease_lost",
    "new_reference",
    "operation_taken_over",
    "panel_conflict",
    "quote_input",
    "session_conflict",
]


def quote_input(raw: str, limit: int = 40) -> str:
    """User input as an error message may echo it: cut to ``limit`` characters, and with every
    ``@`` followed by a zero-width space, so an echoed ``@everyone`` or ``<@&id>`` pings nobody."""
    text = raw[:limit]
    return text.replace("@", "@\u200b")


def panel_conflict(panel_type: str) -> ConflictError:
    """What a store raises when a panel write loses a race."""
    return ConflictError(
        f"Someone else changed the {panel_type} panel at the same time; nothing was saved. "
        "Please try again."
    )


def session_conflict() -> ConflictError:
    """What a store raises when a session save loses its compare-and-swap."""
    return ConflictError(
        "This setup session was changed at the same time by another action; nothing was saved."
    )


def lease_lost() -> ConflictError:
    """What a store raises when a lease holder finds the lease is no longer its own."""
    return ConflictError("This setup no longer holds the server's setup lease.")


def operation_taken_over() -> OperationTakenOver:
    """What a store raises when an operation's compare-and-swap finds it changed."""
    return OperationTakenOver(
        "This operation was taken over by another process; it will be finished there."
    )


def new_reference() -> str:
    """A short id a user can quote and an operator can grep the logs for."""
    return secrets.token_hex(4)


class SetupOperationError(Exception):
    """Root of every error apex-setup raises on purpose.

    Args:
        message: a sentence that is safe to show a Discord user.
        rollback_info: the step that failed, when one did.
    """

    code: ClassVar[str] = "setup_failed"

    def __init__(
        self,
        message: str,
        rollback_info: RollbackInfo | None = None,
        *,
        reference: str | None = None,
    ) -> None:
        super().__init__(message)
        self.user_message = message
        self.rollback_info = rollback_info
        self.reference = reference or new_reference()
        # Filled in by the atomic operation when it compensated after this error.
        self.rollback_report: RollbackReport | None = None

    def __str__(self) -> str:
        return self.user_message

    def user_text(self) -> str:
        """The message with its reference id, as a Discord reply would show it."""
        text = f"{self.user_message} (reference {self.reference})"
        report = self.rollback_report
        if report is not None:
            text += f"\n{report.summary()}"
        return text


class InvalidInput(SetupOperationError):
    """The caller's input was wrong; ``field`` names what, ``choices`` lists what is valid."""

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        choices: tuple[str, ...] = (),
        reference: str | None = None,
    ) -> None:
        super().__init__(message, reference=reference)
        self.field = field
        self.choices = choices


class MissingPermissions(SetupOperationError):
    """The bot lacks permissions; every missing one is named at once."""

    code = "missing_permissions"

    def __init__(
        self,
        missing: tuple[str, ...],
        *,
        where: str,
        reference: str | None = None,
    ) -> None:
        names = ", ".join(missing)
        super().__init__(
            f"The bot is missing permissions in {where}: {names}.", reference=reference
        )
        self.missing = missing
        self.where = where


class DiscordFailure(SetupOperationError):
    """Discord answered with an error; ``status`` and ``discord_code`` are Discord's own."""

    code = "discord_error"
    #: Whether retrying the same request later may succeed.
    transient: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        discord_code: int = 0,
        retry_after: float | None = None,
        errors: dict[str, str] | None = None,
        reference: str | None = None,
    ) -> None:
        super().__init__(message, reference=reference)
        self.status = status
        self.discord_code = discord_code
        self.retry_after = retry_after
        #: For Invalid Form Body (50035): the path of each bad field and what is wrong with it.
        self.errors = errors or {}


class DiscordUnavailable(DiscordFailure):
    """A rate limit (429) or a server error (5xx): retry after a while."""

    code = "discord_unavailable"
    transient = True


class DiscordForbidden(DiscordFailure):
    """403: Missing Permissions (50013) or Missing Access (50001)."""

    code = "discord_forbidden"


class DiscordNotFound(DiscordFailure):
    """404: the channel, message, role or interaction does not exist (any more)."""

    code = "discord_not_found"


class DiscordRejected(DiscordFailure):
    """400 and other refusals, such as Invalid Form Body (50035) or a maximum reached."""

    code = "discord_rejected"


class StorageFailure(SetupOperationError):
    """The database failed or could not be reached."""

    code = "storage_error"


class ConflictError(SetupOperationError):
    """Another operation changed the same thing first (a lost race, a held lease)."""

    code = "conflict"


class OperationTakenOver(ConflictError):
    """The operation's stored state changed under us: a recovery claimed it, or it finished."""

    code = "operation_taken_over"


class SessionExpired(SetupOperationError):
    """A setup session was idle too long and has been closed."""

    code = "session_expired"


class IllegalTransition(SetupOperationError):
    """The current state does not accept this event; the state is left unchanged."""

    code = "illegal_transition"

    def __init__(self, state: str, event: str, *, reference: str | None = None) -> None:
        super().__init__(
            f"This step is not possible now: '{event}' is not allowed while the setup is "
            f"'{state}'.",
            reference=reference,
        )
        self.state = state
        self.event = event
