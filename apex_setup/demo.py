"""The demo: the setup wizard through real discord.py, in a simulated guild, with a fault.

A bot with the apex-setup cog logs in to the simulator's wire front, exactly as it would to
Discord. A simulated administrator runs ``!setup`` and uses the real UI (the panel-type select,
a channel select per panel, Confirm). Then a second setup meets a database failure at its commit:
the bot shows what it rolled back and the reference id, and the administrator presses Retry. The
bot restarts, a member presses a panel button that the restarted bot still answers, and the
consistency check runs on what Discord and the database hold. No token and no network needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from discord.ext import commands

from apex_setup.cog_views import WizardIds
from apex_setup.composition import SetupConfig, build_context, open_store
from apex_setup.core.consistency import check_guild
from apex_setup.core.discord_types import MessageInfo
from apex_setup.core.errors import StorageFailure
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.faults import FaultPlan, FaultRule
from apex_setup.fakes.sim_client import BotThread, bot_intents

__all__ = ["DemoBot", "run_demo"]

_log = logging.getLogger(__name__)

#: How long the demo waits for the bot to answer one action.
ANSWER_TIMEOUT = 10.0


class DemoBot(commands.Bot):
    """The bot of the demo: loads the cog in ``setup_hook``, as a bot owner's bot would."""

    async def setup_hook(self) -> None:
        await self.load_extension("apex_setup.cog")


