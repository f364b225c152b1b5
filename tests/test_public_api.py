"""Every module says what it exports, and the package re-exports the core's public API."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import apex_setup
import apex_setup.core

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(apex_setup.__path__, "apex_setup.")
    if m.name not in {"apex_setup.__main__"}
)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_and_function_of_a_module_is_in_its_all(name: str) -> None:
    module = importlib.import_module(name)
    defined_here = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == name
    }

    exported = set(getattr(module, "__all__", ()))

    assert defined_here <= exported, f"missing from __all__: {sorted(defined_here - exported)}"
    assert all(hasattr(module, attr) for attr in exported)


def test_the_package_reexports_the_core_api() -> None:
    assert set(apex_setup.core.__all__) <= set(apex_setup.__all__)
    assert all(hasattr(apex_setup, name) for name in apex_setup.__all__)
