"""The wire front's protocol as a raw client sees it: REST bodies and headers, gateway frames."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.sim_wire import WireFront

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> DiscordSimulator:
    return DiscordSimulator(
        rate_limits=RateLimitConfig.disabled().with_route("send_message", 1, 60)
    )


@pytest.fixture
def guild(sim: DiscordSimulator) -> StandardGuild:
    return sim.standard_guild()


@pytest.fixture
async def wire(sim: DiscordSimulator, guild: StandardGuild) -> AsyncIterator[WireFront]:
    front = WireFront(sim)
    front.register_bot("good-token", guild.bot_id)
    await front.start()
    yield front
    await front.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


AUTH = {"Authorization": "Bot good-token"}


class Gateway:
    """A bare gateway client that decodes zlib-stream frames."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse[bool]) -> None:
        self.socket = socket
        self.inflate = zlib.decompressobj()

    async def receive(self) -> dict[str, Any]:
        message = await self.socket.receive(timeout=2)
        if message.type is aiohttp.WSMsgType.BINARY:
            assert message.data.endswith(b"\x00\x00\xff\xff")
            data: dict[str, Any] = json.loads(self.inflate.decompress(message.data))
            return data
        assert message.type is aiohttp.WSMsgType.TEXT, message
        text: dict[str, Any] = json.loads(message.data)
        return text

    async def send(self, op: int, data: object) -> None:
        await self.socket.send_str(json.dumps({"op": op, "d": data}))

    async def dispatch(self, event: str) -> dict[str, Any]:
        while True:
            payload = await self.receive()
            if payload.get("t") == event:
                return payload


async def connect(http: aiohttp.ClientSession, wire: WireFront, compress: bool) -> Gateway:
    query = "?v=10&encoding=json" + ("&compress=zlib-stream" if compress else "")
    return Gateway(await http.ws_connect(wire.gateway_url + query))


async def test_an_unknown_token_is_401_with_code_0(
    wire: WireFront, http: aiohttp.ClientSession
) -> None:
    async with http.get(wire.api_url + "/users/@me", headers={"Authorization": "Bot nope"}) as r:
        body = await r.json()

    assert r.status == 401
    assert body["code"] == 0


async def test_invalid_form_body_names_each_field_in_discords_nested_shape(
    wire: WireFront, http: aiohttp.ClientSession, guild: StandardGuild
) -> None:
    url = f"{wire.api_url}/channels/{guild.general_id}/messages"
    body = {"embeds": [{"title": "t" * 300}], "nonce": "n1"}

    async with http.post(url, json=body, headers=AUTH) as r:
        answer = await r.json()

    assert r.status == 400
    assert r.headers["Content-Type"] == "application/json"
    assert answer["code"] == 50035
    assert "_errors" in answer["errors"]["embeds"]["0"]["title"]


async def test_a_429_carries_retry_after_and_discords_rate_limit_headers(
    wire: WireFront, http: aiohttp.ClientSession, guild: StandardGuild
) -> None:
    url = f"{wire.api_url}/channels/{guild.general_id}/messages"
    async with http.post(url, json={"content": "a", "nonce": "1"}, headers=AUTH) as first:
        sent = await first.json()

    async with http.post(url, json={"content": "b", "nonce": "2"}, headers=AUTH) as r:
        body = await r.json()

    assert sent["nonce"] == "1"
    assert r.status == 429
    assert body["retry_after"] > 0
    assert body["global"] is False
    assert r.headers["X-RateLimit-Scope"] == "user"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert "X-RateLimit-Bucket" in r.headers
    assert int(r.headers["Retry-After"]) >= 1


async def test_identify_gets_ready_then_the_full_guild_over_zlib_stream(
    wire: WireFront, http: aiohttp.ClientSession, guild: StandardGuild
) -> None:
    gateway = await connect(http, wire, compress=True)
    hello = await gateway.receive()

    await gateway.send(2, {"token": "good-token", "intents": 0, "properties": {}})
    ready = await gateway.dispatch("READY")
    created = await gateway.dispatch("GUILD_CREATE")

    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    assert ready["s"] == 1
    assert ready["d"]["user"]["id"] == str(guild.bot_id)
    assert ready["d"]["guilds"] == [{"id": str(guild.guild_id), "unavailable": True}]
    assert ready["d"]["resume_gateway_url"] == wire.gateway_url
    assert created["d"]["owner_id"] == str(guild.owner_id)
    assert created["d"]["member_count"] == len(created["d"]["members"]) == 4
    staff = next(c for c in created["d"]["channels"] if c["name"] == "staff-only")
    assert len(staff["permission_overwrites"]) == 2
    await gateway.socket.close()


async def test_a_heartbeat_is_acknowledged_on_a_plain_text_connection(
    wire: WireFront, http: aiohttp.ClientSession
) -> None:
    gateway = await connect(http, wire, compress=False)
    await gateway.receive()

    await gateway.send(1, None)

    assert (await gateway.receive())["op"] == 11
    await gateway.socket.close()


async def test_identify_with_a_wrong_token_closes_with_4004(
    wire: WireFront, http: aiohttp.ClientSession
) -> None:
    gateway = await connect(http, wire, compress=False)
    await gateway.receive()

    await gateway.send(2, {"token": "wrong"})
    closing = await gateway.socket.receive(timeout=2)

    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 4004


async def test_resume_replays_what_was_missed_then_says_resumed(
    wire: WireFront, http: aiohttp.ClientSession, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    gateway = await connect(http, wire, compress=True)
    await gateway.receive()
    await gateway.send(2, {"token": "good-token"})
    ready = await gateway.dispatch("READY")
    last = (await gateway.dispatch("GUILD_CREATE"))["s"]
    await gateway.socket.close()

    sim.post_as(guild.member_id, guild.general_id, MessagePayload(content="while away"))
    again = await connect(http, wire, compress=True)
    await again.receive()
    resume = {"token": "good-token", "session_id": ready["d"]["session_id"], "seq": last}
    await again.send(6, resume)
    missed = await again.dispatch("MESSAGE_CREATE")
    resumed = await again.dispatch("RESUMED")

    assert missed["s"] == last + 1
    assert missed["d"]["content"] == "while away"
    assert resumed["s"] == last + 2
    await again.socket.close()


async def test_resuming_an_unknown_session_is_invalid_session_false(
    wire: WireFront, http: aiohttp.ClientSession
) -> None:
    gateway = await connect(http, wire, compress=False)
    await gateway.receive()

    await gateway.send(6, {"token": "good-token", "session_id": "nope", "seq": 3})

    assert await gateway.receive() == {"op": 9, "d": False}
    await gateway.socket.close()


async def test_messages_in_a_channel_the_bot_cannot_view_are_not_dispatched(
    wire: WireFront, http: aiohttp.ClientSession, sim: DiscordSimulator, guild: StandardGuild
) -> None:
    gateway = await connect(http, wire, compress=False)
    await gateway.receive()
    await gateway.send(2, {"token": "good-token"})
    await gateway.dispatch("GUILD_CREATE")

    sim.post_as(guild.owner_id, guild.staff_only_id, MessagePayload(content="secret"))
    sim.post_as(guild.owner_id, guild.general_id, MessagePayload(content="public"))
    seen = await gateway.dispatch("MESSAGE_CREATE")

    assert seen["d"]["content"] == "public"
    await gateway.socket.close()
