"""Status, cleanup and manual cleanup, against the Discord simulator and the in-memory store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest

from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import (
    DiscordForbidden,
    DiscordUnavailable,
    InvalidInput,
    StorageFailure,
)
from apex_setup.core.maintenance import (
    PLAN_MAX_AGE,
    CleanupKind,
    CleanupPlan,
    OrphanSource,
    SessionRemoval,
    apply_cleanup,
    guild_status,
    list_cleanup_items,
    preview_cleanup,
    preview_full,
    preview_orphans,
    resolve_cleanup_item,
)
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.payload import ActionRow as Row
from apex_setup.core.payload import Button, MessagePayload
from apex_setup.core.records import (
    JournalChange,
    Operation,
    OperationKind,
    OperationState,
    OperationType,
    PanelRecord,
    RollbackInfo,
    Step,
    StepState,
)
from apex_setup.core.recovery import recover
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, Overwrite, RateLimitConfig
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan, FaultRule
from apex_setup.fakes.memory_store import MemoryStore

ALL_KINDS = list(CleanupKind)


class World:
    """A standard simulated guild, a memory store and a context wired to both."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        self.guild = self.sim.standard_guild()
        self.store = MemoryStore(clock=self.clock)
        self.catalogue = PanelCatalogue.default()
        self.ctx = SetupContext(
            discord=self.sim.port(self.guild.bot_id),
            panels=self.store,
            journal=self.store,
            audit=self.store,
            clock=self.clock,
            retry=RetryPolicy(max_attempts=1),
        )
        self.admin = self.guild.admin_id

    def deploy(self, panel_type: str, channel_id: int) -> PanelRecord:
        request = DeployRequest(self.guild.guild_id, panel_type, channel_id, self.admin)
        return deploy_panel(self.ctx, self.catalogue, request).panel

    def post_marked(self, panel_type: str, channel_id: int) -> int:
        """The bot's panel message with no row: what a lost deploy leaves behind."""
        payload = self.catalogue.render(panel_type)
        return self.sim.post_as(self.guild.bot_id, channel_id, payload).id

    def hide_from_bot(self, channel_id: int) -> None:
        deny = Overwrite(self.guild.bot_role_id, True, deny=Permission.VIEW_CHANNEL)
        self.sim.set_overwrite(channel_id, deny)

    def bot_message_ids(self) -> set[int]:
        return {
            m.id
            for m in self.sim.all_messages(self.guild.guild_id)
            if m.author_id == self.guild.bot_id
        }

    def preview(self, kind: CleanupKind = CleanupKind.ORPHANS) -> CleanupPlan:
        return preview_cleanup(self.ctx, self.guild.guild_id, kind, user_id=self.admin)

    def audit_actions(self) -> list[tuple[str, str]]:
        return [(a.action, a.outcome) for a in self.store.recent_audit(self.guild.guild_id, 50)]


@dataclass
class Messy:
    """Healthy panels, orphans both ways and a panel the bot can no longer see."""

    healthy: list[PanelRecord]
    gone_message: PanelRecord
    gone_channel: PanelRecord
    hidden: PanelRecord
    orphan_message: int


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def messy(world: World) -> Messy:
    g = world.guild
    healthy = [world.deploy("rules", g.rules_id), world.deploy("faq", g.general_id)]
    gone_message = world.deploy("products", g.general_id)
    world.sim.delete_message_as_admin(g.general_id, gone_message.message_id)
    gone_channel = world.deploy("welcome", g.shop_id)
    world.sim.delete_channel(g.shop_id)
    hidden = world.deploy("support", g.support_id)
    world.hide_from_bot(g.support_id)
    orphan = world.post_marked("help", g.general_id)
    return Messy(healthy, gone_message, gone_channel, hidden, orphan)


# -- status -------------------------------------------------------------------------------------


def test_status_shows_each_panel_with_its_health(world: World, messy: Messy) -> None:
    status = guild_status(world.ctx, world.guild.guild_id)

    health = {s.panel.panel_type: s.health.value for s in status.panels}
    assert health == {
        "rules": "present",
        "faq": "present",
        "products": "missing",
        "welcome": "missing",
        "support": "unverifiable",
    }
    assert status.lines()[0] == "Panels: 5 (2 present, 2 missing, 1 unverifiable)"
    assert not status.healthy


