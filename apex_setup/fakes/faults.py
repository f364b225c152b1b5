"""Declarative fault injection shared by the simulator and the store proxies.

A ``FaultPlan`` sees every port call by name (``discord.send_message``, ``journal.apply``...),
numbers each name's occurrences from 1, logs them, and raises what its rules say, before or after
the call's effect. The same plan can watch several ports, so its call log is one global order:
the fault-enumeration tests replay a run and inject at each logged call in turn.

``SimulatedCrash`` derives from BaseException on purpose: code under test must not catch it,
exactly as it cannot catch the process dying.
"""

from __future__ import annotations

import enum
import fnmatch
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallRecord",
    "FaultInjectingProxy",
    "FaultPlan",
    "FaultRule",
    "Phase",
    "SimulatedCrash",
]


class SimulatedCrash(BaseException):
    """The process died here. Nothing in memory survives; only durable stores and Discord do."""


class Phase(enum.Enum):
    BEFORE = "before"  # the call fails and has no effect
    AFTER = "after"  # the effect happened, then the caller sees the failure


ErrorFactory = Callable[[], BaseException]


@dataclass
class FaultRule:
    """Raise ``error()`` at matching calls.

    ``call`` is a name or an fnmatch pattern (``discord.*``). ``occurrence`` picks the n-th call of
    that name (from 1); ``probability`` fires at random from the plan's seed; neither means every
    call. ``times`` caps how often the rule fires. ``latency`` adds simulated seconds to the call
    (given to the plan's ``sleep``), with or without an error.
    """

    call: str
    error: ErrorFactory | None = None
    when: Phase = Phase.BEFORE
    occurrence: int | None = None
    probability: float | None = None
    times: int | None = None
    latency: float = 0.0
    fired: int = 0

    def matches(self, name: str, occurrence: int, rng: random.Random) -> bool:
        if not fnmatch.fnmatchcase(name, self.call):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.occurrence is not None and occurrence != self.occurrence:
            return False
        return not (self.probability is not None and rng.random() >= self.probability)


@dataclass(frozen=True)
class CallRecord:
    seq: int
    name: str
    occurrence: int
    detail: str = ""


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0
    #: Called with the simulated latency of a call; usually a FakeClock's ``advance``.
    sleep: Callable[[float], Any] | None = None
    calls: list[CallRecord] = field(default_factory=list)
    #: Sequence numbers of logged calls that completed (reached ``after``) without raising.
    completed: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._counts: Counter[str] = Counter()
        self._current: dict[str, int] = {}

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def before(self, name: str, detail: str = "") -> None:
        """Log the call and raise if a BEFORE rule matches."""
        self._counts[name] += 1
        occurrence = self._counts[name]
        self._current[name] = len(self.calls) + 1
        self.calls.append(CallRecord(len(self.calls) + 1, name, occurrence, detail))
        self._fire(name, occurrence, Phase.BEFORE)

    def after(self, name: str) -> None:
        """Raise if an AFTER rule matches the call ``before`` just logged."""
        seq = self._current.get(name, 0)
        self.completed.add(seq)
        occurrence = self.calls[seq - 1].occurrence if seq else 0
        self._fire(name, occurrence, Phase.AFTER)

    def count(self, name: str) -> int:
        return self._counts[name]

    def _fire(self, name: str, occurrence: int, phase: Phase) -> None:
        for rule in self.rules:
            if rule.when is not phase or not rule.matches(name, occurrence, self._rng):
                continue
            rule.fired += 1
            if rule.latency and self.sleep is not None:
                self.sleep(rule.latency)
            if rule.error is not None:
                raise rule.error()


class FaultInjectingProxy:
    """Wraps any port object: each public method call goes through ``plan`` as ``prefix.name``."""

    def __init__(self, target: Any, plan: FaultPlan, prefix: str) -> None:
        self._target = target
        self._plan = plan
        self._prefix = prefix

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if attr.startswith("_") or not callable(value):
            return value
        name = f"{self._prefix}.{attr}"
        plan = self._plan

        def call(*args: Any, **kwargs: Any) -> Any:
            plan.before(name)
            result = value(*args, **kwargs)
            plan.after(name)
            return result

        return call
