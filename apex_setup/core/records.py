"""Durable records: panels, the write-ahead journal, manual-cleanup items and audit entries.

The journal's life cycle, per operation:

    PENDING ──commit──▶ COMMITTED ──follow-ups done──▶ DONE
       │                    │
       │                    └─follow-up refused for good──▶ NEEDS_MANUAL_CLEANUP
       └─claim──▶ COMPENSATING ──undone──▶ ROLLED_BACK
                       │    ▲ └─an undo refused for good──▶ NEEDS_MANUAL_CLEANUP
                       └────┘ a stale claim (its holder died) is taken over

and per step:

    INTENDED ──effect seen──▶ DONE ──compensated──▶ UNDONE
        │                      └──undo refused──▶ ABANDONED (a manual-cleanup item exists)
        └──proved never to have happened──▶ UNDONE

Invariants:
- A step is INTENDED in durable storage before its external effect starts.
- PENDING, COMPENSATING and COMMITTED operations are "open": ``recover()`` finishes them. Every
  other state is final and ``recover()`` leaves it alone.
- Compensation first claims the operation (PENDING to COMPENSATING) with a compare-and-swap on
  its state and ``updated_at`` (``JournalChange.expected``); so does commit (PENDING to
  COMMITTED or DONE). Of a commit and a compensation racing for one operation, across
  processes, exactly one wins, and no two compensations run at once.
- A panel write and the journal rows that describe it are stored in one transaction.
- Every time is timezone-aware and comes from the clock port.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

#: Longest operation id, panel type, session id or lease owner a store keeps.
MAX_KEY_LENGTH = 64

__all__ = [
    "MAX_KEY_LENGTH",
    "AuditRecord",
    "JournalChange",
    "ManualCleanupItem",
    "Operation",
    "OperationKind",
    "OperationState",
    "OperationType",
    "PanelRecord",
    "PanelWrite",
    "PanelWriteKind",
    "RollbackInfo",
    "RollbackReport",
    "Step",
    "StepState",
    "check_change",
    "check_key",
    "check_time",
]


@dataclass(frozen=True)
class PanelRecord:
    """One live panel: at most one per (guild_id, panel_type)."""

    guild_id: int
    panel_type: str
    channel_id: int
    message_id: int
    created_by: int
    created_at: datetime
    updated_at: datetime
    #: The operation that last wrote this row.
    operation_id: str
    #: Bumped on every write; writes compare it to detect a lost race.
    version: int = 1
    #: The store's row id, when it has one.
    panel_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "guild_id": self.guild_id,
            "panel_type": self.panel_type,
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "operation_id": self.operation_id,
            "version": self.version,
            "panel_id": self.panel_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PanelRecord:
        return cls(
            guild_id=int(data["guild_id"]),
            panel_type=str(data["panel_type"]),
            channel_id=int(data["channel_id"]),
            message_id=int(data["message_id"]),
            created_by=int(data["created_by"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            operation_id=str(data["operation_id"]),
            version=int(data["version"]),
            panel_id=data.get("panel_id"),
        )


class OperationType(enum.Enum):
    """What one journal step did; the names of the original design's rollback records."""

    MESSAGE_SENT = "message_sent"  # a message was posted; undo: delete it
    PANEL_CREATED = "panel_created"  # a panel row was inserted; undo: delete the row
    PANEL_UPDATED = "panel_updated"  # a panel row was replaced; undo: restore the before-image
    PANEL_DELETED = "panel_deleted"  # a panel row was removed; undo: restore the before-image
    MESSAGE_RETIRED = "message_retired"  # an old message deleted after commit; never undone


