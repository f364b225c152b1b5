"""Permission computation, case by case from Discord's documentation, then through the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from apex_setup.core.discord_types import Permission
from apex_setup.core.errors import DiscordForbidden
from apex_setup.core.payload import Embed, MessagePayload
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, Overwrite, SimulatorPort, StandardGuild
from apex_setup.fakes.sim_permissions import (
    ALL_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    channel_permissions,
)

P = Permission
GUILD = 1  # also the @everyone role's id
MEMBER = 100
ROLE_A = 10
ROLE_B = 11


@dataclass(frozen=True)
class Case:
    """A member's roles and a channel's overwrites, and what the member must and must not have."""

    everyone: int = int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY)
    roles: dict[int, int] = field(default_factory=dict)
    overwrites: tuple[Overwrite, ...] = ()
    is_owner: bool = False
    timed_out: bool = False
    has: int = 0
    lacks: int = 0


def everyone_ow(allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(GUILD, True, allow=allow, deny=deny)


def role_ow(role_id: int, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(role_id, True, allow=allow, deny=deny)


def member_ow(allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(MEMBER, False, allow=allow, deny=deny)


CASES = {
    "the owner has everything whatever the overwrites say": Case(
        overwrites=(everyone_ow(deny=P.VIEW_CHANNEL), member_ow(deny=P.SEND_MESSAGES)),
        is_owner=True,
        has=ALL_PERMISSIONS,
    ),
    "base permissions are @everyone OR every role": Case(
        everyone=int(P.VIEW_CHANNEL | P.SEND_MESSAGES),
        roles={ROLE_A: int(P.EMBED_LINKS), ROLE_B: int(P.MANAGE_MESSAGES)},
        has=P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS | P.MANAGE_MESSAGES,
        lacks=P.MANAGE_CHANNELS,
    ),
    "administrator ignores every overwrite": Case(
        roles={ROLE_A: int(P.ADMINISTRATOR)},
        overwrites=(
            everyone_ow(deny=P.VIEW_CHANNEL),
            role_ow(ROLE_A, deny=P.VIEW_CHANNEL),
            member_ow(deny=P.SEND_MESSAGES),
        ),
        has=ALL_PERMISSIONS,
    ),
    "the @everyone overwrite denies": Case(
        overwrites=(everyone_ow(deny=P.SEND_MESSAGES),),
        has=P.VIEW_CHANNEL,
        lacks=P.SEND_MESSAGES,
    ),
    "the @everyone overwrite allows what the base lacks": Case(
        overwrites=(everyone_ow(allow=P.EMBED_LINKS),),
        has=P.EMBED_LINKS,
    ),
    "a role allow beats an @everyone deny": Case(
        roles={ROLE_A: 0},
        overwrites=(everyone_ow(deny=P.SEND_MESSAGES), role_ow(ROLE_A, allow=P.SEND_MESSAGES)),
        has=P.SEND_MESSAGES,
    ),
    "one role's allow beats another role's deny, whatever their positions": Case(
        roles={ROLE_A: 0, ROLE_B: 0},
        overwrites=(role_ow(ROLE_A, deny=P.VIEW_CHANNEL), role_ow(ROLE_B, allow=P.VIEW_CHANNEL)),
        has=P.VIEW_CHANNEL,
    ),
    "role denies apply together before role allows": Case(
        everyone=int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.EMBED_LINKS),
        roles={ROLE_A: 0, ROLE_B: 0},
        overwrites=(
            role_ow(ROLE_A, deny=P.EMBED_LINKS, allow=P.ATTACH_FILES),
            role_ow(ROLE_B, deny=P.ATTACH_FILES),
        ),
        has=P.ATTACH_FILES,
        lacks=P.EMBED_LINKS,
    ),
    "an overwrite for a role the member lacks does nothing": Case(
        roles={ROLE_A: 0},
        overwrites=(role_ow(ROLE_B, deny=P.VIEW_CHANNEL),),
        has=P.VIEW_CHANNEL,
    ),
    "the member's own deny beats a role allow": Case(
        roles={ROLE_A: 0},
        overwrites=(role_ow(ROLE_A, allow=P.SEND_MESSAGES), member_ow(deny=P.SEND_MESSAGES)),
        lacks=P.SEND_MESSAGES,
    ),
    "the member's own allow beats @everyone and role denies": Case(
        roles={ROLE_A: 0},
        overwrites=(
            everyone_ow(deny=P.VIEW_CHANNEL),
            role_ow(ROLE_A, deny=P.VIEW_CHANNEL),
            member_ow(allow=P.VIEW_CHANNEL),
        ),
        has=P.VIEW_CHANNEL,
    ),
    "without View Channel nothing else in the channel applies": Case(
        everyone=int(P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.MANAGE_MESSAGES),
        overwrites=(everyone_ow(allow=P.EMBED_LINKS),),
        lacks=P.SEND_MESSAGES | P.READ_MESSAGE_HISTORY | P.MANAGE_MESSAGES | P.EMBED_LINKS,
    ),
    "without Send Messages the sending extras are ignored": Case(
        everyone=int(
            P.VIEW_CHANNEL
            | P.READ_MESSAGE_HISTORY
            | P.EMBED_LINKS
            | P.ATTACH_FILES
            | P.MENTION_EVERYONE
            | P.SEND_TTS_MESSAGES
        ),
        has=P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY,
        lacks=P.EMBED_LINKS | P.ATTACH_FILES | P.MENTION_EVERYONE | P.SEND_TTS_MESSAGES,
    ),
    "a timed-out member keeps only View Channel and Read Message History": Case(
        roles={ROLE_A: int(P.MANAGE_MESSAGES | P.MANAGE_CHANNELS)},
        overwrites=(member_ow(allow=P.EMBED_LINKS),),
        timed_out=True,
        has=P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY,
        lacks=P.SEND_MESSAGES | P.EMBED_LINKS | P.MANAGE_MESSAGES | P.MANAGE_CHANNELS,
    ),
    "a timed-out administrator is exempt": Case(
        roles={ROLE_A: int(P.ADMINISTRATOR)},
        timed_out=True,
        has=ALL_PERMISSIONS,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_channel_permissions_follow_discords_documented_order(case: Case) -> None:
    perms = channel_permissions(
        is_owner=case.is_owner,
        guild_id=GUILD,
        member_id=MEMBER,
        everyone=case.everyone,
        roles=case.roles,
        overwrites=case.overwrites,
        timed_out=case.timed_out,
    )

    assert perms & case.has == case.has
    assert perms & case.lacks == 0


def test_an_overwrite_cannot_allow_and_deny_the_same_bit() -> None:
    with pytest.raises(ValueError):
        Overwrite(GUILD, True, allow=P.SEND_MESSAGES, deny=P.SEND_MESSAGES)


# Through the simulator: the standard guild's channels, and dpytest gap (1): overwrites count.


def test_the_bot_cannot_see_the_staff_only_channel(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    perms = sim.permissions_for(guild.bot_id, guild.staff_only_id)

    assert perms == Permission(0)


def test_get_channel_on_a_hidden_channel_is_missing_access(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden) as raised:
        port.get_channel(guild.staff_only_id)

    assert raised.value.status == 403
    assert raised.value.discord_code == 50001


def test_sending_in_the_read_only_channel_is_missing_permissions(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden) as raised:
        port.send_message(guild.read_only_id, MessagePayload(content="hi"), nonce="n1")

    assert raised.value.discord_code == 50013
    assert sim.messages(guild.read_only_id) == []


def test_the_bot_can_view_the_read_only_channel(port: SimulatorPort, guild: StandardGuild) -> None:
    perms = port.bot_permissions(guild.read_only_id)

    assert perms & P.VIEW_CHANNEL
    assert not perms & P.SEND_MESSAGES
    assert not perms & P.EMBED_LINKS


def test_the_admin_and_owner_see_the_staff_only_channel(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    admin = sim.permissions_for(guild.admin_id, guild.staff_only_id)
    owner = sim.permissions_for(guild.owner_id, guild.staff_only_id)

    assert admin & P.VIEW_CHANNEL
    assert owner & P.VIEW_CHANNEL


def test_a_member_overwrite_added_later_is_honoured_at_once(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.set_overwrite(guild.general_id, Overwrite(guild.bot_id, False, deny=P.SEND_MESSAGES))

    with pytest.raises(DiscordForbidden) as raised:
        port.send_message(guild.general_id, MessagePayload(content="hi"), nonce="n1")

    assert raised.value.discord_code == 50013


def test_an_embed_without_embed_links_is_refused_with_50013(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.set_overwrite(guild.shop_id, Overwrite(guild.bot_role_id, True, deny=P.EMBED_LINKS))
    sim.set_overwrite(guild.shop_id, Overwrite(guild.guild_id, True, deny=P.EMBED_LINKS))
    payload = MessagePayload(embeds=(Embed(title="Shop"),))

    with pytest.raises(DiscordForbidden) as raised:
        port.send_message(guild.shop_id, payload, nonce="n1")

    assert raised.value.discord_code == 50013
    assert sim.messages(guild.shop_id) == []


def test_a_timed_out_bot_can_read_but_not_send(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    sim.post_as(guild.member_id, guild.general_id, MessagePayload(content="earlier"))
    sim.timeout_member(guild.guild_id, guild.bot_id, clock.now() + timedelta(minutes=5))

    history = port.history(guild.general_id)
    with pytest.raises(DiscordForbidden):
        port.send_message(guild.general_id, MessagePayload(content="hi"), nonce="n1")

    assert [m.payload.content for m in history] == ["earlier"]


def test_a_timeout_ends_when_its_time_has_passed(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    sim.timeout_member(guild.guild_id, guild.bot_id, clock.now() + timedelta(minutes=5))
    clock.advance(minutes=5)

    message = port.send_message(guild.general_id, MessagePayload(content="back"), nonce="n1")

    assert sim.message_exists(guild.general_id, message.id)


def test_a_new_guild_gives_everyone_discords_default_member_permissions() -> None:
    sim = DiscordSimulator()
    owner = sim.create_user("owner")
    member = sim.create_user("member")
    guild_id = sim.create_guild("g", owner)
    sim.add_member(guild_id, member)
    channel = sim.create_channel(guild_id, "general")

    perms = sim.permissions_for(member, channel)

    assert int(perms) == DEFAULT_EVERYONE_PERMISSIONS
    assert not perms & (P.MANAGE_CHANNELS | P.MANAGE_MESSAGES | P.ADMINISTRATOR)