def test_status_shows_open_operations_cleanup_items_audit_and_this_guilds_sessions(
    world: World,
) -> None:
    @dataclass(frozen=True)
    class Session:
        user_id: int
        guild_id: int
        last_activity: datetime
        current_index: int
        panel_types: tuple[str, ...]

    world.deploy("rules", world.guild.rules_id)
    stuck = Operation(
        "stuck0000000001",
        OperationKind.DEPLOY_PANEL,
        world.guild.guild_id,
        world.admin,
        OperationState.PENDING,
        world.clock.now(),
        world.clock.now(),
        "faq",
    )
    world.store.apply(JournalChange(operation=stuck))
    started = world.clock.now()
    world.clock.advance(minutes=4)
    sessions = [
        Session(world.admin, world.guild.guild_id, started, 1, ("rules", "faq", "help")),
        Session(world.admin, 12345, started, 0, ("rules",)),
    ]

    status = guild_status(world.ctx, world.guild.guild_id, sessions=sessions, settings=world.store)

    assert [o.id for o in status.open_operations] == ["stuck0000000001"]
    assert [(a.action, a.outcome) for a in status.recent_audit] == [("deploy", "ok")]
    assert len(status.sessions) == 1
    lines = status.lines()
    assert f"- <@{world.admin}>: step 2 of 3, idle 4 min" in lines
    assert "Audit channel: not set" in lines
    assert any(line.startswith("- deploy_panel faq pending since") for line in lines)


def test_status_lines_name_a_reference_and_no_exception_text_when_reads_fail(
    world: World,
) -> None:
    world.deploy("rules", world.guild.rules_id)
    plan = FaultPlan()

    def broken() -> StorageFailure:
        failure = StorageFailure("The bot's database is not available right now.")
        failure.__cause__ = RuntimeError("no such table: operations; SELECT secret")
        return failure

    plan.add(FaultRule("store.open_operations", error=broken))
    plan.add(FaultRule("store.recent_audit", error=broken))
    world.plan.add(
        FaultRule("discord.fetch_message", error=lambda: DiscordUnavailable("Boom 503", status=503))
    )
    proxy = FaultInjectingProxy(world.store, plan, "store")
    ctx = replace(world.ctx, journal=proxy)

    status = guild_status(ctx, world.guild.guild_id, audit_log=proxy)

    text = "\n".join(status.lines())
    assert [name for name, _ in status.unavailable] == ["Journal", "Audit log"]
    assert "Journal: could not be read (reference " in text
    assert "rules in" in text and "unverifiable (Discord did not answer)" in text
    for leak in ("secret", "Traceback", "RuntimeError", "Boom", "SELECT"):
        assert leak not in text


# -- previews -----------------------------------------------------------------------------------


def test_a_preview_lists_orphans_both_ways_and_what_it_could_not_check(
    world: World, messy: Messy
) -> None:
    plan = world.preview()

    assert {r.panel.panel_type for r in plan.rows} == {"products", "welcome"}
    assert [(m.message_id, m.source, m.panel_type) for m in plan.messages] == [
        (messy.orphan_message, OrphanSource.MARKER, "help")
    ]
    unchecked = {u.description for u in plan.unverifiable}
    assert any("support panel record" in d for d in unchecked)
    assert f"<#{world.guild.support_id}>" in unchecked
    assert f"<#{world.guild.staff_only_id}>" in unchecked


def test_a_preview_changes_nothing(world: World, messy: Messy) -> None:
    messages = world.bot_message_ids()
    rows = world.store.list_panels()

    world.preview(CleanupKind.FULL)

    assert world.bot_message_ids() == messages
    assert world.store.list_panels() == rows
    assert world.plan.count("discord.delete_message") == 0


def test_a_channel_whose_history_the_bot_may_not_read_is_reported_unverifiable(
    world: World,
) -> None:
    no_history = Overwrite(world.guild.bot_role_id, True, deny=Permission.READ_MESSAGE_HISTORY)
    world.post_marked("help", world.guild.general_id)
    world.sim.set_overwrite(world.guild.general_id, no_history)

    plan = world.preview(CleanupKind.ORPHANED_MESSAGES)

    assert plan.messages == ()
    assert f"<#{world.guild.general_id}>" in {u.description for u in plan.unverifiable}


