"""Cleanup end to end: the Discord simulator and a real SQLite file, faults and crashes included.

The guild holds healthy panels, a panel whose message an admin deleted, one whose channel is gone,
one in a channel the bot can no longer see, and a marked message of the bot's with no row. Only
the two stale rows and the orphan message may ever go, whatever fails, and when the process dies
in the middle, ``recover()`` on the next start finishes exactly the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.audit_channel import AuditChannelSink
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import DiscordUnavailable, SetupOperationError, StorageFailure
from apex_setup.core.maintenance import (
    CleanupKind,
    CleanupPlan,
    apply_cleanup,
    guild_status,
    preview_cleanup,
)
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.records import OperationKind, PanelRecord
from apex_setup.core.recovery import recover
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, Overwrite, RateLimitConfig
from apex_setup.fakes.faults import (
    FaultInjectingProxy,
    FaultPlan,
    FaultRule,
    Phase,
    SimulatedCrash,
)


class World:
    """Discord and the database file outlive the bot; the bot's objects do not."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        self.guild = self.sim.standard_guild()
        self.db_path = tmp_path / "bot.db"
        self.catalogue = PanelCatalogue.default()
        self.store: PeeweeStore
        self.ctx: SetupContext
        self.boot()

    def boot(self) -> None:
        """Start a bot process: new store connection, new context, nothing from before."""
        self.store = PeeweeStore(open_database(f"sqlite:///{self.db_path}"), clock=self.clock)
        discord = self.sim.port(self.guild.bot_id)
        self.ctx = SetupContext(
            discord=discord,
            panels=FaultInjectingProxy(self.store, self.plan, "panels"),
            journal=FaultInjectingProxy(self.store, self.plan, "journal"),
            audit=AuditChannelSink(self.store, self.store, discord),
            clock=self.clock,
            retry=RetryPolicy(max_attempts=1),
        )

    def crash(self) -> None:
        self.store.close()
        self.boot()

    def deploy(self, panel_type: str, channel_id: int) -> PanelRecord:
        g = self.guild
        request = DeployRequest(g.guild_id, panel_type, channel_id, g.admin_id)
        deploy_panel(self.ctx, self.catalogue, request)
        found = self.store.get_panel(g.guild_id, panel_type)
        assert found is not None
        return found

    def preview(self, kind: CleanupKind = CleanupKind.FULL) -> CleanupPlan:
        g = self.guild
        return preview_cleanup(self.ctx, g.guild_id, kind, user_id=g.admin_id)

    def rows(self) -> set[tuple[str, int]]:
        return {(p.panel_type, p.message_id) for p in self.store.list_panels(self.guild.guild_id)}

    def bot_messages(self) -> set[int]:
        """The bot's messages, audit posts excepted."""
        return {
            m.id
            for m in self.sim.all_messages(self.guild.guild_id)
            if m.author_id == self.guild.bot_id and m.channel_id != self.guild.audit_log_id
        }


@dataclass
class Scene:
    healthy: list[PanelRecord]
    hidden: PanelRecord
    stale_rows: set[tuple[str, int]]
    orphan: int


def build_scene(world: World) -> Scene:
    g = world.guild
    world.store.set_audit_channel(g.guild_id, g.audit_log_id, world.clock.now())
    healthy = [world.deploy("rules", g.rules_id), world.deploy("faq", g.general_id)]
    gone_message = world.deploy("products", g.general_id)
    world.sim.delete_message_as_admin(g.general_id, gone_message.message_id)
    gone_channel = world.deploy("welcome", g.shop_id)
    world.sim.delete_channel(g.shop_id)
    hidden = world.deploy("support", g.support_id)
    world.sim.set_overwrite(
        g.support_id, Overwrite(g.bot_role_id, True, deny=Permission.VIEW_CHANNEL)
    )
    orphan = world.sim.post_as(g.bot_id, g.general_id, world.catalogue.render("help")).id
    stale = {(p.panel_type, p.message_id) for p in (gone_message, gone_channel)}
    return Scene(healthy, hidden, stale, orphan)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
def scene(world: World) -> Scene:
    return build_scene(world)


def assert_untouched_survive(world: World, scene: Scene) -> None:
    for panel in [*scene.healthy, scene.hidden]:
        assert (panel.panel_type, panel.message_id) in world.rows()
        assert world.sim.message_exists(panel.channel_id, panel.message_id)


def test_orphans_of_both_kinds_are_found_and_only_they_are_removed(
    world: World, scene: Scene
) -> None:
    plan = world.preview()
    messages_before = world.bot_messages()

    result = apply_cleanup(world.ctx, plan)

    assert {(r.panel.panel_type, r.panel.message_id) for r in plan.rows} == scene.stale_rows
    assert [m.message_id for m in plan.messages] == [scene.orphan]
    assert world.rows() & scene.stale_rows == set()
    assert not world.sim.message_exists(world.guild.general_id, scene.orphan)
    gone = messages_before - world.bot_messages()
    assert gone == {scene.orphan}
    assert_untouched_survive(world, scene)
    assert result.outcome == "ok"


