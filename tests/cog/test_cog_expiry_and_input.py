"""Expired controls, expired sessions, echoed input and startup failures of `apex-setup run`."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from cog_harness import Driver
from test_cog_wizard import open_wizard, walk_to_confirmation

from apex_setup import cli
from apex_setup.cog_views import WizardIds


def test_a_press_on_controls_whose_view_timed_out_is_answered(driver: Driver) -> None:
    guild = driver.guild
    menu = walk_to_confirmation(driver)
    cog = driver.cog
    driver.runner.call(lambda: [v._dispatch_timeout() for v in list(cog._views)])

    press = driver.sim.press_button(guild.admin_id, menu.channel_id, menu.id, WizardIds.CONFIRM)

    driver.runner.wait_until(lambda: bool(driver.responses_to(press.id)), timeout=5)
    assert driver.bot_messages(guild.rules_id) == []  # nothing was deployed by that press


def test_an_expired_but_unswept_session_does_not_block_another_admin(driver: Driver) -> None:
    guild = driver.guild
    menu = open_wizard(driver)
    driver.choose(guild.admin_id, menu, WizardIds.TYPES, "rules")
    driver.wait_until_edited(menu, "channel for the **rules** panel")
    driver.sim.clock.advance(minutes=31)

    driver.say(guild.owner_id, "!setup")

    reply = driver.wait_for_text("choose the panels to set up")
    assert reply is not None
    texts = [m.payload.content for m in driver.bot_messages()]
    assert not any("already in progress" in t for t in texts)


def test_the_owner_of_an_expired_session_gets_a_fresh_wizard(driver: Driver) -> None:
    guild = driver.guild
    menu = open_wizard(driver)
    driver.choose(guild.admin_id, menu, WizardIds.TYPES, "rules")
    driver.wait_until_edited(menu, "channel for the **rules** panel")
    driver.sim.clock.advance(minutes=31)
    before = len(driver.bot_messages())

    driver.say(guild.admin_id, "!setup")

    driver.runner.wait_until(lambda: len(driver.bot_messages()) > before, timeout=5)
    assert "choose the panels" in driver.bot_messages()[-1].payload.content


def test_echoed_input_pings_nobody(driver: Driver) -> None:
    driver.say(driver.guild.admin_id, "!setup-remove @everyone")

    reply = driver.wait_for_text("Unknown panel type")

    assert "@everyone" not in reply.payload.content


class _Status:
    status = 503
    reason = "Service Unavailable"


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (lambda: discord.PrivilegedIntentsRequired(None), "intents"),
        (lambda: discord.DiscordServerError(_Status(), "upstream"), "HTTP 503"),  # type: ignore[arg-type]
    ],
    ids=["intents-not-enabled", "discord-5xx-at-login"],
)
def test_a_common_startup_failure_of_run_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    error: object,
    words: str,
) -> None:
    async def start(self: discord.Client, token: str, *, reconnect: bool = True) -> None:
        raise error()  # type: ignore[operator]

    monkeypatch.setattr(discord.Client, "start", start)
    monkeypatch.setenv("DISCORD_TOKEN", "x.y.z")

    status = cli.main(["run", "--database", f"sqlite:///{tmp_path}/bot.db"])

    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0
    assert words in err[-1]
    assert not any("Traceback" in line for line in err)
