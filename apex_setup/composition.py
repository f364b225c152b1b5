"""The composition root: the one place that wires adapters or fakes to the core's ports.

Nothing here runs at import time; callers build what they need, when they need it.
"""

from __future__ import annotations

from typing import Any

from apex_setup.adapters.clock import SystemClock
from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.audit_channel import AuditChannelSink
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.ports import Clock, DiscordPort

__all__ = ["build_context", "open_store"]


def open_store(
    database_url: str | None = None, *, default_path: str = "apex_setup.db"
) -> PeeweeStore:
    """A migrated store on ``database_url``, or on a SQLite file (WAL) at ``default_path``."""
    return PeeweeStore(open_database(database_url, default_path=default_path))


def build_context(
    discord: DiscordPort,
    store: Any,
    *,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
) -> SetupContext:
    """A SetupContext whose panel and journal ports are ``store``; audit entries go to the
    store and, where a guild has set one, to its audit channel."""
    return SetupContext(
        discord=discord,
        panels=store,
        journal=store,
        audit=AuditChannelSink(store, store, discord),
        clock=clock or SystemClock(),
        retry=retry or RetryPolicy(),
    )
