"""Payloads: round trips and Discord's limits, each refusal naming its field."""

from __future__ import annotations

import pytest

from apex_setup.core.errors import InvalidInput
from apex_setup.core.payload import (
    ActionRow,
    Button,
    Embed,
    EmbedField,
    MessagePayload,
    SelectMenu,
    SelectOption,
    validate_payload,
)


def _embed_payload(**embed_fields: object) -> MessagePayload:
    return MessagePayload(embeds=(Embed(**embed_fields),))  # type: ignore[arg-type]


def test_a_payload_survives_a_round_trip_through_its_dict_form() -> None:
    payload = MessagePayload(
        content="hi",
        embeds=(Embed("t", "d", (EmbedField("n", "v", True),), "foot", "auth", 7),),
        rows=(
            ActionRow((Button("apex:x:a", "A"), Button("apex:x:b", "B"))),
            ActionRow((SelectMenu("apex:x:s", (SelectOption("L", "v", "d"),), "pick"),)),
        ),
    )

    again = MessagePayload.from_dict(payload.to_dict())

    assert again == payload
    assert again.fingerprint() == payload.fingerprint()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (MessagePayload(content="x" * 2001), "content"),
        (_embed_payload(title="x" * 257), "embeds[0].title"),
        (_embed_payload(description="x" * 4097), "embeds[0].description"),
        (_embed_payload(title="t", footer="x" * 2049), "embeds[0].footer.text"),
        (_embed_payload(title="t", author="x" * 257), "embeds[0].author.name"),
        (
            _embed_payload(title="t", fields=tuple(EmbedField("n", "v") for _ in range(26))),
            "embeds[0].fields",
        ),
        (
            _embed_payload(title="t", fields=(EmbedField("x" * 257, "v"),)),
            "embeds[0].fields[0].name",
        ),
        (
            _embed_payload(title="t", fields=(EmbedField("n", "x" * 1025),)),
            "embeds[0].fields[0].value",
        ),
        (
            MessagePayload(embeds=tuple(Embed(description="x" * 3000) for _ in range(3))),
            "embeds",
        ),
        (
            MessagePayload(
                content="c",
                rows=tuple(ActionRow((Button(f"id{i}", "l"),)) for i in range(6)),
            ),
            "components",
        ),
        (
            MessagePayload(content="c", rows=(ActionRow((Button("x" * 101, "l"),)),)),
            "components[0].components[0].custom_id",
        ),
        (
            MessagePayload(content="c", rows=(ActionRow((Button("id", "x" * 81),)),)),
            "components[0].components[0].label",
        ),
        (
            MessagePayload(
                content="c", rows=(ActionRow(tuple(Button(f"id{i}", "l") for i in range(6))),)
            ),
            "components[0]",
        ),
        (MessagePayload(), "content"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_oversized_payload_is_refused_naming_the_field(
    payload: MessagePayload, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_payload(payload)

    assert caught.value.field == field
    assert field.split("[")[0] in str(caught.value)


def test_payloads_at_the_exact_limits_are_accepted() -> None:
    payload = MessagePayload(
        content="x" * 2000,
        embeds=(
            Embed(title="t" * 256, description="d" * 4096, footer="f" * 1000),
            Embed(fields=(EmbedField("n" * 256, "v" * 392),)),
        ),
        rows=tuple(
            ActionRow(tuple(Button(f"{r}-{i}" + "c" * 90, "l" * 80) for i in range(5)))
            for r in range(5)
        ),
    )

    validate_payload(payload)

    assert sum(e.text_length() for e in payload.embeds) == 6000


def test_a_custom_id_used_twice_in_one_message_is_refused() -> None:
    payload = MessagePayload(content="c", rows=(ActionRow((Button("a", "1"), Button("a", "2"))),))

    with pytest.raises(InvalidInput, match="used twice"):
        validate_payload(payload)
