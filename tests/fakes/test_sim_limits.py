"""dpytest gap (2): oversized payloads come back as 400 / 50035 naming every bad field."""

from __future__ import annotations

import pytest

from apex_setup.core.errors import DiscordRejected
from apex_setup.core.payload import (
    ActionRow,
    Button,
    Embed,
    EmbedField,
    MessagePayload,
    SelectMenu,
    SelectOption,
)
from apex_setup.fakes.discord_sim import DiscordSimulator, SimulatorPort, StandardGuild
from apex_setup.fakes.sim_limits import payload_errors


def rejected(port: SimulatorPort, channel_id: int, payload: MessagePayload) -> DiscordRejected:
    with pytest.raises(DiscordRejected) as raised:
        port.send_message(channel_id, payload, nonce="limits")
    return raised.value


def test_content_over_2000_characters_is_rejected_with_its_path(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    payload = MessagePayload(content="x" * 2001)

    error = rejected(port, guild.general_id, payload)

    assert (error.status, error.discord_code) == (400, 50035)
    assert error.errors == {"content": "Must be 2000 or fewer in length."}
    assert sim.messages(guild.general_id) == []


def test_content_of_exactly_2000_characters_is_accepted(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    message = port.send_message(guild.general_id, MessagePayload(content="x" * 2000), nonce="n")

    assert len(message.payload.content) == 2000


def test_every_oversized_embed_field_is_named_in_one_refusal(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    embed = Embed(
        title="t" * 257,
        description="d" * 4097,
        fields=(EmbedField("n" * 257, "ok"), EmbedField("ok", "v" * 1025)),
        footer="f" * 2049,
        author="a" * 257,
    )

    error = rejected(port, guild.general_id, MessagePayload(embeds=(embed,)))

    assert set(error.errors) == {
        "embeds",  # the six together also exceed 6000 characters
        "embeds.0.title",
        "embeds.0.description",
        "embeds.0.fields.0.name",
        "embeds.0.fields.1.value",
        "embeds.0.footer.text",
        "embeds.0.author.name",
    }
    assert error.errors["embeds.0.title"] == "Must be 256 or fewer in length."


def test_more_than_ten_embeds_are_rejected(port: SimulatorPort, guild: StandardGuild) -> None:
    payload = MessagePayload(embeds=tuple(Embed(title=str(i)) for i in range(11)))

    error = rejected(port, guild.general_id, payload)

    assert error.errors == {"embeds": "Must be 10 or fewer in length."}


def test_more_than_25_fields_are_rejected(port: SimulatorPort, guild: StandardGuild) -> None:
    fields = tuple(EmbedField(str(i), "v") for i in range(26))

    error = rejected(port, guild.general_id, MessagePayload(embeds=(Embed(fields=fields),)))

    assert error.errors == {"embeds.0.fields": "Must be 25 or fewer in length."}


def test_embeds_over_6000_characters_in_all_are_rejected_though_each_is_valid(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    big = Embed(description="d" * 4000)
    payload = MessagePayload(embeds=(big, big))

    error = rejected(port, guild.general_id, payload)

    assert error.errors == {"embeds": "Embed size exceeds maximum size of 6000"}


def test_component_rules_are_all_reported(port: SimulatorPort, guild: StandardGuild) -> None:
    select = SelectMenu("pick", (SelectOption("A", "a"),))
    payload = MessagePayload(
        content="panel",
        rows=(
            ActionRow(tuple(Button(f"b{i}", "B") for i in range(6))),
            ActionRow((select, Button("x", "X"))),
            ActionRow((Button("c" * 101, "L" * 81), Button("b0", "dup"))),
        ),
    )

    error = rejected(port, guild.general_id, payload)

    assert error.errors == {
        "components.0.components": "Must be between 1 and 5 in length.",
        "components.1.components": "The specified component exceeds the maximum width",
        "components.2.components.0.custom_id": "Must be between 1 and 100 in length.",
        "components.2.components.0.label": "Must be 80 or fewer in length.",
        "components.2.components.1.custom_id": "Component custom id cannot be duplicated",
    }


def test_more_than_five_action_rows_are_rejected(port: SimulatorPort, guild: StandardGuild) -> None:
    rows = tuple(ActionRow((Button(f"b{i}", "B"),)) for i in range(6))

    error = rejected(port, guild.general_id, MessagePayload(content="x", rows=rows))

    assert error.errors == {"components": "Must be 5 or fewer in length."}


def test_an_empty_custom_id_is_rejected(port: SimulatorPort, guild: StandardGuild) -> None:
    payload = MessagePayload(content="x", rows=(ActionRow((Button("", "B"),)),))

    error = rejected(port, guild.general_id, payload)

    assert error.errors == {
        "components.0.components.0.custom_id": "Must be between 1 and 100 in length."
    }


def test_a_nonce_over_25_characters_is_rejected(port: SimulatorPort, guild: StandardGuild) -> None:
    with pytest.raises(DiscordRejected) as raised:
        port.send_message(guild.general_id, MessagePayload(content="x"), nonce="n" * 26)

    assert raised.value.errors == {"nonce": "Must be 25 or fewer in length."}


def test_an_empty_message_is_refused_with_50006(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    error = rejected(port, guild.general_id, MessagePayload())

    assert (error.status, error.discord_code) == (400, 50006)
    assert sim.messages(guild.general_id) == []


def test_a_message_of_components_only_is_accepted(
    port: SimulatorPort, guild: StandardGuild
) -> None:
    payload = MessagePayload(rows=(ActionRow((Button("go", "Go"),)),))

    message = port.send_message(guild.general_id, payload, nonce="n")

    assert message.payload == payload


def test_editing_to_an_oversized_payload_is_rejected_and_changes_nothing(
    sim: DiscordSimulator, port: SimulatorPort, guild: StandardGuild
) -> None:
    original = MessagePayload(content="fine")
    message = port.send_message(guild.general_id, original, nonce="n")

    with pytest.raises(DiscordRejected) as raised:
        port.edit_message(guild.general_id, message.id, MessagePayload(content="x" * 2001))

    assert raised.value.discord_code == 50035
    assert sim.messages(guild.general_id)[0].payload == original


def test_payload_errors_accept_a_valid_panel() -> None:
    payload = MessagePayload(
        content="c" * 2000,
        embeds=(Embed(title="t" * 256, fields=tuple(EmbedField("n", "v") for _ in range(25))),),
        rows=(ActionRow(tuple(Button(f"b{i}", "L" * 80) for i in range(5))),),
    )

    errors = payload_errors(payload)

    assert errors == {}