def test_only_listed_panel_types_count_as_orphans_when_types_are_given(world: World) -> None:
    wizard = MessagePayload(content="Setup", rows=(Row((Button("apex:wizard:next", "Next"),)),))
    world.sim.post_as(world.guild.bot_id, world.guild.general_id, wizard)
    orphan = world.post_marked("help", world.guild.general_id)

    plan = preview_orphans(
        world.ctx, world.guild.guild_id, user_id=world.admin, panel_types=world.catalogue.names()
    )

    assert [m.message_id for m in plan.messages] == [orphan]


def test_a_message_an_unfinished_operation_may_own_is_not_offered(world: World) -> None:
    g = world.guild
    started = world.clock.now()
    op = Operation(
        "inflight00000001",
        OperationKind.DEPLOY_PANEL,
        g.guild_id,
        world.admin,
        OperationState.PENDING,
        started,
        started,
        "help",
    )
    intent = RollbackInfo(
        OperationType.MESSAGE_SENT, g.guild_id, world.admin, started, "help", g.general_id
    )
    world.store.apply(
        JournalChange(operation=op, steps=[Step(op.id, 0, StepState.INTENDED, intent)])
    )
    world.post_marked("help", g.general_id)  # the send landed; the process has not recorded it

    plan = world.preview(CleanupKind.ORPHANED_MESSAGES)

    assert plan.messages == ()


# -- applying -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=[k.value for k in ALL_KINDS])
def test_only_orphans_go_and_healthy_or_unverifiable_panels_stay_whatever_the_kind(
    world: World, messy: Messy, kind: CleanupKind
) -> None:
    g = world.guild
    plan = world.preview(kind)

    result = apply_cleanup(world.ctx, plan)

    remaining = {p.panel_type for p in world.store.list_panels(g.guild_id)}
    rows_go = kind not in (CleanupKind.ORPHANED_MESSAGES, CleanupKind.SESSIONS)
    messages_go = kind not in (CleanupKind.ORPHANED_ROWS, CleanupKind.SESSIONS)
    expected = {"rules", "faq", "support"} | (set() if rows_go else {"products", "welcome"})
    assert remaining == expected
    for panel in [*messy.healthy, messy.hidden]:
        assert world.sim.message_exists(panel.channel_id, panel.message_id)
    assert world.sim.message_exists(g.general_id, messy.orphan_message) is not messages_go
    assert result.skipped == [] and result.outcome == "ok"
    assert world.store.open_operations() == []


def test_apply_removes_exactly_what_the_preview_listed(world: World, messy: Messy) -> None:
    plan = world.preview()
    world.post_marked("faq", world.guild.general_id)  # appears after the preview

    result = apply_cleanup(world.ctx, plan)

    assert result.removed_rows == list(plan.rows)
    assert result.removed_messages == list(plan.messages)
    after = world.preview()
    assert after.rows == ()
    assert len(after.messages) == 1 and after.messages[0].panel_type == "faq"


def test_a_panel_redeployed_after_the_preview_is_kept_and_reported(world: World) -> None:
    g = world.guild
    old = world.deploy("rules", g.rules_id)
    world.sim.delete_message_as_admin(g.rules_id, old.message_id)
    plan = world.preview()
    new = world.deploy("rules", g.general_id)

    result = apply_cleanup(world.ctx, plan)

    assert world.store.get_panel(g.guild_id, "rules") == new
    assert world.sim.message_exists(g.general_id, new.message_id)
    assert [(s.reason) for s in result.skipped] == ["redeployed since the preview"]
    assert result.removed_rows == []


def test_applying_the_same_plan_twice_removes_nothing_the_second_time(
    world: World, messy: Messy
) -> None:
    plan = world.preview()
    apply_cleanup(world.ctx, plan)
    rows, messages = world.store.list_panels(), world.bot_message_ids()

    again = apply_cleanup(world.ctx, plan)

    assert (again.removed_rows, again.removed_messages, again.operation_id) == ([], [], None)
    assert sorted(s.reason for s in again.skipped) == ["already gone", *["already removed"] * 2]
    assert world.store.list_panels() == rows
    assert world.bot_message_ids() == messages


def test_an_orphan_message_gone_since_the_preview_is_skipped(world: World) -> None:
    orphan = world.post_marked("help", world.guild.general_id)
    plan = world.preview()
    world.sim.delete_message_as_admin(world.guild.general_id, orphan)

    result = apply_cleanup(world.ctx, plan)

    assert [s.reason for s in result.skipped] == ["already gone"]
    assert result.operation_id is None