@dataclass(frozen=True)
class RollbackInfo:
    """What one step did and everything needed to undo it."""

    operation_type: OperationType
    guild_id: int
    user_id: int
    timestamp: datetime
    panel_type: str | None = None
    channel_id: int | None = None
    message_id: int | None = None
    panel_id: int | None = None
    #: The row as it was before the step (updates and deletes), restored on undo.
    before: PanelRecord | None = None
    #: The row as the step wrote it (creates and updates).
    after: PanelRecord | None = None
    #: Idempotency key of a send: Discord's nonce.
    nonce: str | None = None
    #: Fingerprint of the sent payload, to recognise the message in history.
    fingerprint: str | None = None
    #: The sent payload (as ``MessagePayload.to_dict``), so recovery can repeat the send with
    #: the same nonce and learn the message id.
    payload: dict[str, Any] | None = None

    def with_message(self, message_id: int) -> RollbackInfo:
        return replace(self, message_id=message_id)

    def describe(self) -> str:
        where = f" in channel {self.channel_id}" if self.channel_id else ""
        what = {
            OperationType.MESSAGE_SENT: "message",
            OperationType.MESSAGE_RETIRED: "old message",
            OperationType.PANEL_CREATED: "panel record",
            OperationType.PANEL_UPDATED: "panel record update",
            OperationType.PANEL_DELETED: "panel record removal",
        }[self.operation_type]
        ident = f" {self.message_id}" if self.message_id else ""
        kind = f" ({self.panel_type})" if self.panel_type else ""
        return f"{what}{ident}{kind}{where}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation_type": self.operation_type.value,
            "guild_id": self.guild_id,
            "user_id": self.user_id,
            "timestamp": self.timestamp.isoformat(),
            "panel_type": self.panel_type,
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "panel_id": self.panel_id,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "nonce": self.nonce,
            "fingerprint": self.fingerprint,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RollbackInfo:
        return cls(
            operation_type=OperationType(data["operation_type"]),
            guild_id=int(data["guild_id"]),
            user_id=int(data["user_id"]),
            timestamp=datetime.fromisoformat(data["timestamp"]),
            panel_type=data.get("panel_type"),
            channel_id=data.get("channel_id"),
            message_id=data.get("message_id"),
            panel_id=data.get("panel_id"),
            before=PanelRecord.from_dict(data["before"]) if data.get("before") else None,
            after=PanelRecord.from_dict(data["after"]) if data.get("after") else None,
            nonce=data.get("nonce"),
            fingerprint=data.get("fingerprint"),
            payload=data.get("payload"),
        )


class OperationKind(enum.Enum):
    DEPLOY_PANEL = "deploy_panel"  # post a panel, replacing the previous one of its type
    REMOVE_PANEL = "remove_panel"  # take a panel down
    CLEANUP = "cleanup"  # remove orphans or stale sessions


class OperationState(enum.Enum):
    PENDING = "pending"  # steps may be in flight; recovery compensates
    COMPENSATING = "compensating"  # claimed for compensation at updated_at; undo in progress
    COMMITTED = "committed"  # the change is durable; recovery finishes the follow-ups
    DONE = "done"  # committed and every follow-up finished
    ROLLED_BACK = "rolled_back"  # every step compensated
    NEEDS_MANUAL_CLEANUP = "needs_manual_cleanup"  # a permanent refusal left an item for a human

    @property
    def is_open(self) -> bool:
        return self in (
            OperationState.PENDING,
            OperationState.COMPENSATING,
            OperationState.COMMITTED,
        )


class StepState(enum.Enum):
    INTENDED = "intended"  # durable before the effect; the effect may or may not have happened
    DONE = "done"  # the effect happened and its result is recorded
    UNDONE = "undone"  # compensated, or proved never to have happened
    ABANDONED = "abandoned"  # could not be undone or finished; a manual-cleanup item exists


@dataclass(frozen=True)
class Operation:
    id: str
    kind: OperationKind
    guild_id: int
    user_id: int
    state: OperationState
    created_at: datetime
    updated_at: datetime
    panel_type: str | None = None


@dataclass(frozen=True)
class Step:
    operation_id: str
    index: int
    state: StepState
    info: RollbackInfo
    #: True for a step that runs after commit (retiring the old panel); it is finished, not undone.
    follow_up: bool = False


class PanelWriteKind(enum.Enum):
    INSERT = "insert"  # fails with ConflictError when (guild, type) already has a row
    REPLACE = "replace"  # compare-and-swap on ``expected.version``
    DELETE = "delete"  # compare-and-swap on ``expected.version``


@dataclass(frozen=True)
class PanelWrite:
    kind: PanelWriteKind
    record: PanelRecord | None = None  # the new row, for INSERT and REPLACE
    expected: PanelRecord | None = None  # the row as read before, for REPLACE and DELETE


