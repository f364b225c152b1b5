"""Message payloads as plain values, and Discord's size limits checked before anything is sent.

Invariants:
- A payload is immutable and converts to and from a JSON-safe dict without loss, so the journal
  can store it and the simulator's wire front can serve it.
- ``validate_payload`` names the first offending field with a JSON-style path
  (``embeds[0].fields[3].value``) and Discord's limit, and raises before any effect.
- ``fingerprint`` is stable across processes: recovery uses it to recognise a message in history.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from apex_setup.core.errors import InvalidInput

__all__ = [
    "ActionRow",
    "Button",
    "ButtonStyle",
    "Embed",
    "EmbedField",
    "Limits",
    "MessagePayload",
    "SelectMenu",
    "SelectOption",
    "validate_payload",
]


class Limits:
    """Discord's published limits for a message (see the developer documentation)."""

    CONTENT = 2000
    EMBEDS = 10
    EMBEDS_TOTAL = 6000
    TITLE = 256
    DESCRIPTION = 4096
    FIELDS = 25
    FIELD_NAME = 256
    FIELD_VALUE = 1024
    FOOTER = 2048
    AUTHOR = 256
    ACTION_ROWS = 5
    BUTTONS_PER_ROW = 5
    CUSTOM_ID = 100
    LABEL = 80
    SELECT_OPTIONS = 25
    OPTION_TEXT = 100  # a select option's label, value and description
    PLACEHOLDER = 150


class ButtonStyle(enum.IntEnum):
    """Discord's button styles; link buttons are not used by panels."""

    PRIMARY = 1  # blurple
    SECONDARY = 2  # grey
    SUCCESS = 3  # green
    DANGER = 4  # red