def test_a_row_that_cannot_be_checked_again_at_apply_time_is_kept(world: World) -> None:
    g = world.guild
    world.deploy("rules", g.general_id)
    world.sim.delete_channel(g.general_id)
    plan = world.preview()
    world.plan.add(
        FaultRule("discord.fetch_message", error=lambda: DiscordForbidden("no", status=403))
    )

    result = apply_cleanup(world.ctx, plan)

    assert world.store.get_panel(g.guild_id, "rules") == plan.rows[0].panel
    assert [s.reason for s in result.skipped] == ["now unverifiable"]


def test_a_cleanup_is_one_operation_and_is_audited(world: World, messy: Messy) -> None:
    plan = world.preview()

    result = apply_cleanup(world.ctx, plan)

    assert result.operation_id is not None
    operation = world.store.get_operation(result.operation_id)
    assert operation is not None
    assert (operation.kind, operation.state) == (OperationKind.CLEANUP, OperationState.DONE)
    assert world.audit_actions()[0] == ("cleanup", "ok")
    entry = world.store.recent_audit(world.guild.guild_id, 1)[0]
    assert entry.operation_id == result.operation_id
    assert "2 panel record(s) and 1 message(s) removed" in entry.detail


def test_a_stale_plan_is_refused_and_the_refusal_audited(world: World, messy: Messy) -> None:
    plan = world.preview()
    world.clock.advance(PLAN_MAX_AGE.total_seconds() + 1)
    rows = world.store.list_panels()

    with pytest.raises(InvalidInput, match="preview again"):
        apply_cleanup(world.ctx, plan)

    assert world.store.list_panels() == rows
    assert world.audit_actions()[0] == ("cleanup", "refused")


def test_someone_elses_plan_is_refused(world: World, messy: Messy) -> None:
    plan = world.preview()

    with pytest.raises(InvalidInput, match="someone else"):
        apply_cleanup(world.ctx, plan, user_id=world.guild.member_id)

    assert world.sim.message_exists(world.guild.general_id, messy.orphan_message)
    assert world.audit_actions()[0] == ("cleanup", "refused")


def test_an_unreachable_store_refuses_the_cleanup_before_any_change(
    world: World, messy: Messy
) -> None:
    plan = world.preview()
    faults = FaultPlan(
        [FaultRule("store.ping", error=lambda: StorageFailure("The database is down."))]
    )
    ctx = replace(world.ctx, panels=FaultInjectingProxy(world.store, faults, "store"))

    with pytest.raises(StorageFailure):
        apply_cleanup(ctx, plan)

    assert world.plan.count("discord.delete_message") == 0
    assert world.audit_actions()[0] == ("cleanup", "refused")


def test_a_transient_failure_on_the_second_delete_is_finished_by_recovery(world: World) -> None:
    g = world.guild
    orphans = [world.post_marked(t, g.general_id) for t in ("help", "faq", "privacy")]
    plan = world.preview()
    world.plan.add(
        FaultRule(
            "discord.delete_message",
            occurrence=2,
            error=lambda: DiscordUnavailable("Discord is unavailable.", status=503),
        )
    )

    result = apply_cleanup(world.ctx, plan)

    assert result.outcome == "pending_recovery"
    assert len(result.removed_messages) == 1 and len(result.pending_messages) == 2
    assert [o.id for o in world.store.open_operations()] == [result.operation_id]

    report = recover(world.ctx)

    assert report.finished == [result.operation_id]
    assert not any(world.sim.message_exists(g.general_id, m) for m in orphans)


def test_a_refused_delete_becomes_a_manual_cleanup_item(world: World) -> None:
    orphan = world.post_marked("help", world.guild.general_id)
    plan = world.preview()
    world.plan.add(
        FaultRule(
            "discord.delete_message",
            error=lambda: DiscordForbidden("Missing Permissions", status=403, discord_code=50013),
        )
    )

    result = apply_cleanup(world.ctx, plan)

    assert result.outcome == "needs_manual_cleanup"
    items = list_cleanup_items(world.ctx, world.guild.guild_id)
    assert [i.message_id for i in items] == [orphan]


# -- the journal's orphans and manual-cleanup items --------------------------------------------


def _refused_retirement(world: World) -> tuple[PanelRecord, PanelRecord]:
    """Redeploy a panel while Discord refuses to delete the old message once."""
    g = world.guild
    old = world.deploy("rules", g.rules_id)
    world.plan.add(
        FaultRule(
            "discord.delete_message",
            times=1,
            error=lambda: DiscordForbidden("Missing Permissions", status=403, discord_code=50013),
        )
    )
    new = world.deploy("rules", g.general_id)
    return old, new