def test_the_removal_is_durable_and_audited_in_the_file_and_the_channel(
    world: World, scene: Scene
) -> None:
    result = apply_cleanup(world.ctx, world.preview())

    world.crash()

    assert world.rows() & scene.stale_rows == set()
    operation = world.store.get_operation(result.operation_id or "")
    assert operation is not None and operation.kind is OperationKind.CLEANUP
    assert world.store.recent_audit(world.guild.guild_id, 1)[0].action == "cleanup"
    titles = [m.payload.embeds[0].title for m in world.sim.messages(world.guild.audit_log_id)]
    assert titles[-1] == "cleanup: ok"


def test_status_after_cleanup_shows_only_the_panel_the_bot_cannot_see(
    world: World, scene: Scene
) -> None:
    apply_cleanup(world.ctx, world.preview())

    status = guild_status(world.ctx, world.guild.guild_id, settings=world.store)

    lines = status.lines()
    assert lines[0] == "Panels: 3 (2 present, 1 unverifiable)"
    assert f"Audit channel: <#{world.guild.audit_log_id}>" in lines
    assert any("cleanup ok" in line for line in lines)


def test_a_stale_plan_leaves_a_redeployed_panel_alone(world: World, scene: Scene) -> None:
    plan = world.preview()
    redeployed = world.deploy("products", world.guild.general_id)

    result = apply_cleanup(world.ctx, plan)

    assert ("products", redeployed.message_id) in world.rows()
    assert world.sim.message_exists(redeployed.channel_id, redeployed.message_id)
    assert [s.reason for s in result.skipped] == ["redeployed since the preview"]


def test_a_failed_second_delete_is_left_in_the_journal_and_finished_by_recovery(
    world: World, scene: Scene
) -> None:
    extra = world.sim.post_as(
        world.guild.bot_id, world.guild.general_id, world.catalogue.render("privacy")
    ).id
    plan = world.preview()
    world.plan.add(
        FaultRule(
            "discord.delete_message",
            occurrence=world.plan.count("discord.delete_message") + 2,
            error=lambda: DiscordUnavailable("Discord is unavailable.", status=503),
        )
    )

    result = apply_cleanup(world.ctx, plan)

    assert result.outcome == "pending_recovery"
    assert world.rows() & scene.stale_rows == set()  # the commit landed
    assert [o.id for o in world.store.open_operations()] == [result.operation_id]

    world.crash()
    report = recover(world.ctx)

    assert report.finished == [result.operation_id]
    assert not world.sim.message_exists(world.guild.general_id, scene.orphan)
    assert not world.sim.message_exists(world.guild.general_id, extra)
    assert_untouched_survive(world, scene)


def test_a_failed_commit_changes_nothing(world: World, scene: Scene) -> None:
    plan = world.preview()
    rows, messages = world.rows(), world.bot_messages()
    world.plan.add(
        FaultRule(
            "journal.apply",
            times=1,
            error=lambda: StorageFailure("The bot's database is not available right now."),
        )
    )

    with pytest.raises(StorageFailure):
        apply_cleanup(world.ctx, plan)

    assert world.rows() == rows
    assert world.bot_messages() == messages
    assert world.store.open_operations() == []


# -- dying at every step of an apply ----------------------------------------------------------


@pytest.fixture(scope="module")
def crash_points(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, int, Phase]]:
    """Every port call a fault-free apply makes: before it, and after it when it completed."""
    world = World(tmp_path_factory.mktemp("probe"))
    build_scene(world)
    plan = world.preview()
    start = len(world.plan.calls)
    apply_cleanup(world.ctx, plan)
    points = []
    for call in world.plan.calls[start:]:
        points.append((call.name, call.occurrence, Phase.BEFORE))
        if call.seq in world.plan.completed:
            points.append((call.name, call.occurrence, Phase.AFTER))
    return points


def test_a_crash_anywhere_in_an_apply_ends_all_or_nothing_after_recovery(
    tmp_path: Path, crash_points: list[tuple[str, int, Phase]]
) -> None:
    assert any(name == "discord.delete_message" for name, _, _ in crash_points)
    outcomes: set[str] = set()
    for index, (name, occurrence, phase) in enumerate(crash_points):
        world = World(tmp_path / f"case{index}")
        scene = build_scene(world)
        plan = world.preview()
        rows, messages = world.rows(), world.bot_messages()
        rule = world.plan.add(
            FaultRule(
                name,
                occurrence=occurrence,
                when=phase,
                error=lambda: SimulatedCrash(),
                times=1,
            )
        )

        try:
            apply_cleanup(world.ctx, plan)
        except SimulatedCrash:
            world.crash()
        except SetupOperationError:
            pass
        recover(world.ctx)

        case = f"crash at {name}#{occurrence}/{phase.value}"
        assert rule.fired == 1, case
        assert world.store.open_operations() == [], case
        assert_untouched_survive(world, scene)
        if world.rows() == rows:
            assert world.sim.message_exists(world.guild.general_id, scene.orphan), case
            outcomes.add("nothing")
        else:
            assert world.rows() == rows - scene.stale_rows, case
            assert messages - world.bot_messages() == {scene.orphan}, case
            outcomes.add("all")
        again = recover(world.ctx)
        assert again.touched == 0 and not again.still_open, case
    assert outcomes == {"nothing", "all"}
