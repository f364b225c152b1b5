"""Driving the real cog through real discord.py against the simulator's wire front.

A ``CogBot`` loads ``apex_setup.cog`` in ``setup_hook``, on a SQLite file and the simulator's
clock. ``Driver`` acts as the simulated members (prefix commands, slash commands, buttons,
selects) and waits for the bot's answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from discord.ext import commands

from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.cog import ApexSetup, PanelActions
from apex_setup.composition import SetupConfig, open_store
from apex_setup.core.discord_types import MessageInfo
from apex_setup.core.payload import MessagePayload
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    InteractionResponse,
    StandardGuild,
)
from apex_setup.fakes.sim_client import BotThread, bot_intents

#: What must never reach a Discord user: exception text, tracebacks, SQL, library names.
LEAK_MARKERS = re.compile(
    r"Traceback|Error:|Exception|SELECT |INSERT |UPDATE |sqlite|peewee|File \"",
    re.IGNORECASE,
)


class CogBot(commands.Bot):
    """A bot that loads the cog at startup, as a bot owner would."""

    async def setup_hook(self) -> None:
        await self.load_extension("apex_setup.cog")


def cog_bot_factory(
    sim: DiscordSimulator, db_path: Path, actions: PanelActions | None = None
) -> Callable[[], commands.Bot]:
    def factory() -> commands.Bot:
        bot = CogBot(command_prefix="!", intents=bot_intents(), guild_ready_timeout=0.05)
        bot.apex_setup_config = SetupConfig(  # type: ignore[attr-defined]
            database_url=f"sqlite:///{db_path}", clock=sim.clock
        )
        if actions is not None:
            bot.apex_setup_actions = actions  # type: ignore[attr-defined]
        return bot

    return factory


def start_cog_bot(
    sim: DiscordSimulator,
    guild: StandardGuild,
    db_path: Path,
    *,
    actions: PanelActions | None = None,
    wait_ready: bool = True,
) -> BotThread:
    runner = BotThread(sim, guild.bot_id, bot_factory=cog_bot_factory(sim, db_path, actions))
    runner.start()
    if wait_ready:
        cog = _cog(runner)
        runner.wait_until(lambda: cog.ready, timeout=5.0)
    return runner


def _cog(runner: BotThread) -> ApexSetup:
    # load_extension executes apex_setup.cog afresh, so the class is not the one imported here.
    cog = runner.call(lambda: runner.bot.get_cog("ApexSetup"))
    assert type(cog).__name__ == "ApexSetup"
    return cast(ApexSetup, cog)


@dataclass
class Driver:
    sim: DiscordSimulator
    guild: StandardGuild
    runner: BotThread
    db_path: Path

    @property
    def cog(self) -> ApexSetup:
        return _cog(self.runner)

    # -- acting as members ----------------------------------------------------------------

    def say(self, user_id: int, content: str, channel_id: int | None = None) -> None:
        channel = channel_id or self.guild.general_id
        self.sim.post_as(user_id, channel, MessagePayload(content=content))

    def slash(self, user_id: int, name: str, **options: str | int) -> int:
        """Run a slash command; returns the interaction id."""
        return self.sim.run_command(user_id, self.guild.general_id, name, options or None).id

    def press(self, user_id: int, message: MessageInfo, custom_id: str) -> None:
        self.sim.press_button(user_id, message.channel_id, message.id, custom_id)

    def choose(self, user_id: int, message: MessageInfo, custom_id: str, *values: str) -> None:
        self.runner.wire.choose_values(
            user_id, message.channel_id, message.id, custom_id, list(values)
        )

    # -- reading what the bot did -----------------------------------------------------------

    def bot_messages(self, channel_id: int | None = None) -> list[MessageInfo]:
        channel = channel_id or self.guild.general_id
        return [m for m in self.sim.messages(channel) if m.author_id == self.guild.bot_id]

    def wait_for_message(
        self, predicate: Callable[[MessageInfo], bool], channel_id: int | None = None
    ) -> MessageInfo:
        """The newest bot message in the channel that satisfies ``predicate``."""
        found: list[MessageInfo] = []

        def check() -> bool:
            found[:] = [m for m in self.bot_messages(channel_id) if predicate(m)]
            return bool(found)

        self.runner.wait_until(check, timeout=5.0)
        return found[-1]

    def wait_for_text(self, text: str, channel_id: int | None = None) -> MessageInfo:
        return self.wait_for_message(lambda m: text in m.payload.content, channel_id)

    def refreshed(self, message: MessageInfo) -> MessageInfo:
        """The message as stored now (after edits); ephemeral ones too."""
        for candidate in self.sim.messages(message.channel_id):
            if candidate.id == message.id:
                return candidate
        for user_id in (self.guild.admin_id, self.guild.owner_id, self.guild.member_id):
            for candidate in self.sim.ephemeral_messages(user_id):
                if candidate.id == message.id:
                    return candidate
        raise AssertionError(f"message {message.id} is gone")

    def wait_until_edited(self, message: MessageInfo, text: str) -> MessageInfo:
        current: list[MessageInfo] = []

        def check() -> bool:
            current[:] = [self.refreshed(message)]
            return text in current[0].payload.content

        try:
            self.runner.wait_until(check, timeout=5.0)
        except AssertionError:
            shown = current[0].payload.content if current else "?"
            raise AssertionError(f"never showed {text!r}; last: {shown!r}") from None
        return current[0]

    def ephemeral_for(self, user_id: int, text: str) -> MessageInfo:
        found: list[MessageInfo] = []

        def check() -> bool:
            found[:] = [
                m for m in self.sim.ephemeral_messages(user_id) if text in m.payload.content
            ]
            return bool(found)

        self.runner.wait_until(check, timeout=5.0)
        return found[-1]

    def responses_to(self, interaction_id: int) -> list[InteractionResponse]:
        return [r for r in self.sim.interaction_responses if r.interaction_id == interaction_id]

    def settle(self, seconds: float = 0.15) -> None:
        """Give the bot a moment to (not) act, for assertions that nothing happened."""
        time.sleep(seconds)

    def store(self) -> PeeweeStore:
        """A second connection to the bot's database, for assertions (close it after)."""
        return open_store(f"sqlite:///{self.db_path}")


def leaked_texts(sim: DiscordSimulator, guild: StandardGuild) -> list[str]:
    """Every text the bot showed anyone that looks like exception text, SQL or a traceback."""
    texts: list[str] = []
    users = (guild.owner_id, guild.admin_id, guild.member_id)
    messages = [*sim.all_messages(guild.guild_id)]
    for user in users:
        messages.extend(sim.ephemeral_messages(user))
    for message in messages:
        if message.author_id != guild.bot_id:
            continue
        payload = message.payload
        texts.append(payload.content)
        texts.extend(f"{e.title} {e.description}" for e in payload.embeds)
    for response in sim.interaction_responses:
        if response.payload is not None:
            texts.append(response.payload.content)
    return [t for t in texts if LEAK_MARKERS.search(t)]
