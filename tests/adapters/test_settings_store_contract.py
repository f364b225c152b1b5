"""One contract for GuildSettingsStore: MemoryStore, and PeeweeStore on every SQL backend."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.fakes.memory_store import MemoryStore

if TYPE_CHECKING:
    from conftest import Backend

Store = MemoryStore | PeeweeStore

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
GUILD = 810_000_000_000_000_001
OTHER_GUILD = 810_000_000_000_000_002
CHANNEL = 9_223_372_036_854_775_807  # the largest 64-bit id
OTHER_CHANNEL = 1_111_111_111_111_111_111


def test_a_guild_without_settings_has_no_audit_channel(store: Store) -> None:
    assert store.get_audit_channel(GUILD) is None


def test_an_audit_channel_reads_back_as_set(store: Store) -> None:
    store.set_audit_channel(GUILD, CHANNEL, T0)

    assert store.get_audit_channel(GUILD) == CHANNEL


def test_setting_the_audit_channel_again_replaces_it(store: Store) -> None:
    store.set_audit_channel(GUILD, CHANNEL, T0)

    store.set_audit_channel(GUILD, OTHER_CHANNEL, T0 + timedelta(seconds=1))

    assert store.get_audit_channel(GUILD) == OTHER_CHANNEL


def test_setting_the_same_channel_twice_is_harmless(store: Store) -> None:
    store.set_audit_channel(GUILD, CHANNEL, T0)

    store.set_audit_channel(GUILD, CHANNEL, T0)

    assert store.get_audit_channel(GUILD) == CHANNEL


def test_none_clears_the_audit_channel(store: Store) -> None:
    store.set_audit_channel(GUILD, CHANNEL, T0)

    store.set_audit_channel(GUILD, None, T0 + timedelta(seconds=1))

    assert store.get_audit_channel(GUILD) is None


def test_clearing_a_guild_that_never_had_settings_is_harmless(store: Store) -> None:
    store.set_audit_channel(GUILD, None, T0)

    assert store.get_audit_channel(GUILD) is None


def test_guilds_have_their_own_audit_channels(store: Store) -> None:
    store.set_audit_channel(GUILD, CHANNEL, T0)

    store.set_audit_channel(OTHER_GUILD, OTHER_CHANNEL, T0)

    assert store.get_audit_channel(GUILD) == CHANNEL
    assert store.get_audit_channel(OTHER_GUILD) == OTHER_CHANNEL


def test_a_naive_time_is_refused_and_nothing_is_stored(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_audit_channel(GUILD, CHANNEL, datetime(2026, 1, 1))

    assert store.get_audit_channel(GUILD) is None


def test_the_audit_channel_survives_reopening_the_database(sql_backend: Backend) -> None:
    first = sql_backend.open_store()
    first.set_audit_channel(GUILD, CHANNEL, T0)
    first.close()

    second = sql_backend.open_store()

    assert second.get_audit_channel(GUILD) == CHANNEL


def test_two_stores_on_one_database_see_each_others_settings(sql_backend: Backend) -> None:
    writer = sql_backend.open_store()
    reader = sql_backend.open_store()

    writer.set_audit_channel(GUILD, CHANNEL, T0)
    reader.set_audit_channel(GUILD, OTHER_CHANNEL, T0)

    assert writer.get_audit_channel(GUILD) == OTHER_CHANNEL