def test_a_message_left_by_a_refused_step_is_deleted_and_its_item_closed(world: World) -> None:
    old, new = _refused_retirement(world)
    (item,) = list_cleanup_items(world.ctx, world.guild.guild_id)
    plan = world.preview(CleanupKind.ORPHANED_MESSAGES)

    result = apply_cleanup(world.ctx, plan)

    assert [(m.message_id, m.source, m.item_id) for m in plan.messages] == [
        (old.message_id, OrphanSource.JOURNAL, item.item_id)
    ]
    assert not world.sim.message_exists(old.channel_id, old.message_id)
    assert world.sim.message_exists(new.channel_id, new.message_id)
    assert result.resolved_items == [item.item_id]
    assert list_cleanup_items(world.ctx, world.guild.guild_id) == []


def test_an_item_whose_message_is_already_gone_is_closed_by_cleanup(world: World) -> None:
    old, _ = _refused_retirement(world)
    world.sim.delete_message_as_admin(old.channel_id, old.message_id)
    plan = world.preview(CleanupKind.ORPHANED_MESSAGES)

    result = apply_cleanup(world.ctx, plan)

    assert plan.messages == () and len(plan.settled_items) == 1
    assert result.resolved_items == [plan.settled_items[0].item_id]
    assert list_cleanup_items(world.ctx, world.guild.guild_id) == []


def test_a_manual_cleanup_item_can_be_marked_done(world: World) -> None:
    _refused_retirement(world)
    (item,) = list_cleanup_items(world.ctx, world.guild.guild_id)
    assert item.item_id is not None

    resolved = resolve_cleanup_item(
        world.ctx, world.guild.guild_id, item.item_id, user_id=world.admin
    )

    assert resolved == item
    assert list_cleanup_items(world.ctx, world.guild.guild_id) == []
    assert world.audit_actions()[0] == ("manual_cleanup", "resolved")


def test_another_guilds_manual_cleanup_item_cannot_be_resolved(world: World) -> None:
    _refused_retirement(world)
    (item,) = list_cleanup_items(world.ctx, world.guild.guild_id)
    assert item.item_id is not None

    with pytest.raises(InvalidInput):
        resolve_cleanup_item(world.ctx, 4242, item.item_id, user_id=world.admin)

    assert list_cleanup_items(world.ctx, world.guild.guild_id) == [item]
    assert ("manual_cleanup", "refused") in [
        (a.action, a.outcome) for a in world.store.recent_audit(4242, 5)
    ]


# -- the session hook ---------------------------------------------------------------------------


class FakeSweeper:
    def __init__(self, offered: list[SessionRemoval]) -> None:
        self.offered = offered
        self.removed: list[SessionRemoval] = []

    def preview_sessions(self, guild_id: int) -> list[SessionRemoval]:
        return [s for s in self.offered if s.guild_id == guild_id]

    def remove_sessions(self, removals: Sequence[SessionRemoval]) -> list[SessionRemoval]:
        self.removed.extend(removals[:1])  # the second one changed meanwhile
        return list(removals[:1])


def test_a_full_cleanup_ends_the_sessions_the_hook_offers(world: World, messy: Messy) -> None:
    now = world.clock.now()
    offered = [
        SessionRemoval(world.guild.guild_id, 1, now - timedelta(hours=2), "session of <@1>"),
        SessionRemoval(world.guild.guild_id, 2, now - timedelta(hours=3), "session of <@2>"),
    ]
    sweeper = FakeSweeper(offered)
    plan = preview_full(world.ctx, world.guild.guild_id, user_id=world.admin, sessions=sweeper)

    result = apply_cleanup(world.ctx, plan, sessions=sweeper)

    assert plan.sessions == tuple(offered)
    assert result.removed_sessions == offered[:1]
    assert [s.reason for s in result.skipped] == ["changed since the preview"]
    assert not world.sim.message_exists(world.guild.general_id, messy.orphan_message)


def test_a_full_cleanup_without_the_hook_offers_no_sessions(world: World) -> None:
    plan = preview_full(world.ctx, world.guild.guild_id, user_id=world.admin)

    assert plan.sessions == ()
    assert plan.lines() == [
        "Nothing to clean up.",
        f"not touched, could not be checked: <#{world.guild.staff_only_id}> "
        "(the bot may not read this channel)",
    ]
