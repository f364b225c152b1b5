"""Discord's size limits on a message, checked the way Discord checks them.

This module is deliberately independent of ``apex_setup.core.payload.validate_payload``: the
simulator is the oracle that catches mistakes in the core's own validation, so it shares neither
code nor constants with it.

Invariants:
- ``payload_errors`` reports every violation at once, as Discord's Invalid Form Body (50035) does,
  keyed by Discord's dotted path (``embeds.0.fields.3.value``, ``components.1.components.0.label``)
  with Discord's wording of the rule.
- An empty result means Discord would accept the body; emptiness itself (nothing to show) is a
  different refusal (50006) and is answered by ``is_empty``.
"""

from __future__ import annotations

from apex_setup.core.payload import Button, MessagePayload, SelectMenu

__all__ = [
    "AUTHOR_NAME",
    "BUTTON_LABEL",
    "CHANNEL_NAME",
    "COMPONENTS_PER_ROW",
    "CONTENT",
    "CUSTOM_ID",
    "DESCRIPTION",
    "EMBEDS",
    "EMBED_TOTAL",
    "FIELDS",
    "FIELD_NAME",
    "FIELD_VALUE",
    "FOOTER_TEXT",
    "NONCE",
    "ROLE_NAME",
    "ROWS",
    "SELECT_OPTIONS",
    "SELECT_OPTION_TEXT",
    "SELECT_PLACEHOLDER",
    "TITLE",
    "is_empty",
    "length_errors",
    "nonce_errors",
    "payload_errors",
]

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER_TEXT = 2048
AUTHOR_NAME = 256
ROWS = 5
COMPONENTS_PER_ROW = 5
CUSTOM_ID = 100
BUTTON_LABEL = 80
SELECT_OPTIONS = 25
SELECT_OPTION_TEXT = 100
SELECT_PLACEHOLDER = 150
NONCE = 25
CHANNEL_NAME = 100
ROLE_NAME = 100


def _at_most(limit: int) -> str:
    return f"Must be {limit} or fewer in length."


def _between(low: int, high: int) -> str:
    return f"Must be between {low} and {high} in length."


def length_errors(
    value: str, path: str, *, high: int, low: int = 0, errors: dict[str, str]
) -> None:
    """Add an error at ``path`` when ``value`` is not ``low..high`` characters long."""
    if low <= len(value) <= high:
        return
    errors[path] = _between(low, high) if low else _at_most(high)


def is_empty(payload: MessagePayload) -> bool:
    """Discord refuses (50006) a message with no content, no embeds and no components."""
    return not (payload.content or payload.embeds or payload.rows)


def nonce_errors(nonce: str) -> dict[str, str]:
    """Create Message takes a nonce of at most 25 characters."""
    errors: dict[str, str] = {}
    length_errors(nonce, "nonce", high=NONCE, errors=errors)
    return errors


def payload_errors(payload: MessagePayload) -> dict[str, str]:
    """Every field of ``payload`` that breaks one of Discord's limits, path -> rule."""
    errors: dict[str, str] = {}
    length_errors(payload.content, "content", high=CONTENT, errors=errors)
    _embed_errors(payload, errors)
    _component_errors(payload, errors)
    return errors


def _embed_errors(payload: MessagePayload, errors: dict[str, str]) -> None:
    if len(payload.embeds) > EMBEDS:
        errors["embeds"] = _at_most(EMBEDS)
    total = 0
    for i, embed in enumerate(payload.embeds):
        path = f"embeds.{i}"
        length_errors(embed.title, f"{path}.title", high=TITLE, errors=errors)
        length_errors(embed.description, f"{path}.description", high=DESCRIPTION, errors=errors)
        length_errors(embed.footer, f"{path}.footer.text", high=FOOTER_TEXT, errors=errors)
        length_errors(embed.author, f"{path}.author.name", high=AUTHOR_NAME, errors=errors)
        if len(embed.fields) > FIELDS:
            errors[f"{path}.fields"] = _at_most(FIELDS)
        for j, field in enumerate(embed.fields):
            fpath = f"{path}.fields.{j}"
            length_errors(field.name, f"{fpath}.name", high=FIELD_NAME, errors=errors)
            length_errors(field.value, f"{fpath}.value", high=FIELD_VALUE, errors=errors)
        # Counted by hand rather than with Embed.text_length, to stay independent of the core.
        total += len(embed.title) + len(embed.description) + len(embed.footer)
        total += len(embed.author) + sum(len(f.name) + len(f.value) for f in embed.fields)
    if total > EMBED_TOTAL and "embeds" not in errors:
        errors["embeds"] = f"Embed size exceeds maximum size of {EMBED_TOTAL}"


def _component_errors(payload: MessagePayload, errors: dict[str, str]) -> None:
    if len(payload.rows) > ROWS:
        errors["components"] = _at_most(ROWS)
    seen: set[str] = set()
    for i, row in enumerate(payload.rows):
        path = f"components.{i}.components"
        count = len(row.components)
        if not 1 <= count <= COMPONENTS_PER_ROW:
            errors[path] = _between(1, COMPONENTS_PER_ROW)
        elif count > 1 and any(isinstance(c, SelectMenu) for c in row.components):
            errors[path] = "The specified component exceeds the maximum width"
        for j, component in enumerate(row.components):
            cpath = f"{path}.{j}"
            length_errors(
                component.custom_id, f"{cpath}.custom_id", low=1, high=CUSTOM_ID, errors=errors
            )
            if component.custom_id in seen and f"{cpath}.custom_id" not in errors:
                errors[f"{cpath}.custom_id"] = "Component custom id cannot be duplicated"
            seen.add(component.custom_id)
            if isinstance(component, Button):
                if not component.label:
                    errors[cpath] = "A button needs a label or an emoji."
                length_errors(component.label, f"{cpath}.label", high=BUTTON_LABEL, errors=errors)
            else:
                _select_errors(component, cpath, errors)


def _select_errors(select: SelectMenu, path: str, errors: dict[str, str]) -> None:
    length_errors(select.placeholder, f"{path}.placeholder", high=SELECT_PLACEHOLDER, errors=errors)
    if not 1 <= len(select.options) <= SELECT_OPTIONS:
        errors[f"{path}.options"] = _between(1, SELECT_OPTIONS)
    for k, option in enumerate(select.options):
        opath = f"{path}.options.{k}"
        length_errors(option.label, f"{opath}.label", low=1, high=SELECT_OPTION_TEXT, errors=errors)
        length_errors(option.value, f"{opath}.value", low=1, high=SELECT_OPTION_TEXT, errors=errors)
        length_errors(
            option.description, f"{opath}.description", high=SELECT_OPTION_TEXT, errors=errors
        )
