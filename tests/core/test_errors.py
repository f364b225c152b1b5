"""Errors: one root, stable codes, user-safe text with a reference id."""

from __future__ import annotations

import apex_setup.core.errors as errors
from apex_setup.core.errors import (
    IllegalTransition,
    MissingPermissions,
    SetupOperationError,
    StorageFailure,
)


def test_every_error_derives_from_the_root_and_has_its_own_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name[0].isupper()]

    codes = [cls.code for cls in classes]

    assert all(issubclass(cls, SetupOperationError) for cls in classes)
    assert len(codes) == len(set(codes))


def test_an_error_shows_its_message_and_reference_but_not_its_cause() -> None:
    try:
        try:
            raise RuntimeError("SELECT * FROM secrets; near syntax error")
        except RuntimeError as exc:
            raise StorageFailure("The bot's database is not available right now.") from exc
    except StorageFailure as caught:
        error = caught

    assert "SELECT" not in str(error)
    assert "SELECT" not in error.user_text()
    assert error.reference in error.user_text()


def test_missing_permissions_names_every_permission_at_once() -> None:
    error = MissingPermissions(("Send Messages", "Embed Links"), where="#shop")

    assert "Send Messages" in str(error) and "Embed Links" in str(error) and "#shop" in str(error)


def test_an_illegal_transition_names_the_state_and_the_event() -> None:
    error = IllegalTransition("confirming", "choose_channel")

    assert (error.state, error.event) == ("confirming", "choose_channel")
    assert "confirming" in str(error) and "choose_channel" in str(error)
