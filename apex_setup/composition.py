"""The composition root: the one place that wires adapters or fakes to the core's ports.

Nothing here runs at import time; callers build what they need, when they need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from apex_setup.adapters.clock import SystemClock
from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.audit_channel import AuditChannelSink
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.ports import Clock, DiscordPort
from apex_setup.core.setup_wizard import DEFAULT_IDLE_TIMEOUT, SessionCleaner, SetupWizard
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_PATH",
    "SetupConfig",
    "SetupServices",
    "build_context",
    "build_services",
    "open_store",
]

#: The environment variable the cog reads the database URL from.
DATABASE_URL_ENV = "APEX_SETUP_DATABASE_URL"
#: The SQLite file used when no URL is given, relative to the working directory.
DEFAULT_DATABASE_PATH = "apex_setup.db"


@dataclass(frozen=True)
class SetupConfig:
    """What a bot owner may tune; set it as ``bot.apex_setup_config`` before loading the cog.

    Args:
        database_url: a peewee URL; None reads ``APEX_SETUP_DATABASE_URL``, then falls back to a
            SQLite file ``apex_setup.db`` in the working directory.
        idle_timeout: a setup session with no input for this long expires.
        sweep_interval: how often expired sessions are swept.
        reconcile_interval: how often operations left open are recovered.
        reconcile_older_than: only operations untouched this long are recovered by the
            periodic pass (a live process may still be running younger ones).
        clock: the time source; the system clock when None.
        faults: for demos and tests only: every journal and panel-store call goes through this
            fault plan (``apex_setup.fakes.faults``), so a fault can be injected at any of them.
    """

    database_url: str | None = None
    idle_timeout: timedelta = DEFAULT_IDLE_TIMEOUT
    sweep_interval: timedelta = timedelta(minutes=5)
    reconcile_interval: timedelta = timedelta(minutes=10)
    reconcile_older_than: timedelta = timedelta(minutes=2)
    clock: Clock | None = field(default=None, compare=False)
    faults: FaultPlan | None = field(default=None, compare=False)

    def resolved_database_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The URL to open: this config's, else the environment's; None means the default file."""
        env = os.environ if environ is None else environ
        return self.database_url or env.get(DATABASE_URL_ENV) or None


@dataclass(frozen=True)
class SetupServices:
    """Everything the cog calls: the context, the store behind it, the catalogue, the wizard."""

    ctx: SetupContext
    store: PeeweeStore
    catalogue: PanelCatalogue
    wizard: SetupWizard

    def session_cleaner(self, *, only_expired: bool) -> SessionCleaner:
        return SessionCleaner(self.wizard, only_expired=only_expired)


def open_store(
    database_url: str | None = None, *, default_path: str = DEFAULT_DATABASE_PATH
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


def build_services(
    discord: DiscordPort,
    store: PeeweeStore,
    config: SetupConfig | None = None,
    *,
    catalogue: PanelCatalogue | None = None,
    retry: RetryPolicy | None = None,
) -> SetupServices:
    """The cog's services on ``store``, talking to Discord through ``discord``."""
    config = config or SetupConfig()
    ctx = build_context(discord, store, clock=config.clock, retry=retry)
    if config.faults is not None:
        ctx = replace(
            ctx,
            panels=FaultInjectingProxy(store, config.faults, "panels"),
            journal=FaultInjectingProxy(store, config.faults, "journal"),
        )
    panels = catalogue or PanelCatalogue.default()
    wizard = SetupWizard(ctx, panels, store, store, idle_timeout=config.idle_timeout)
    return SetupServices(ctx=ctx, store=store, catalogue=panels, wizard=wizard)
