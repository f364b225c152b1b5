"""The simulator's modules say what they export, and export what they define."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

from apex_setup.core.ports import DiscordPort
from apex_setup.fakes import (
    discord_sim,
    sim_errors,
    sim_interactions,
    sim_limits,
    sim_permissions,
    sim_ratelimit,
    sim_state,
)

MODULES = [
    discord_sim,
    sim_errors,
    sim_interactions,
    sim_limits,
    sim_permissions,
    sim_ratelimit,
    sim_state,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_class_and_function_is_in_all(module: ModuleType) -> None:
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }

    missing = defined - set(module.__all__)

    assert missing == set()


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_name_in_all_exists(module: ModuleType) -> None:
    absent = [name for name in module.__all__ if not hasattr(module, name)]

    assert absent == []


def test_the_port_has_every_method_of_the_discord_port_protocol() -> None:
    wanted = {
        name
        for name, value in vars(DiscordPort).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }

    missing = {name for name in wanted if not hasattr(discord_sim.SimulatorPort, name)}

    assert missing == set()
