"""What the journal costs: a journaled deploy against the bare sequence of the same port calls.

Both run side by side in one process, on the simulator and a SQLite file (WAL), at 0 ms and at
50 ms of Discord latency per REST request (a real sleep, as a network round trip would cost;
reads that discord.py answers from its gateway cache get none). Printed:
mean time per deploy, the ratio journaled / bare, journal commits per deploy and per external
effect, and Discord calls per deploy.

    python benchmarks/deploy_overhead.py [--deploys N]

Targets: 1 Discord write per first deploy; at most N+1 journal commits for N steps; at most
1.05x bare at 50 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.context import SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.panels import PanelCatalogue, PanelSpec
from apex_setup.core.prerequisites import check_panel_channel
from apex_setup.core.records import (
    AuditRecord,
    JournalChange,
    PanelRecord,
    PanelWrite,
    PanelWriteKind,
)
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan

CACHED = {"discord.get_channel", "discord.list_channels", "discord.bot_permissions"}


class _Slow:
    """Adds a real sleep before every REST call of the wrapped port (not cache reads)."""

    def __init__(self, target: Any, latency: float) -> None:
        self._target = target
        self._latency = latency

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        cached = f"discord.{name}" in CACHED
        if name.startswith("_") or not callable(value) or not self._latency or cached:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._latency)
            return value(*args, **kwargs)

        return call


def _world(tmp: Path, latency: float) -> tuple[SetupContext, FaultPlan, Any, PeeweeStore]:
    clock = FakeClock()
    plan = FaultPlan()
    sim = DiscordSimulator(clock, faults=plan, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    store = PeeweeStore(open_database(f"sqlite:///{tmp / 'bench.db'}"))
    ctx = SetupContext(
        discord=_Slow(sim.port(guild.bot_id), latency),
        panels=store,
        journal=FaultInjectingProxy(store, plan, "journal"),
        audit=store,
        clock=clock,
    )
    return ctx, plan, guild, store


def _bare_deploy(ctx: SetupContext, catalogue: PanelCatalogue, request: DeployRequest) -> None:
    """The same port calls as a first deploy, without the journal: one insert, no intent."""
    payload = catalogue.render(request.panel_type)
    check_panel_channel(ctx, request.guild_id, request.channel_id)
    ctx.panels.ping()
    ctx.panels.get_panel(request.guild_id, request.panel_type)
    message = ctx.discord.send_message(request.channel_id, payload, nonce=f"bare{time.time_ns()}")
    now = ctx.clock.now()
    record = PanelRecord(
        request.guild_id,
        request.panel_type,
        request.channel_id,
        message.id,
        request.user_id,
        now,
        now,
        "bare",
    )
    ctx.journal.apply(JournalChange(panel_writes=[PanelWrite(PanelWriteKind.INSERT, record)]))
    ctx.audit.record(AuditRecord(request.guild_id, request.user_id, "deploy", "ok", "", now))


def _measure(
    latency: float,
    deploys: int,
    run: Callable[[SetupContext, PanelCatalogue, DeployRequest], object],
) -> tuple[float, float, float]:
    """Mean seconds per deploy, journal commits per deploy, Discord calls per deploy."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx, plan, guild, store = _world(Path(tmp), latency)
        catalogue = PanelCatalogue.default()
        for n in range(deploys):
            catalogue.register(PanelSpec(f"p{n}", "Panel", "Benchmark panel."))
        started = time.perf_counter()
        for n in range(deploys):
            request = DeployRequest(
                guild.guild_id, f"p{n}", guild.channels["general"], guild.admin_id
            )
            run(ctx, catalogue, request)
        elapsed = time.perf_counter() - started
        # get_channel, list_channels and bot_permissions are answered from discord.py's gateway
        # cache in production; every other Discord call is a REST request.
        discord_calls = sum(
            1 for c in plan.calls if c.name.startswith("discord.") and c.name not in CACHED
        )
        store.close()
        return elapsed / deploys, plan.count("journal.apply") / deploys, discord_calls / deploys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=40)
    args = parser.parse_args()

    print(
        f"{'latency':>8} {'bare ms':>9} {'journaled ms':>13} {'ratio':>6} "
        f"{'commits/deploy':>15} {'REST requests/deploy':>21}"
    )
    for latency in (0.0, 0.05):
        bare, _, bare_calls = _measure(latency, args.deploys, _bare_deploy)
        journaled, commits, calls = _measure(latency, args.deploys, deploy_panel)
        print(
            f"{latency * 1000:>6.0f}ms {bare * 1000:>9.2f} {journaled * 1000:>13.2f} "
            f"{journaled / bare:>6.3f} {commits:>15.2f} {calls:>10.1f} ({bare_calls:.1f} bare)"
        )
    print("A first deploy is 2 steps (send, insert): target at most 3 commits, 1 Discord write.")


if __name__ == "__main__":
    main()
