"""The wire front's gateway half: Discord's gateway protocol v10 (JSON) over a websocket.

A connection goes HELLO -> IDENTIFY -> READY + one GUILD_CREATE per guild of the bot, then the
hub dispatches what changes in the simulator (through the wire or in-process): MESSAGE_CREATE,
MESSAGE_DELETE, CHANNEL_CREATE, CHANNEL_DELETE and INTERACTION_CREATE.

Invariants:
- Per session, dispatches carry strictly increasing sequence numbers, starting at 1 with READY;
  each connection writes through one queue, so a client sees them in sequence order.
- With ``compress=zlib-stream`` in the query (discord.py always asks for it unless ``zstandard``
  is installed), each payload is compressed by the connection's single zlib stream and flushed
  with Z_SYNC_FLUSH in one binary frame; any other value (or none) gets plain text frames.
- The simulator's listener runs in whichever thread changed the simulator, under its lock: it
  only serializes and hands over with ``call_soon_threadsafe``, never touching sockets.
- RESUME replays the events after the client's sequence when the session's buffer still holds
  them (then RESUMED); otherwise INVALID_SESSION ``false``, so the client identifies afresh.
- A bad token on IDENTIFY closes the connection with 4004 (Authentication failed).

Known gaps (one TODO below): no MESSAGE_UPDATE, GUILD_ROLE_*, GUILD_MEMBER_* or presence
events; no sharding (op 2's
``shard`` is ignored); heartbeats are acknowledged but never required (no zombie detection).
"""

# TODO: no MESSAGE_UPDATE, role, member or presence events, no sharding, no zombie detection;
# ends when the cog or a user's test listens for them.

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from apex_setup.core.discord_types import Permission
from apex_setup.fakes.discord_sim import DiscordSimulator, Interaction, SimEvent
from apex_setup.fakes.sim_rest import (
    RestApi,
    channel_json,
    guild_json,
    interaction_json,
    member_json,
    message_json,
    user_json,
)
from apex_setup.fakes.sim_state import ChannelRecord, MessageRecord

__all__ = ["HEARTBEAT_INTERVAL_MS", "GatewayHub", "Op"]

_log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: What HELLO announces; discord.py beats at this interval (times a random jitter at first).
HEARTBEAT_INTERVAL_MS = 41250
#: Dispatches a session keeps for RESUME.
_REPLAY_BUFFER = 1000
_AUTH_FAILED = 4004


