"""The wire front's REST half: Discord's v10 routes over HTTP, backed by a ``DiscordSimulator``.

Two parts: serializers that turn the simulator's records into Discord's JSON (callers hold the
simulator's lock while they call in, so a snapshot is consistent), and ``RestApi``, the aiohttp
handlers that authenticate the bot, call the simulator's ``api_*`` and interaction methods and
answer as Discord does.

Invariants:
- Ids are strings, permission bit sets are strings, times are ISO 8601 with a timezone, as
  Discord sends them. Content is always present (the message content intent is always granted).
- A message carries ``nonce`` only when the caller asks for it (the create response and the
  gateway's MESSAGE_CREATE), never in fetched messages.
- ``error_body`` turns a simulator refusal into Discord's body: ``code``, ``message`` and, for
  Invalid Form Body, the nested ``errors`` object whose leaves are ``{"_errors": [...]}``.
- Every bot route needs ``Authorization: Bot <token>`` of a registered bot, else 401 / code 0
  (discord.py turns that into ``LoginFailure``). Interaction webhook routes need no header: the
  token in the path is the credential, as on Discord.
- A refusal has no effect (the simulator's rule); a 429 carries ``retry_after`` in the body and
  ``Retry-After``, ``X-RateLimit-*`` and ``Via`` headers (discord.py treats a 429 without ``Via``
  as a Cloudflare ban and does not retry it).

Known gaps (TODOs below): rate-limit headers are sent on 429s only (successful answers carry
none, so discord.py
never pre-emptively waits); PATCH /channels/{id} and role edits are not served (405); a message
edit merges the given top-level fields into the stored payload, and anything the core's
``MessagePayload`` cannot hold (emoji, disabled buttons, attachments, link buttons) is dropped or
refused with 50035.

The simulator's message model holds string selects with one value only. Selects it
cannot hold (channel, user, role and mentionable selects, and string selects that allow several
values) are kept by ``RestApi`` as sent, in ``rich_selects``, and stored in the simulator as a
string select with one placeholder option (``RICH_SELECT_PLACEHOLDER``), so discord.py reading
the message back sees that placeholder. A simulated user picks from them with
``RestApi.choose_values`` (``WireFront.choose_values``), which checks the values as Discord would
(count within min/max, options offered, channels of the guild and of the allowed types) and sends
the interaction with the select's real component type and, for a channel select, the
``resolved`` channels. Ends when the core's ``SelectMenu`` models these selects.
"""

# TODO: rate-limit headers only on 429s, and no PATCH of channels or roles; ends when the cog
# edits channels or roles, or a test needs discord.py's pre-emptive waits.
# TODO: channel and multi-value selects live beside the simulator's model (rich_selects); ends
# when core.payload.SelectMenu and DiscordSimulator.choose_select model them.

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from apex_setup.core.discord_types import ChannelKind, snowflake_time
from apex_setup.core.errors import DiscordFailure, DiscordNotFound, DiscordRejected
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    ImpossibleUserAction,
    Interaction,
    InteractionData,
    InteractionType,
    Overwrite,
    ResponseKind,
)
from apex_setup.fakes.sim_errors import JsonCode, invalid_form_body, missing_access
from apex_setup.fakes.sim_state import ChannelRecord, GuildRecord, MessageRecord, UserRecord

__all__ = [
    "API_PREFIX",
    "CHANNEL_TYPES",
    "KIND_BY_TYPE",
    "RICH_SELECT_PLACEHOLDER",
    "RestApi",
    "channel_json",
    "error_body",
    "guild_json",
    "interaction_json",
    "member_json",
    "message_json",
    "role_json",
    "user_json",
]

_log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: The one option a select the simulator's model cannot hold is stored with (module docstring).
RICH_SELECT_PLACEHOLDER = {"label": "(select kept by the wire front)", "value": "-"}
#: Component types of the selects Discord has: string, user, role, mentionable, channel.
_SELECT_TYPES = (3, 5, 6, 7, 8)
_CHANNEL_SELECT = 8

#: Where the REST routes live; discord.py's ``Route.BASE`` must be ``<base url>/api/v10``.
API_PREFIX = "/api/v10"

