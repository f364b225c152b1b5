"""A bot on the simulator and a real SQLite file: the harness of the integration tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, DeployResult, deploy_panel
from apex_setup.core.panels import PanelCatalogue
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig, StandardGuild
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan


@dataclass
class Bot:
    sim: DiscordSimulator
    guild: StandardGuild
    clock: FakeClock
    plan: FaultPlan
    store: PeeweeStore
    ctx: SetupContext
    catalogue: PanelCatalogue
    db_path: Path

    def deploy(self, panel_type: str, channel: str, *, user_id: int | None = None) -> DeployResult:
        request = DeployRequest(
            self.guild.guild_id,
            panel_type,
            self.guild.channels[channel],
            user_id or self.guild.admin_id,
        )
        return deploy_panel(self.ctx, self.catalogue, request)

    def restart(self) -> None:
        """Drop every in-memory object of the bot and start again on the same file."""
        self.store.close()
        self.store, self.ctx = _connect(self.sim, self.guild, self.clock, self.plan, self.db_path)

    def bot_messages(self, channel: str | None = None) -> list[int]:
        if channel is not None:
            messages = self.sim.messages(self.guild.channels[channel])
        else:
            messages = self.sim.all_messages(self.guild.guild_id)
        return [m.id for m in messages if m.author_id == self.guild.bot_id]


def _connect(
    sim: DiscordSimulator, guild: StandardGuild, clock: FakeClock, plan: FaultPlan, path: Path
) -> tuple[PeeweeStore, SetupContext]:
    store = PeeweeStore(open_database(f"sqlite:///{path}"))
    ctx = SetupContext(
        discord=sim.port(guild.bot_id),
        panels=FaultInjectingProxy(store, plan, "panels"),
        journal=FaultInjectingProxy(store, plan, "journal"),
        audit=FaultInjectingProxy(store, plan, "audit"),
        clock=clock,
        retry=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=4.0),
    )
    return store, ctx


def start_bot(tmp_path: Path) -> Bot:
    clock = FakeClock()
    plan = FaultPlan(sleep=clock.advance)
    sim = DiscordSimulator(clock, faults=plan, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    path = tmp_path / "bot.db"
    store, ctx = _connect(sim, guild, clock, plan, path)
    return Bot(sim, guild, clock, plan, store, ctx, PanelCatalogue.default(), path)
