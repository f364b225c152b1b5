"""Channels and roles made by the bot: permissions, overwrite limits and Discord's maximums."""

from __future__ import annotations

import pytest

from apex_setup.core.discord_types import ChannelKind, Permission
from apex_setup.core.errors import DiscordForbidden, DiscordNotFound, DiscordRejected
from apex_setup.fakes.discord_sim import (
    MAX_CATEGORY_CHANNELS,
    MAX_GUILD_CHANNELS,
    MAX_GUILD_ROLES,
    DiscordSimulator,
    Overwrite,
    SimulatorPort,
    SimulatorUsageError,
    StandardGuild,
)

P = Permission


@pytest.fixture
def plain_bot(sim: DiscordSimulator, guild: StandardGuild) -> SimulatorPort:
    """A second bot with only @everyone's permissions."""
    bot = sim.create_user("Plain", bot=True)
    sim.add_member(guild.guild_id, bot)
    return sim.port(bot)


def test_the_bot_creates_a_channel(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    created = port.create_channel(guild.guild_id, "tickets")

    assert created.name == "tickets"
    assert sim.channel(created.id) == created
    assert port.get_channel(created.id) == created


def test_creating_a_channel_needs_manage_channels(
    sim: DiscordSimulator, plain_bot: SimulatorPort, guild: StandardGuild
) -> None:
    before = sim.channels(guild.guild_id)

    with pytest.raises(DiscordForbidden) as raised:
        plain_bot.create_channel(guild.guild_id, "tickets")

    assert raised.value.discord_code == 50013
    assert sim.channels(guild.guild_id) == before


def test_an_overwrite_may_only_grant_what_the_bot_has(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    grant_kick = [Overwrite(guild.member_id, False, allow=P.KICK_MEMBERS)]

    with pytest.raises(DiscordForbidden) as raised:
        port.create_channel(guild.guild_id, "tickets", overwrites=grant_kick)

    assert raised.value.discord_code == 50013


def test_an_overwrite_may_only_deny_what_the_bot_has(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    deny_ban = [Overwrite(guild.guild_id, True, deny=P.BAN_MEMBERS)]

    with pytest.raises(DiscordForbidden):
        port.create_channel(guild.guild_id, "tickets", overwrites=deny_ban)


def test_only_administrators_put_manage_roles_in_an_overwrite(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    manage_roles = [Overwrite(guild.member_id, False, allow=P.MANAGE_ROLES)]
    sim.add_role(guild.guild_id, guild.bot_id, guild.admin_role_id)
    admin_made = port.create_channel(guild.guild_id, "admin-made", overwrites=manage_roles)
    sim.remove_role(guild.guild_id, guild.bot_id, guild.admin_role_id)

    with pytest.raises(DiscordForbidden) as raised:
        port.create_channel(guild.guild_id, "tickets", overwrites=manage_roles)

    assert raised.value.discord_code == 50013
    assert sim.overwrites(admin_made.id) == manage_roles


def test_overwrites_within_the_bots_permissions_are_kept(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    hide = [
        Overwrite(guild.guild_id, True, deny=P.VIEW_CHANNEL),
        Overwrite(guild.bot_id, False, allow=P.VIEW_CHANNEL | P.SEND_MESSAGES),
    ]

    created = port.create_channel(guild.guild_id, "private", overwrites=hide)

    assert sim.overwrites(created.id) == hide
    assert not sim.permissions_for(guild.member_id, created.id) & P.VIEW_CHANNEL


def test_a_child_created_without_overwrites_syncs_with_its_category(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    hide = Overwrite(guild.guild_id, True, deny=P.VIEW_CHANNEL)
    let_bot_in = Overwrite(guild.bot_role_id, True, allow=P.VIEW_CHANNEL)
    sim.set_overwrite(guild.info_category_id, hide)
    sim.set_overwrite(guild.info_category_id, let_bot_in)

    child = port.create_channel(guild.guild_id, "faq", parent_id=guild.info_category_id)

    assert child.parent_id == guild.info_category_id
    assert sim.overwrites(child.id) == [hide, let_bot_in]


def test_creating_in_a_category_the_bot_cannot_see_is_refused(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sim.set_overwrite(guild.info_category_id, Overwrite(guild.guild_id, True, deny=P.VIEW_CHANNEL))

    with pytest.raises(DiscordForbidden) as raised:
        port.create_channel(guild.guild_id, "faq", parent_id=guild.info_category_id)

    assert raised.value.discord_code == 50013


def test_a_parent_must_be_a_category(port: SimulatorPort, guild: StandardGuild) -> None:
    with pytest.raises(DiscordRejected) as raised:
        port.create_channel(guild.guild_id, "faq", parent_id=guild.general_id)

    assert raised.value.discord_code == 50035
    assert "parent_id" in raised.value.errors


def test_a_guild_holds_at_most_500_channels(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    for i in range(MAX_GUILD_CHANNELS - len(sim.channels(guild.guild_id))):
        sim.create_channel(guild.guild_id, f"c{i}")

    with pytest.raises(DiscordRejected) as raised:
        port.create_channel(guild.guild_id, "one-too-many")

    assert (raised.value.status, raised.value.discord_code) == (400, 30013)
    assert len(sim.channels(guild.guild_id)) == MAX_GUILD_CHANNELS


def test_a_category_holds_at_most_50_channels(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    category = sim.create_channel(guild.guild_id, "Tickets", ChannelKind.CATEGORY)
    for i in range(MAX_CATEGORY_CHANNELS):
        sim.create_channel(guild.guild_id, f"t{i}", parent_id=category)

    with pytest.raises(DiscordRejected) as raised:
        port.create_channel(guild.guild_id, "t50", parent_id=category)

    # Discord has no dedicated code for a full category: it is Invalid Form Body on parent_id.
    assert raised.value.discord_code == 50035
    assert raised.value.errors == {
        "parent_id": "Maximum number of channels in category reached (50)"
    }


def test_world_building_refuses_an_impossible_world(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    with pytest.raises(SimulatorUsageError):
        sim.create_channel(guild.guild_id, "x", parent_id=guild.general_id)


def test_the_bot_deletes_a_channel_it_manages(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    port.delete_channel(guild.shop_id)

    with pytest.raises(DiscordNotFound) as raised:
        port.get_channel(guild.shop_id)

    assert raised.value.discord_code == 10003
    assert sim.channel(guild.shop_id) is None


def test_deleting_a_category_leaves_its_children_without_a_parent(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    port.delete_channel(guild.info_category_id)

    rules = port.get_channel(guild.rules_id)

    assert rules.parent_id is None


def test_list_channels_includes_channels_the_bot_cannot_view(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    channels = port.list_channels(guild.guild_id)

    assert guild.staff_only_id in {c.id for c in channels}
    assert [c.position for c in channels] == sorted(c.position for c in channels)


def test_list_channels_of_an_unknown_guild_is_10004(port: SimulatorPort) -> None:
    with pytest.raises(DiscordNotFound) as raised:
        port.list_channels(42)

    assert raised.value.discord_code == 10004


# Roles.


def test_the_bot_creates_a_role_below_its_own(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    role_id = port.create_role(guild.guild_id, "Customer", P.VIEW_CHANNEL)

    assert sim.role_ids(guild.guild_id)[:2] == [guild.guild_id, role_id]


def test_creating_a_role_needs_manage_roles(plain_bot: SimulatorPort, guild: StandardGuild) -> None:
    with pytest.raises(DiscordForbidden) as raised:
        plain_bot.create_role(guild.guild_id, "Customer")

    assert raised.value.discord_code == 50013


def test_a_role_may_only_carry_permissions_the_bot_has(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden):
        port.create_role(guild.guild_id, "Mods", P.BAN_MEMBERS)


def test_a_guild_holds_at_most_250_roles(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    for i in range(MAX_GUILD_ROLES - len(sim.role_ids(guild.guild_id))):
        sim.create_role(guild.guild_id, f"r{i}", 0)

    with pytest.raises(DiscordRejected) as raised:
        port.create_role(guild.guild_id, "one-too-many")

    assert (raised.value.status, raised.value.discord_code) == (400, 30005)
    assert len(sim.role_ids(guild.guild_id)) == MAX_GUILD_ROLES


def test_the_bot_deletes_a_role_below_it_and_its_overwrites_go(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    role_id = port.create_role(guild.guild_id, "Customer")
    sim.set_overwrite(guild.shop_id, Overwrite(role_id, True, allow=P.VIEW_CHANNEL))

    port.delete_role(guild.guild_id, role_id)

    assert role_id not in sim.role_ids(guild.guild_id)
    assert all(o.target_id != role_id for o in sim.overwrites(guild.shop_id))


def test_the_bot_cannot_delete_a_role_above_its_own(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden) as raised:
        port.delete_role(guild.guild_id, guild.admin_role_id)

    assert raised.value.discord_code == 50013
    assert guild.admin_role_id in sim.role_ids(guild.guild_id)


def test_deleting_an_unknown_role_is_10011(port: SimulatorPort, guild: StandardGuild) -> None:
    with pytest.raises(DiscordNotFound) as raised:
        port.delete_role(guild.guild_id, 777)

    assert raised.value.discord_code == 10011


def test_the_standard_guild_names_its_channels(sim: DiscordSimulator, guild: StandardGuild) -> None:
    by_name = {c.name: c.id for c in sim.channels(guild.guild_id)}

    assert guild.channels == by_name