#: Discord's channel type numbers for the simulator's kinds.
CHANNEL_TYPES: dict[ChannelKind, int] = {
    ChannelKind.TEXT: 0,
    ChannelKind.VOICE: 2,
    ChannelKind.CATEGORY: 4,
    ChannelKind.NEWS: 5,
}
KIND_BY_TYPE: dict[int, ChannelKind] = {number: kind for kind, number in CHANNEL_TYPES.items()}

_EPHEMERAL_FLAG = 64
_OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def user_json(user: UserRecord) -> JsonDict:
    return {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": user.bot,
        "public_flags": 0,
        "flags": 0,
    }


def role_json(sim: DiscordSimulator, guild_id: int, role_id: int) -> JsonDict:
    role = sim.records.guilds[guild_id].roles[role_id]
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(int(role.permissions)),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def member_json(sim: DiscordSimulator, guild: GuildRecord, user_id: int) -> JsonDict:
    member = guild.members[user_id]
    timeout = member.timeout_until if member.timed_out(sim.clock.now()) else None
    return {
        "user": user_json(sim.records.users[user_id]),
        "nick": None,
        "avatar": None,
        "roles": [str(r) for r in sorted(member.role_ids)],
        "joined_at": snowflake_time(guild.id).isoformat(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": _iso(timeout),
    }


def channel_json(channel: ChannelRecord) -> JsonDict:
    data: JsonDict = {
        "id": str(channel.id),
        "type": CHANNEL_TYPES[channel.kind],
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": None if channel.parent_id is None else str(channel.parent_id),
        "flags": 0,
        "nsfw": False,
        "permission_overwrites": [
            {
                "id": str(o.target_id),
                "type": 0 if o.is_role else 1,
                "allow": str(int(o.allow)),
                "deny": str(int(o.deny)),
            }
            for o in channel.overwrites.values()
        ],
    }
    if channel.kind is ChannelKind.VOICE:
        data.update(bitrate=64000, user_limit=0, rtc_region=None)
    elif channel.kind is not ChannelKind.CATEGORY:
        last = max(channel.messages, default=None)
        data.update(
            topic=None,
            rate_limit_per_user=0,
            last_message_id=None if last is None else str(last),
        )
    return data


def guild_json(sim: DiscordSimulator, guild: GuildRecord, *, full: bool) -> JsonDict:
    """Get Guild's shape; ``full`` adds what GUILD_CREATE carries (channels, members...)."""
    roles = sorted(guild.roles.values(), key=lambda r: (r.position, r.id))
    data: JsonDict = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role_json(sim, guild.id, r.id) for r in roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "approximate_member_count": len(guild.members),
    }
    if full:
        channels = sim.records.channels
        data.update(
            unavailable=False,
            large=False,
            member_count=len(guild.members),
            joined_at=snowflake_time(guild.id).isoformat(),
            channels=[channel_json(channels[c]) for c in guild.channel_ids],
            members=[member_json(sim, guild, u) for u in guild.members],
            threads=[],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
    return data


def message_json(
    sim: DiscordSimulator,
    message: MessageRecord,
    *,
    with_nonce: bool = False,
) -> JsonDict:
    records = sim.records
    channel = records.channels.get(message.channel_id)
    guild_id = channel.guild_id if channel is not None else None
    body = message.payload.to_dict()
    data: JsonDict = {
        "id": str(message.id),
        "type": 0,
        "channel_id": str(message.channel_id),
        "author": user_json(records.users[message.author_id]),
        "content": body["content"],
        "timestamp": snowflake_time(message.id).isoformat(),
        "edited_timestamp": _iso(message.edited_at),
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body["embeds"],
        "components": body["components"],
        "pinned": False,
        "flags": _EPHEMERAL_FLAG if message.ephemeral_for is not None else 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        guild = records.guilds[guild_id]
        if message.author_id in guild.members:
            member = member_json(sim, guild, message.author_id)
            del member["user"]
            data["member"] = member
    if with_nonce and message.nonce is not None:
        data["nonce"] = message.nonce
    return data


def interaction_json(
    sim: DiscordSimulator, interaction: Interaction, command_id: int | None
) -> JsonDict:
    """INTERACTION_CREATE's payload for one simulated interaction."""
    records = sim.records
    guild = records.guilds[interaction.guild_id]
    channel = records.channels[interaction.channel_id]
    member = member_json(sim, guild, interaction.user_id)
    member["permissions"] = str(int(sim.permissions_for(interaction.user_id, channel.id)))
    app_permissions = int(sim.permissions_for(interaction.application_id, channel.id))
    source = interaction.data
    data: JsonDict
    if interaction.type is InteractionType.APPLICATION_COMMAND:
        data = {
            "id": str(command_id or 0),
            "name": source.name,
            "type": 1,
            "guild_id": str(guild.id),
            "options": [
                {"name": name, "type": _OPTION_TYPES[type(value)], "value": value}
                for name, value in source.options.items()
            ],
        }
    elif interaction.type is InteractionType.MESSAGE_COMPONENT:
        data = {"custom_id": source.custom_id, "component_type": source.component_type}
        if source.values:
            data["values"] = list(source.values)
        if source.component_type == _CHANNEL_SELECT:
            data["resolved"] = {"channels": _resolved_channels(sim, interaction, source.values)}
    else:
        data = {
            "custom_id": source.custom_id,
            "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                for k, v in source.fields.items()
            ],
        }
    payload: JsonDict = {
        "id": str(interaction.id),
        "application_id": str(interaction.application_id),
        "type": int(interaction.type),
        "token": interaction.token,
        "version": 1,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": channel_json(channel),
        "member": member,
        "app_permissions": str(int(app_permissions)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": 26214400,
        "data": data,
    }
    if interaction.message_id is not None:
        message = sim.find_message(interaction.message_id)
        if message is not None:
            payload["message"] = message_json(sim, message)
    return payload


def _resolved_channels(
    sim: DiscordSimulator, interaction: Interaction, values: tuple[str, ...]
) -> JsonDict:
    """A channel select's ``resolved.channels``: each chosen channel with the user's permissions."""
    resolved: JsonDict = {}
    for value in values:
        channel = sim.records.channels.get(int(value))
        if channel is None:
            continue
        data = channel_json(channel)
        data["permissions"] = str(int(sim.permissions_for(interaction.user_id, channel.id)))
        resolved[value] = data
    return resolved


def _split_rich_selects(body: JsonDict) -> tuple[JsonDict, dict[str, JsonDict]]:
    """The body with every select the simulator cannot hold replaced by a placeholder select,
    and those selects as sent, by custom_id."""
    rows = body.get("components")
    if not isinstance(rows, list):
        return body, {}
    rich: dict[str, JsonDict] = {}
    new_rows: list[Any] = []
    for row in rows:
        if not isinstance(row, dict):
            new_rows.append(row)
            continue
        components: list[Any] = []
        for component in row.get("components") or ():
            kind = component.get("type") if isinstance(component, dict) else None
            is_rich = kind in _SELECT_TYPES and (
                kind != 3 or int(component.get("max_values") or 1) > 1
            )
            if not is_rich:
                components.append(component)
                continue
            rich[str(component.get("custom_id", ""))] = dict(component)
            components.append(
                {
                    "type": 3,
                    "custom_id": component.get("custom_id", ""),
                    "placeholder": component.get("placeholder") or "",
                    "options": [RICH_SELECT_PLACEHOLDER],
                }
            )
        new_rows.append({**row, "components": components})
    return {**body, "components": new_rows}, rich


def _nest_errors(errors: dict[str, str]) -> JsonDict:
    """``{"embeds.0.title": "too long"}`` -> Discord's nested ``errors`` object."""
    root: JsonDict = {}
    for path, text in errors.items():
        node = root
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": "BASE_TYPE_INVALID", "message": text})
    return root


def error_body(error: DiscordFailure) -> JsonDict:
    body: JsonDict = {"code": error.discord_code, "message": error.user_message}
    if error.errors:
        body["errors"] = _nest_errors(error.errors)
    if error.status == 429:
        body["retry_after"] = error.retry_after or 0.0
        body["global"] = "globally" in error.user_message
    return body


# ---------------------------------------------------------------------------------- the routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Answer = tuple[int, Any]
_Call = Callable[[int, web.Request, JsonDict], _Answer]
_CALLBACK_KINDS = {4: "message", 5: "deferred", 6: "deferred_update", 7: "update", 9: "modal"}


def _unauthorized() -> DiscordRejected:
    return DiscordRejected("401: Unauthorized", status=401, discord_code=0)


def _unknown_member() -> DiscordNotFound:
    return DiscordNotFound("Unknown Member", status=404, discord_code=10007)


def _unsupported() -> DiscordRejected:
    return DiscordRejected("405: Method Not Allowed", status=405, discord_code=0)


def _snowflake(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise DiscordNotFound("404: Not Found", status=404, discord_code=0) from None


def _optional_int(value: object) -> int | None:
    return None if value in (None, "") else int(str(value))


def _payload(body: JsonDict) -> MessagePayload:
    try:
        return MessagePayload.from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid_form_body({"components": f"Not understood by the simulator: {exc}"}) from None


def _json_response(
    status: int, data: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    # discord.py parses a body as JSON only when Content-Type is exactly "application/json".
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(data).encode(), headers=all_headers)


def _rate_limit_headers(error: DiscordFailure, route: str) -> dict[str, str]:
    retry = error.retry_after or 0.0
    scope = "global" if "globally" in error.user_message else "user"
    headers = {
        "Retry-After": str(max(1, math.ceil(retry))),
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": f"{retry:.3f}",
        "X-RateLimit-Bucket": f"sim-{route}",
        "X-RateLimit-Scope": scope,
        # discord.py retries a 429 only when a proxy header says it came from Discord's edge.
        "Via": "1.1 google",
    }
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return headers


class RestApi:
    """The REST routes; one instance per wire front.

    Args:
        sim: the simulator whose state every route reads and changes.
        bots: token -> bot user id, consulted on every request (the wire front's registry).
        gateway_url: the websocket URL GET /gateway answers with.
        before_request: called first on every request (the wire front's clock follower).
    """

    def __init__(
        self,
        sim: DiscordSimulator,
        bots: Mapping[str, int],
        gateway_url: Callable[[], str],
        before_request: Callable[[], None] = lambda: None,
    ) -> None:
        self._sim = sim
        self._bots = bots
        self._gateway_url = gateway_url
        self._before = before_request
        #: (application id, guild id or None) -> the registered application commands.
        self.commands: dict[tuple[int, int | None], list[JsonDict]] = {}
        self._command_ids = itertools.count(1 << 60)
        #: Test-only: seconds the message-create route holds its answer after the message was
        #: created (real time), so a test can kill a bot while its send is in flight.
        self.send_delay = 0.0
        #: message id -> custom_id -> a select the simulator's model cannot hold, as sent.
        self.rich_selects: dict[int, dict[str, JsonDict]] = {}

    # ------------------------------------------------------ selects the model cannot hold

    def _hold(self, body: JsonDict) -> tuple[JsonDict, dict[str, JsonDict] | None]:
        """Split off the rich selects; None when the body does not set components."""
        if "components" not in body:
            return body, None
        return _split_rich_selects(body)

    def _remember(self, message_id: int | None, rich: dict[str, JsonDict] | None) -> None:
        if message_id is None or rich is None:
            return
        if rich:
            self.rich_selects[message_id] = rich
        else:
            self.rich_selects.pop(message_id, None)

    def choose_values(
        self,
        user_id: int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        values: Sequence[str],
    ) -> Interaction:
        """A user picks ``values`` from a select the bot sent through this front.

        A select the simulator's model holds goes to ``DiscordSimulator.choose_select``; a rich
        one (see the module docstring) is checked here and its interaction carries its real
        component type.

        Raises:
            ImpossibleUserAction: the user cannot see the message, or Discord's client would not
                let them pick these values.
        """
        sim = self._sim
        with sim.lock:
            rich = self.rich_selects.get(message_id, {}).get(custom_id)
            if rich is None:
                return sim.choose_select(user_id, channel_id, message_id, custom_id, values)
            channel, message = sim._visible_message(user_id, channel_id, message_id)
            kind = int(rich["type"])
            low = int(rich.get("min_values", 1) if rich.get("min_values") is not None else 1)
            high = int(rich.get("max_values") or 1)
            if not low <= len(values) <= high or len(set(values)) != len(values):
                raise ImpossibleUserAction(f"choose between {low} and {high} distinct values")
            if kind == 3:
                offered = {str(o.get("value")) for o in rich.get("options") or ()}
                if not set(values) <= offered:
                    raise ImpossibleUserAction(f"choose from {sorted(offered)}")
            elif kind == _CHANNEL_SELECT:
                allowed = set(rich.get("channel_types") or ())
                for value in values:
                    chosen = sim.records.channels.get(int(value)) if value.isdigit() else None
                    if chosen is None or chosen.guild_id != channel.guild_id:
                        raise ImpossibleUserAction(f"{value} is not a channel of this guild")
                    if allowed and CHANNEL_TYPES[chosen.kind] not in allowed:
                        raise ImpossibleUserAction(f"channel {value} is not of an offered type")
            else:
                raise ImpossibleUserAction("only string and channel selects are simulated")
            data = InteractionData(custom_id=custom_id, component_type=kind, values=tuple(values))
            return sim._new_interaction(
                InteractionType.MESSAGE_COMPONENT,
                message.author_id,
                user_id,
                channel,
                message.id,
                data,
            )

    # ------------------------------------------------------------------ plumbing

    def add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        routes: list[tuple[str, str, _Call, bool]] = [
            ("GET", "/gateway", self._gateway, False),
            ("GET", "/gateway/bot", self._gateway_bot, True),
            ("GET", "/users/@me", self._me, True),
            ("GET", "/oauth2/applications/@me", self._application, True),
            ("GET", "/applications/{app}/commands", self._get_commands, True),
            ("PUT", "/applications/{app}/commands", self._put_commands, True),
            ("POST", "/applications/{app}/commands", self._post_command, True),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self._get_commands, True),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._put_commands, True),
            ("POST", "/applications/{app}/guilds/{guild}/commands", self._post_command, True),
            ("GET", "/channels/{channel}", self._get_channel, True),
            ("PATCH", "/channels/{channel}", self._not_served, True),
            ("DELETE", "/channels/{channel}", self._delete_channel, True),
            ("GET", "/channels/{channel}/messages", self._history, True),
            ("POST", "/channels/{channel}/messages", self._send, True),
            ("GET", "/channels/{channel}/messages/{message}", self._fetch, True),
            ("PATCH", "/channels/{channel}/messages/{message}", self._edit, True),
            ("DELETE", "/channels/{channel}/messages/{message}", self._delete, True),
            ("GET", "/guilds/{guild}", self._get_guild, True),
            ("GET", "/guilds/{guild}/channels", self._list_channels, True),
            ("POST", "/guilds/{guild}/channels", self._create_channel, True),
            ("GET", "/guilds/{guild}/roles", self._roles, True),
            ("POST", "/guilds/{guild}/roles", self._create_role, True),
            ("DELETE", "/guilds/{guild}/roles/{role}", self._delete_role, True),
            ("GET", "/guilds/{guild}/members/{user}", self._member, True),
            ("POST", "/interactions/{interaction}/{token}/callback", self._callback, False),
            ("POST", "/webhooks/{app}/{token}", self._followup, False),
            ("GET", "/webhooks/{app}/{token}/messages/@original", self._get_original, False),
            ("PATCH", "/webhooks/{app}/{token}/messages/@original", self._edit_original, False),
        ]
        for method, path, call, auth in routes:
            app.router.add_route(method, p + path, self._handler(call, auth=auth, route=path))

    def _handler(self, call: _Call, *, auth: bool, route: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            self._before()
            try:
                bot_id = self._authenticate(request) if auth else 0
                body = await _read_body(request)
                status, data = call(bot_id, request, body)
            except DiscordFailure as exc:
                headers = _rate_limit_headers(exc, route) if exc.status == 429 else None
                _log.debug("%s %s -> %s %s", request.method, request.path, exc.status, exc)
                return _json_response(exc.status, error_body(exc), headers)
            if self.send_delay > 0 and call == self._send:
                # Test-only: the message exists; its author hears so only later.
                await asyncio.sleep(self.send_delay)
            return _json_response(status, data)

        return handle

    def _authenticate(self, request: web.Request) -> int:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        bot_id = self._bots.get(token) if scheme == "Bot" else None
        if bot_id is None:
            raise _unauthorized()
        return bot_id

    def command_id(self, application_id: int, guild_id: int, name: str | None) -> int | None:
        """The id of a registered command (guild commands first), for INTERACTION_CREATE."""
        for key in ((application_id, guild_id), (application_id, None)):
            for command in self.commands.get(key, []):
                if command["name"] == name:
                    return int(command["id"])
        return None

    # ------------------------------------------------------------------ session and application

    def _gateway(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        return 200, {"url": self._gateway_url()}

    def _gateway_bot(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return 200, {"url": self._gateway_url(), "shards": 1, "session_start_limit": limit}

    def _me(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            data = user_json(self._sim.records.users[bot_id])
        data.update(verified=True, mfa_enabled=False, locale="en-US", email=None)
        return 200, data

    def _application(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            user = user_json(self._sim.records.users[bot_id])
        return 200, {
            "id": user["id"],
            "name": user["username"],
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user,
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "summary": "",
            "bot": user,
        }

    def _command_key(self, bot_id: int, request: web.Request) -> tuple[int, int | None]:
        if _snowflake(request, "app") != bot_id:
            raise missing_access()
        guild = request.match_info.get("guild")
        return bot_id, None if guild is None else int(guild)

    def _stored_command(self, key: tuple[int, int | None], given: JsonDict) -> JsonDict:
        command = dict(given)
        command.setdefault("type", 1)
        command.setdefault("description", "")
        command.setdefault("options", [])
        command.setdefault("default_member_permissions", None)
        command.setdefault("nsfw", False)
        existing = [c for c in self.commands.get(key, []) if c["name"] == command["name"]]
        command["id"] = existing[0]["id"] if existing else str(next(self._command_ids))
        command["application_id"] = str(key[0])
        command["version"] = str(next(self._command_ids))
        if key[1] is not None:
            command["guild_id"] = str(key[1])
        return command

    def _get_commands(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        return 200, self.commands.get(self._command_key(bot_id, request), [])

    def _put_commands(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        key = self._command_key(bot_id, request)
        given = body.get("_list", [])
        self.commands[key] = [self._stored_command(key, c) for c in given]
        return 200, self.commands[key]

    def _post_command(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        key = self._command_key(bot_id, request)
        command = self._stored_command(key, body)
        kept = [c for c in self.commands.get(key, []) if c["name"] != command["name"]]
        self.commands[key] = [*kept, command]
        return 201, command

    def _not_served(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        raise _unsupported()

    # ------------------------------------------------------------------ channels and messages

    def _get_channel(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id = _snowflake(request, "channel")
        with self._sim.lock:
            self._sim.api_get_channel(bot_id, channel_id)
            return 200, channel_json(self._sim.records.channels[channel_id])

    def _delete_channel(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id = _snowflake(request, "channel")
        with self._sim.lock:
            record = self._sim.records.channels.get(channel_id)
            snapshot = None if record is None else channel_json(record)
            self._sim.api_delete_channel(bot_id, channel_id)
            return 200, snapshot

    def _message_record(self, channel_id: int, message_id: int) -> MessageRecord:
        channel = self._sim.records.channels.get(channel_id)
        message = None if channel is None else channel.messages.get(message_id)
        if message is None:  # the api call before this raised otherwise
            raise DiscordNotFound("Unknown Message", status=404, discord_code=10008)
        return message

    def _history(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id = _snowflake(request, "channel")
        query = request.query
        with self._sim.lock:
            infos = self._sim.api_history(
                bot_id,
                channel_id,
                limit=int(query.get("limit", "50")),
                before=_optional_int(query.get("before")),
                after=_optional_int(query.get("after")),
            )
            return 200, [
                message_json(self._sim, self._message_record(channel_id, m.id)) for m in infos
            ]

    def _send(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id = _snowflake(request, "channel")
        nonce = body.get("nonce")
        # Without a nonce nothing is deduplicated: give the request one nobody can repeat.
        nonce_text = f"wire-{secrets.token_hex(8)}" if nonce is None else str(nonce)
        body, rich = self._hold(body)
        with self._sim.lock:
            info = self._sim.api_send_message(bot_id, channel_id, _payload(body), nonce=nonce_text)
            self._remember(info.id, rich)
            data = message_json(self._sim, self._message_record(channel_id, info.id))
        if nonce is not None:
            data["nonce"] = nonce
        return 200, data

    def _fetch(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id, message_id = _snowflake(request, "channel"), _snowflake(request, "message")
        with self._sim.lock:
            self._sim.api_fetch_message(bot_id, channel_id, message_id)
            return 200, message_json(self._sim, self._message_record(channel_id, message_id))

    def _edit(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id, message_id = _snowflake(request, "channel"), _snowflake(request, "message")
        with self._sim.lock:
            channel = self._sim.records.channels.get(channel_id)
            current = None if channel is None else channel.messages.get(message_id)
            body, rich = self._hold(body)
            merged = _merge(current, body)
            self._sim.api_edit_message(bot_id, channel_id, message_id, merged)
            self._remember(message_id, rich)
            return 200, message_json(self._sim, self._message_record(channel_id, message_id))

    def _delete(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        channel_id, message_id = _snowflake(request, "channel"), _snowflake(request, "message")
        self._sim.api_delete_message(bot_id, channel_id, message_id)
        return 204, None

    # ------------------------------------------------------------------ guilds, roles, members

    def _guild_for(self, bot_id: int, guild_id: int) -> GuildRecord:
        guild = self._sim.records.guilds.get(guild_id)
        if guild is None:
            raise DiscordNotFound("Unknown Guild", status=404, discord_code=JsonCode.UNKNOWN_GUILD)
        if bot_id not in guild.members:
            raise missing_access()
        return guild

    def _get_guild(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            guild = self._guild_for(bot_id, _snowflake(request, "guild"))
            return 200, guild_json(self._sim, guild, full=False)

    def _list_channels(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        guild_id = _snowflake(request, "guild")
        with self._sim.lock:
            infos = self._sim.api_list_channels(bot_id, guild_id)
            channels = self._sim.records.channels
            return 200, [channel_json(channels[c.id]) for c in infos]

    def _create_channel(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        guild_id = _snowflake(request, "guild")
        kind = KIND_BY_TYPE.get(int(body.get("type") or 0))
        if kind is None:
            raise invalid_form_body({"type": "Channel type not supported by the simulator."})
        overwrites = [
            Overwrite(
                int(o["id"]),
                int(o.get("type", 0)) == 0,
                allow=int(o.get("allow") or 0),
                deny=int(o.get("deny") or 0),
            )
            for o in body.get("permission_overwrites") or ()
        ]
        with self._sim.lock:
            info = self._sim.api_create_channel(
                bot_id,
                guild_id,
                str(body.get("name", "")),
                kind,
                _optional_int(body.get("parent_id")),
                overwrites if "permission_overwrites" in body else None,
            )
            return 201, channel_json(self._sim.records.channels[info.id])

    def _roles(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            guild = self._guild_for(bot_id, _snowflake(request, "guild"))
            return 200, [role_json(self._sim, guild.id, r) for r in self._sim.role_ids(guild.id)]

    def _create_role(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        guild_id = _snowflake(request, "guild")
        with self._sim.lock:
            role_id = self._sim.api_create_role(
                bot_id,
                guild_id,
                str(body.get("name", "new role")),
                int(body.get("permissions") or 0),
            )
            return 200, role_json(self._sim, guild_id, role_id)

    def _delete_role(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        self._sim.api_delete_role(bot_id, _snowflake(request, "guild"), _snowflake(request, "role"))
        return 204, None

    def _member(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            guild = self._guild_for(bot_id, _snowflake(request, "guild"))
            user_id = _snowflake(request, "user")
            if user_id not in guild.members:
                raise _unknown_member()
            return 200, member_json(self._sim, guild, user_id)

    # ------------------------------------------------------------------ interactions

    def _callback(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        interaction_id = _snowflake(request, "interaction")
        sim = self._sim
        with sim.lock:
            interaction = next((i for i in sim.interactions if i.id == interaction_id), None)
            if interaction is None or interaction.token != request.match_info["token"]:
                raise DiscordNotFound(
                    "Unknown interaction", status=404, discord_code=JsonCode.UNKNOWN_INTERACTION
                )
            kind = _CALLBACK_KINDS.get(int(body.get("type") or 0))
            data = body.get("data") or {}
            ephemeral = bool(int(data.get("flags") or 0) & _EPHEMERAL_FLAG)
            message_id: int | None = None
            rich: dict[str, JsonDict] | None = None
            if kind in ("message", "update"):
                data, rich = self._hold(data)
            if kind == "message":
                message_id = sim.respond(interaction_id, _payload(data), ephemeral=ephemeral).id
            elif kind == "deferred":
                sim.defer(interaction_id, ephemeral=ephemeral)
            elif kind == "deferred_update":
                sim.defer_update(interaction_id)
            elif kind == "update":
                current = sim.find_message(interaction.message_id or 0)
                message_id = sim.update_message(interaction_id, _merge(current, data)).id
            elif kind == "modal":
                fields = _text_input_ids(data.get("components") or [])
                sim.show_modal(
                    interaction_id,
                    str(data.get("custom_id", "")),
                    str(data.get("title", "")),
                    fields,
                )
            else:
                raise invalid_form_body({"type": "Value must be one of (4, 5, 6, 7, 9)."})
            self._remember(message_id, rich)
            if "with_response" not in request.query:
                return 204, None
            return 200, self._callback_answer(interaction, int(body["type"]), message_id)

    def _callback_answer(
        self, interaction: Interaction, callback_type: int, message_id: int | None
    ) -> JsonDict:
        response = self._sim.interaction_responses[-1]
        answer: JsonDict = {
            "interaction": {
                "id": str(interaction.id),
                "type": int(interaction.type),
                "response_message_id": None if message_id is None else str(message_id),
                "response_message_loading": response.kind is ResponseKind.DEFERRED_MESSAGE,
                "response_message_ephemeral": response.ephemeral,
            }
        }
        resource: JsonDict = {"type": callback_type}
        message = None if message_id is None else self._sim.find_message(message_id)
        if message is not None:
            resource["message"] = message_json(self._sim, message)
        answer["resource"] = resource
        return answer

    def _original(self, token: str) -> MessageRecord | None:
        interaction = next((i for i in self._sim.interactions if i.token == token), None)
        if interaction is None:
            return None
        for response in reversed(self._sim.interaction_responses):
            if response.interaction_id == interaction.id and response.message_id is not None:
                return self._sim.find_message(response.message_id)
        return None

    def _followup(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        token = request.match_info["token"]
        ephemeral = bool(int(body.get("flags") or 0) & _EPHEMERAL_FLAG)
        body, rich = self._hold(body)
        with self._sim.lock:
            info = self._sim.followup(token, _payload(body), ephemeral=ephemeral)
            self._remember(info.id, rich)
            message = self._sim.find_message(info.id)
            return 200, None if message is None else message_json(self._sim, message)

    def _get_original(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        with self._sim.lock:
            message = self._original(request.match_info["token"])
            if message is None:
                raise DiscordNotFound("Unknown Message", status=404, discord_code=10008)
            return 200, message_json(self._sim, message)

    def _edit_original(self, bot_id: int, request: web.Request, body: JsonDict) -> _Answer:
        token = request.match_info["token"]
        body, rich = self._hold(body)
        with self._sim.lock:
            merged = _merge(self._original(token), body)
            info = self._sim.edit_original(token, merged)
            self._remember(info.id, rich)
            message = self._sim.find_message(info.id)
            return 200, None if message is None else message_json(self._sim, message)


def _merge(current: MessageRecord | None, body: JsonDict) -> MessagePayload:
    """An edit's new payload: the given top-level fields over the stored ones."""
    base = current.payload.to_dict() if current is not None else {}
    for key in ("content", "embeds", "components"):
        if key in body:
            base[key] = body[key]
    return _payload(base)


def _text_input_ids(components: list[Any]) -> list[str]:
    """The custom_ids of a modal's text inputs, inside action rows or labels."""
    found: list[str] = []
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("type") == 4:
            found.append(str(component.get("custom_id", "")))
        found.extend(_text_input_ids(component.get("components") or []))
        if isinstance(component.get("component"), dict):
            found.extend(_text_input_ids([component["component"]]))
    return found


async def _read_body(request: web.Request) -> JsonDict:
    """The JSON body, or a multipart body's ``payload_json``; a list body is put under _list."""
    if not request.can_read_body:
        return {}
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        raw = form.get("payload_json")
        text = raw if isinstance(raw, str) else "{}"
    else:
        text = await request.text()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise DiscordRejected("400: Bad Request", status=400, discord_code=50109) from None
    return {"_list": data} if isinstance(data, list) else dict(data)
