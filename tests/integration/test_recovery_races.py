"""Races and double faults: two processes, unknown commit outcomes, late resends, blind history.

Each case ends with the same check as the fault enumeration: after the faults and a recovery,
every panel row points at a live bot message, every live bot panel message has a row, and no
operation is left open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from deploy_harness import Bot

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import ConflictError, SetupOperationError, StorageFailure
from apex_setup.core.recovery import CLAIM_TTL, recover
from apex_setup.core.remove import remove_panel
from apex_setup.fakes.discord_sim import Overwrite
from apex_setup.fakes.faults import FaultRule, Phase, SimulatedCrash


def _db_down() -> BaseException:
    return StorageFailure("The bot's database is not available right now.")


def _assert_settled(bot: Bot) -> None:
    rows = bot.store.list_panels(bot.guild.guild_id)
    live = set(bot.bot_messages())
    assert {row.message_id for row in rows} == live
    assert bot.store.open_operations() == []


class _After:
    """Wraps a port: runs ``hook`` once, right after the first call of ``method``."""

    def __init__(self, target: Any, method: str, hook: Callable[[], object]) -> None:
        self._target = target
        self._method = method
        self._hook: Callable[[], object] | None = hook

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name != self._method:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            hook, self._hook = self._hook, None
            if hook is not None:
                hook()
            return result

        return call


def test_a_second_process_recovering_during_a_live_deploy_leaves_one_consistent_state(
    bot: Bot,
) -> None:
    other = PeeweeStore(open_database(f"sqlite:///{bot.db_path}"))
    ctx_b = dataclasses.replace(bot.ctx, panels=other, journal=other, audit=other)
    bot.ctx = dataclasses.replace(
        bot.ctx, discord=_After(bot.ctx.discord, "send_message", lambda: recover(ctx_b))
    )

    with pytest.raises(ConflictError):
        bot.deploy("rules", "rules")  # process B claimed the operation first

    _assert_settled(bot)
    assert bot.bot_messages() == []
    other.close()


def test_two_recoveries_of_one_operation_never_repeat_a_spent_nonce(bot: Bot) -> None:
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "rules")
    bot.plan.clear()
    bot.restart()
    (operation,) = bot.store.open_operations()
    other = PeeweeStore(open_database(f"sqlite:///{bot.db_path}"))
    # B has read the open operations and the steps; A recovers everything in between.
    ctx_b = dataclasses.replace(
        bot.ctx, panels=other, journal=_After(other, "steps", lambda: recover(bot.ctx))
    )

    recover(ctx_b)

    _assert_settled(bot)
    assert bot.sim.messages_created_with_nonce(bot.guild.bot_id, f"{operation.id}:0") == 1
    other.close()


def test_losing_a_remove_race_does_not_bring_the_row_back(bot: Bot) -> None:
    bot.deploy("rules", "rules")
    guild = bot.guild.guild_id
    first = bot.ctx
    racing = dataclasses.replace(
        bot.ctx,
        panels=_After(bot.ctx.panels, "get_panel", lambda: remove_panel(first, guild, "rules", 1)),
    )

    with pytest.raises(ConflictError):
        remove_panel(racing, guild, "rules", 2)

    assert bot.store.get_panel(guild, "rules") is None
    _assert_settled(bot)


@pytest.mark.parametrize("then", ["the rollback cannot be recorded", "the process dies"])
def test_a_commit_whose_outcome_cannot_be_read_is_left_to_recovery(bot: Bot, then: str) -> None:
    # The commit lands but reports a failure, and reading the operation back fails too.
    bot.plan.add(FaultRule("journal.apply", error=_db_down, occurrence=2, when=Phase.AFTER))
    bot.plan.add(FaultRule("journal.get_operation", error=_db_down, times=1))
    if then == "the rollback cannot be recorded":
        bot.plan.add(FaultRule("journal.apply", error=_db_down, occurrence=3))
    else:
        bot.plan.add(FaultRule("discord.delete_message", error=SimulatedCrash, when=Phase.AFTER))

    with pytest.raises(SetupOperationError) as caught:
        bot.deploy("rules", "rules")
    recover(bot.ctx)

    report = caught.value.rollback_report
    assert report is not None and report.left_for_recovery
    _assert_settled(bot)
    assert len(bot.bot_messages()) == 1  # the commit had landed: the panel is in place


def test_a_message_posted_by_a_late_resend_is_found_after_the_window(bot: Bot) -> None:
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, occurrence=1))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "rules")  # dies before Discord heard of it
    bot.restart()
    bot.clock.advance(200)  # recovery resends inside the window, then dies before recording
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        recover(bot.ctx)
    bot.restart()
    assert len(bot.bot_messages()) == 1
    bot.clock.advance(400)  # past the nonce window: only history can find it now

    recover(bot.ctx)

    assert bot.bot_messages() == []
    _assert_settled(bot)


def test_an_unreadable_history_is_reported_for_manual_cleanup_not_as_rolled_back(
    bot: Bot,
) -> None:
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "rules")
    bot.plan.clear()
    bot.restart()
    bot.sim.set_overwrite(
        bot.guild.rules_id,
        Overwrite(bot.guild.bot_id, is_role=False, deny=int(Permission.READ_MESSAGE_HISTORY)),
    )
    bot.clock.advance(600)

    report = recover(bot.ctx)

    assert report.rolled_back == [] and len(report.needs_manual_cleanup) == 1
    (item,) = bot.store.manual_cleanup_items(bot.guild.guild_id)
    assert item.channel_id == bot.guild.rules_id


def test_a_send_into_a_channel_deleted_since_counts_as_never_sent(bot: Bot) -> None:
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, occurrence=1))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "rules")
    bot.restart()
    bot.sim.delete_channel(bot.guild.rules_id)

    report = recover(bot.ctx)

    assert len(report.rolled_back) == 1
    assert bot.store.manual_cleanup_items(bot.guild.guild_id) == []


def test_a_dead_recoverys_claim_is_taken_over_once_it_lapses(bot: Bot) -> None:
    bot.plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER))
    with pytest.raises(SimulatedCrash):
        bot.deploy("rules", "rules")
    bot.plan.clear()
    bot.restart()
    bot.plan.add(FaultRule("discord.delete_message", error=SimulatedCrash))
    with pytest.raises(SimulatedCrash):
        recover(bot.ctx)  # claimed, then died
    bot.plan.clear()
    bot.restart()

    early = recover(bot.ctx)
    bot.clock.advance(CLAIM_TTL.total_seconds())
    late = recover(bot.ctx)

    assert early.still_open and not early.touched
    assert late.rolled_back
    _assert_settled(bot)
