"""The panel catalogue: defaults, overrides and custom types."""

from __future__ import annotations

import pytest

from apex_setup.core.errors import InvalidInput
from apex_setup.core.panels import PANEL_MARKER, PanelCatalogue, PanelSpec, panel_type_of


def test_the_default_catalogue_has_the_original_eight_panel_types() -> None:
    catalogue = PanelCatalogue.default()

    assert set(catalogue.names()) == {
        "products",
        "support",
        "help",
        "reviews",
        "welcome",
        "rules",
        "faq",
        "privacy",
    }


@pytest.mark.parametrize("panel_type", PanelCatalogue.default().names())
def test_every_default_panel_renders_with_marked_components(panel_type: str) -> None:
    payload = PanelCatalogue.default().render(panel_type)

    assert payload.embeds
    assert payload.custom_ids()
    assert all(panel_type_of(cid) == panel_type for cid in payload.custom_ids())


def test_an_unknown_panel_type_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        PanelCatalogue.default().get("shop")

    assert caught.value.field == "panel_type"
    assert "products" in str(caught.value)
    assert "rules" in caught.value.choices


def test_an_override_changes_the_content_of_a_panel() -> None:
    catalogue = PanelCatalogue.default()

    catalogue.override("rules", {"title": "House rules", "fields": [("1", "Be kind")]})

    embed = catalogue.render("rules").embeds[0]
    assert embed.title == "House rules"
    assert [(f.name, f.value) for f in embed.fields] == [("1", "Be kind")]


def test_an_oversized_override_is_refused_and_the_panel_is_unchanged() -> None:
    catalogue = PanelCatalogue.default()
    before = catalogue.get("rules")

    with pytest.raises(InvalidInput) as caught:
        catalogue.override("rules", {"title": "x" * 300})

    assert caught.value.field == "embeds[0].title"
    assert catalogue.get("rules") == before


def test_an_override_of_an_unknown_attribute_names_it() -> None:
    with pytest.raises(InvalidInput, match="actions"):
        PanelCatalogue.default().override("rules", {"actions": ()})


def test_a_custom_panel_type_can_be_registered() -> None:
    catalogue = PanelCatalogue.default()

    catalogue.register(PanelSpec("events", "Events", "What's on this week."))

    assert "events" in catalogue.names()
    assert catalogue.render("events").embeds[0].title == "Events"


@pytest.mark.parametrize("name", ["", "Has Space", "x" * 40, "rules"])
def test_a_bad_or_taken_custom_panel_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        PanelCatalogue.default().register(PanelSpec(name, "T", "D"))


def test_the_marker_identifies_our_components_only() -> None:
    assert panel_type_of(f"{PANEL_MARKER}rules:accept") == "rules"
    assert panel_type_of("someone-else:rules") is None
