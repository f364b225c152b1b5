"""Status, cleanup, remove and audit channel through the real cog, as admins and as others."""

from __future__ import annotations

import pytest
from cog_harness import Driver

from apex_setup.cog_views import WizardIds
from apex_setup.core.panels import PanelCatalogue


def deploy(driver: Driver, assignments: str) -> None:
    driver.say(driver.guild.admin_id, f"!setup {assignments}")
    driver.wait_for_text("Setup complete")


def post_orphan_panel(driver: Driver, channel_id: int) -> int:
    """A panel message of the bot that no row knows (as a crashed deploy would leave)."""
    payload = PanelCatalogue.default().render("faq")
    port = driver.sim.port(driver.guild.bot_id)
    return port.send_message(channel_id, payload, nonce="orphan-1").id


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "command",
    [
        "!setup",
        "!setup rules=#rules",
        "!setup-status",
        "!setup-cleanup",
        "!setup-remove rules",
        "!setup-audit-channel #audit-log",
    ],
)
def test_a_member_without_manage_server_is_refused_every_command_and_nothing_changes(
    driver: Driver, command: str
) -> None:
    deploy(driver, "rules=#rules")
    before = [m.id for m in driver.sim.all_messages(driver.guild.guild_id)]

    driver.say(driver.guild.member_id, command)

    driver.wait_for_message(
        lambda m: "Only the server owner" in m.payload.content and m.id not in before
    )
    store = driver.store()
    try:
        assert [p.panel_type for p in store.list_panels(driver.guild.guild_id)] == ["rules"]
        assert store.get_audit_channel(driver.guild.guild_id) is None
    finally:
        store.close()
    assert len(driver.bot_messages(driver.guild.rules_id)) == 1


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("setup", {}),
        ("setup-status", {}),
        ("setup-cleanup", {}),
        ("setup-remove", {"panel_type": "rules"}),
    ],
)
def test_a_slash_command_from_a_member_without_manage_server_is_refused_ephemerally(
    driver: Driver, name: str, options: dict[str, str]
) -> None:
    driver.runner.run(driver.runner.bot.tree.sync())

    interaction = driver.slash(driver.guild.member_id, name, **options)

    driver.ephemeral_for(driver.guild.member_id, "Only the server owner")
    assert all(r.ephemeral for r in driver.responses_to(interaction))


def test_the_guild_owner_without_any_role_may_use_the_commands(driver: Driver) -> None:
    driver.say(driver.guild.owner_id, "!setup-status")

    driver.wait_for_text("**Setup status**")


def test_the_commands_are_registered_for_manage_server_by_default(driver: Driver) -> None:
    commands = driver.runner.call(lambda: driver.runner.bot.tree.get_commands())

    names = {c.name: c for c in commands}
    assert set(names) >= {
        "setup",
        "setup-status",
        "setup-cleanup",
        "setup-remove",
        "setup-audit-channel",
    }
    for command in names.values():
        assert command.default_permissions is not None
        assert command.default_permissions.manage_guild
        assert command.guild_only


# ---------------------------------------------------------------------------- status


def test_status_lists_the_panels_with_their_health(driver: Driver) -> None:
    deploy(driver, "rules=#rules")

    driver.say(driver.guild.admin_id, "!setup-status")

    reply = driver.wait_for_text("**Setup status**")
    assert f"- rules in <#{driver.guild.rules_id}>: present" in reply.payload.content


# ---------------------------------------------------------------------------- remove


def test_remove_takes_the_panel_and_its_message_down(driver: Driver) -> None:
    deploy(driver, "rules=#rules")

    driver.say(driver.guild.admin_id, "!setup-remove rules")

    driver.wait_for_text("Removed the rules panel")
    assert driver.bot_messages(driver.guild.rules_id) == []
    store = driver.store()
    try:
        assert store.get_panel(driver.guild.guild_id, "rules") is None
    finally:
        store.close()


def test_removing_a_panel_that_is_not_there_says_so_with_a_reference(driver: Driver) -> None:
    driver.say(driver.guild.admin_id, "!setup-remove rules")

    reply = driver.wait_for_text("There is no rules panel")
    assert "(reference " in reply.payload.content


def test_remove_without_a_panel_type_shows_the_usage(driver: Driver) -> None:
    driver.say(driver.guild.admin_id, "!setup-remove")

    driver.wait_for_text("Usage: `!setup-remove <panel_type>`")


# ---------------------------------------------------------------------------- audit channel


def test_the_audit_channel_is_set_and_then_receives_the_audit_records(driver: Driver) -> None:
    guild = driver.guild

    driver.say(guild.admin_id, f"!setup-audit-channel <#{guild.audit_log_id}>")

    driver.wait_for_text("Audit records now go to")
    deploy(driver, "rules=#rules")
    assert driver.bot_messages(guild.audit_log_id) != []


