"""No exception text reaches Discord: unexpected errors become a reference id and a log line."""

from __future__ import annotations

import logging
import re
import sys

import pytest
from cog_harness import Driver

from apex_setup.cog_views import WizardIds


def boom(*args: object, **kwargs: object) -> object:
    raise RuntimeError("SELECT secret FROM peewee_table -- sqlite3.OperationalError")


def test_an_unexpected_error_in_a_command_is_a_generic_reply_with_a_logged_reference(
    driver: Driver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys.modules["apex_setup.cog"], "guild_status", boom)

    with caplog.at_level(logging.ERROR, logger="apex_setup.cog"):
        driver.say(driver.guild.admin_id, "!setup-status")
        reply = driver.wait_for_text("Something went wrong on our side")

    match = re.search(r"reference ([0-9a-f]{8})", reply.payload.content)
    assert match is not None
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "SELECT" not in reply.payload.content


def test_an_unexpected_error_in_a_wizard_click_is_a_generic_ephemeral_reply(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = driver.guild.admin_id
    driver.say(admin, "!setup")
    menu = driver.wait_for_text("choose the panels")
    monkeypatch.setattr(driver.cog.services.wizard, "start", boom)

    driver.choose(admin, menu, WizardIds.TYPES, "rules")

    answer = driver.ephemeral_for(admin, "Something went wrong on our side")
    assert "(reference " in answer.payload.content
