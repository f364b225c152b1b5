"""A restarted bot: recovery before commands, and panel buttons that keep answering."""

from __future__ import annotations

import threading
from pathlib import Path

import discord
import pytest
from cog_harness import Driver, leaked_texts, start_cog_bot

import apex_setup.core.recovery
from apex_setup.cog import PanelActions, PanelPress
from apex_setup.composition import build_context, open_store
from apex_setup.core.context import SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.recovery import RecoveryReport
from apex_setup.fakes.discord_sim import DiscordSimulator, StandardGuild
from apex_setup.fakes.faults import FaultRule, Phase, SimulatedCrash


def restart(driver: Driver, **options: object) -> Driver:
    driver.runner.stop()
    runner = start_cog_bot(driver.sim, driver.guild, driver.db_path, **options)  # type: ignore[arg-type]
    return Driver(driver.sim, driver.guild, runner, driver.db_path)


def panel_message(driver: Driver, channel_id: int):  # type: ignore[no-untyped-def]
    (message,) = driver.bot_messages(channel_id)
    return message


def test_a_panel_button_pressed_after_a_restart_is_answered(driver: Driver) -> None:
    guild = driver.guild
    driver.say(guild.admin_id, "!setup support=#support")
    driver.wait_for_text("Setup complete")
    restarted = restart(driver)
    try:
        panel = panel_message(restarted, guild.support_id)

        restarted.press(guild.member_id, panel, panel.payload.custom_ids()[0])

        answer = restarted.ephemeral_for(guild.member_id, "Noted:")
        assert answer.channel_id == guild.support_id
    finally:
        restarted.runner.stop()


def test_a_press_on_a_panel_no_record_points_at_says_it_is_no_longer_active(
    driver: Driver,
) -> None:
    guild = driver.guild
    payload = PanelCatalogue.default().render("support")
    stale = driver.sim.port(guild.bot_id).send_message(guild.support_id, payload, nonce="stale-1")

    driver.press(guild.member_id, stale, payload.custom_ids()[0])

    driver.ephemeral_for(guild.member_id, "This panel is no longer active.")


def test_a_bot_owners_handler_answers_its_panels_buttons(
    discord_sim: DiscordSimulator, sim_guild: StandardGuild, db_path: Path
) -> None:
    actions = PanelActions()
    pressed: list[PanelPress] = []

    @actions.register("support")
    async def open_ticket(interaction: discord.Interaction, press: PanelPress) -> None:
        pressed.append(press)
        await interaction.followup.send(f"Ticket opened ({press.label})", ephemeral=True)

    runner = start_cog_bot(discord_sim, sim_guild, db_path, actions=actions)
    driver = Driver(discord_sim, sim_guild, runner, db_path)
    try:
        driver.say(sim_guild.admin_id, "!setup support=#support")
        driver.wait_for_text("Setup complete")
        panel = panel_message(driver, sim_guild.support_id)

        driver.press(sim_guild.member_id, panel, panel.payload.custom_ids()[0])

        driver.ephemeral_for(sim_guild.member_id, "Ticket opened")
        assert [p.panel_type for p in pressed] == ["support"]
    finally:
        runner.stop()
    assert leaked_texts(discord_sim, sim_guild) == []


def crash_after_posting(sim: DiscordSimulator, guild: StandardGuild, db_path: Path) -> None:
    """A process that died right after Discord posted its panel: a PENDING operation and an
    orphan message are left behind."""
    store = open_store(f"sqlite:///{db_path}")
    ctx = build_context(sim.port(guild.bot_id), store, clock=sim.clock)
    sim.faults.add(
        FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER, times=1)
    )
    request = DeployRequest(guild.guild_id, "rules", guild.rules_id, guild.admin_id)
    try:
        with pytest.raises(SimulatedCrash):
            deploy_panel(ctx, PanelCatalogue.default(), request)
        assert len(store.open_operations()) == 1
    finally:
        store.close()


def test_recovery_at_startup_removes_what_a_crashed_deploy_left_before_serving_commands(
    discord_sim: DiscordSimulator,
    sim_guild: StandardGuild,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crash_after_posting(discord_sim, sim_guild, db_path)
    assert len(discord_sim.messages(sim_guild.rules_id)) == 1
    release = threading.Event()
    real_recover = apex_setup.core.recovery.recover

    def held_recover(ctx: SetupContext, **options: object) -> RecoveryReport:
        release.wait(5.0)
        return real_recover(ctx, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(apex_setup.core.recovery, "recover", held_recover)
    runner = start_cog_bot(discord_sim, sim_guild, db_path, wait_ready=False)
    driver = Driver(discord_sim, sim_guild, runner, db_path)
    try:
        driver.say(sim_guild.admin_id, "!setup-status")
        driver.wait_for_text("starting up")
        assert len(discord_sim.messages(sim_guild.rules_id)) == 1

        release.set()
        runner.wait_until(lambda: driver.cog.ready)

        assert discord_sim.messages(sim_guild.rules_id) == []
        store = driver.store()
        try:
            assert store.open_operations() == []
            assert store.list_panels(sim_guild.guild_id) == []
        finally:
            store.close()
        driver.say(sim_guild.admin_id, "!setup-status")
        driver.wait_for_text("**Setup status**")
    finally:
        runner.stop()
    assert leaked_texts(discord_sim, sim_guild) == []


def test_a_select_on_a_live_panel_is_answered_with_the_chosen_option(driver: Driver) -> None:
    guild = driver.guild
    driver.say(guild.admin_id, "!setup faq=#support")
    driver.wait_for_text("Setup complete")
    panel = panel_message(driver, guild.support_id)
    (select,) = panel.payload.rows[0].components
    option = select.options[0]  # type: ignore[union-attr]

    driver.sim.choose_select(
        guild.member_id, guild.support_id, panel.id, select.custom_id, [option.value]
    )

    driver.ephemeral_for(guild.member_id, f"Noted: {option.label}")


def test_the_sweep_and_reconciliation_loops_run_while_the_cog_is_loaded(driver: Driver) -> None:
    cog = driver.cog

    running = driver.runner.call(
        lambda: (cog.sweep_loop.is_running(), cog.reconcile_loop.is_running())
    )

    assert running == (True, True)