def test_an_audit_channel_the_bot_cannot_post_in_is_refused(driver: Driver) -> None:
    driver.say(driver.guild.admin_id, f"!setup-audit-channel <#{driver.guild.read_only_id}>")

    reply = driver.wait_for_text("missing permissions")
    assert "(reference " in reply.payload.content


# ---------------------------------------------------------------------------- cleanup


def open_cleanup(driver: Driver):  # type: ignore[no-untyped-def]
    driver.say(driver.guild.admin_id, "!setup-cleanup")
    return driver.wait_for_text("**Cleanup**")


def test_orphan_cleanup_previews_then_removes_exactly_the_orphan(driver: Driver) -> None:
    guild = driver.guild
    deploy(driver, "rules=#rules")
    orphan = post_orphan_panel(driver, guild.support_id)
    menu = open_cleanup(driver)

    driver.press(guild.admin_id, menu, WizardIds.cleanup("orphans"))

    preview = driver.wait_until_edited(menu, "**Cleanup preview**")
    assert str(orphan) in preview.payload.content
    assert driver.sim.message_exists(guild.support_id, orphan)
    driver.press(guild.admin_id, preview, WizardIds.CLEANUP_CONFIRM)
    done = driver.wait_until_edited(preview, "**Cleanup done**")
    assert "1 message(s) removed" in done.payload.content
    assert not driver.sim.message_exists(guild.support_id, orphan)
    assert len(driver.bot_messages(guild.rules_id)) == 1


def test_cancelling_a_cleanup_preview_removes_nothing(driver: Driver) -> None:
    guild = driver.guild
    orphan = post_orphan_panel(driver, guild.support_id)
    menu = open_cleanup(driver)
    driver.press(guild.admin_id, menu, WizardIds.cleanup("full"))
    preview = driver.wait_until_edited(menu, "**Cleanup preview**")

    driver.press(guild.admin_id, preview, WizardIds.CLEANUP_CANCEL)

    driver.wait_until_edited(preview, "Cleanup cancelled")
    assert driver.sim.message_exists(guild.support_id, orphan)


def test_clean_all_states_ends_a_setup_in_progress(driver: Driver) -> None:
    guild = driver.guild
    driver.say(guild.admin_id, "!setup")
    wizard = driver.wait_for_text("choose the panels")
    driver.choose(guild.admin_id, wizard, WizardIds.TYPES, "rules")
    driver.wait_until_edited(wizard, "channel for the **rules** panel")
    menu = open_cleanup(driver)

    driver.press(guild.admin_id, menu, WizardIds.cleanup("all-states"))
    preview = driver.wait_until_edited(menu, "end setup session")
    driver.press(guild.admin_id, preview, WizardIds.CLEANUP_CONFIRM)

    driver.wait_until_edited(preview, "1 setup session(s) ended")
    store = driver.store()
    try:
        assert store.list_sessions(guild.guild_id) == []
    finally:
        store.close()


def test_clean_expired_states_keeps_a_live_session(driver: Driver) -> None:
    guild = driver.guild
    driver.say(guild.admin_id, "!setup")
    wizard = driver.wait_for_text("choose the panels")
    driver.choose(guild.admin_id, wizard, WizardIds.TYPES, "rules")
    driver.wait_until_edited(wizard, "channel for the **rules** panel")
    menu = open_cleanup(driver)

    driver.press(guild.admin_id, menu, WizardIds.cleanup("expired-states"))

    driver.wait_until_edited(menu, "Nothing to clean up.")
    store = driver.store()
    try:
        assert len(store.list_sessions(guild.guild_id)) == 1
    finally:
        store.close()


def test_another_admin_cannot_press_someone_elses_cleanup_menu(driver: Driver) -> None:
    guild = driver.guild
    orphan = post_orphan_panel(driver, guild.support_id)
    menu = open_cleanup(driver)

    driver.press(guild.owner_id, menu, WizardIds.cleanup("orphans"))

    driver.ephemeral_for(guild.owner_id, "These controls belong to")
    assert "**Cleanup**" in driver.refreshed(menu).payload.content
    assert driver.sim.message_exists(guild.support_id, orphan)


def test_an_admin_who_lost_manage_server_cannot_use_their_open_menu(driver: Driver) -> None:
    guild = driver.guild
    orphan = post_orphan_panel(driver, guild.support_id)
    menu = open_cleanup(driver)
    driver.sim.remove_role(guild.guild_id, guild.admin_id, guild.admin_role_id)

    driver.press(guild.admin_id, menu, WizardIds.cleanup("orphans"))

    driver.ephemeral_for(guild.admin_id, "Only the server owner")
    assert driver.sim.message_exists(guild.support_id, orphan)
