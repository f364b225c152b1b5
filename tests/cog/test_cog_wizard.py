"""The setup wizard through the real cog, real discord.py and the simulator's wire front."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from cog_harness import Driver

from apex_setup.cog_views import WizardIds
from apex_setup.core.errors import DiscordForbidden
from apex_setup.core.wizard import WizardPhase
from apex_setup.fakes.faults import FaultRule


def open_wizard(driver: Driver, user_id: int | None = None):  # type: ignore[no-untyped-def]
    driver.say(user_id or driver.guild.admin_id, "!setup")
    return driver.wait_for_text("choose the panels")


def walk_to_confirmation(driver: Driver):  # type: ignore[no-untyped-def]
    admin, guild = driver.guild.admin_id, driver.guild
    menu = open_wizard(driver)
    driver.choose(admin, menu, WizardIds.TYPES, "rules", "faq")
    menu = driver.wait_until_edited(menu, "channel for the **rules** panel (1 of 2)")
    driver.choose(admin, menu, WizardIds.CHANNEL, str(guild.rules_id))
    menu = driver.wait_until_edited(menu, "channel for the **faq** panel (2 of 2)")
    driver.choose(admin, menu, WizardIds.CHANNEL, str(guild.support_id))
    return driver.wait_until_edited(menu, "the plan")


def test_an_admin_sets_up_two_panels_by_choosing_types_channels_and_confirming(
    driver: Driver,
) -> None:
    guild = driver.guild
    menu = walk_to_confirmation(driver)
    assert f"- rules in <#{guild.rules_id}>: new" in menu.payload.content
    assert WizardIds.CONFIRM in menu.payload.custom_ids()

    driver.press(guild.admin_id, menu, WizardIds.CONFIRM)

    final = driver.wait_until_edited(menu, "Setup complete")
    assert f"- rules: posted in <#{guild.rules_id}>" in final.payload.content
    assert final.payload.custom_ids() == []
    assert len(driver.bot_messages(guild.rules_id)) == 1
    assert len(driver.bot_messages(guild.support_id)) == 1
    store = driver.store()
    try:
        assert {p.panel_type for p in store.list_panels(guild.guild_id)} == {"rules", "faq"}
        assert store.open_operations() == []
    finally:
        store.close()


def test_the_plan_says_when_a_panel_is_replaced_or_moved(driver: Driver) -> None:
    guild = driver.guild
    driver.say(guild.admin_id, "!setup rules=#rules faq=#general")
    driver.wait_for_text("Setup complete")

    menu = walk_to_confirmation(driver)

    assert f"- rules in <#{guild.rules_id}>: replaces the current one" in menu.payload.content
    assert f"- faq in <#{guild.support_id}>: moves from <#{guild.general_id}>" in (
        menu.payload.content
    )


def test_a_channel_the_bot_cannot_post_in_is_refused_with_the_cores_reason(
    driver: Driver,
) -> None:
    admin, guild = driver.guild.admin_id, driver.guild
    menu = open_wizard(driver)
    driver.choose(admin, menu, WizardIds.TYPES, "rules")
    menu = driver.wait_until_edited(menu, "channel for the **rules** panel")

    driver.choose(admin, menu, WizardIds.CHANNEL, str(guild.read_only_id))

    menu = driver.wait_until_edited(menu, "missing permissions")
    assert "reference" in menu.payload.content
    assert WizardIds.CHANNEL in menu.payload.custom_ids()
    store = driver.store()
    try:
        (session,) = store.list_sessions(guild.guild_id)
        assert session.phase is WizardPhase.CHOOSING_CHANNELS
        assert session.channels == {}
    finally:
        store.close()


def test_a_failed_deploy_shows_the_rollback_and_reference_and_retry_deploys_it(
    driver: Driver,
) -> None:
    guild = driver.guild
    menu = walk_to_confirmation(driver)
    driver.sim.faults.add(
        FaultRule(
            "discord.send_message",
            error=lambda: DiscordForbidden("no", status=403, discord_code=50013),
            times=1,
        )
    )

    driver.press(guild.admin_id, menu, WizardIds.CONFIRM)

    failed = driver.wait_until_edited(menu, "Retry this panel")
    assert "- rules: failed." in failed.payload.content
    assert "(reference " in failed.payload.content
    assert "Nothing had been changed." in failed.payload.content
    assert failed.payload.custom_ids() == [WizardIds.RETRY, WizardIds.ABANDON]
    assert driver.bot_messages(guild.rules_id) == []

    driver.press(guild.admin_id, failed, WizardIds.RETRY)

    done = driver.wait_until_edited(failed, "Setup complete")
    assert "rules, faq" in done.payload.content
    assert len(driver.bot_messages(guild.rules_id)) == 1


def test_abandon_after_a_failure_ends_the_setup_and_keeps_what_was_deployed(
    driver: Driver,
) -> None:
    guild = driver.guild
    menu = walk_to_confirmation(driver)
    sent = driver.sim.faults.count("discord.send_message")
    driver.sim.faults.add(
        FaultRule(
            "discord.send_message",
            error=lambda: DiscordForbidden("no", status=403, discord_code=50013),
            occurrence=sent + 2,
        )
    )
    driver.press(guild.admin_id, menu, WizardIds.CONFIRM)
    failed = driver.wait_until_edited(menu, "Retry this panel")

    driver.press(guild.admin_id, failed, WizardIds.ABANDON)

    ended = driver.wait_until_edited(failed, "Setup cancelled")
    assert "panels already deployed stay: rules" in ended.payload.content
    assert len(driver.bot_messages(guild.rules_id)) == 1
    assert driver.bot_messages(guild.support_id) == []


def test_another_member_pressing_the_admins_wizard_is_refused_and_changes_nothing(
    driver: Driver,
) -> None:
    guild = driver.guild
    menu = open_wizard(driver)

    driver.choose(guild.owner_id, menu, WizardIds.TYPES, "rules")

    driver.ephemeral_for(guild.owner_id, "These controls belong to")
    store = driver.store()
    try:
        assert store.list_sessions(guild.guild_id) == []
    finally:
        store.close()


def test_a_member_without_manage_server_cannot_start_the_wizard(driver: Driver) -> None:
    driver.say(driver.guild.member_id, "!setup")

    driver.wait_for_text("Only the server owner")
    store = driver.store()
    try:
        assert store.list_sessions(driver.guild.guild_id) == []
    finally:
        store.close()


def test_setup_again_resumes_the_stored_session_where_it_was(driver: Driver) -> None:
    admin, guild = driver.guild.admin_id, driver.guild
    menu = open_wizard(driver)
    driver.choose(admin, menu, WizardIds.TYPES, "rules", "faq")
    menu = driver.wait_until_edited(menu, "(1 of 2)")
    driver.choose(admin, menu, WizardIds.CHANNEL, str(guild.rules_id))
    driver.wait_until_edited(menu, "(2 of 2)")

    driver.say(admin, "!setup")

    resumed = driver.wait_for_text("Resuming your setup")
    assert "channel for the **faq** panel (2 of 2)" in resumed.payload.content


def test_the_one_line_form_runs_the_whole_wizard_and_replies_with_the_summary(
    driver: Driver,
) -> None:
    guild = driver.guild

    driver.say(guild.admin_id, f"!setup rules=<#{guild.rules_id}> faq=#support")

    reply = driver.wait_for_text("Setup complete")
    assert f"- faq: posted in <#{guild.support_id}>" in reply.payload.content
    assert len(driver.bot_messages(guild.rules_id)) == 1


def test_the_one_line_form_with_an_unknown_channel_changes_nothing_and_frees_the_guild(
    driver: Driver,
) -> None:
    guild = driver.guild

    driver.say(guild.admin_id, "!setup rules=#nowhere")

    reply = driver.wait_for_text("no channel called #nowhere")
    assert "reference" in reply.payload.content
    assert driver.bot_messages(guild.rules_id) == []
    driver.say(guild.admin_id, "!setup rules=#rules")
    driver.wait_for_text("Setup complete")


def test_slash_setup_answers_ephemerally_and_the_wizard_works_there(driver: Driver) -> None:
    admin, guild = driver.guild.admin_id, driver.guild
    driver.runner.run(driver.runner.bot.tree.sync())

    driver.slash(admin, "setup")

    menu = driver.ephemeral_for(admin, "choose the panels")
    driver.choose(admin, menu, WizardIds.TYPES, "rules")
    menu = driver.wait_until_edited(menu, "channel for the **rules** panel")
    driver.choose(admin, menu, WizardIds.CHANNEL, str(guild.rules_id))
    menu = driver.wait_until_edited(menu, "the plan")
    driver.press(admin, menu, WizardIds.CONFIRM)
    driver.wait_until_edited(menu, "Setup complete")
    assert len(driver.bot_messages(guild.rules_id)) == 1
    assert [m for m in driver.bot_messages() if "choose the panels" in m.payload.content] == []


def test_near_the_end_of_the_interaction_token_progress_is_posted_in_the_channel(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    guild = driver.guild
    menu = walk_to_confirmation(driver)
    monkeypatch.setattr(sys.modules["apex_setup.cog"], "TOKEN_MARGIN", timedelta(0))

    driver.press(guild.admin_id, menu, WizardIds.CONFIRM)

    driver.wait_for_text("Setup complete")
    assert "Setup complete" not in driver.refreshed(menu).payload.content
    assert len(driver.bot_messages(guild.rules_id)) == 1


def test_a_second_admin_is_told_who_is_running_setup_and_gets_no_wizard(driver: Driver) -> None:
    guild = driver.guild
    menu = open_wizard(driver)
    driver.choose(guild.admin_id, menu, WizardIds.TYPES, "rules")
    driver.wait_until_edited(menu, "channel for the **rules** panel")

    driver.say(guild.owner_id, "!setup")

    reply = driver.wait_for_text("Setup is already in progress in this server")
    assert f"<@{guild.admin_id}>" in reply.payload.content
    assert reply.payload.custom_ids() == []
