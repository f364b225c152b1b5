"""What every use case needs: the ports, the retry policy and a source of operation ids.

A ``SetupContext`` is built once by the composition root (``apex_setup.composition``) and
passed to the use cases; the core never builds adapters itself.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from apex_setup.core.errors import DiscordUnavailable
from apex_setup.core.ports import AuditSink, Clock, DiscordPort, JournalStore, PanelStore
from apex_setup.core.records import AuditRecord

__all__ = ["RetryPolicy", "SetupContext", "new_operation_id"]

_log = logging.getLogger(__name__)

T = TypeVar("T")


def new_operation_id() -> str:
    """16 hex characters: with ':' and a step index a nonce stays within Discord's 25."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff for transient Discord failures (429 and 5xx)."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)


@dataclass(frozen=True)
class SetupContext:
    discord: DiscordPort
    panels: PanelStore
    journal: JournalStore
    audit: AuditSink
    clock: Clock
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    new_id: Callable[[], str] = new_operation_id

    def call_discord(self, call: Callable[[], T]) -> T:
        """Run a Discord call, retrying transient failures with capped backoff.

        Only safe for idempotent calls: reads, deletes, and sends that carry a nonce.
        """
        attempt = 1
        while True:
            try:
                return call()
            except DiscordUnavailable as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                delay = self.retry.delay(attempt, exc.retry_after)
                _log.info(
                    "Discord unavailable (status %s), retry %d in %.2fs",
                    exc.status,
                    attempt,
                    delay,
                )
                self.clock.sleep(delay)
                attempt += 1

    def write_audit(self, record: AuditRecord) -> None:
        """Record an audit entry; a failure here is logged and never fails the operation."""
        try:
            self.audit.record(record)
        except Exception:
            _log.exception("Could not write the audit record for operation %s", record.operation_id)