class _Scene:
    """The simulated guild, the bot thread, and the people in the story."""

    def __init__(self, sim: DiscordSimulator, guild: StandardGuild, out: TextIO) -> None:
        self.sim = sim
        self.guild = guild
        self.out = out
        self.runner: BotThread | None = None

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def start_bot(self, config: SetupConfig) -> None:
        def factory() -> commands.Bot:
            bot = DemoBot(command_prefix="!", intents=bot_intents(), guild_ready_timeout=0.05)
            bot.apex_setup_config = config  # type: ignore[attr-defined]
            return bot

        runner = BotThread(self.sim, self.guild.bot_id, bot_factory=factory)
        runner.start()
        self.runner = runner
        cog = runner.call(lambda: runner.bot.get_cog("ApexSetup"))
        self._wait(lambda: bool(getattr(cog, "ready", False)), "the bot to finish starting up")

    def stop_bot(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the demo waited too long for {what}")
            time.sleep(0.01)

    # -- acting and watching ------------------------------------------------------------------

    def admin_says(self, content: str) -> MessageInfo:
        self.say(f"  admin > {content}")
        before = {m.id for m in self.sim.messages(self.guild.general_id)}
        self.sim.post_as(
            self.guild.admin_id, self.guild.general_id, MessagePayload(content=content)
        )
        found: list[MessageInfo] = []

        def answered() -> bool:
            found[:] = [
                m
                for m in self.sim.messages(self.guild.general_id)
                if m.id not in before and m.author_id == self.guild.bot_id
            ]
            return bool(found)

        self._wait(answered, f"an answer to {content}")
        self.show(found[-1])
        return found[-1]

    def choose(self, message: MessageInfo, custom_id: str, values: list[str], shown: str) -> None:
        self.say(f"  admin picks {shown}")
        assert self.runner is not None
        self.runner.wire.choose_values(
            self.guild.admin_id, message.channel_id, message.id, custom_id, values
        )

    def press(self, user_id: int, message: MessageInfo, custom_id: str, who: str) -> None:
        self.say(f"  {who} presses [{custom_id}]")
        self.sim.press_button(user_id, message.channel_id, message.id, custom_id)

    def edited(self, message: MessageInfo, text: str) -> MessageInfo:
        current: list[MessageInfo] = []

        def shows() -> bool:
            current[:] = [m for m in self.sim.messages(message.channel_id) if m.id == message.id]
            return bool(current) and text in current[0].payload.content

        self._wait(shows, f"the bot to show {text!r}")
        self.show(current[0])
        return current[0]

    def show(self, message: MessageInfo) -> None:
        lines = message.payload.content.splitlines() or [""]
        self.say(f"  bot   | {lines[0]}")
        for line in lines[1:]:
            self.say(f"        | {line}")
        controls = message.payload.custom_ids()
        if controls:
            self.say(f"        | controls: {', '.join(controls)}")

    def ephemeral(self, user_id: int, text: str) -> MessageInfo:
        found: list[MessageInfo] = []

        def shown() -> bool:
            found[:] = [
                m for m in self.sim.ephemeral_messages(user_id) if text in m.payload.content
            ]
            return bool(found)

        self._wait(shown, f"an answer containing {text!r}")
        self.say(f"  bot   | (only the presser sees) {found[-1].payload.content}")
        return found[-1]


def run_demo(database_url: str | None = None, *, out: TextIO, workdir: Path | None = None) -> int:
    """Run the scripted demo; returns 0 when the guild ends consistent."""
    if database_url is None:
        path = (workdir or Path.cwd()) / "apex_setup_demo.db"
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        database_url = f"sqlite:///{path}"

    # The simulator's clock starts now: discord.py judges interactions by the real clock.
    clock = FakeClock(datetime.now(timezone.utc))
    plan = FaultPlan(sleep=clock.advance)
    sim = DiscordSimulator(clock, faults=plan, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    config = SetupConfig(database_url=database_url, clock=clock, faults=plan)
    scene = _Scene(sim, guild, out)
    scene.say(f"A simulated guild; the bot's database is {database_url}.")
    scene.say("The bot is a discord.py commands.Bot that loads apex_setup.cog, logged in to")
    scene.say("the simulator's wire front as it would log in to Discord.")
    try:
        scene.start_bot(config)
        _first_setup(scene)
        _setup_with_a_fault(scene, plan)
        _restart(scene, config)
    finally:
        scene.stop_bot()
    return _consistency(scene, database_url, clock)


def _first_setup(scene: _Scene) -> None:
    guild = scene.guild
    scene.say("\n1. The admin sets up the rules and FAQ panels with the wizard")
    menu = scene.admin_says("!setup")
    scene.choose(menu, WizardIds.TYPES, ["rules", "faq"], "the panel types: rules, faq")
    menu = scene.edited(menu, "(1 of 2)")
    scene.choose(menu, WizardIds.CHANNEL, [str(guild.rules_id)], "the channel #rules")
    menu = scene.edited(menu, "(2 of 2)")
    scene.choose(menu, WizardIds.CHANNEL, [str(guild.support_id)], "the channel #support")
    menu = scene.edited(menu, "the plan")
    scene.press(guild.admin_id, menu, WizardIds.CONFIRM, "admin")
    scene.edited(menu, "Setup complete")


def _setup_with_a_fault(scene: _Scene, plan: FaultPlan) -> None:
    guild = scene.guild
    scene.say("\n2. The admin adds a welcome panel; the database fails at the commit")
    menu = scene.admin_says("!setup")
    scene.choose(menu, WizardIds.TYPES, ["welcome"], "the panel type: welcome")
    menu = scene.edited(menu, "(1 of 1)")
    scene.choose(menu, WizardIds.CHANNEL, [str(guild.general_id)], "the channel #general")
    menu = scene.edited(menu, "the plan")
    # The deploy writes the journal twice: its intent before posting, then the commit.
    plan.add(
        FaultRule(
            "journal.apply",
            error=lambda: StorageFailure("The bot's database is not available right now."),
            occurrence=plan.count("journal.apply") + 2,
        )
    )
    scene.say("  (fault injected: the database fails when the welcome panel commits)")
    scene.press(guild.admin_id, menu, WizardIds.CONFIRM, "admin")
    menu = scene.edited(menu, "Retry this panel")
    live = [m for m in scene.sim.messages(guild.general_id) if "apex:welcome" in str(m.payload)]
    scene.say(f"  welcome panel messages live in #general now: {len(live)}")
    scene.press(guild.admin_id, menu, WizardIds.RETRY, "admin")
    scene.edited(menu, "Setup complete")


def _restart(scene: _Scene, config: SetupConfig) -> None:
    guild = scene.guild
    scene.say("\n3. The bot restarts; a member presses a button on the rules panel")
    scene.stop_bot()
    scene.start_bot(config)
    scene.say("  bot restarted: startup recovery ran, panel views registered again")
    (panel,) = [m for m in scene.sim.messages(guild.rules_id) if m.author_id == guild.bot_id]
    scene.press(guild.member_id, panel, panel.payload.custom_ids()[0], "member")
    scene.ephemeral(guild.member_id, "Noted:")


def _consistency(scene: _Scene, database_url: str, clock: FakeClock) -> int:
    scene.say("\n4. Consistency check: what Discord shows against what the database holds")
    store = open_store(database_url)
    try:
        ctx = build_context(scene.sim.port(scene.guild.bot_id), store, clock=clock)
        report = check_guild(ctx, scene.guild.guild_id)
        for line in report.lines():
            scene.say(f"  {line}")
    finally:
        store.close()
    return 0 if report.consistent else 1
