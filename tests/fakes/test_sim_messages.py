"""Messages: nonces, ids that carry time, history pages, fetching, editing, deleting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apex_setup.core.discord_types import Permission, snowflake_time
from apex_setup.core.errors import DiscordForbidden, DiscordNotFound, DiscordRejected
from apex_setup.core.payload import MessagePayload
from apex_setup.core.ports import DiscordPort
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    Overwrite,
    SimulatorPort,
    StandardGuild,
)


def text(content: str) -> MessagePayload:
    return MessagePayload(content=content)


# dpytest gap (3): a repeated nonce does not post a duplicate.


def test_a_repeated_nonce_returns_the_first_message_and_posts_nothing(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    first = port.send_message(guild.general_id, text("panel"), nonce="op-1")

    again = port.send_message(guild.general_id, text("panel"), nonce="op-1")

    assert again.id == first.id
    assert again.nonce == "op-1"
    assert len(sim.messages(guild.general_id)) == 1
    assert sim.messages_created_with_nonce(guild.bot_id, "op-1") == 1


def test_a_repeated_nonce_returns_the_first_message_even_with_another_payload(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    first = port.send_message(guild.general_id, text("first"), nonce="op-1")

    again = port.send_message(guild.general_id, text("second"), nonce="op-1")

    assert again.id == first.id
    assert again.payload.content == "first"


def test_a_nonce_is_new_again_after_the_window(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    first = port.send_message(guild.general_id, text("panel"), nonce="op-1")
    clock.advance(sim.nonce_window)

    again = port.send_message(guild.general_id, text("panel"), nonce="op-1")

    assert again.id != first.id
    assert sim.messages_created_with_nonce(guild.bot_id, "op-1") == 2


def test_a_nonce_whose_message_was_deleted_creates_a_new_message(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    first = port.send_message(guild.general_id, text("panel"), nonce="op-1")
    sim.delete_message_as_admin(guild.general_id, first.id)

    again = port.send_message(guild.general_id, text("panel"), nonce="op-1")

    assert again.id != first.id
    assert [m.id for m in sim.messages(guild.general_id)] == [again.id]
    assert sim.messages_created_with_nonce(guild.bot_id, "op-1") == 2


def test_nonces_are_per_author(sim: DiscordSimulator, guild: StandardGuild) -> None:
    other_bot = sim.create_user("Other", bot=True)
    sim.add_member(guild.guild_id, other_bot, [guild.bot_role_id])

    ours = sim.port(guild.bot_id).send_message(guild.general_id, text("a"), nonce="same")
    theirs = sim.port(other_bot).send_message(guild.general_id, text("b"), nonce="same")

    assert ours.id != theirs.id


def test_the_port_tells_the_nonce_window() -> None:
    narrow = DiscordSimulator(nonce_window=60.0)
    bot = narrow.create_user("bot", bot=True)

    port: DiscordPort = narrow.port(bot)

    assert port.nonce_window_seconds == 60.0


def test_fetched_and_listed_messages_carry_no_nonce(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    sent = port.send_message(guild.general_id, text("panel"), nonce="op-1")

    fetched = port.fetch_message(guild.general_id, sent.id)
    listed = port.history(guild.general_id)

    assert sent.nonce == "op-1"
    assert fetched.nonce is None
    assert [m.nonce for m in listed] == [None]
    assert fetched.payload == sent.payload


# Snowflakes.


def test_a_message_id_encodes_the_clock_time_of_its_creation(
    port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    clock.advance(seconds=12.345)
    expected = clock.now()

    message = port.send_message(guild.general_id, text("x"), nonce="n")

    assert snowflake_time(message.id) == expected
    assert message.created_at == expected


def test_ids_made_in_the_same_millisecond_still_increase(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    ids = [port.send_message(guild.general_id, text(str(i)), nonce=str(i)).id for i in range(50)]

    assert ids == sorted(set(ids))
    assert len({snowflake_time(i) for i in ids}) == 1


# History.


@pytest.fixture
def ten(sim: DiscordSimulator, guild: StandardGuild, clock: FakeClock) -> list[int]:
    """Ten messages in general, one second apart, oldest first."""
    ids = []
    for i in range(10):
        ids.append(sim.post_as(guild.member_id, guild.general_id, text(str(i))).id)
        clock.advance(1)
    return ids


def test_history_is_newest_first(port: SimulatorPort, guild: StandardGuild, ten: list[int]) -> None:
    page = port.history(guild.general_id)

    assert [m.id for m in page] == list(reversed(ten))


def test_history_limit_takes_the_newest(
    port: SimulatorPort, guild: StandardGuild, ten: list[int]
) -> None:
    page = port.history(guild.general_id, limit=3)

    assert [m.id for m in page] == [ten[9], ten[8], ten[7]]


def test_history_before_takes_the_messages_just_older(
    port: SimulatorPort, guild: StandardGuild, ten: list[int]
) -> None:
    page = port.history(guild.general_id, limit=3, before=ten[5])

    assert [m.id for m in page] == [ten[4], ten[3], ten[2]]


def test_history_after_takes_the_messages_just_newer_still_newest_first(
    port: SimulatorPort, guild: StandardGuild, ten: list[int]
) -> None:
    page = port.history(guild.general_id, limit=3, after=ten[5])

    assert [m.id for m in page] == [ten[8], ten[7], ten[6]]


def test_history_between_before_and_after(
    port: SimulatorPort, guild: StandardGuild, ten: list[int]
) -> None:
    page = port.history(guild.general_id, after=ten[2], before=ten[6])

    assert [m.id for m in page] == [ten[5], ten[4], ten[3]]


@pytest.mark.parametrize("limit", [0, 101])
def test_history_limit_outside_1_to_100_is_invalid_form_body(
    port: SimulatorPort, guild: StandardGuild, limit: int
) -> None:
    with pytest.raises(DiscordRejected) as raised:
        port.history(guild.general_id, limit=limit)

    assert raised.value.discord_code == 50035
    assert "limit" in raised.value.errors


def test_history_without_read_message_history_is_empty(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, ten: list[int]
) -> None:
    deny = Permission.READ_MESSAGE_HISTORY
    sim.set_overwrite(guild.general_id, Overwrite(guild.bot_role_id, True, deny=deny))
    sim.set_overwrite(guild.general_id, Overwrite(guild.guild_id, True, deny=deny))

    page = port.history(guild.general_id)
    with pytest.raises(DiscordForbidden) as raised:
        port.fetch_message(guild.general_id, ten[0])

    assert page == []
    assert raised.value.discord_code == 50001


def test_history_of_a_hidden_channel_is_missing_access(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden) as raised:
        port.history(guild.staff_only_id)

    assert raised.value.discord_code == 50001


# dpytest gap (4): refusals carry Discord's codes, never 0.


def test_unknown_channel_and_unknown_message_carry_their_codes(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordNotFound) as channel:
        port.send_message(123456789, text("x"), nonce="n")
    with pytest.raises(DiscordNotFound) as message:
        port.fetch_message(guild.general_id, 987654321)

    assert (channel.value.status, channel.value.discord_code) == (404, 10003)
    assert (message.value.status, message.value.discord_code) == (404, 10008)


def test_forbidden_carries_50001_or_50013_never_0(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    with pytest.raises(DiscordForbidden) as hidden:
        port.send_message(guild.staff_only_id, text("x"), nonce="a")
    with pytest.raises(DiscordForbidden) as muted:
        port.send_message(guild.read_only_id, text("x"), nonce="b")

    assert (hidden.value.status, hidden.value.discord_code) == (403, 50001)
    assert (muted.value.status, muted.value.discord_code) == (403, 50013)
    assert str(hidden.value) == "Missing Access"


@pytest.mark.parametrize("attribute", ["voice_id", "info_category_id"])
def test_sending_into_a_non_text_channel_is_50008(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, attribute: str
) -> None:
    channel_id = getattr(guild, attribute)

    with pytest.raises(DiscordRejected) as raised:
        port.send_message(channel_id, text("x"), nonce="n")

    assert (raised.value.status, raised.value.discord_code) == (400, 50008)


# Deleting and editing.


def test_the_bot_deletes_its_own_message(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    message = port.send_message(guild.general_id, text("x"), nonce="n")

    port.delete_message(guild.general_id, message.id)

    assert not sim.message_exists(guild.general_id, message.id)


def test_deleting_someone_elses_message_needs_manage_messages(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    weak_bot = sim.create_user("Weak", bot=True)
    sim.add_member(guild.guild_id, weak_bot)
    theirs = sim.post_as(guild.member_id, guild.general_id, text("mine"))

    with pytest.raises(DiscordForbidden) as raised:
        sim.port(weak_bot).delete_message(guild.general_id, theirs.id)
    sim.port(guild.bot_id).delete_message(guild.general_id, theirs.id)

    assert raised.value.discord_code == 50013
    assert not sim.message_exists(guild.general_id, theirs.id)


def test_a_bot_without_manage_messages_still_deletes_its_own_message(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    weak_bot = sim.create_user("Weak", bot=True)
    sim.add_member(guild.guild_id, weak_bot)
    weak = sim.port(weak_bot)
    message = weak.send_message(guild.general_id, text("mine"), nonce="n")

    weak.delete_message(guild.general_id, message.id)

    assert not sim.message_exists(guild.general_id, message.id)


def test_deleting_twice_is_unknown_message(port: SimulatorPort, guild: StandardGuild) -> None:
    message = port.send_message(guild.general_id, text("x"), nonce="n")
    port.delete_message(guild.general_id, message.id)

    with pytest.raises(DiscordNotFound) as raised:
        port.delete_message(guild.general_id, message.id)

    assert raised.value.discord_code == 10008


def test_the_bot_edits_its_own_message(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    message = port.send_message(guild.general_id, text("v1"), nonce="n")

    edited = port.edit_message(guild.general_id, message.id, text("v2"))

    assert edited.id == message.id
    assert sim.messages(guild.general_id)[0].payload.content == "v2"


def test_editing_someone_elses_message_is_50005(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    theirs = sim.post_as(guild.member_id, guild.general_id, text("mine"))

    with pytest.raises(DiscordForbidden) as raised:
        port.edit_message(guild.general_id, theirs.id, text("yours now"))

    assert raised.value.discord_code == 50005
    assert sim.messages(guild.general_id)[0].payload.content == "mine"


def test_deleting_a_channel_takes_its_messages_and_nonces_start_over(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    first = port.send_message(guild.shop_id, text("panel"), nonce="op-1")
    sim.delete_channel(guild.shop_id)

    again = port.send_message(guild.general_id, text("panel"), nonce="op-1")
    with pytest.raises(DiscordNotFound):
        port.fetch_message(guild.shop_id, first.id)

    assert again.id != first.id
    assert sim.all_messages(guild.guild_id) == [port.fetch_message(guild.general_id, again.id)]


def test_clock_time_is_the_only_time(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, clock: FakeClock
) -> None:
    clock.advance(timedelta(days=400).total_seconds())

    message = port.send_message(guild.general_id, text("x"), nonce="n")

    assert message.created_at == clock.now()
