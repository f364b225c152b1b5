"""The simulator's wire front: Discord's REST API and gateway on a loopback port.

Unmodified discord.py can log in to a ``DiscordSimulator`` through it; everything it does lands in
the same state the in-process ``port()`` sees, and everything tests do in-process (``post_as``,
``press_button``...) reaches the bot through the gateway. The REST half is ``sim_rest``, the
gateway half ``sim_gateway``; ``apex_setup.fakes.sim_client`` points discord.py at a front.

    sim = DiscordSimulator(rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    wire = WireFront(sim)
    token = wire.token_for(guild.bot_id)
    base_url = await wire.start()            # or wire.start_in_thread() from sync code
    ...
    await wire.stop()

Or as its own process (prints one JSON line with the URL, the token and the guild's ids):

    python -m apex_setup.fakes.sim_wire --port 8765

For tests that drive a bot in another process, ``--control`` adds a small test-only control
API under ``/_sim`` (no authentication; never part of Discord's API): ``POST /_sim/post_as``
``{"user_id", "channel_id", "content"}`` posts a message as a member; ``GET
/_sim/messages?channel_id=N`` lists a channel's messages (id, author_id, content, custom_ids);
``POST /_sim/send_delay`` ``{"seconds"}`` makes the message-create route hold its answer that
long after the message exists (also ``--send-delay``), so a test can kill the bot mid-send.

Time: the simulator's clock is its own (nonce windows, rate-limit windows, interaction deadlines
read it) while discord.py lives in real time (it sleeps ``retry_after`` for real). Choose in the
constructor: ``follow_real_time=False`` (the default) leaves a ``FakeClock`` still until the test
advances it - a 429 then lasts until the test moves the clock; ``follow_real_time=True`` advances
a ``FakeClock`` by the real time elapsed before each request and gateway message, so buckets
refill and deadlines pass as they would on Discord. A simulator built on a real clock
(``apex_setup.adapters.clock.SystemClock``) is real time either way.

Invariants:
- One aiohttp application serves both halves, on one event loop; handlers call the simulator
  directly (its calls are in-memory and short) and never await while holding its lock.
- Tokens map to bot users only through ``register_bot``; an unknown token is 401 on REST and
  close code 4004 on the gateway.
- ``stop`` unsubscribes from the simulator before closing sockets, so nothing is delivered to a
  closed loop; the simulator's state outlives the front.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import secrets
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from aiohttp import web

from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    Interaction,
    RateLimitConfig,
    SimulatorUsageError,
)
from apex_setup.fakes.sim_gateway import GatewayHub
from apex_setup.fakes.sim_rest import API_PREFIX, RestApi

__all__ = ["CONTROL_PREFIX", "GATEWAY_PATH", "WireFront", "main"]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: Where the gateway's websocket listens.
GATEWAY_PATH = "/gateway"
#: Where the test-only control API lives (see the module docstring).
CONTROL_PREFIX = "/_sim"


class WireFront:
    """Serves one ``DiscordSimulator`` to real Discord clients over HTTP and a websocket.

    Args:
        sim: the simulator to serve.
        host: the interface to listen on (loopback by default).
        port: the TCP port; 0 picks a free one.
        follow_real_time: advance a ``FakeClock`` by the real time elapsed (see the module
            docstring); ignored for other clocks.
        control: serve the test-only control API under ``/_sim`` (see the module docstring).
    """

    def __init__(
        self,
        sim: DiscordSimulator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        follow_real_time: bool = False,
        control: bool = False,
    ) -> None:
        self.sim = sim
        self.control = control
        self.host = host
        self.port = port
        self.follow_real_time = follow_real_time
        self._bots: dict[str, int] = {}
        self._base_url: str | None = None
        self._last_tick = time.monotonic()
        self.rest = RestApi(sim, self._bots, lambda: self.gateway_url, self._tick)
        self.gateway = GatewayHub(sim, self._bots, self.rest, lambda: self.gateway_url, self._tick)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ bots

    def register_bot(self, token: str, bot_user_id: int) -> None:
        """Let ``token`` authenticate as the bot user ``bot_user_id``."""
        with self.sim.lock:
            user = self.sim.records.users.get(bot_user_id)
            if user is None or not user.bot:
                raise SimulatorUsageError(f"user {bot_user_id} is not a bot user")
            self._bots[token] = bot_user_id

    def token_for(self, bot_user_id: int) -> str:
        """A registered token for the bot (the same one on every call)."""
        for token, known in self._bots.items():
            if known == bot_user_id:
                return token
        token = f"sim.{bot_user_id}.{secrets.token_urlsafe(12)}"
        self.register_bot(token, bot_user_id)
        return token

    def choose_values(
        self,
        user_id: int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        values: Sequence[str],
    ) -> Interaction:
        """A user picks ``values`` from any select the bot sent through this front: a string
        select with several values or a channel select too (see ``RestApi.choose_values``)."""
        return self.rest.choose_values(user_id, channel_id, message_id, custom_id, values)

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; REST lives under ``/api/v10``."""
        if self._base_url is None:
            raise SimulatorUsageError("the wire front is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """What discord.py's ``Route.BASE`` must be."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + GATEWAY_PATH

    # ------------------------------------------------------------------ running in a loop

    async def start(self) -> str:
        """Listen, inside the running loop; returns the base URL."""
        if self._runner is not None:
            raise SimulatorUsageError("the wire front is already started")
        app = web.Application()
        self.rest.add_routes(app)
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        if self.control:
            app.router.add_post(CONTROL_PREFIX + "/post_as", self._control_post_as)
            app.router.add_get(CONTROL_PREFIX + "/messages", self._control_messages)
            app.router.add_post(CONTROL_PREFIX + "/send_delay", self._control_send_delay)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        self.gateway.attach(asyncio.get_running_loop())
        _log.info("wire front listening on %s", self._base_url)
        return self._base_url

    async def stop(self) -> None:
        """Close every connection and stop listening (the simulator keeps its state)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self.gateway.detach()
        await runner.cleanup()
        _log.info("wire front on %s stopped", self._base_url)

    # ------------------------------------------------------------------ running in a thread

    def start_in_thread(self) -> str:
        """Start on a fresh event loop in a daemon thread; returns the base URL."""
        if self._thread is not None:
            raise SimulatorUsageError("the wire front's thread is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="sim-wire", daemon=True)
        thread.start()
        self._thread, self._thread_loop = thread, loop
        return self.run(self.start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the front's thread loop and wait for its result."""
        loop = self._thread_loop
        if loop is None:
            coro.close()
            raise SimulatorUsageError("the wire front is not running in a thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The thread's loop (after ``start_in_thread``), to run clients next to the front."""
        if self._thread_loop is None:
            raise SimulatorUsageError("the wire front is not running in a thread")
        return self._thread_loop

    def stop_thread(self) -> None:
        """Stop the front and its thread."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self.run(self.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5.0)
            loop.close()
            self._thread, self._thread_loop = None, None

    # ------------------------------------------------------------------ control API (tests)

    async def _control_post_as(self, request: web.Request) -> web.Response:
        body = await request.json()
        payload = MessagePayload(content=str(body["content"]))
        info = self.sim.post_as(int(body["user_id"]), int(body["channel_id"]), payload)
        return web.json_response({"id": str(info.id)})

    async def _control_messages(self, request: web.Request) -> web.Response:
        channel_id = int(request.query["channel_id"])
        messages = [
            {
                "id": str(m.id),
                "author_id": str(m.author_id),
                "content": m.payload.content,
                "custom_ids": m.payload.custom_ids(),
            }
            for m in self.sim.messages(channel_id)
        ]
        return web.json_response(messages)

    async def _control_send_delay(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.rest.send_delay = float(body["seconds"])
        return web.Response(status=204)

    # ------------------------------------------------------------------ the clock

    def _tick(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        clock = self.sim.clock
        if self.follow_real_time and isinstance(clock, FakeClock) and elapsed > 0:
            with self.sim.lock:
                clock.advance(elapsed)


# ---------------------------------------------------------------------------- as a process


async def _serve(args: argparse.Namespace) -> None:
    from apex_setup.adapters.clock import SystemClock

    limits = RateLimitConfig.disabled() if args.no_rate_limits else None
    sim = DiscordSimulator(SystemClock(), rate_limits=limits)
    guild = sim.standard_guild()
    wire = WireFront(sim, host=args.host, port=args.port, control=args.control)
    wire.rest.send_delay = args.send_delay
    token = args.token or f"sim.{guild.bot_id}.{secrets.token_urlsafe(12)}"
    wire.register_bot(token, guild.bot_id)
    url = await wire.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    info = {"url": url, "token": token, "guild": dataclasses.asdict(guild)}
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await wire.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m apex_setup.fakes.sim_wire``: a simulator with a standard guild, served."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="", help="the bot's token (random by default)")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument(
        "--control", action="store_true", help="serve the test-only control API under /_sim"
    )
    parser.add_argument(
        "--send-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="test-only: hold each message-create answer this long after the message exists",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
