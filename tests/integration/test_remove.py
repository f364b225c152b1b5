"""Removing one panel against the simulator and a SQLite file: all or nothing."""

from __future__ import annotations

import pytest
from deploy_harness import Bot

from apex_setup.core.errors import (
    DiscordForbidden,
    DiscordUnavailable,
    InvalidInput,
    StorageFailure,
)
from apex_setup.core.records import OperationState
from apex_setup.core.recovery import recover
from apex_setup.core.remove import remove_panel
from apex_setup.fakes.faults import FaultRule, Phase


def test_removing_a_panel_deletes_its_row_and_its_message(bot: Bot) -> None:
    deployed = bot.deploy("rules", "rules")

    result = remove_panel(bot.ctx, bot.guild.guild_id, "rules", bot.guild.admin_id)

    assert result.message_deleted
    assert result.panel.message_id == deployed.panel.message_id
    assert bot.store.get_panel(bot.guild.guild_id, "rules") is None
    assert bot.bot_messages() == []
    assert bot.store.open_operations() == []
    assert bot.store.get_operation(result.operation_id).state is OperationState.DONE


def test_removing_a_panel_that_is_not_deployed_is_refused_and_changes_nothing(bot: Bot) -> None:
    bot.deploy("faq", "support")

    with pytest.raises(InvalidInput, match="no rules panel"):
        remove_panel(bot.ctx, bot.guild.guild_id, "rules", bot.guild.admin_id)

    assert bot.store.get_panel(bot.guild.guild_id, "faq") is not None
    assert len(bot.bot_messages()) == 1


def test_an_unknown_panel_type_is_refused_with_the_valid_ones(bot: Bot) -> None:
    with pytest.raises(InvalidInput) as caught:
        remove_panel(bot.ctx, bot.guild.guild_id, "nope", bot.guild.admin_id)

    assert "rules" in caught.value.choices


def test_a_storage_failure_at_the_commit_leaves_the_panel_working(bot: Bot) -> None:
    deployed = bot.deploy("rules", "rules")
    bot.plan.add(
        FaultRule(
            "journal.apply",
            error=lambda: StorageFailure("The database is not answering."),
            times=1,
        )
    )

    with pytest.raises(StorageFailure):
        remove_panel(bot.ctx, bot.guild.guild_id, "rules", bot.guild.admin_id)

    panel = bot.store.get_panel(bot.guild.guild_id, "rules")
    assert panel is not None and panel.message_id == deployed.panel.message_id
    assert bot.bot_messages() == [deployed.panel.message_id]
    assert bot.store.open_operations() == []


def test_a_message_delete_discord_keeps_failing_is_finished_by_recovery(bot: Bot) -> None:
    bot.deploy("rules", "rules")
    bot.plan.add(
        FaultRule(
            "discord.delete_message",
            error=lambda: DiscordUnavailable("busy", status=503),
            when=Phase.BEFORE,
            times=3,
        )
    )

    result = remove_panel(bot.ctx, bot.guild.guild_id, "rules", bot.guild.admin_id)
    pending = len(bot.bot_messages())
    recover(bot.ctx)

    assert not result.message_deleted
    assert pending == 1
    assert bot.store.get_panel(bot.guild.guild_id, "rules") is None
    assert bot.bot_messages() == []
    assert bot.store.open_operations() == []


def test_a_delete_discord_refuses_for_good_becomes_a_manual_cleanup_item(bot: Bot) -> None:
    bot.deploy("rules", "rules")
    bot.plan.add(
        FaultRule(
            "discord.delete_message",
            error=lambda: DiscordForbidden("no", status=403, discord_code=50013),
        )
    )

    result = remove_panel(bot.ctx, bot.guild.guild_id, "rules", bot.guild.admin_id)

    assert not result.message_deleted
    assert bot.store.get_panel(bot.guild.guild_id, "rules") is None
    assert len(bot.store.manual_cleanup_items(bot.guild.guild_id)) == 1
