"""The simulator's refusals: Discord's JSON codes and the core errors that carry them.

Invariants:
- Every refusal the simulator makes on the bot's behalf is one of the core's ``Discord*`` errors,
  with the HTTP status and JSON code Discord itself would answer, and Discord's own short message
  (never a traceback, never an id).
- Misuse of the simulator by a test (an unknown id in world building, a click on a button that
  is not there) is not a Discord answer: it raises ``SimulatorUsageError`` instead, so a test
  cannot mistake its own mistake for a behaviour of the bot.
"""

from __future__ import annotations

import enum

from apex_setup.core.errors import (
    DiscordForbidden,
    DiscordNotFound,
    DiscordRejected,
    DiscordUnavailable,
)

__all__ = [
    "ImpossibleUserAction",
    "JsonCode",
    "SimulatorUsageError",
    "cannot_edit_others",
    "empty_message",
    "interaction_acknowledged",
    "invalid_form_body",
    "invalid_role",
    "invalid_webhook_token",
    "max_channels",
    "max_roles",
    "missing_access",
    "missing_permissions",
    "non_text_channel",
    "rate_limited",
    "unknown_channel",
    "unknown_guild",
    "unknown_interaction",
    "unknown_message",
    "unknown_role",
    "unknown_webhook",
]


class SimulatorUsageError(ValueError):
    """A test used the simulator wrongly (an unknown id, a structurally impossible world)."""


class ImpossibleUserAction(SimulatorUsageError):
    """A simulated user tried something Discord's client would not let them do."""


class JsonCode(enum.IntEnum):
    """Discord's JSON error codes that the simulator answers with."""

    UNKNOWN_CHANNEL = 10003  # the channel does not exist (any more)
    UNKNOWN_GUILD = 10004  # the guild does not exist
    UNKNOWN_MESSAGE = 10008  # the message does not exist (any more)
    UNKNOWN_ROLE = 10011  # the role does not exist
    UNKNOWN_WEBHOOK = 10015  # an interaction webhook used before the interaction was answered
    UNKNOWN_INTERACTION = 10062  # expired (3 s without answer) or never existed
    MAX_ROLES = 30005  # 250 roles in the guild
    MAX_CHANNELS = 30013  # 500 channels in the guild
    INTERACTION_ACKNOWLEDGED = 40060  # a second initial response
    MISSING_ACCESS = 50001  # the bot cannot see the channel or guild
    CANNOT_EDIT_OTHERS = 50005  # editing a message someone else wrote
    EMPTY_MESSAGE = 50006  # no content, embeds or components
    NON_TEXT_CHANNEL = 50008  # sending into a category or voice channel
    MISSING_PERMISSIONS = 50013  # the bot lacks a permission
    INVALID_WEBHOOK_TOKEN = 50027  # the interaction token expired (15 min)
    INVALID_ROLE = 50028  # a role that cannot be used that way (@everyone)
    INVALID_FORM_BODY = 50035  # a field is malformed or too long


def unknown_channel() -> DiscordNotFound:
    return DiscordNotFound("Unknown Channel", status=404, discord_code=JsonCode.UNKNOWN_CHANNEL)


def unknown_guild() -> DiscordNotFound:
    return DiscordNotFound("Unknown Guild", status=404, discord_code=JsonCode.UNKNOWN_GUILD)


def unknown_message() -> DiscordNotFound:
    return DiscordNotFound("Unknown Message", status=404, discord_code=JsonCode.UNKNOWN_MESSAGE)


def unknown_role() -> DiscordNotFound:
    return DiscordNotFound("Unknown Role", status=404, discord_code=JsonCode.UNKNOWN_ROLE)


def unknown_webhook() -> DiscordNotFound:
    return DiscordNotFound("Unknown Webhook", status=404, discord_code=JsonCode.UNKNOWN_WEBHOOK)


def unknown_interaction() -> DiscordNotFound:
    return DiscordNotFound(
        "Unknown interaction", status=404, discord_code=JsonCode.UNKNOWN_INTERACTION
    )


def invalid_webhook_token() -> DiscordRejected:
    return DiscordRejected(
        "Invalid Webhook Token", status=401, discord_code=JsonCode.INVALID_WEBHOOK_TOKEN
    )


def interaction_acknowledged() -> DiscordRejected:
    return DiscordRejected(
        "Interaction has already been acknowledged.",
        status=400,
        discord_code=JsonCode.INTERACTION_ACKNOWLEDGED,
    )


def missing_access() -> DiscordForbidden:
    return DiscordForbidden("Missing Access", status=403, discord_code=JsonCode.MISSING_ACCESS)


def missing_permissions() -> DiscordForbidden:
    return DiscordForbidden(
        "Missing Permissions", status=403, discord_code=JsonCode.MISSING_PERMISSIONS
    )


def cannot_edit_others() -> DiscordForbidden:
    return DiscordForbidden(
        "Cannot edit a message authored by another user",
        status=403,
        discord_code=JsonCode.CANNOT_EDIT_OTHERS,
    )


def non_text_channel() -> DiscordRejected:
    return DiscordRejected(
        "Cannot send messages in a non-text channel",
        status=400,
        discord_code=JsonCode.NON_TEXT_CHANNEL,
    )


def empty_message() -> DiscordRejected:
    return DiscordRejected(
        "Cannot send an empty message", status=400, discord_code=JsonCode.EMPTY_MESSAGE
    )


def invalid_role() -> DiscordRejected:
    return DiscordRejected("Invalid Role", status=400, discord_code=JsonCode.INVALID_ROLE)


def invalid_form_body(errors: dict[str, str]) -> DiscordRejected:
    """50035 naming every bad field by its Discord path (``embeds.0.title``)."""
    return DiscordRejected(
        "Invalid Form Body",
        status=400,
        discord_code=JsonCode.INVALID_FORM_BODY,
        errors=dict(errors),
    )


def max_channels(limit: int) -> DiscordRejected:
    return DiscordRejected(
        f"Maximum number of guild channels reached ({limit})",
        status=400,
        discord_code=JsonCode.MAX_CHANNELS,
    )


def max_roles(limit: int) -> DiscordRejected:
    return DiscordRejected(
        f"Maximum number of guild roles reached ({limit})",
        status=400,
        discord_code=JsonCode.MAX_ROLES,
    )


def rate_limited(retry_after: float, *, scope: str) -> DiscordUnavailable:
    """429: ``retry_after`` seconds until the bucket frees; ``scope`` is user, global or shared."""
    text = "You are being rate limited."
    if scope == "global":
        text = "You are being rate limited globally."
    return DiscordUnavailable(text, status=429, retry_after=retry_after)
