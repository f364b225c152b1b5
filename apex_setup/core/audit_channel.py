"""Audit entries posted to a guild's audit channel, besides being stored.

``AuditChannelSink`` wraps the store's ``AuditSink``: it records every entry there, then, when the
entry's guild has an audit channel configured, posts a short embed to it.

Invariants:
- Posting never fails the operation being audited: a failure to read the setting or to post is
  logged with its traceback and swallowed. Only the wrapped store's own failure propagates (and
  ``SetupContext.write_audit`` logs and swallows that one).
- A post carries a nonce derived from the entry's content, so posting the same entry again within
  Discord's nonce window returns the first message instead of a duplicate.
- An audit channel is stored only after it was checked like a panel channel: it exists, it is a
  text channel of this guild, and the bot can post embeds there.
"""

from __future__ import annotations

import hashlib
import logging

from apex_setup.core.context import SetupContext
from apex_setup.core.discord_types import ChannelInfo
from apex_setup.core.errors import SetupOperationError
from apex_setup.core.payload import Embed, EmbedField, Limits, MessagePayload
from apex_setup.core.ports import AuditSink, DiscordPort, GuildSettingsStore
from apex_setup.core.prerequisites import check_panel_channel
from apex_setup.core.records import AuditRecord

__all__ = [
    "AuditChannelSink",
    "audit_embed",
    "audit_nonce",
    "configure_audit_channel",
]

_log = logging.getLogger(__name__)

#: Discord's longest nonce.
_NONCE_LENGTH = 25
_GREEN, _ORANGE, _RED = 0x57F287, 0xFEE75C, 0xED4245
_OK_OUTCOMES = frozenset({"ok", "resolved", "finished", "rolled_back"})
#: Longest description posted; the full detail stays in the store.
_DETAIL_LIMIT = 1000


def audit_nonce(entry: AuditRecord) -> str:
    """A nonce that is the same for the same entry, in any process, and fits Discord's 25."""
    parts = (
        entry.guild_id,
        entry.user_id,
        entry.action,
        entry.outcome,
        entry.detail,
        entry.created_at.isoformat(),
        entry.operation_id,
        entry.reference,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()
    return "audit" + digest[: _NONCE_LENGTH - len("audit")]


def audit_embed(entry: AuditRecord) -> MessagePayload:
    """The short embed an audit entry is posted as; always within Discord's limits."""
    if entry.outcome in _OK_OUTCOMES:
        color = _GREEN
    elif entry.outcome == "refused":
        color = _ORANGE
    else:
        color = _RED
    detail = entry.detail
    if len(detail) > _DETAIL_LIMIT:
        detail = detail[: _DETAIL_LIMIT - 1] + "…"
    fields = [EmbedField("By", f"<@{entry.user_id}>", inline=True)]
    if entry.operation_id:
        fields.append(EmbedField("Operation", entry.operation_id[:100], inline=True))
    if entry.reference:
        fields.append(EmbedField("Reference", entry.reference[:100], inline=True))
    embed = Embed(
        title=f"{entry.action}: {entry.outcome}"[: Limits.TITLE],
        description=detail,
        fields=tuple(fields),
        footer=entry.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        color=color,
    )
    return MessagePayload(embeds=(embed,))


class AuditChannelSink:
    """An ``AuditSink`` that stores each entry and posts it to the guild's audit channel.

    Args:
        inner: the store's audit sink; every entry is recorded there first.
        settings: where each guild's audit channel is read.
        discord: the bot's Discord port, for the post.
    """

    def __init__(
        self, inner: AuditSink, settings: GuildSettingsStore, discord: DiscordPort
    ) -> None:
        self._inner = inner
        self._settings = settings
        self._discord = discord

    def record(self, entry: AuditRecord) -> None:
        try:
            self._inner.record(entry)
        finally:
            self._post(entry)

    def _post(self, entry: AuditRecord) -> None:
        """Post the entry if the guild has an audit channel; log and swallow any failure."""
        try:
            channel_id = self._settings.get_audit_channel(entry.guild_id)
            if channel_id is None:
                return
            self._discord.send_message(channel_id, audit_embed(entry), nonce=audit_nonce(entry))
        except Exception:
            _log.warning(
                "Could not post the audit entry for operation %s of guild %s to its audit channel",
                entry.operation_id,
                entry.guild_id,
                exc_info=True,
            )


def configure_audit_channel(
    ctx: SetupContext,
    settings: GuildSettingsStore,
    guild_id: int,
    channel_id: int | None,
    *,
    user_id: int,
) -> ChannelInfo | None:
    """Set the guild's audit channel after checking the bot can post there; None clears it.

    Raises:
        InvalidInput: the channel does not exist, is not a text channel or is another guild's.
        MissingPermissions: the bot cannot view, post or embed there.
        StorageFailure: the setting could not be saved.
    """
    channel: ChannelInfo | None = None
    try:
        if channel_id is not None:
            channel = check_panel_channel(ctx, guild_id, channel_id)
        settings.set_audit_channel(guild_id, channel_id, ctx.clock.now())
    except SetupOperationError as exc:
        _audit(ctx, guild_id, user_id, "refused", f"audit channel not set: {exc.user_message}", exc)
        raise
    where = f"<#{channel_id}>" if channel_id is not None else "none"
    _audit(ctx, guild_id, user_id, "ok", f"audit channel set to {where}", None)
    return channel


def _audit(
    ctx: SetupContext,
    guild_id: int,
    user_id: int,
    outcome: str,
    detail: str,
    error: SetupOperationError | None,
) -> None:
    ctx.write_audit(
        AuditRecord(
            guild_id=guild_id,
            user_id=user_id,
            action="audit_channel",
            outcome=outcome,
            detail=detail,
            created_at=ctx.clock.now(),
            reference=error.reference if error is not None else None,
        )
    )
