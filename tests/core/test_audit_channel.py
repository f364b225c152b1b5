"""Audit entries posted to the guild's audit channel, and choosing that channel."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from apex_setup.core.audit_channel import (
    AuditChannelSink,
    audit_embed,
    audit_nonce,
    configure_audit_channel,
)
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.errors import (
    DiscordForbidden,
    InvalidInput,
    MissingPermissions,
    StorageFailure,
)
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.payload import validate_payload
from apex_setup.core.records import AuditRecord
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan, FaultRule
from apex_setup.fakes.memory_store import MemoryStore


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.plan = FaultPlan(sleep=self.clock.advance)
        self.sim = DiscordSimulator(
            self.clock, faults=self.plan, rate_limits=RateLimitConfig.disabled()
        )
        self.guild = self.sim.standard_guild()
        self.store = MemoryStore(clock=self.clock)
        self.discord = self.sim.port(self.guild.bot_id)
        self.sink = AuditChannelSink(self.store, self.store, self.discord)
        self.ctx = SetupContext(
            discord=self.discord,
            panels=self.store,
            journal=self.store,
            audit=self.sink,
            clock=self.clock,
            retry=RetryPolicy(max_attempts=1),
        )

    def entry(self, detail: str = "rules panel posted") -> AuditRecord:
        return AuditRecord(
            guild_id=self.guild.guild_id,
            user_id=self.guild.admin_id,
            action="deploy",
            outcome="ok",
            detail=detail,
            created_at=self.clock.now(),
            operation_id="0123456789abcdef",
        )

    def posted(self) -> list[str]:
        """Titles of the embeds in the audit channel."""
        return [m.payload.embeds[0].title for m in self.sim.messages(self.guild.audit_log_id)]

    def use_audit_channel(self) -> None:
        self.store.set_audit_channel(self.guild.guild_id, self.guild.audit_log_id, self.clock.now())


@pytest.fixture
def world() -> World:
    return World()


# -- posting ------------------------------------------------------------------------------------


def test_an_entry_is_stored_and_posted_to_the_audit_channel(world: World) -> None:
    world.use_audit_channel()
    entry = world.entry()

    world.sink.record(entry)

    assert world.store.recent_audit(world.guild.guild_id) == [entry]
    (message,) = world.sim.messages(world.guild.audit_log_id)
    embed = message.payload.embeds[0]
    assert (embed.title, embed.description) == ("deploy: ok", "rules panel posted")
    assert message.payload.custom_ids() == []  # never mistaken for a panel


def test_an_entry_is_only_stored_when_no_audit_channel_is_set(world: World) -> None:
    world.sink.record(world.entry())

    assert len(world.store.recent_audit(world.guild.guild_id)) == 1
    assert world.plan.count("discord.send_message") == 0


def test_recording_the_same_entry_twice_posts_it_once(world: World) -> None:
    world.use_audit_channel()
    entry = world.entry()

    world.sink.record(entry)
    world.sink.record(entry)

    assert world.posted() == ["deploy: ok"]


def test_a_failed_post_is_logged_and_does_not_fail_the_record(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.use_audit_channel()
    world.plan.add(
        FaultRule("discord.send_message", error=lambda: DiscordForbidden("no", status=403))
    )

    with caplog.at_level(logging.WARNING, logger="apex_setup.core.audit_channel"):
        world.sink.record(world.entry())

    assert len(world.store.recent_audit(world.guild.guild_id)) == 1
    (log,) = caplog.records
    assert log.levelname == "WARNING" and log.exc_info is not None
    assert "audit channel" in log.getMessage()


def test_an_unreadable_setting_is_logged_and_does_not_fail_the_record(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    faults = FaultPlan([FaultRule("settings.*", error=lambda: StorageFailure("down"))])
    sink = AuditChannelSink(
        world.store, FaultInjectingProxy(world.store, faults, "settings"), world.discord
    )

    with caplog.at_level(logging.WARNING):
        sink.record(world.entry())

    assert len(world.store.recent_audit(world.guild.guild_id)) == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_a_deploy_succeeds_and_is_posted_even_when_the_post_fails(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.use_audit_channel()
    request = DeployRequest(
        world.guild.guild_id, "rules", world.guild.rules_id, world.guild.admin_id
    )
    world.plan.add(
        FaultRule(
            "discord.send_message",
            occurrence=2,  # the first send is the panel, the second the audit post
            error=lambda: DiscordForbidden("no", status=403),
        )
    )

    with caplog.at_level(logging.WARNING):
        result = deploy_panel(world.ctx, PanelCatalogue.default(), request)

    assert world.store.get_panel(world.guild.guild_id, "rules") is not None
    assert result.old_message_retired
    assert world.store.recent_audit(world.guild.guild_id)[0].action == "deploy"
    assert world.posted() == []
    assert any(r.exc_info for r in caplog.records)


def test_the_nonce_is_stable_short_and_differs_between_entries(world: World) -> None:
    entry = world.entry()

    nonce = audit_nonce(entry)

    assert nonce == audit_nonce(replace(entry))
    assert len(nonce) <= 25
    assert nonce != audit_nonce(replace(entry, detail="something else"))


def test_a_long_detail_still_makes_a_valid_embed(world: World) -> None:
    payload = audit_embed(world.entry("x" * 10_000))

    validate_payload(payload)

    assert len(payload.embeds[0].description) == 1000


# -- choosing the channel -----------------------------------------------------------------------


def test_a_usable_text_channel_becomes_the_audit_channel(world: World) -> None:
    g = world.guild

    channel = configure_audit_channel(
        world.ctx, world.store, g.guild_id, g.audit_log_id, user_id=g.admin_id
    )

    assert channel is not None and channel.name == "audit-log"
    assert world.store.get_audit_channel(g.guild_id) == g.audit_log_id
    assert world.posted() == ["audit_channel: ok"]  # the change itself is the first post


def test_clearing_the_audit_channel_stops_the_posts(world: World) -> None:
    g = world.guild
    world.use_audit_channel()

    configure_audit_channel(world.ctx, world.store, g.guild_id, None, user_id=g.admin_id)
    world.sink.record(world.entry())

    assert world.store.get_audit_channel(g.guild_id) is None
    assert world.posted() == []


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("voice_id", InvalidInput),
        ("info_category_id", InvalidInput),
        ("staff_only_id", MissingPermissions),
        ("read_only_id", MissingPermissions),
    ],
)
def test_an_unusable_channel_is_refused_audited_and_not_stored(
    world: World, channel: str, error: type[Exception]
) -> None:
    g = world.guild

    with pytest.raises(error):
        configure_audit_channel(
            world.ctx, world.store, g.guild_id, getattr(g, channel), user_id=g.admin_id
        )

    assert world.store.get_audit_channel(g.guild_id) is None
    assert world.store.recent_audit(g.guild_id)[0].outcome == "refused"


def test_another_guilds_channel_is_refused(world: World) -> None:
    other = world.sim.standard_guild("Other")
    world.sim.add_member(other.guild_id, world.guild.bot_id)

    with pytest.raises(InvalidInput, match="another server"):
        configure_audit_channel(
            world.ctx,
            world.store,
            world.guild.guild_id,
            other.general_id,
            user_id=world.guild.admin_id,
        )

    assert world.store.get_audit_channel(world.guild.guild_id) is None
