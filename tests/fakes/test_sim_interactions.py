"""dpytest gap (5): interactions exist, with the 3-second and 15-minute rules, 40060 and 10062."""

from __future__ import annotations

import pytest

from apex_setup.core.errors import DiscordNotFound, DiscordRejected
from apex_setup.core.payload import (
    ActionRow,
    Button,
    Embed,
    MessagePayload,
    SelectMenu,
    SelectOption,
)
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import (
    DiscordSimulator,
    ImpossibleUserAction,
    InteractionType,
    ResponseKind,
    SimulatorPort,
    StandardGuild,
)


def text(content: str) -> MessagePayload:
    return MessagePayload(content=content)


@pytest.fixture
def panel_id(port: SimulatorPort, guild: StandardGuild) -> int:
    """A shop panel in #shop with two buttons and a colour select."""
    payload = MessagePayload(
        embeds=(Embed(title="Shop", description="Pick something."),),
        rows=(
            ActionRow((Button("buy", "Buy"), Button("help", "Help"))),
            ActionRow(
                (SelectMenu("colour", (SelectOption("Red", "red"), SelectOption("Blue", "blue"))),)
            ),
        ),
    )
    return port.send_message(guild.shop_id, payload, nonce="panel").id


def test_pressing_a_button_gives_the_bot_an_interaction(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")

    assert interaction.type is InteractionType.MESSAGE_COMPONENT
    assert interaction.application_id == guild.bot_id
    assert (interaction.user_id, interaction.guild_id) == (guild.member_id, guild.guild_id)
    assert (interaction.channel_id, interaction.message_id) == (guild.shop_id, panel_id)
    assert interaction.data.custom_id == "buy"
    assert interaction.created_at == clock.now()
    assert sim.interactions == [interaction]


def test_a_response_within_three_seconds_posts_the_message(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    clock.advance(3)

    message = sim.respond(interaction.id, text("Thanks!"))

    assert sim.message_exists(guild.shop_id, message.id)
    assert message.author_id == guild.bot_id
    assert sim.interaction_responses[-1].kind is ResponseKind.MESSAGE


def test_a_response_after_three_seconds_is_unknown_interaction(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    clock.advance(3.001)

    with pytest.raises(DiscordNotFound) as raised:
        sim.respond(interaction.id, text("Too late"))

    assert (raised.value.status, raised.value.discord_code) == (404, 10062)
    assert [m.id for m in sim.messages(guild.shop_id)] == [panel_id]


def test_a_second_acknowledgement_is_40060(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    sim.defer(interaction.id)

    with pytest.raises(DiscordRejected) as raised:
        sim.respond(interaction.id, text("Again"))

    assert (raised.value.status, raised.value.discord_code) == (400, 40060)


def test_an_unknown_interaction_is_10062(sim: DiscordSimulator) -> None:
    with pytest.raises(DiscordNotFound) as raised:
        sim.defer(424242)

    assert raised.value.discord_code == 10062


def test_followups_work_for_fifteen_minutes_then_the_token_is_invalid(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    sim.respond(interaction.id, text("Working on it"))
    clock.advance(minutes=15)
    in_time = sim.followup(interaction.token, text("Done"))
    clock.advance(0.001)

    with pytest.raises(DiscordRejected) as raised:
        sim.followup(interaction.token, text("Too late"))

    assert sim.message_exists(guild.shop_id, in_time.id)
    assert (raised.value.status, raised.value.discord_code) == (401, 50027)


def test_editing_the_original_after_fifteen_minutes_is_refused(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    original = sim.respond(interaction.id, text("v1"))
    clock.advance(minutes=16)

    with pytest.raises(DiscordRejected) as raised:
        sim.edit_original(interaction.token, text("v2"))

    assert raised.value.discord_code == 50027
    assert sim.messages(guild.shop_id)[-1] == original


def test_a_followup_before_any_response_is_unknown_webhook(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")

    with pytest.raises(DiscordNotFound) as raised:
        sim.followup(interaction.token, text("Early"))

    assert raised.value.discord_code == 10015


def test_an_unanswered_interaction_loses_its_token_after_three_seconds(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    clock.advance(4)

    with pytest.raises(DiscordRejected) as raised:
        sim.followup(interaction.token, text("Late"))

    assert raised.value.discord_code == 50027


def test_after_a_deferral_the_first_followup_fills_the_deferred_message(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    sim.defer(interaction.id)
    clock.advance(60)

    first = sim.followup(interaction.token, text("Here it is"))
    second = sim.followup(interaction.token, text("And more"))

    contents = [m.payload.content for m in sim.messages(guild.shop_id)[1:]]
    assert contents == ["Here it is", "And more"]
    assert first.id != second.id


def test_an_ephemeral_response_is_seen_only_by_the_user(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "help")

    message = sim.respond(interaction.id, text("Only you"), ephemeral=True)

    assert [m.id for m in sim.ephemeral_messages(guild.member_id)] == [message.id]
    assert sim.ephemeral_messages(guild.admin_id) == []
    assert [m.id for m in sim.messages(guild.shop_id)] == [panel_id]


def test_update_message_edits_the_panel_the_button_is_on(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")

    sim.update_message(interaction.id, text("Sold out"))

    assert sim.messages(guild.shop_id)[0].payload.content == "Sold out"


def test_update_message_is_not_a_response_to_a_command(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    interaction = sim.run_command(guild.member_id, guild.general_id, "shop")

    with pytest.raises(DiscordRejected) as raised:
        sim.update_message(interaction.id, text("x"))

    assert raised.value.discord_code == 50035


def test_an_invalid_response_leaves_the_interaction_unanswered(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    interaction = sim.run_command(guild.member_id, guild.general_id, "shop", {"item": "hat"})
    with pytest.raises(DiscordRejected):
        sim.respond(interaction.id, text("x" * 2001))

    message = sim.respond(interaction.id, text("ok"))

    assert interaction.data.name == "shop"
    assert interaction.data.options == {"item": "hat"}
    assert sim.message_exists(guild.general_id, message.id)


def test_choosing_from_a_select_carries_the_values(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.choose_select(guild.member_id, guild.shop_id, panel_id, "colour", ["blue"])

    assert interaction.data.values == ("blue",)


def test_choosing_a_value_the_select_does_not_offer_is_impossible(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    with pytest.raises(ImpossibleUserAction):
        sim.choose_select(guild.member_id, guild.shop_id, panel_id, "colour", ["green"])


def test_pressing_a_button_the_message_does_not_have_is_impossible(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int
) -> None:
    with pytest.raises(ImpossibleUserAction):
        sim.press_button(guild.member_id, guild.shop_id, panel_id, "refund")

    assert sim.interactions == []


def test_pressing_a_button_on_a_deleted_message_is_impossible(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, panel_id: int
) -> None:
    port.delete_message(guild.shop_id, panel_id)

    with pytest.raises(ImpossibleUserAction):
        sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")


def test_a_user_who_cannot_see_the_channel_cannot_press(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    staff_bot_message = sim.post_as(
        guild.bot_id, guild.staff_only_id, MessagePayload(rows=(ActionRow((Button("ok", "OK"),)),))
    )

    with pytest.raises(ImpossibleUserAction):
        sim.press_button(guild.member_id, guild.staff_only_id, staff_bot_message.id, "ok")


def test_a_modal_shown_by_the_bot_is_submitted_as_a_new_interaction(
    sim: DiscordSimulator, guild: StandardGuild, panel_id: int, clock: FakeClock
) -> None:
    pressed = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")
    sim.show_modal(pressed.id, "order", "Your order", ["quantity", "note"])
    clock.advance(120)

    submitted = sim.submit_modal(guild.member_id, "order", {"quantity": "2"})
    reply = sim.respond(submitted.id, text("Ordered 2"), ephemeral=True)

    assert submitted.type is InteractionType.MODAL_SUBMIT
    assert submitted.data.fields == {"quantity": "2", "note": ""}
    assert submitted.message_id == panel_id
    assert reply.payload.content == "Ordered 2"


def test_submitting_a_modal_that_was_never_shown_is_impossible(
    sim: DiscordSimulator, guild: StandardGuild
) -> None:
    with pytest.raises(ImpossibleUserAction):
        sim.submit_modal(guild.member_id, "order", {"quantity": "2"})


def test_interaction_answers_go_through_the_fault_plan_and_the_port(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild, panel_id: int
) -> None:
    interaction = sim.press_button(guild.member_id, guild.shop_id, panel_id, "buy")

    port.defer(interaction.id, ephemeral=True)
    port.edit_original(interaction.token, text("Done"))

    names = [c.name for c in sim.faults.calls][-2:]
    assert names == ["discord.defer", "discord.edit_original"]
    assert [m.payload.content for m in sim.ephemeral_messages(guild.member_id)] == ["Done"]
