"""The discord.py face of apex-setup: a thin cog over the core.

Load it with ``await bot.load_extension("apex_setup.cog")`` (in ``setup_hook``, say). Nothing
happens at import time; the cog opens its database in ``cog_load``.

Commands (hybrid: ``/setup`` and ``!setup`` alike; server only; the server owner,
Administrators and members with Manage Server only, checked at every command and every click):

- ``setup``: the wizard. Pick panel types, a text channel for each, confirm the plan; a progress
  message follows every panel, a failure shows what was rolled back with Retry / Abandon. A
  session is stored at every step, so ``!setup`` again resumes it (after a restart too).
  ``!setup rules=#rules faq=#support`` runs the same wizard end to end without questions.
- ``setup-status``: panels with a health check, unfinished operations, manual cleanup, sessions.
- ``setup-cleanup``: Clean Expired States, Clean All States, Clean Orphaned Panels, Full Cleanup;
  each shows its preview and asks for confirmation.
- ``setup-remove <panel_type>``: take one panel down (journaled, all or nothing).
- ``setup-audit-channel <channel>``: where audit records are posted.

Configuration: ``bot.apex_setup_config`` (an ``apex_setup.composition.SetupConfig``) when set;
else the database URL from ``APEX_SETUP_DATABASE_URL``; else a SQLite file ``apex_setup.db`` in
the working directory.

Panel buttons keep working after a restart: at load the cog registers one persistent view per
panel type with the panels' exact custom_ids (``apex:<type>:<key>``). A press on a panel no row
points at any more is answered "This panel is no longer active."; otherwise the handler a bot
owner registered answers, or a short default. To connect a button to your own code::

    actions = PanelActions()

    @actions.register("support", "open")          # key None: every action of the panel
    async def open_ticket(interaction: discord.Interaction, press: PanelPress) -> None:
        # The interaction is already deferred (ephemeral): answer with a follow-up.
        await interaction.followup.send("Ticket opened.", ephemeral=True)

    bot.apex_setup_actions = actions               # before loading the extension
    # or later: bot.get_cog("ApexSetup").actions.add("support", open_ticket, key="open")

Runtime: the core is synchronous; it runs in worker threads (``anyio.to_thread.run_sync``) and
its Discord port hops back to this event loop (``anyio.from_thread``), so neither storage nor the
core ever blocks the loop. At startup, once the bot is connected, ``recover()`` finishes what a
previous process left open before any command is served (earlier commands are told to try again
in a moment); then the expiry sweep and the orphan reconciliation run as ``tasks.loop``s.

Errors: a ``SetupOperationError`` reaches the user as its ``user_text()`` (message and
reference id); anything else as a generic message with a fresh reference id, which the log line
with the traceback repeats. No exception text, traceback or SQL ever reaches Discord.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import anyio.to_thread
import discord
from discord import app_commands
from discord.ext import commands, tasks

from apex_setup.adapters.discord_port import DiscordPyPort
from apex_setup.cog_views import (
    CLEANUP_KINDS,
    CleanupConfirmView,
    CleanupMenuView,
    FailureView,
    PanelTypesView,
    PanelView,
    is_setup_admin,
    view_for_session,
)
from apex_setup.composition import SetupConfig, SetupServices, build_services, open_store
from apex_setup.core.audit_channel import configure_audit_channel
from apex_setup.core.deploy import DeployResult
from apex_setup.core.errors import (
    InvalidInput,
    MissingPermissions,
    SessionExpired,
    SetupOperationError,
    new_reference,
)
from apex_setup.core.maintenance import (
    CleanupPlan,
    apply_cleanup,
    guild_status,
    preview_cleanup,
)
from apex_setup.core.recovery import recover
from apex_setup.core.remove import remove_panel
from apex_setup.core.setup_wizard import StepResult
from apex_setup.core.wizard import WizardPhase, WizardState

__all__ = [
    "ApexSetup",
    "NotSetupAdmin",
    "PanelActions",
    "PanelHandler",
    "PanelPress",
    "SetupConfig",
    "StartingUp",
    "bot_intents",
    "run_core",
    "setup",
]

_log = logging.getLogger(__name__)

#: Replies echo user input (a panel type, a channel name): they never ping anyone.
NO_PINGS = discord.AllowedMentions.none()
#: The custom_id prefix of the cog's own controls (wizard and cleanup menus).
CONTROL_PREFIX = "apex-setup:"
#: How long a press waits for a live view to claim it before it is answered as expired.
UNCLAIMED_GRACE = 1.0

T = TypeVar("T")

# The ``type: ignore[arg-type]`` on each ``hybrid_command``: mypy cannot match discord.py's
# typing of hybrid command callbacks in a cog (it infers Never); any callback fails the same way.

#: After this long an interaction's token (15 minutes) is too old to edit with; post instead.
TOKEN_MARGIN = timedelta(minutes=14)
#: Discord's message content limit.
CONTENT_LIMIT = 2000


async def run_core(call: Callable[[], T]) -> T:
    """Run a synchronous core call in a worker thread; the loop stays free meanwhile."""
    return await anyio.to_thread.run_sync(call)


# ---------------------------------------------------------------------------------------------
# Pluggable panel actions


@dataclass(frozen=True)
class PanelPress:
    """A member pressed a button (or picked from the select) of a live panel."""

    panel_type: str
    #: The action's key: the last part of the custom_id, or the chosen option of a select.
    key: str
    label: str
    custom_id: str


PanelHandler = Callable[[discord.Interaction[Any], PanelPress], Awaitable[None]]


class PanelActions:
    """What happens when a panel's button is pressed, per (panel type, action key)."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], PanelHandler] = {}

    def add(self, panel_type: str, handler: PanelHandler, *, key: str | None = None) -> None:
        """Answer presses of ``panel_type`` (only of action ``key`` when given) with ``handler``."""
        self._handlers[(panel_type, key)] = handler

    def register(
        self, panel_type: str, key: str | None = None
    ) -> Callable[[PanelHandler], PanelHandler]:
        """Decorator form of ``add``."""

        def decorate(handler: PanelHandler) -> PanelHandler:
            self.add(panel_type, handler, key=key)
            return handler

        return decorate

    def get(self, panel_type: str, key: str) -> PanelHandler | None:
        return self._handlers.get((panel_type, key)) or self._handlers.get((panel_type, None))


