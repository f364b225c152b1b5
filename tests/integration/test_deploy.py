"""Deploying panels against the simulator and a SQLite file: the paths a user meets."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from deploy_harness import Bot
from pytest_mock import MockerFixture

from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import (
    ConflictError,
    DiscordUnavailable,
    InvalidInput,
    MissingPermissions,
    StorageFailure,
)
from apex_setup.core.records import OperationState, PanelRecord
from apex_setup.core.recovery import recover
from apex_setup.fakes.discord_sim import Overwrite
from apex_setup.fakes.faults import FaultRule, Phase


def test_a_first_deploy_posts_one_message_and_records_it(bot: Bot) -> None:
    result = bot.deploy("rules", "rules")

    panel = bot.store.get_panel(bot.guild.guild_id, "rules")
    assert panel is not None and panel.message_id == result.panel.message_id
    assert bot.bot_messages() == [result.panel.message_id]
    assert result.journal_commits == 2
    assert bot.store.open_operations() == []


def test_replacing_a_panel_retires_the_old_message_after_the_new_one_commits(bot: Bot) -> None:
    first = bot.deploy("rules", "rules")

    second = bot.deploy("rules", "general")

    assert second.replaced is not None and second.replaced.message_id == first.panel.message_id
    assert bot.bot_messages() == [second.panel.message_id]
    assert second.panel.version == first.panel.version + 1
    assert second.journal_commits == 3


def test_a_transient_discord_failure_is_retried_with_backoff_and_posts_once(bot: Bot) -> None:
    bot.plan.add(
        FaultRule(
            "discord.send_message",
            error=lambda: DiscordUnavailable("busy", status=429, retry_after=1.5),
            times=2,
        )
    )

    result = bot.deploy("faq", "support")

    assert bot.bot_messages() == [result.panel.message_id]
    assert bot.clock.sleeps == [1.5, 1.5]


def test_a_post_whose_answer_was_lost_is_not_duplicated_by_the_retry(bot: Bot) -> None:
    bot.plan.add(
        FaultRule(
            "discord.send_message",
            error=lambda: DiscordUnavailable("gateway timeout", status=504),
            when=Phase.AFTER,
            times=1,
        )
    )

    result = bot.deploy("faq", "support")

    assert bot.bot_messages() == [result.panel.message_id]


@pytest.mark.parametrize(
    ("channel", "error", "words"),
    [
        ("staff-only", MissingPermissions, ["View Channel"]),
        ("read-only", MissingPermissions, ["Send Messages", "Embed Links"]),
        ("Voice", InvalidInput, ["voice"]),
        ("Info", InvalidInput, ["category"]),
    ],
)
def test_a_channel_the_bot_cannot_use_is_refused_before_any_effect(
    bot: Bot, channel: str, error: type[Exception], words: Sequence[str]
) -> None:
    with pytest.raises(error) as caught:
        bot.deploy("rules", channel)

    assert all(word in str(caught.value) for word in words)
    assert bot.bot_messages() == []
    assert bot.plan.count("journal.apply") == 0


def test_every_missing_permission_is_named_at_once(bot: Bot) -> None:
    bot.sim.set_overwrite(
        bot.guild.general_id,
        Overwrite(
            bot.guild.bot_role_id,
            is_role=True,
            deny=Permission.EMBED_LINKS | Permission.READ_MESSAGE_HISTORY,
        ),
    )

    with pytest.raises(MissingPermissions) as caught:
        bot.deploy("rules", "general")

    assert caught.value.missing == ("Embed Links", "Read Message History")


def test_an_unknown_panel_type_is_refused_listing_the_valid_ones(bot: Bot) -> None:
    with pytest.raises(InvalidInput, match="products"):
        bot.deploy("shop", "general")

    assert bot.bot_messages() == []


def test_an_unreachable_database_is_found_before_anything_is_posted(
    bot: Bot, mocker: MockerFixture
) -> None:
    mocker.patch.object(
        bot.store, "ping", side_effect=StorageFailure("The bot's database is not available.")
    )

    with pytest.raises(StorageFailure):
        bot.deploy("rules", "rules")

    assert bot.bot_messages() == []


class _StaleReads:
    """A panel store whose reads miss one row: the view of a deploy that lost a race."""

    def __init__(self, store: object, hidden: str) -> None:
        self._store = store
        self._hidden = hidden

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def get_panel(self, guild_id: int, panel_type: str) -> PanelRecord | None:
        if panel_type == self._hidden:
            return None
        return self._store.get_panel(guild_id, panel_type)  # type: ignore[attr-defined,no-any-return]


def test_a_deploy_that_loses_a_race_removes_its_own_message(bot: Bot) -> None:
    winner = bot.deploy("support", "support")
    bot.ctx = dataclasses.replace(bot.ctx, panels=_StaleReads(bot.ctx.panels, "support"))

    with pytest.raises(ConflictError) as caught:
        bot.deploy("support", "general")

    assert bot.bot_messages() == [winner.panel.message_id]
    assert caught.value.rollback_report is not None
    assert caught.value.rollback_report.fully_rolled_back
    assert bot.store.open_operations() == []


def test_a_refused_undo_becomes_a_manual_cleanup_item_and_is_reported_honestly(bot: Bot) -> None:
    # The commit fails; by then the bot can no longer see the channel, so it cannot delete
    # the message it just posted.
    def fail_commit() -> BaseException:
        bot.sim.set_overwrite(
            bot.guild.general_id,
            Overwrite(bot.guild.bot_role_id, is_role=True, deny=Permission.VIEW_CHANNEL),
        )
        return StorageFailure("The bot's database is not available right now.")

    bot.plan.add(FaultRule("journal.apply", error=fail_commit, occurrence=2))

    with pytest.raises(StorageFailure) as caught:
        bot.deploy("rules", "general")

    report = caught.value.rollback_report
    assert report is not None and not report.fully_rolled_back
    assert "NOT undone" in report.summary()
    items = bot.store.manual_cleanup_items(bot.guild.guild_id)
    assert len(items) == 1 and items[0].message_id is not None
    audit = bot.store.recent_audit(bot.guild.guild_id, limit=5)
    assert any(a.action == "rollback" and a.outcome == "partially_rolled_back" for a in audit)
    assert not any(a.outcome == "rolled_back" for a in audit)
    assert bot.store.open_operations() == []


def test_a_refused_retirement_of_the_old_message_is_kept_for_a_human(bot: Bot) -> None:
    bot.deploy("rules", "rules")
    bot.sim.set_overwrite(
        bot.guild.rules_id,
        Overwrite(bot.guild.bot_role_id, is_role=True, deny=Permission.VIEW_CHANNEL),
    )

    result = bot.deploy("rules", "general")

    assert not result.old_message_retired
    op = bot.store.get_operation(result.operation_id)
    assert op is not None and op.state is OperationState.NEEDS_MANUAL_CLEANUP
    assert len(bot.store.manual_cleanup_items(bot.guild.guild_id)) == 1


def test_recovery_beyond_the_nonce_window_finds_the_message_in_history(bot: Bot) -> None:
    from apex_setup.fakes.faults import SimulatedCrash

    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "general")
    bot.plan.clear()
    bot.restart()
    bot.clock.advance(minutes=20)
    sends = bot.plan.count("discord.send_message")

    report = recover(bot.ctx)

    assert len(report.rolled_back) == 1
    assert bot.bot_messages() == []
    assert bot.plan.count("discord.send_message") == sends
    assert bot.plan.count("discord.history") >= 1


def test_recovery_beyond_the_window_spares_a_live_panel_with_the_same_content(bot: Bot) -> None:
    from apex_setup.fakes.faults import SimulatedCrash

    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "general")
    bot.plan.clear()
    bot.restart()
    bot.clock.advance(seconds=20)
    live = bot.deploy("rules", "general")  # someone deploys again before recovery runs
    bot.clock.advance(minutes=20)

    recover(bot.ctx)

    assert bot.bot_messages() == [live.panel.message_id]


def test_recovery_leaves_recent_operations_to_the_process_running_them(bot: Bot) -> None:
    from datetime import timedelta

    from apex_setup.fakes.faults import SimulatedCrash

    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "general")
    bot.plan.clear()

    report = recover(bot.ctx, older_than=timedelta(minutes=2))

    assert report.touched == 0
    assert len(bot.store.open_operations()) == 1


def test_a_refused_deploy_leaves_an_audit_record(bot: Bot) -> None:
    with pytest.raises(MissingPermissions) as caught:
        bot.deploy("rules", "staff-only")

    (entry,) = bot.store.recent_audit(bot.guild.guild_id, limit=1)
    assert (entry.action, entry.outcome) == ("deploy", "refused")
    assert entry.reference == caught.value.reference
