"""Panels as data: the catalogue of panel types and the message each one renders to.

Invariants:
- A panel type's name is a short lowercase slug; the catalogue refuses duplicates.
- Every component of a rendered panel has a custom_id starting with ``PANEL_MARKER``, followed by
  the panel type: persistent views route on it, and cleanup recognises apex-setup's messages by it.
- ``render`` validates against Discord's limits, so a bad override is refused with the name of
  the offending field before anything is sent, and the catalogue is left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from apex_setup.core.errors import InvalidInput, quote_input
from apex_setup.core.payload import (
    ActionRow,
    Button,
    ButtonStyle,
    Embed,
    EmbedField,
    MessagePayload,
    SelectMenu,
    SelectOption,
    validate_payload,
)

__all__ = [
    "DEFAULT_PANELS",
    "PANEL_MARKER",
    "PanelAction",
    "PanelCatalogue",
    "PanelSpec",
    "panel_type_of",
]

#: Prefix of every custom_id apex-setup puts on a panel.
PANEL_MARKER = "apex:"

_SLUG = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def panel_type_of(custom_id: str) -> str | None:
    """The panel type a component belongs to, or None if it is not one of ours."""
    if not custom_id.startswith(PANEL_MARKER):
        return None
    rest = custom_id[len(PANEL_MARKER) :]
    panel_type, _, _ = rest.partition(":")
    return panel_type or None


@dataclass(frozen=True)
class PanelAction:
    """A button on a panel, or an option of its select menu."""

    key: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class PanelSpec:
    panel_type: str
    title: str
    description: str
    fields: tuple[tuple[str, str], ...] = ()
    #: Buttons, one per action; or, when ``as_select`` is set, one select menu.
    actions: tuple[PanelAction, ...] = ()
    as_select: bool = False
    color: int = 0x5865F2
    footer: str = ""

    def render(self) -> MessagePayload:
        """The message for this panel, checked against Discord's limits."""
        embed = Embed(
            title=self.title,
            description=self.description,
            fields=tuple(EmbedField(name, value) for name, value in self.fields),
            footer=self.footer,
            color=self.color,
        )
        prefix = f"{PANEL_MARKER}{self.panel_type}"
        rows: tuple[ActionRow, ...] = ()
        if self.actions and self.as_select:
            options = tuple(SelectOption(a.label, a.key, a.description) for a in self.actions)
            rows = (ActionRow((SelectMenu(f"{prefix}:select", options, "Choose..."),)),)
        elif self.actions:
            buttons = [
                Button(f"{prefix}:{a.key}", a.label, ButtonStyle.PRIMARY) for a in self.actions
            ]
            rows = tuple(ActionRow(tuple(buttons[i : i + 5])) for i in range(0, len(buttons), 5))
        payload = MessagePayload(embeds=(embed,), rows=rows)
        validate_payload(payload)
        return payload


def _spec(
    panel_type: str,
    title: str,
    description: str,
    actions: Iterable[tuple[str, str]],
    *,
    as_select: bool = False,
    fields: tuple[tuple[str, str], ...] = (),
) -> PanelSpec:
    return PanelSpec(
        panel_type=panel_type,
        title=title,
        description=description,
        fields=fields,
        actions=tuple(PanelAction(key, label) for key, label in actions),
        as_select=as_select,
        footer="Set up with apex-setup",
    )


#: The eight panel types of the original bot, with content a server can use as it is.
DEFAULT_PANELS: tuple[PanelSpec, ...] = (
    _spec(
        "products",
        "Store",
        "Browse what we offer. Pick a product to see its details and how to buy it.",
        [("catalogue", "Browse products"), ("cart", "My orders")],
    ),
    _spec(
        "support",
        "Support",
        "Need help? Open a ticket and a member of staff will answer you privately.",
        [("open_ticket", "Open a ticket")],
    ),
    _spec(
        "help",
        "Help",
        "Choose a topic to get a short guide.",
        [("commands", "Bot commands"), ("roles", "Roles"), ("contact", "Contacting staff")],
        as_select=True,
    ),
    _spec(
        "reviews",
        "Reviews",
        "Bought something? Tell others what you thought.",
        [("write", "Write a review"), ("read", "Read reviews")],
    ),
    _spec(
        "welcome",
        "Welcome!",
        "Glad to have you here. Read the rules, then pick your roles to see the whole server.",
        [("start", "Get started")],
    ),
    _spec(
        "rules",
        "Server rules",
        "By taking part you agree to these rules.",
        [("accept", "I accept the rules")],
        fields=(
            ("1. Be respectful", "No harassment, hate speech or personal attacks."),
            ("2. No spam", "No flooding, unsolicited advertising or repeated mentions."),
            ("3. Keep it on topic", "Use the channel that fits what you want to say."),
            ("4. Follow Discord's terms", "Discord's Terms of Service and Guidelines apply."),
        ),
    ),
    _spec(
        "faq",
        "Frequently asked questions",
        "Choose a question to see its answer.",
        [("payment", "Which payment methods work?"), ("delivery", "How fast is delivery?")],
        as_select=True,
    ),
    _spec(
        "privacy",
        "Privacy",
        "What we store about you, why, and how to have it deleted.",
        [("details", "Read the details"), ("delete", "Request deletion")],
    ),
)

_OVERRIDABLE = {"title", "description", "fields", "footer", "color"}


@dataclass
class PanelCatalogue:
    """The panel types a bot can deploy; starts with the defaults."""

    specs: dict[str, PanelSpec] = field(default_factory=dict)

    @classmethod
    def default(cls) -> PanelCatalogue:
        return cls({spec.panel_type: spec for spec in DEFAULT_PANELS})

    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def get(self, panel_type: str) -> PanelSpec:
        key = panel_type.strip().lower()
        try:
            return self.specs[key]
        except KeyError:
            raise InvalidInput(
                f"Unknown panel type '{quote_input(panel_type)}'. "
                f"Valid types: {', '.join(self.names())}.",
                field="panel_type",
                choices=self.names(),
            ) from None

    def render(self, panel_type: str) -> MessagePayload:
        return self.get(panel_type).render()

    def register(self, spec: PanelSpec) -> None:
        """Add a custom panel type; its name must be a new slug and it must render."""
        if not _SLUG.match(spec.panel_type):
            raise InvalidInput(
                "A panel type name must be 1 to 32 characters: lowercase letters, digits, "
                f"'-' or '_', starting with a letter; got '{quote_input(spec.panel_type)}'.",
                field="panel_type",
            )
        if spec.panel_type in self.specs:
            raise InvalidInput(
                f"Panel type '{spec.panel_type}' already exists.", field="panel_type"
            )
        spec.render()
        self.specs[spec.panel_type] = spec

    def override(self, panel_type: str, changes: Mapping[str, Any]) -> None:
        """Change the content of a panel type (title, description, fields, footer, color)."""
        spec = self.get(panel_type)
        unknown = sorted(set(changes) - _OVERRIDABLE)
        if unknown:
            raise InvalidInput(
                f"Cannot override {', '.join(unknown)} of panel '{spec.panel_type}'; "
                f"allowed: {', '.join(sorted(_OVERRIDABLE))}.",
                field=unknown[0],
                choices=tuple(sorted(_OVERRIDABLE)),
            )
        values = dict(changes)
        if "fields" in values:
            values["fields"] = tuple((str(n), str(v)) for n, v in values["fields"])
        updated = replace(spec, **values)
        updated.render()  # refuse before storing anything
        self.specs[spec.panel_type] = updated
