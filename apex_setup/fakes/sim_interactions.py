"""Interactions (button presses, select choices, slash commands, modal submits) and their clocks.

Discord's rules, as its documentation and observed answers state them:

- The first response (a message, a deferral, an update, a modal) must arrive within 3 seconds of
  the interaction's creation; later, or for an unknown id, Discord answers 10062 Unknown
  interaction. A second first response is 40060 Interaction has already been acknowledged.
- The token then lasts 15 minutes for follow-ups and edits of the original response. After that,
  or when no first response came within 3 seconds (the token is invalidated), the webhook routes
  answer 401 with 50027 Invalid Webhook Token.
- Follow-ups and original-response edits before any first response answer 10015 Unknown Webhook.
- After a deferred message response, the first follow-up fills the deferred ("thinking") message
  instead of posting a new one, and inherits its ephemerality.

The acknowledgement is a small state machine: ``TRANSITIONS`` maps (state, event) to the next
state; an event that the current state refuses raises the Discord error for it and leaves the
state unchanged.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apex_setup.core.errors import DiscordFailure
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.sim_errors import (
    interaction_acknowledged,
    invalid_form_body,
    invalid_webhook_token,
    unknown_interaction,
    unknown_webhook,
)

__all__ = [
    "RESPONSE_DEADLINE",
    "TOKEN_LIFETIME",
    "TRANSITIONS",
    "AckState",
    "ComponentType",
    "Interaction",
    "InteractionData",
    "InteractionResponse",
    "InteractionType",
    "OptionValue",
    "ResponseKind",
    "check_first_response",
    "check_token",
]

#: Seconds from creation within which the first response must arrive.
RESPONSE_DEADLINE = timedelta(seconds=3)
#: Seconds from creation during which the token accepts follow-ups and edits.
TOKEN_LIFETIME = timedelta(minutes=15)

OptionValue = str | int | float | bool


class InteractionType(enum.IntEnum):
    """Discord's interaction types (the values are Discord's)."""

    APPLICATION_COMMAND = 2  # a slash command
    MESSAGE_COMPONENT = 3  # a button press or a select choice
    MODAL_SUBMIT = 5  # a submitted modal


class ComponentType(enum.IntEnum):
    BUTTON = 2  # a button
    STRING_SELECT = 3  # a select menu of strings


class ResponseKind(enum.Enum):
    """What the bot answered; the first five are first responses, the last two use the token."""

    MESSAGE = "message"  # CHANNEL_MESSAGE_WITH_SOURCE (4)
    DEFERRED_MESSAGE = "deferred_message"  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE (5)
    UPDATE_MESSAGE = "update_message"  # UPDATE_MESSAGE (7), components only
    DEFERRED_UPDATE = "deferred_update"  # DEFERRED_UPDATE_MESSAGE (6), components only
    MODAL = "modal"  # MODAL (9), not for modal submits
    FOLLOWUP = "followup"  # a follow-up message through the token
    EDIT_ORIGINAL = "edit_original"  # an edit of the original response through the token


class AckState(enum.Enum):
    PENDING = "pending"  # created, nothing answered yet
    ACKNOWLEDGED = "acknowledged"  # a first response was given


#: (state, first-response event) -> next state. Anything missing is refused with 40060.
TRANSITIONS: Mapping[tuple[AckState, ResponseKind], AckState] = {
    (AckState.PENDING, ResponseKind.MESSAGE): AckState.ACKNOWLEDGED,
    (AckState.PENDING, ResponseKind.DEFERRED_MESSAGE): AckState.ACKNOWLEDGED,
    (AckState.PENDING, ResponseKind.UPDATE_MESSAGE): AckState.ACKNOWLEDGED,
    (AckState.PENDING, ResponseKind.DEFERRED_UPDATE): AckState.ACKNOWLEDGED,
    (AckState.PENDING, ResponseKind.MODAL): AckState.ACKNOWLEDGED,
}

# Response kinds each interaction type may answer with (Discord refuses others with 50035).
_ALLOWED: Mapping[InteractionType, frozenset[ResponseKind]] = {
    InteractionType.APPLICATION_COMMAND: frozenset(
        {ResponseKind.MESSAGE, ResponseKind.DEFERRED_MESSAGE, ResponseKind.MODAL}
    ),
    InteractionType.MESSAGE_COMPONENT: frozenset(
        {
            ResponseKind.MESSAGE,
            ResponseKind.DEFERRED_MESSAGE,
            ResponseKind.UPDATE_MESSAGE,
            ResponseKind.DEFERRED_UPDATE,
            ResponseKind.MODAL,
        }
    ),
    InteractionType.MODAL_SUBMIT: frozenset(
        {
            ResponseKind.MESSAGE,
            ResponseKind.DEFERRED_MESSAGE,
            ResponseKind.UPDATE_MESSAGE,
            ResponseKind.DEFERRED_UPDATE,
        }
    ),
}


@dataclass(frozen=True)
class InteractionData:
    """What the user did: the component, the select values, the command or the modal fields."""

    custom_id: str | None = None
    component_type: int | None = None
    values: tuple[str, ...] = ()
    name: str | None = None
    options: Mapping[str, OptionValue] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Interaction:
    """One interaction as the bot receives it."""

    id: int
    token: str
    type: InteractionType
    application_id: int  # the bot user the interaction is for
    user_id: int
    guild_id: int
    channel_id: int
    message_id: int | None  # the message holding the component; None for commands
    data: InteractionData
    created_at: datetime


@dataclass(frozen=True)
class InteractionResponse:
    """One answer the bot gave, for assertions."""

    interaction_id: int
    kind: ResponseKind
    at: datetime
    payload: MessagePayload | None = None
    ephemeral: bool = False
    message_id: int | None = None  # the message created or edited, if any
    modal_custom_id: str | None = None


def check_first_response(
    interaction: Interaction | None, state: AckState, kind: ResponseKind, now: datetime
) -> AckState:
    """The next state for a first response, or the Discord error refusing it."""
    if interaction is None or now - interaction.created_at > RESPONSE_DEADLINE:
        if interaction is not None and state is AckState.ACKNOWLEDGED:
            raise interaction_acknowledged()
        raise unknown_interaction()
    next_state = TRANSITIONS.get((state, kind))
    if next_state is None:
        raise interaction_acknowledged()
    if kind not in _ALLOWED[interaction.type]:
        raise invalid_form_body({"type": "Interaction response type is not valid here."})
    return next_state


def check_token(interaction: Interaction | None, state: AckState, now: datetime) -> None:
    """Raise the Discord error for a follow-up or edit through an unusable token."""
    error: DiscordFailure | None = None
    if interaction is None or now - interaction.created_at > TOKEN_LIFETIME:
        error = invalid_webhook_token()
    elif state is AckState.PENDING:
        if now - interaction.created_at > RESPONSE_DEADLINE:
            error = invalid_webhook_token()
        else:
            error = unknown_webhook()
    if error is not None:
        raise error