@dataclass(frozen=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Embed:
    title: str = ""
    description: str = ""
    fields: tuple[EmbedField, ...] = ()
    footer: str = ""
    author: str = ""
    color: int | None = None

    def text_length(self) -> int:
        """Characters that count towards Discord's 6000-character total."""
        total = len(self.title) + len(self.description) + len(self.footer) + len(self.author)
        return total + sum(len(f.name) + len(f.value) for f in self.fields)


@dataclass(frozen=True)
class Button:
    custom_id: str
    label: str
    style: ButtonStyle = ButtonStyle.PRIMARY


@dataclass(frozen=True)
class SelectOption:
    label: str
    value: str
    description: str = ""


@dataclass(frozen=True)
class SelectMenu:
    custom_id: str
    options: tuple[SelectOption, ...]
    placeholder: str = ""


Component = Button | SelectMenu


@dataclass(frozen=True)
class ActionRow:
    components: tuple[Component, ...]


@dataclass(frozen=True)
class MessagePayload:
    content: str = ""
    embeds: tuple[Embed, ...] = ()
    rows: tuple[ActionRow, ...] = field(default=())

    def custom_ids(self) -> list[str]:
        return [c.custom_id for row in self.rows for c in row.components]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict in the shape of Discord's message JSON (content, embeds, components)."""
        return {
            "content": self.content,
            "embeds": [_embed_to_dict(e) for e in self.embeds],
            "components": [
                {"type": 1, "components": [_component_to_dict(c) for c in row.components]}
                for row in self.rows
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MessagePayload:
        return cls(
            content=data.get("content") or "",
            embeds=tuple(_embed_from_dict(e) for e in data.get("embeds") or ()),
            rows=tuple(
                ActionRow(tuple(_component_from_dict(c) for c in row.get("components") or ()))
                for row in data.get("components") or ()
            ),
        )

    def fingerprint(self) -> str:
        """A short stable digest of the payload."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _embed_to_dict(embed: Embed) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if embed.title:
        data["title"] = embed.title
    if embed.description:
        data["description"] = embed.description
    if embed.fields:
        data["fields"] = [
            {"name": f.name, "value": f.value, "inline": f.inline} for f in embed.fields
        ]
    if embed.footer:
        data["footer"] = {"text": embed.footer}
    if embed.author:
        data["author"] = {"name": embed.author}
    if embed.color is not None:
        data["color"] = embed.color
    return data


def _embed_from_dict(data: dict[str, Any]) -> Embed:
    return Embed(
        title=data.get("title") or "",
        description=data.get("description") or "",
        fields=tuple(
            EmbedField(f["name"], f["value"], bool(f.get("inline", False)))
            for f in data.get("fields") or ()
        ),
        footer=(data.get("footer") or {}).get("text") or "",
        author=(data.get("author") or {}).get("name") or "",
        color=data.get("color"),
    )


def _component_to_dict(component: Component) -> dict[str, Any]:
    if isinstance(component, Button):
        return {
            "type": 2,
            "custom_id": component.custom_id,
            "label": component.label,
            "style": int(component.style),
        }
    return {
        "type": 3,
        "custom_id": component.custom_id,
        "placeholder": component.placeholder,
        "options": [
            {"label": o.label, "value": o.value, "description": o.description}
            for o in component.options
        ],
    }


def _component_from_dict(data: dict[str, Any]) -> Component:
    if data.get("type") == 2:
        return Button(data["custom_id"], data.get("label") or "", ButtonStyle(data.get("style", 1)))
    return SelectMenu(
        custom_id=data["custom_id"],
        options=tuple(
            SelectOption(o["label"], o["value"], o.get("description") or "")
            for o in data.get("options") or ()
        ),
        placeholder=data.get("placeholder") or "",
    )


def _check_length(value: str, limit: int, path: str) -> None:
    if len(value) > limit:
        raise InvalidInput(
            f"{path} is {len(value)} characters long; Discord allows at most {limit}.",
            field=path,
        )


def _check_count(count: int, limit: int, path: str, what: str) -> None:
    if count > limit:
        raise InvalidInput(
            f"{path} has {count} {what}; Discord allows at most {limit}.", field=path
        )


def validate_payload(payload: MessagePayload) -> None:
    """Raise InvalidInput naming the first field that breaks one of Discord's limits."""
    if not (payload.content or payload.embeds):
        raise InvalidInput("A message needs content or at least one embed.", field="content")
    _check_length(payload.content, Limits.CONTENT, "content")
    _check_count(len(payload.embeds), Limits.EMBEDS, "embeds", "embeds")

    for i, embed in enumerate(payload.embeds):
        path = f"embeds[{i}]"
        _check_length(embed.title, Limits.TITLE, f"{path}.title")
        _check_length(embed.description, Limits.DESCRIPTION, f"{path}.description")
        _check_length(embed.footer, Limits.FOOTER, f"{path}.footer.text")
        _check_length(embed.author, Limits.AUTHOR, f"{path}.author.name")
        _check_count(len(embed.fields), Limits.FIELDS, f"{path}.fields", "fields")
        for j, embed_field in enumerate(embed.fields):
            _check_length(embed_field.name, Limits.FIELD_NAME, f"{path}.fields[{j}].name")
            _check_length(embed_field.value, Limits.FIELD_VALUE, f"{path}.fields[{j}].value")
    total = sum(e.text_length() for e in payload.embeds)
    if total > Limits.EMBEDS_TOTAL:
        raise InvalidInput(
            f"embeds hold {total} characters in all; Discord allows at most {Limits.EMBEDS_TOTAL}.",
            field="embeds",
        )

    _check_count(len(payload.rows), Limits.ACTION_ROWS, "components", "action rows")
    seen: set[str] = set()
    for i, row in enumerate(payload.rows):
        path = f"components[{i}]"
        selects = sum(isinstance(c, SelectMenu) for c in row.components)
        if selects and len(row.components) > 1:
            raise InvalidInput(f"{path} mixes a select menu with other components.", field=path)
        _check_count(len(row.components), Limits.BUTTONS_PER_ROW, path, "components")
        for j, component in enumerate(row.components):
            cpath = f"{path}.components[{j}]"
            _check_length(component.custom_id, Limits.CUSTOM_ID, f"{cpath}.custom_id")
            if not component.custom_id:
                raise InvalidInput(f"{cpath}.custom_id is empty.", field=f"{cpath}.custom_id")
            if component.custom_id in seen:
                raise InvalidInput(
                    f"{cpath}.custom_id '{component.custom_id}' is used twice in one message.",
                    field=f"{cpath}.custom_id",
                )
            seen.add(component.custom_id)
            if isinstance(component, Button):
                _check_length(component.label, Limits.LABEL, f"{cpath}.label")
            else:
                _check_length(component.placeholder, Limits.PLACEHOLDER, f"{cpath}.placeholder")
                _check_count(
                    len(component.options), Limits.SELECT_OPTIONS, f"{cpath}.options", "options"
                )
                if not component.options:
                    raise InvalidInput(f"{cpath}.options is empty.", field=f"{cpath}.options")
                for k, option in enumerate(component.options):
                    opath = f"{cpath}.options[{k}]"
                    _check_length(option.label, Limits.OPTION_TEXT, f"{opath}.label")
                    _check_length(option.value, Limits.OPTION_TEXT, f"{opath}.value")
                    _check_length(option.description, Limits.OPTION_TEXT, f"{opath}.description")
