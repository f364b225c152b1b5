"""The cog's Discord UI: the setup wizard's views, the cleanup menu and the panels' views.

Every view here renders what the core returned and hands each click back to the cog
(``apex_setup.cog.ApexSetup``), which asks the core. Nothing here decides policy.

Invariants:
- The wizard's and the cleanup menu's views answer only the administrator who opened them, and
  only while that member may still manage the server (checked again on every click); anyone else
  gets a short ephemeral refusal and nothing changes.
- Every callback acknowledges its interaction before the core runs (Discord's 3 seconds), and
  every error reaches the user through ``ApexSetup.report_error``: a ``SetupOperationError``'s
  user text, or a generic message with a reference id.
- Panel views are persistent (``timeout=None``, the panels' exact custom_ids) and answer anyone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from apex_setup.core.maintenance import CleanupKind, CleanupPlan
from apex_setup.core.panels import PanelSpec
from apex_setup.core.payload import Button
from apex_setup.core.wizard import WizardPhase, WizardState

if TYPE_CHECKING:
    from apex_setup.cog import ApexSetup

__all__ = [
    "CLEANUP_CHOICES",
    "CLEANUP_KINDS",
    "VIEW_TIMEOUT",
    "AdminView",
    "ChannelStepView",
    "CleanupConfirmView",
    "CleanupMenuView",
    "ConfirmView",
    "FailureView",
    "PanelTypesView",
    "PanelView",
    "ResumeDeployView",
    "SessionView",
    "WizardIds",
    "is_setup_admin",
    "view_for_session",
]

_log = logging.getLogger(__name__)

#: How long an unanswered wizard view keeps listening; its session stays in storage after.
VIEW_TIMEOUT = 14 * 60.0


class WizardIds:
    """The custom_ids of the cog's own components (never ``apex:``, the panels' marker)."""

    TYPES = "apex-setup:types"
    CHANNEL = "apex-setup:channel"
    CONFIRM = "apex-setup:confirm"
    CONTINUE = "apex-setup:continue"
    CANCEL = "apex-setup:cancel"
    RETRY = "apex-setup:retry"
    ABANDON = "apex-setup:abandon"
    CLEANUP_CONFIRM = "apex-setup:cleanup:confirm"
    CLEANUP_CANCEL = "apex-setup:cleanup:cancel"

    @staticmethod
    def cleanup(choice: str) -> str:
        return f"apex-setup:cleanup:{choice}"


#: The cleanup menu: (choice, button label). ``states`` and ``all-states`` end sessions only.
CLEANUP_CHOICES: tuple[tuple[str, str], ...] = (
    ("expired-states", "Clean Expired States"),
    ("all-states", "Clean All States"),
    ("orphans", "Clean Orphaned Panels"),
    ("full", "Full Cleanup"),
)
CLEANUP_KINDS: dict[str, CleanupKind] = {
    "expired-states": CleanupKind.SESSIONS,
    "all-states": CleanupKind.SESSIONS,
    "orphans": CleanupKind.ORPHANS,
    "full": CleanupKind.FULL,
}


def is_setup_admin(member: discord.abc.User) -> bool:
    """The guild owner, an Administrator, or a member with Manage Server."""
    if not isinstance(member, discord.Member):
        return False
    if member.guild.owner_id == member.id:
        return True
    permissions = member.guild_permissions
    return permissions.administrator or permissions.manage_guild


class AdminView(discord.ui.View):
    """A view only its administrator may use; errors go to the cog's error reply."""

    def __init__(self, cog: ApexSetup, owner_id: int, *, timeout: float | None = VIEW_TIMEOUT):
        super().__init__(timeout=timeout)
        self.cog = cog
        self.owner_id = owner_id
        cog.track_view(self)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id != self.owner_id:
            await self.cog.refuse(
                interaction, f"These controls belong to <@{self.owner_id}>; run `!setup` yourself."
            )
            return False
        if not is_setup_admin(interaction.user):
            await self.cog.refuse(interaction, self.cog.NOT_ADMIN)
            return False
        return True

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: Exception,
        item: discord.ui.Item[Any],
    ) -> None:
        await self.cog.report_error(interaction, error)


def _button(
    label: str, custom_id: str, style: discord.ButtonStyle = discord.ButtonStyle.secondary
) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, custom_id=custom_id, style=style)


class PanelTypesView(AdminView):
    """Step 1: a multi-select of the catalogue's panel types."""

    def __init__(self, cog: ApexSetup, owner_id: int, specs: Sequence[PanelSpec]) -> None:
        super().__init__(cog, owner_id)
        options = [
            discord.SelectOption(label=s.panel_type, value=s.panel_type, description=s.title[:100])
            for s in specs[:25]
        ]
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=WizardIds.TYPES,
            placeholder="Choose the panels to set up",
            min_values=1,
            max_values=len(options),
            options=options,
        )
        select.callback = self._chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    async def _chosen(self, interaction: discord.Interaction[Any]) -> None:
        await self.cog.wizard_start(interaction, list(self.select.values))


class SessionView(AdminView):
    """A view for one stored setup session, with a Cancel button."""

    def __init__(self, cog: ApexSetup, state: WizardState) -> None:
        super().__init__(cog, state.user_id)
        self.session_id = state.session_id

    def add_button(
        self,
        label: str,
        custom_id: str,
        action: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        button = _button(label, custom_id, style)

        async def pressed(interaction: discord.Interaction[Any]) -> None:
            await self.cog.wizard_action(interaction, self.session_id, action)

        button.callback = pressed  # type: ignore[method-assign]
        self.add_item(button)


class ChannelStepView(SessionView):
    """Step 2: a text-channel select for the panel being asked for."""

    def __init__(self, cog: ApexSetup, state: WizardState) -> None:
        super().__init__(cog, state)
        self.panel_type = state.current_panel
        select: discord.ui.ChannelSelect[Any] = discord.ui.ChannelSelect(
            custom_id=WizardIds.CHANNEL,
            channel_types=[discord.ChannelType.text],
            placeholder=f"Channel for the {self.panel_type} panel",
            min_values=1,
            max_values=1,
        )
        select.callback = self._chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)
        self.add_button("Cancel", WizardIds.CANCEL, "cancel", discord.ButtonStyle.danger)

    async def _chosen(self, interaction: discord.Interaction[Any]) -> None:
        channel = self.select.values[0]
        await self.cog.wizard_channel(interaction, self.session_id, self.panel_type, channel.id)