@dataclass(frozen=True)
class ManualCleanupItem:
    """Something apex-setup could not undo by itself, kept until a human deals with it."""

    operation_id: str
    guild_id: int
    description: str
    reason: str
    created_at: datetime
    channel_id: int | None = None
    message_id: int | None = None
    item_id: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    guild_id: int
    user_id: int
    action: str  # "deploy", "rollback", "cleanup", "expiry", "refused", ...
    outcome: str  # "ok", "rolled_back", "partially_rolled_back", "refused", ...
    detail: str
    created_at: datetime
    operation_id: str | None = None
    reference: str | None = None


@dataclass
class JournalChange:
    """Everything one commit writes, in one transaction.

    With ``expected`` set, the change applies only while the stored operation still has that
    state and ``updated_at`` (a compare-and-swap); otherwise nothing is written and the store
    raises ``OperationTakenOver``.
    """

    operation: Operation | None = None
    expected: Operation | None = None
    steps: list[Step] = field(default_factory=list)
    panel_writes: list[PanelWrite] = field(default_factory=list)
    cleanup_items: list[ManualCleanupItem] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.operation or self.steps or self.panel_writes or self.cleanup_items)


@dataclass
class RollbackReport:
    """What a compensation undid, and what it could not."""

    operation_id: str
    undone: list[RollbackInfo] = field(default_factory=list)
    not_undone: list[tuple[RollbackInfo, str]] = field(default_factory=list)
    #: True when compensation could not finish now and recovery will retry it.
    left_for_recovery: bool = False

    @property
    def fully_rolled_back(self) -> bool:
        return not self.not_undone and not self.left_for_recovery

    @property
    def outcome(self) -> str:
        if self.fully_rolled_back:
            return "rolled_back"
        if self.left_for_recovery:
            return "rollback_pending"
        return "partially_rolled_back"

    def summary(self) -> str:
        if self.fully_rolled_back:
            if not self.undone:
                return "Nothing had been changed."
            return "Rolled back: " + "; ".join(i.describe() for i in self.undone) + "."
        parts = []
        if self.undone:
            parts.append("undone: " + "; ".join(i.describe() for i in self.undone))
        if self.not_undone:
            parts.append(
                "NOT undone, left for manual cleanup: "
                + "; ".join(f"{i.describe()} ({why})" for i, why in self.not_undone)
            )
        if self.left_for_recovery:
            parts.append("the rest will be undone by recovery")
        return "Partly rolled back: " + "; ".join(parts) + "."


# What every store refuses, before it writes anything.


def check_key(value: str, what: str) -> None:
    """Raise ValueError for a key longer than the stores keep."""
    if len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"a {what} is at most {MAX_KEY_LENGTH} characters")


def check_time(value: datetime) -> None:
    """Raise ValueError for a naive datetime: every stored time is timezone-aware."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the store only accepts timezone-aware datetimes")


def check_change(change: JournalChange) -> None:
    """Raise ValueError when ``change`` breaks a rule every store enforces."""
    if change.operation is not None:
        check_key(change.operation.id, "operation id")
        if change.operation.panel_type is not None:
            check_key(change.operation.panel_type, "panel type")
        check_time(change.operation.created_at)
        check_time(change.operation.updated_at)
    for step in change.steps:
        check_key(step.operation_id, "operation id")
    for write in change.panel_writes:
        _check_write(write)
    for item in change.cleanup_items:
        check_key(item.operation_id, "operation id")
        check_time(item.created_at)


def _check_write(write: PanelWrite) -> None:
    needs_record = write.kind in (PanelWriteKind.INSERT, PanelWriteKind.REPLACE)
    needs_expected = write.kind in (PanelWriteKind.REPLACE, PanelWriteKind.DELETE)
    if (needs_record and write.record is None) or (needs_expected and write.expected is None):
        raise ValueError(f"a {write.kind.value} panel write lacks the record it needs")
    if write.record is not None and needs_record:
        check_key(write.record.panel_type, "panel type")
        check_key(write.record.operation_id, "operation id")
        check_time(write.record.created_at)
        check_time(write.record.updated_at)
    if write.kind is PanelWriteKind.REPLACE:
        assert write.record is not None and write.expected is not None
        new_key = (write.record.guild_id, write.record.panel_type)
        if new_key != (write.expected.guild_id, write.expected.panel_type):
            raise ValueError("a REPLACE must keep the panel's guild and type")