# ---------------------------------------------------------------------------------------------
# Checks


class NotSetupAdmin(commands.CheckFailure):
    """The member may not manage the server."""


class StartingUp(commands.CheckFailure):
    """Recovery has not finished yet."""


def _unwrap(error: BaseException) -> BaseException:
    while True:
        inner = getattr(error, "original", None)
        if not isinstance(inner, BaseException):
            return error
        error = inner


def _fit(lines: Sequence[str]) -> str:
    text = "\n".join(lines)
    if len(text) <= CONTENT_LIMIT:
        return text
    return text[: CONTENT_LIMIT - 20].rsplit("\n", 1)[0] + "\n... (more not shown)"


# ---------------------------------------------------------------------------------------------
# The cog


class ApexSetup(commands.Cog, name="ApexSetup"):
    """Crash-safe setup of the server's panels."""

    NOT_ADMIN = "Only the server owner and members who may manage the server can use this."
    STARTING = "The bot is starting up; try again in a moment."
    GUILD_ONLY = "This command works in a server only."

    def __init__(self, bot: commands.Bot, config: SetupConfig | None = None) -> None:
        self.bot = bot
        self._config = config
        self.actions: PanelActions = getattr(bot, "apex_setup_actions", None) or PanelActions()
        self._services: SetupServices | None = None
        self._ready = asyncio.Event()
        self._startup: asyncio.Task[None] | None = None
        #: The wizard and cleanup views still listening; stopped when the cog unloads.
        self._views: weakref.WeakSet[discord.ui.View] = weakref.WeakSet()
        #: Pending answers to presses on expired controls; cancelled when the cog unloads.
        self._unclaimed: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def config(self) -> SetupConfig:
        if self._config is None:
            given = getattr(self.bot, "apex_setup_config", None)
            self._config = given if isinstance(given, SetupConfig) else SetupConfig()
        return self._config

    @property
    def services(self) -> SetupServices:
        if self._services is None:
            raise RuntimeError("the ApexSetup cog is not loaded")
        return self._services

    @property
    def ready(self) -> bool:
        """Whether startup recovery has finished and commands are served."""
        return self._ready.is_set()

    async def cog_load(self) -> None:
        config = self.config
        url = config.resolved_database_url()
        store = await run_core(lambda: open_store(url))
        self._services = build_services(DiscordPyPort(self.bot), store, config)
        for name in self._services.catalogue.names():
            self.bot.add_view(PanelView(self, self._services.catalogue.get(name)))
        self._startup = asyncio.create_task(self._start_up())

    def track_view(self, view: discord.ui.View) -> None:
        """Remember a short-lived view, so unloading the cog stops it."""
        self._views.add(view)

    async def cog_unload(self) -> None:
        if self._startup is not None:
            self._startup.cancel()
        self.sweep_loop.cancel()
        self.reconcile_loop.cancel()
        for view in list(self._views):
            view.stop()
        for task in list(self._unclaimed):
            task.cancel()
        await asyncio.sleep(0)  # let the stopped views' and cancelled tasks finish cancelling
        if self._services is not None:
            store = self._services.store
            await run_core(store.close)

    async def _start_up(self) -> None:
        await self.bot.wait_until_ready()
        ctx = self.services.ctx
        try:
            report = await run_core(lambda: recover(ctx))
            _log.info(
                "Startup recovery: %d rolled back, %d finished, %d still open",
                len(report.rolled_back),
                len(report.finished),
                len(report.still_open),
            )
        except Exception:
            _log.exception("Startup recovery failed; the periodic reconciliation retries it")
        self._ready.set()
        config = self.config
        self.sweep_loop.change_interval(seconds=config.sweep_interval.total_seconds())
        self.reconcile_loop.change_interval(seconds=config.reconcile_interval.total_seconds())
        self.sweep_loop.start()
        self.reconcile_loop.start()

    async def wait_until_serving(self) -> None:
        """Wait until startup recovery has finished."""
        await self._ready.wait()

    @tasks.loop(minutes=5)
    async def sweep_loop(self) -> None:
        wizard, clock = self.services.wizard, self.services.ctx.clock
        try:
            await run_core(lambda: wizard.sweep_expired(clock.now()))
        except Exception:
            _log.exception("The expiry sweep failed; the next one tries again")

    @tasks.loop(minutes=10)
    async def reconcile_loop(self) -> None:
        ctx, older_than = self.services.ctx, self.config.reconcile_older_than
        try:
            await run_core(lambda: recover(ctx, older_than=older_than))
        except Exception:
            _log.exception("Orphan reconciliation failed; the next one tries again")

    # -- checks and errors ------------------------------------------------------------------

    async def cog_check(self, ctx: commands.Context[Any]) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage(self.GUILD_ONLY)
        if not is_setup_admin(ctx.author):
            raise NotSetupAdmin(self.NOT_ADMIN)
        if not self.ready:
            raise StartingUp(self.STARTING)
        return True

    def user_text(
        self, error: BaseException, command: commands.Command[Any, ..., Any] | None = None
    ) -> str:
        """What a Discord user may read about ``error``; logs the unexpected with a reference."""
        error = _unwrap(error)
        if isinstance(error, SetupOperationError):
            return error.user_text()
        if isinstance(error, NotSetupAdmin):
            return self.NOT_ADMIN
        if isinstance(error, StartingUp):
            return self.STARTING
        if isinstance(error, commands.NoPrivateMessage | app_commands.NoPrivateMessage):
            return self.GUILD_ONLY
        if isinstance(error, commands.CheckFailure | app_commands.CheckFailure):
            return self.NOT_ADMIN
        if isinstance(error, commands.UserInputError) and command is not None:
            _log.debug("bad input for %s", command.qualified_name, exc_info=error)
            usage = f"!{command.qualified_name} {command.signature}".strip()
            return f"That is not valid input for this command. Usage: `{usage}`"
        reference = new_reference()
        _log.error("Unexpected error, reference %s", reference, exc_info=error)
        return f"Something went wrong on our side (reference {reference})."

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer a press on wizard or cleanup controls that no live view claims any more.

        Their views time out, and do not survive a restart, while the message still shows
        them; without this, Discord would tell the admin "This interaction failed".
        """
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(CONTROL_PREFIX):
            return
        task = asyncio.create_task(self._answer_if_unclaimed(interaction, custom_id))
        self._unclaimed.add(task)
        task.add_done_callback(self._unclaimed.discard)

    async def _answer_if_unclaimed(
        self, interaction: discord.Interaction[Any], custom_id: str
    ) -> None:
        await asyncio.sleep(UNCLAIMED_GRACE)  # a live view answers (defers) at once
        if interaction.response.is_done():
            return
        _log.debug("unclaimed control %s pressed by %s", custom_id, interaction.user.id)
        try:
            await interaction.response.send_message(
                "These controls have expired. Run `!setup` (or `/setup`) to continue where "
                "you left off, or `!setup-cleanup` for the cleanup menu.",
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
        except discord.HTTPException:
            _log.debug("could not answer the expired control", exc_info=True)

    async def cog_command_error(self, ctx: commands.Context[Any], error: Exception) -> None:
        text = self.user_text(error, ctx.command)
        try:
            await ctx.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            _log.exception("Could not tell %s about a failed command", ctx.author.id)

    async def refuse(self, interaction: discord.Interaction[Any], text: str) -> None:
        await self._tell(interaction, text)

    async def report_error(
        self, interaction: discord.Interaction[Any], error: BaseException
    ) -> None:
        """Tell the user about ``error`` in a user-safe way (a view's ``on_error``)."""
        await self._tell(interaction, self.user_text(error))

    async def _tell(self, interaction: discord.Interaction[Any], text: str) -> None:
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, allowed_mentions=NO_PINGS
                )
        except discord.HTTPException:
            _log.exception("Could not answer interaction %s", interaction.id)

    # -- the wizard ---------------------------------------------------------------------------

    @commands.hybrid_command(name="setup", description="Set up the server's panels")  # type: ignore[arg-type]
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(assignments="optional: panel=channel pairs, e.g. rules=#rules")
    async def setup_command(
        self, ctx: commands.Context[commands.Bot], *, assignments: str | None = None
    ) -> None:
        """Set up panels: the wizard, or `!setup rules=#rules faq=#support` in one go."""
        await ctx.defer(ephemeral=True)
        if assignments:
            await self._setup_script(ctx, assignments)
            return
        guild_id, user_id = _guild_id(ctx), ctx.author.id
        wizard = self.services.wizard
        try:
            state: WizardState | None = await run_core(lambda: wizard.resume(guild_id, user_id))
        except SessionExpired:
            state = None  # the old session timed out (and is closed now): start afresh
        except InvalidInput as exc:
            if exc.field != "session":
                raise
            state = None
        if state is None or state.phase.is_terminal:
            specs = [self.services.catalogue.get(n) for n in self.services.catalogue.names()]
            view = PanelTypesView(self, user_id, specs)
            await ctx.send(
                "**Setup** - choose the panels to set up.",
                view=view,
                ephemeral=True,
                allowed_mentions=NO_PINGS,
            )
            return
        content, session_view = await self._render(state, "Resuming your setup.")
        if session_view is None:
            await ctx.send(content, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await ctx.send(content, view=session_view, ephemeral=True, allowed_mentions=NO_PINGS)

    async def _setup_script(self, ctx: commands.Context[commands.Bot], text: str) -> None:
        pairs: list[tuple[str, str]] = []
        for token in text.split():
            panel_type, sep, channel = token.partition("=")
            if not sep or not panel_type or not channel:
                raise InvalidInput(
                    "Give panel=channel pairs, for example `!setup rules=#rules faq=#support`, "
                    "or `!setup` alone for the wizard.",
                    field="assignments",
                )
            pairs.append((panel_type, channel))
        guild_id, user_id = _guild_id(ctx), ctx.author.id
        services = self.services

        results = await run_core(lambda: services.wizard.run_plan(guild_id, user_id, pairs))
        lines = ["**Setup**"] + [_step_line(r) for r in results]
        if results and results[-1].error is not None:
            lines.append("Run `!setup` to retry or abandon the rest.")
        elif results:
            lines.append("Setup complete.")
        await ctx.send(_fit(lines), ephemeral=True, allowed_mentions=NO_PINGS)

    async def wizard_start(
        self, interaction: discord.Interaction[Any], panel_types: list[str]
    ) -> None:
        await interaction.response.defer()
        guild_id, user_id = _interaction_guild(interaction), interaction.user.id
        wizard = self.services.wizard
        state = await run_core(lambda: wizard.start(guild_id, user_id, panel_types))
        await self._show(interaction, state)

    async def wizard_channel(
        self,
        interaction: discord.Interaction[Any],
        session_id: str,
        panel_type: str | None,
        channel_id: int,
    ) -> None:
        await interaction.response.defer()
        user_id = interaction.user.id
        services = self.services

        def choose() -> WizardState:
            return services.wizard.choose_channel(
                session_id, user_id, str(channel_id), panel_type=panel_type
            )

        try:
            state = await run_core(choose)
        except (InvalidInput, MissingPermissions) as exc:
            current = await run_core(lambda: services.wizard.status(session_id))
            await self._show(interaction, current, exc.user_text())
            return
        await self._show(interaction, state)

    async def wizard_action(
        self, interaction: discord.Interaction[Any], session_id: str, action: str
    ) -> None:
        await interaction.response.defer()
        user_id = interaction.user.id
        wizard = self.services.wizard
        if action in ("cancel", "abandon"):
            state = await run_core(lambda: wizard.cancel(session_id, user_id))
            await self._show(interaction, state)
            return
        if action == "confirm":
            await run_core(lambda: wizard.confirm(session_id, user_id))
        elif action == "retry":
            await run_core(lambda: wizard.retry(session_id, user_id))
        await self._deploy(interaction, session_id)

    async def _deploy(self, interaction: discord.Interaction[Any], session_id: str) -> None:
        """Deploy the remaining panels one by one, showing progress after each."""
        wizard, user_id = self.services.wizard, interaction.user.id
        progress = _Progress(interaction)
        done: list[str] = []
        while True:
            state = await run_core(lambda: wizard.status(session_id))
            panel = state.current_panel
            if state.phase is not WizardPhase.DEPLOYING or panel is None:
                break
            step = f"({state.current_index + 1} of {len(state.panel_types)})"
            await progress.show(_fit([*done, f"Deploying the {panel} panel {step}..."]), None)
            result = await run_core(
                functools.partial(
                    wizard.run_next_step, session_id, user_id, expected_version=state.version
                )
            )
            done.append(_step_line(result))
            if result.error is not None:
                lines = [*done, "Retry this panel, or Abandon (panels already deployed stay)."]
                await progress.show(_fit(lines), FailureView(self, result.state))
                return
        content, view = await self._render(state)
        await progress.show(_fit([*done, content]), view)

    async def _show(
        self, interaction: discord.Interaction[Any], state: WizardState, note: str = ""
    ) -> None:
        content, view = await self._render(state, note)
        await _Progress(interaction).show(content, view)

    async def _render(
        self, state: WizardState, note: str = ""
    ) -> tuple[str, discord.ui.View | None]:
        lines = [note] if note else []
        total = len(state.panel_types)
        if state.phase is WizardPhase.CHOOSING_CHANNELS:
            lines.append(
                f"**Setup** - choose the channel for the **{state.current_panel}** panel "
                f"({state.current_index + 1} of {total})."
            )
        elif state.phase is WizardPhase.CONFIRMING:
            lines.append("**Setup** - the plan:")
            lines.extend(await run_core(lambda: self._plan_lines(state)))
            lines.append("Confirm to deploy.")
        elif state.phase is WizardPhase.DEPLOYING:
            lines.append(f"**Setup** - {len(state.remaining)} of {total} panel(s) still to deploy.")
        elif state.phase is WizardPhase.STEP_FAILED:
            lines.append(f"**Setup** - the {state.current_panel} panel failed: {state.last_error}")
        elif state.phase is WizardPhase.COMPLETED:
            lines.append(f"Setup complete: {_done_summary(state)}.")
        else:
            lines.append(
                f"Setup {state.phase.value}; panels already deployed stay: {_done_summary(state)}."
            )
        return _fit(lines), view_for_session(self, state)

    def _plan_lines(self, state: WizardState) -> list[str]:
        """Each chosen panel: new, replacing the one in the same channel, or moving."""
        lines = []
        for panel_type in state.panel_types:
            channel_id = state.channels.get(panel_type)
            existing = self.services.ctx.panels.get_panel(state.guild_id, panel_type)
            if existing is None:
                what = "new"
            elif existing.channel_id == channel_id:
                what = "replaces the current one"
            else:
                what = f"moves from <#{existing.channel_id}>"
            lines.append(f"- {panel_type} in <#{channel_id}>: {what}")
        return lines

    # -- status, cleanup, remove, audit channel ---------------------------------------------

    @commands.hybrid_command(name="setup-status", description="The state of the server's panels")  # type: ignore[arg-type]
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def status_command(self, ctx: commands.Context[commands.Bot]) -> None:
        """Panels with a health check, unfinished operations, manual cleanup, sessions."""
        await ctx.defer(ephemeral=True)
        guild_id, services = _guild_id(ctx), self.services

        def read() -> list[str]:
            live = [s for s in services.wizard.list_sessions(guild_id) if not s.phase.is_terminal]
            status = guild_status(services.ctx, guild_id, sessions=live, settings=services.store)
            return status.lines()

        lines = await run_core(read)
        await ctx.send(
            _fit(["**Setup status**", *lines]), ephemeral=True, allowed_mentions=NO_PINGS
        )

    @commands.hybrid_command(name="setup-cleanup", description="Clean up setup leftovers")  # type: ignore[arg-type]
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def cleanup_command(self, ctx: commands.Context[commands.Bot]) -> None:
        """Choose a cleanup; each shows what it would remove before it removes anything."""
        view = CleanupMenuView(self, ctx.author.id)
        await ctx.send(
            "**Cleanup** - choose one; you will see what it removes first.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    async def cleanup_preview(self, interaction: discord.Interaction[Any], choice: str) -> None:
        await interaction.response.defer()
        guild_id, user_id, services = (
            _interaction_guild(interaction),
            interaction.user.id,
            self.services,
        )

        def preview() -> CleanupPlan:
            kind = CLEANUP_KINDS[choice]
            return preview_cleanup(
                services.ctx,
                guild_id,
                kind,
                user_id=user_id,
                sessions=self._sweeper(choice),
                panel_types=services.catalogue.names(),
            )

        plan = await run_core(preview)
        lines = ["**Cleanup preview**", *plan.lines()]
        if plan.is_empty:
            await _Progress(interaction).show(_fit(lines), None)
            return
        lines.append("Confirm to remove exactly this.")
        view = CleanupConfirmView(self, user_id, plan, choice)
        await _Progress(interaction).show(_fit(lines), view)

    async def cleanup_apply(
        self, interaction: discord.Interaction[Any], plan: CleanupPlan, choice: str
    ) -> None:
        await interaction.response.defer()
        services, user_id = self.services, interaction.user.id
        sweeper = self._sweeper(choice)
        result = await run_core(
            lambda: apply_cleanup(services.ctx, plan, user_id=user_id, sessions=sweeper)
        )
        await _Progress(interaction).show(_fit(["**Cleanup done**", *result.lines()]), None)

    def _sweeper(self, choice: str) -> Any:
        if choice == "orphans":
            return None
        return self.services.session_cleaner(only_expired=choice == "expired-states")

    @commands.hybrid_command(name="setup-remove", description="Take one panel down")  # type: ignore[arg-type]
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(panel_type="the panel type, e.g. rules")
    async def remove_command(self, ctx: commands.Context[commands.Bot], panel_type: str) -> None:
        """Remove one panel: its record and its message, all or nothing."""
        await ctx.defer(ephemeral=True)
        guild_id, user_id, services = _guild_id(ctx), ctx.author.id, self.services
        result = await run_core(
            lambda: remove_panel(
                services.ctx, guild_id, panel_type, user_id, catalogue=services.catalogue
            )
        )
        text = f"Removed the {result.panel.panel_type} panel from <#{result.panel.channel_id}>."
        if not result.message_deleted:
            text += " Its message will be deleted as soon as Discord allows."
        await ctx.send(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @commands.hybrid_command(name="setup-audit-channel", description="Where audit records go")  # type: ignore[arg-type]
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(channel="a text channel the bot can post in")
    async def audit_channel_command(
        self, ctx: commands.Context[commands.Bot], channel: discord.TextChannel
    ) -> None:
        """Post audit records of setup operations in this channel."""
        await ctx.defer(ephemeral=True)
        guild_id, user_id, services = _guild_id(ctx), ctx.author.id, self.services
        await run_core(
            lambda: configure_audit_channel(
                services.ctx, services.store, guild_id, channel.id, user_id=user_id
            )
        )
        await ctx.send(
            f"Audit records now go to <#{channel.id}>.", ephemeral=True, allowed_mentions=NO_PINGS
        )

    # -- panels -----------------------------------------------------------------------------

    async def panel_pressed(
        self,
        interaction: discord.Interaction[Any],
        panel_type: str,
        custom_id: str,
        values: list[str],
    ) -> None:
        """A member used a deployed panel: the owner's handler answers, or a short default."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = _interaction_guild(interaction)
        message_id = interaction.message.id if interaction.message is not None else None
        store = self.services.store

        def active() -> bool:
            panel = store.get_panel(guild_id, panel_type)
            return panel is not None and panel.message_id == message_id

        if not await run_core(active):
            await interaction.followup.send(
                "This panel is no longer active.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        key = values[0] if values else custom_id.rsplit(":", 1)[-1]
        spec = self.services.catalogue.get(panel_type)
        label = next((a.label for a in spec.actions if a.key == key), key)
        press = PanelPress(panel_type=panel_type, key=key, label=label, custom_id=custom_id)
        handler = self.actions.get(panel_type, key)
        if handler is None:
            await interaction.followup.send(
                f"Noted: {label}.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        await handler(interaction, press)


class _Progress:
    """Shows a wizard message: edits the interaction's message while its token is young, then
    posts in the channel (the token lasts 15 minutes).

    The token's age is measured from when the bot received the interaction, on the monotonic
    clock: the interaction's snowflake time would trust Discord's clock against ours.
    """

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction
        self._deadline = time.monotonic() + TOKEN_MARGIN.total_seconds()

    async def show(self, content: str, view: discord.ui.View | None) -> None:
        if time.monotonic() < self._deadline:
            await self._interaction.edit_original_response(
                content=content, view=view, allowed_mentions=NO_PINGS
            )
            return
        channel = self._interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            return
        if view is None:
            await channel.send(content, allowed_mentions=NO_PINGS)
        else:
            await channel.send(content, view=view, allowed_mentions=NO_PINGS)


def _guild_id(ctx: commands.Context[commands.Bot]) -> int:
    assert ctx.guild is not None  # cog_check refuses direct messages
    return ctx.guild.id


def _interaction_guild(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise InvalidInput("This works in a server only.", field="guild")
    return interaction.guild_id


def _step_line(result: StepResult) -> str:
    if result.error is not None:
        return f"- {result.panel_type}: failed. {result.error.user_text()}"
    deployed: DeployResult | None = result.deployed
    if deployed is None:
        return f"- {result.panel_type}: done"
    text = f"- {result.panel_type}: posted in <#{deployed.panel.channel_id}>"
    if deployed.replaced is not None:
        text += " (replacing the previous one)"
    return text


def _done_summary(state: WizardState) -> str:
    text = ", ".join(state.completed_panels) or "none"
    if state.skipped_panels:
        text += f"; skipped: {', '.join(state.skipped_panels)}"
    return text


def bot_intents() -> discord.Intents:
    """The intents a bot running this cog needs: the defaults, message content for the prefix
    commands, and members for the permission checks."""
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return intents


async def setup(bot: commands.Bot) -> None:
    """The extension entry point: ``await bot.load_extension("apex_setup.cog")``."""
    await bot.add_cog(ApexSetup(bot))