class ConfirmView(SessionView):
    """Step 3: the plan, and Confirm / Cancel."""

    def __init__(self, cog: ApexSetup, state: WizardState) -> None:
        super().__init__(cog, state)
        self.add_button("Confirm", WizardIds.CONFIRM, "confirm", discord.ButtonStyle.success)
        self.add_button("Cancel", WizardIds.CANCEL, "cancel", discord.ButtonStyle.danger)


class ResumeDeployView(SessionView):
    """A confirmed session that still has panels to deploy (after a restart, say)."""

    def __init__(self, cog: ApexSetup, state: WizardState) -> None:
        super().__init__(cog, state)
        self.add_button("Continue", WizardIds.CONTINUE, "continue", discord.ButtonStyle.success)
        self.add_button("Cancel", WizardIds.CANCEL, "cancel", discord.ButtonStyle.danger)


class FailureView(SessionView):
    """A failed step: Retry, or Abandon the setup (panels already deployed stay)."""

    def __init__(self, cog: ApexSetup, state: WizardState) -> None:
        super().__init__(cog, state)
        self.add_button("Retry", WizardIds.RETRY, "retry", discord.ButtonStyle.primary)
        self.add_button("Abandon", WizardIds.ABANDON, "abandon", discord.ButtonStyle.danger)


def view_for_session(cog: ApexSetup, state: WizardState) -> discord.ui.View | None:
    """The controls a stored session needs now; None once it is over."""
    if state.phase is WizardPhase.CHOOSING_CHANNELS:
        return ChannelStepView(cog, state)
    if state.phase is WizardPhase.CONFIRMING:
        return ConfirmView(cog, state)
    if state.phase is WizardPhase.DEPLOYING:
        return ResumeDeployView(cog, state)
    if state.phase is WizardPhase.STEP_FAILED:
        return FailureView(cog, state)
    return None


class CleanupMenuView(AdminView):
    """The four cleanups; each shows its preview first."""

    def __init__(self, cog: ApexSetup, owner_id: int) -> None:
        super().__init__(cog, owner_id)
        for choice, label in CLEANUP_CHOICES:
            button = _button(label, WizardIds.cleanup(choice))
            button.callback = self._handler(choice)  # type: ignore[method-assign]
            self.add_item(button)

    def _handler(self, choice: str) -> Any:
        async def pressed(interaction: discord.Interaction[Any]) -> None:
            await self.cog.cleanup_preview(interaction, choice)

        return pressed


class CleanupConfirmView(AdminView):
    """A previewed cleanup plan: Confirm applies exactly it, Cancel drops it."""

    def __init__(self, cog: ApexSetup, owner_id: int, plan: CleanupPlan, choice: str) -> None:
        super().__init__(cog, owner_id)
        self.plan = plan
        self.choice = choice
        confirm = _button("Confirm", WizardIds.CLEANUP_CONFIRM, discord.ButtonStyle.danger)
        confirm.callback = self._confirm  # type: ignore[method-assign]
        cancel = _button("Cancel", WizardIds.CLEANUP_CANCEL)
        cancel.callback = self._cancel  # type: ignore[method-assign]
        self.add_item(confirm)
        self.add_item(cancel)

    async def _confirm(self, interaction: discord.Interaction[Any]) -> None:
        self.stop()
        await self.cog.cleanup_apply(interaction, self.plan, self.choice)

    async def _cancel(self, interaction: discord.Interaction[Any]) -> None:
        self.stop()
        await interaction.response.edit_message(content="Cleanup cancelled.", embed=None, view=None)


class PanelView(discord.ui.View):
    """A deployed panel's components, persistent: presses after a restart still arrive."""

    def __init__(self, cog: ApexSetup, spec: PanelSpec) -> None:
        super().__init__(timeout=None)
        self.cog = cog
        self.panel_type = spec.panel_type
        for row_index, row in enumerate(spec.render().rows):
            for component in row.components:
                item: discord.ui.Item[Any]
                if isinstance(component, Button):
                    item = discord.ui.Button(
                        custom_id=component.custom_id,
                        label=component.label,
                        style=discord.ButtonStyle(int(component.style)),
                        row=row_index,
                    )
                else:
                    item = discord.ui.Select(
                        custom_id=component.custom_id,
                        placeholder=component.placeholder or None,
                        options=[
                            discord.SelectOption(
                                label=o.label, value=o.value, description=o.description or None
                            )
                            for o in component.options
                        ],
                        row=row_index,
                    )
                item.callback = self._pressed(component.custom_id, item)  # type: ignore[method-assign]
                self.add_item(item)

    def _pressed(self, custom_id: str, item: discord.ui.Item[Any]) -> Any:
        async def pressed(interaction: discord.Interaction[Any]) -> None:
            values = list(item.values) if isinstance(item, discord.ui.Select) else []
            await self.cog.panel_pressed(interaction, self.panel_type, custom_id, values)

        return pressed

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: Exception,
        item: discord.ui.Item[Any],
    ) -> None:
        await self.cog.report_error(interaction, error)
