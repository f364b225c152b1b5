"""The demo: crash-safe panel deployment, shown on the simulator and a SQLite file.

It deploys every default panel into a simulated guild, then replaces one with a fault injected
at each of three points (Discord failing to send, the database failing at commit, the process
dying right after Discord posted the message) and shows what the journal did about it, then
prints the consistency check. No token and no network are needed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

from apex_setup.adapters.database import open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.consistency import check_guild
from apex_setup.core.context import RetryPolicy, SetupContext
from apex_setup.core.deploy import DeployRequest, deploy_panel
from apex_setup.core.errors import DiscordUnavailable, SetupOperationError, StorageFailure
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.recovery import recover
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator
from apex_setup.fakes.faults import FaultInjectingProxy, FaultPlan, FaultRule, Phase, SimulatedCrash

__all__ = ["run_demo"]

_log = logging.getLogger(__name__)


class _Bot:
    """One bot process: a store connection and a context. A crash replaces it."""

    def __init__(
        self,
        sim: DiscordSimulator,
        bot_id: int,
        database_url: str,
        plan: FaultPlan,
        clock: FakeClock,
    ) -> None:
        self.store = PeeweeStore(open_database(database_url))
        self.ctx = SetupContext(
            discord=sim.port(bot_id),
            panels=self.store,
            journal=FaultInjectingProxy(self.store, plan, "journal"),
            audit=self.store,
            clock=clock,
            retry=RetryPolicy(max_attempts=2, base_delay=0.5),
        )


def run_demo(database_url: str | None = None, *, out: TextIO, workdir: Path | None = None) -> int:
    """Run the scripted demo; returns 0 when the guild ends consistent."""
    if database_url is None:
        path = (workdir or Path.cwd()) / "apex_setup_demo.db"
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
        database_url = f"sqlite:///{path}"

    def say(text: str = "") -> None:
        print(text, file=out)

    clock = FakeClock()
    plan = FaultPlan(sleep=clock.advance)
    sim = DiscordSimulator(clock, faults=plan)
    guild = sim.standard_guild()
    bot = _Bot(sim, guild.bot_id, database_url, plan, clock)
    catalogue = PanelCatalogue.default()
    say(f"Simulated guild {guild.guild_id}; database {database_url}")

    def deploy(panel_type: str, channel: str) -> None:
        request = DeployRequest(guild.guild_id, panel_type, guild.channels[channel], guild.admin_id)
        result = deploy_panel(bot.ctx, catalogue, request)
        verb = "replaced" if result.replaced else "posted"
        say(
            f"  {panel_type:<9} {verb} in #{channel} as message {result.panel.message_id} "
            f"({result.journal_commits} journal commits)"
        )

    say("\n1. Deploy the eight default panels")
    for panel_type, channel in [
        ("products", "shop"),
        ("support", "support"),
        ("help", "general"),
        ("reviews", "shop"),
        ("welcome", "general"),
        ("rules", "rules"),
        ("faq", "support"),
        ("privacy", "rules"),
    ]:
        deploy(panel_type, channel)

    def attempt(title: str, rule: FaultRule) -> None:
        say(f"- fault: {title}")
        plan.add(rule)
        try:
            deploy("rules", "general")
        except SetupOperationError as exc:
            say("  refused: " + exc.user_text().replace("\n", "\n           "))
        plan.clear()

    say("\n2. Move the rules panel to #general, with faults")
    attempt(
        "Discord posts the message but answers 503; the retry repeats the nonce",
        FaultRule(
            "discord.send_message",
            error=lambda: DiscordUnavailable("Discord is unavailable.", status=503),
            when=Phase.AFTER,
            times=1,
        ),
    )
    attempt(
        "the database fails at the commit, after Discord posted the new message",
        FaultRule(
            "journal.apply",
            error=lambda: StorageFailure("The bot's database is not available right now."),
            occurrence=plan.count("journal.apply") + 2,
        ),
    )

    def live_in_general() -> int:
        return sum(
            1 for m in sim.messages(guild.channels["general"]) if m.author_id == guild.bot_id
        )

    say("- fault: the bot process dies right after Discord posted the new message")
    plan.add(FaultRule("discord.send_message", error=SimulatedCrash, when=Phase.AFTER, times=1))
    try:
        deploy("rules", "general")
    except SimulatedCrash:
        say(
            "  the process died; the new message is live in #general with no record "
            f"({live_in_general()} bot messages there now)"
        )
    plan.clear()
    bot.store.close()
    bot = _Bot(sim, guild.bot_id, database_url, plan, clock)
    clock.advance(60)
    report = recover(bot.ctx)
    say(
        f"  restarted; recovery rolled back {len(report.rolled_back)} operation(s), "
        f"finished {len(report.finished)}; {live_in_general()} bot messages in #general"
    )

    say("\n3. Move the rules panel to #general, no fault")
    deploy("rules", "general")

    say("\n4. Consistency check")
    consistency = check_guild(bot.ctx, guild.guild_id)
    for line in consistency.lines():
        say(f"  {line}")
    say("\nAudit trail (newest first):")
    for entry in bot.store.recent_audit(guild.guild_id, limit=8):
        say(f"  {entry.action:<9} {entry.outcome:<22} {entry.detail}")
    bot.store.close()
    return 0 if consistency.consistent else 1