class Op:
    """Gateway opcodes (Discord's numbers)."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE = 3
    RESUME = 6
    RECONNECT = 7
    REQUEST_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    compressor: Any | None  # a zlib compress object for zlib-stream, else None
    queue: asyncio.Queue[JsonDict | None] = field(default_factory=asyncio.Queue)

    def send(self, payload: JsonDict) -> None:
        self.queue.put_nowait(payload)

    async def write_all(self) -> None:
        while True:
            payload = await self.queue.get()
            if payload is None or self.socket.closed:
                return
            text = json.dumps(payload)
            try:
                if self.compressor is None:
                    await self.socket.send_str(text)
                else:
                    data = self.compressor.compress(text.encode("utf-8"))
                    data += self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.socket.send_bytes(data)
            except ConnectionError:
                _log.debug("gateway client went away while sending")
                return


@dataclass
class _Session:
    session_id: str
    bot_id: int
    seq: int = 0
    buffer: deque[JsonDict] = field(default_factory=lambda: deque(maxlen=_REPLAY_BUFFER))
    connection: _Connection | None = None

    def dispatch(self, event: str, data: JsonDict) -> None:
        self.seq += 1
        payload = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append(payload)
        if self.connection is not None:
            self.connection.send(payload)


class GatewayHub:
    """Every gateway session of one wire front, and the simulator listener that feeds them.

    Args:
        sim: the simulator.
        bots: token -> bot user id (the wire front's registry).
        rest: the REST half, for registered command ids.
        gateway_url: the URL READY names as ``resume_gateway_url``.
        before_message: called on every message a client sends (the wire front's clock follower).
    """

    def __init__(
        self,
        sim: DiscordSimulator,
        bots: Mapping[str, int],
        rest: RestApi,
        gateway_url: Callable[[], str],
        before_message: Callable[[], None] = lambda: None,
    ) -> None:
        self._sim = sim
        self._bots = bots
        self._rest = rest
        self._gateway_url = gateway_url
        self._before = before_message
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start listening to the simulator; events are delivered on ``loop``."""
        self._loop = loop
        self._unsubscribe = self._sim.subscribe(self._on_event)

    async def detach(self) -> None:
        """Stop listening and close every connection (code 1001, going away)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for connection in list(self._connections):
            await connection.socket.close(code=1001, message=b"simulator stopping")
        self._loop = None

    # ------------------------------------------------------------------ the websocket

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        connection = _Connection(socket, compressor)
        self._connections.add(connection)
        writer = asyncio.ensure_future(connection.write_all())
        session: _Session | None = None
        try:
            connection.send({"op": Op.HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                self._before()
                payload = json.loads(message.data)
                session = await self._receive(connection, session, payload) or session
        finally:
            if session is not None and session.connection is connection:
                session.connection = None
            self._connections.discard(connection)
            connection.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return socket

    async def _receive(
        self, connection: _Connection, session: _Session | None, payload: JsonDict
    ) -> _Session | None:
        op, data = payload.get("op"), payload.get("d")
        if op == Op.HEARTBEAT:
            connection.send({"op": Op.HEARTBEAT_ACK})
        elif op == Op.IDENTIFY:
            return await self._identify(connection, data or {})
        elif op == Op.RESUME:
            return self._resume(connection, data or {})
        elif op == Op.REQUEST_MEMBERS and session is not None:
            self._members_chunk(session, data or {})
        else:
            _log.debug("gateway op %s ignored", op)
        return None

    async def _identify(self, connection: _Connection, data: JsonDict) -> _Session | None:
        bot_id = self._bots.get(str(data.get("token", "")))
        if bot_id is None:
            await connection.socket.close(code=_AUTH_FAILED, message=b"Authentication failed.")
            return None
        session = _Session(secrets.token_hex(16), bot_id, connection=connection)
        self._sessions[session.session_id] = session
        sim = self._sim
        with sim.lock:
            records = sim.records
            guilds = [g for g in records.guilds.values() if bot_id in g.members]
            user = user_json(records.users[bot_id])
            user.update(verified=True, mfa_enabled=False)
            ready: JsonDict = {
                "v": 10,
                "user": user,
                "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self._gateway_url(),
                "application": {"id": str(bot_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "_trace": ["apex-setup-simulator"],
            }
            session.dispatch("READY", ready)
            for guild in guilds:
                session.dispatch("GUILD_CREATE", guild_json(sim, guild, full=True))
        _log.debug("session %s identified bot %s", session.session_id, bot_id)
        return session

    def _resume(self, connection: _Connection, data: JsonDict) -> _Session | None:
        session = self._sessions.get(str(data.get("session_id", "")))
        token_bot = self._bots.get(str(data.get("token", "")))
        seq = int(data.get("seq") or 0)
        held = [p["s"] for p in session.buffer] if session is not None else []
        can_replay = (
            session is not None
            and token_bot == session.bot_id
            and seq <= session.seq
            and (seq == session.seq or (held and held[0] <= seq + 1))
        )
        if session is None or not can_replay:
            connection.send({"op": Op.INVALID_SESSION, "d": False})
            return None
        session.connection = connection
        for payload in session.buffer:
            if payload["s"] > seq:
                connection.send(payload)
        session.dispatch("RESUMED", {"_trace": ["apex-setup-simulator"]})
        return session

    def _members_chunk(self, session: _Session, data: JsonDict) -> None:
        guild_id = int(data.get("guild_id") or 0)
        with self._sim.lock:
            guild = self._sim.records.guilds.get(guild_id)
            if guild is None:
                return
            members = [member_json(self._sim, guild, u) for u in guild.members]
        chunk: JsonDict = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    # ------------------------------------------------------------------ the simulator's events

    def _on_event(self, event: SimEvent) -> None:
        """The simulator's listener: under its lock, in the changing thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            built = self._build(event)
        except Exception:
            # Raising here would fail the simulator call that made the change.
            _log.exception("could not serialize %s for the gateway", event.kind)
            return
        if built is None:
            return
        name, data, bot_ids = built
        if not bot_ids:
            return
        try:
            loop.call_soon_threadsafe(self._deliver, name, data, bot_ids)
        except RuntimeError:
            _log.debug("gateway loop closed; %s not delivered", name)

    def _build(self, event: SimEvent) -> tuple[str, JsonDict, frozenset[int]] | None:
        sim = self._sim
        subject = event.subject
        if event.kind == "interaction_create" and isinstance(subject, Interaction):
            command_id = self._rest.command_id(
                subject.application_id, subject.guild_id, subject.data.name
            )
            data = interaction_json(sim, subject, command_id)
            return "INTERACTION_CREATE", data, frozenset({subject.application_id})
        if isinstance(subject, MessageRecord):
            channel = sim.records.channels.get(subject.channel_id)
            if channel is None:
                return None
            if event.kind == "message_create":
                viewers = self._bots_in(channel.guild_id, channel)
                return "MESSAGE_CREATE", message_json(sim, subject, with_nonce=True), viewers
            data = {
                "id": str(subject.id),
                "channel_id": str(subject.channel_id),
                "guild_id": str(channel.guild_id),
            }
            return "MESSAGE_DELETE", data, self._bots_in(channel.guild_id, channel)
        if isinstance(subject, ChannelRecord):
            name = "CHANNEL_CREATE" if event.kind == "channel_create" else "CHANNEL_DELETE"
            return name, channel_json(subject), self._bots_in(subject.guild_id, None)
        return None

    def _bots_in(self, guild_id: int, channel: ChannelRecord | None) -> frozenset[int]:
        """Registered bots in the guild (that can view the channel, when one is given)."""
        guild = self._sim.records.guilds.get(guild_id)
        if guild is None:
            return frozenset()
        found = set()
        for bot_id in set(self._bots.values()):
            if bot_id not in guild.members:
                continue
            if channel is not None:
                perms = self._sim.permissions_for(bot_id, channel.id)
                if not perms & Permission.VIEW_CHANNEL:
                    continue
            found.add(bot_id)
        return frozenset(found)

    def _deliver(self, name: str, data: JsonDict, bot_ids: frozenset[int]) -> None:
        for session in self._sessions.values():
            if session.bot_id in bot_ids:
                session.dispatch(name, data)
