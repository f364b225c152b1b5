"""What the expiry sweep costs as the session table grows.

Two SQLite files (WAL), one with 1,000 sessions and one with 100,000, 1% of each past its
deadline (each of those holding its guild's lease), the rest live. Rows are inserted in bulk.
For each size, side by side in one run:

- the candidate query alone (``expired_sessions`` with a limit of 10), and its query plan;
- a sweep capped at 10 sessions (the same work at both sizes);
- the full sweep, which expires every expired session (10 vs 1,000), per expired session too.

    python benchmarks/sweep.py [--small N] [--large N] [--repeat N]

Target: the 100,000 / 1,000 ratio at most 3 where the work is the same (the capped query and
sweep, and the full sweep per expired session): the cost follows the expired sessions, not the
table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apex_setup.adapters.database import encode_time, open_database
from apex_setup.adapters.peewee_store import PeeweeStore
from apex_setup.core.context import SetupContext
from apex_setup.core.panels import PanelCatalogue
from apex_setup.core.setup_wizard import SetupWizard
from apex_setup.core.wizard import WizardPhase
from apex_setup.fakes.clock import FakeClock
from apex_setup.fakes.discord_sim import DiscordSimulator, RateLimitConfig

IDLE = timedelta(minutes=30)
BATCH = 2_000


def _populate(store: PeeweeStore, count: int, now: datetime) -> int:
    """``count`` sessions, every hundredth expired and holding its guild's lease, in bulk."""
    expired = 0
    data = json.dumps(
        {
            "panel_types": ["rules", "support"],
            "current_index": 0,
            "completed_panels": [],
            "skipped_panels": [],
            "channels": {"rules": 1},
            "operation_id": None,
            "last_error": None,
        }
    )
    sessions: list[tuple[Any, ...]] = []
    leases: list[tuple[Any, ...]] = []
    for n in range(count):
        is_expired = n % 100 == 0
        expired += is_expired
        last = now - (timedelta(minutes=31 + n % 50) if is_expired else timedelta(minutes=n % 29))
        session_id = f"s{n:012d}"
        sessions.append(
            (
                session_id,
                10_000 + n,
                7,
                WizardPhase.CHOOSING_CHANNELS.value,
                1,
                encode_time(last),
                encode_time(last),
                encode_time(last + IDLE),
                None,
                data,
            )
        )
        if is_expired:
            leases.append((10_000 + n, session_id, 7, encode_time(last), encode_time(last), 0))
    db = store.database
    with db.atomic():
        cursor = db.cursor()  # type: ignore[no-untyped-call]
        for start in range(0, len(sessions), BATCH):
            cursor.executemany(
                "INSERT INTO wizard_sessions (id, guild_id, user_id, phase, version, started_at,"
                " last_activity, expires_at, operation_id, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                sessions[start : start + BATCH],
            )
        cursor.executemany(
            "INSERT INTO setup_leases (guild_id, owner, holder_user_id, acquired_at,"
            " heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            leases,
        )
    return expired


def _timed(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _open(directory: Path, name: str, count: int, now: datetime) -> tuple[PeeweeStore, int, float]:
    store = PeeweeStore(open_database(f"sqlite:///{directory / name}"))
    began = time.perf_counter()
    expired = _populate(store, count, now)
    return store, expired, time.perf_counter() - began


def _wizard(store: PeeweeStore, clock: FakeClock) -> SetupWizard:
    sim = DiscordSimulator(clock, rate_limits=RateLimitConfig.disabled())
    guild = sim.standard_guild()
    ctx = SetupContext(
        discord=sim.port(guild.bot_id), panels=store, journal=store, audit=store, clock=clock
    )
    return SetupWizard(ctx, PanelCatalogue.default(), store, store, idle_timeout=IDLE)


def measure(directory: Path, count: int, repeat: int) -> dict[str, Any]:
    """One size: a file for the query and the capped sweep, a fresh one for the full sweep."""
    clock = FakeClock()
    now = clock.now()

    # Step 1: the candidate query and a sweep capped at 10, on the first file.
    store, expired, setup_seconds = _open(directory, f"capped_{count}.db", count, now)
    wizard = _wizard(store, clock)
    plan = store.database.execute_sql(  # type: ignore[no-untyped-call]
        "EXPLAIN QUERY PLAN SELECT * FROM wizard_sessions WHERE expires_at <= ?"
        " ORDER BY expires_at LIMIT 10",
        (encode_time(now),),
    ).fetchall()
    query = _timed(lambda: store.expired_sessions(now, limit=10), repeat)
    capped = _timed(lambda: wizard.sweep_expired(now, limit=10), 1)
    store.close()

    # Step 2: the full sweep, on a second file with the same rows.
    store, _, _ = _open(directory, f"full_{count}.db", count, now)
    wizard = _wizard(store, clock)
    began = time.perf_counter()
    report = wizard.sweep_expired(now, limit=count)
    full = time.perf_counter() - began
    left = len(store.expired_sessions(now, limit=count))
    store.close()
    assert len(report.expired) == expired and left == 0
    return {
        "count": count,
        "expired": expired,
        "setup": setup_seconds,
        "plan": "; ".join(str(row[-1]) for row in plan),
        "query": query,
        "capped": capped,
        "full": full,
        "per_expired": full / expired,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        small = measure(Path(tmp), args.small, args.repeat)
        large = measure(Path(tmp), args.large, args.repeat)

    print(f"{'':34}{small['count']:>14,}{large['count']:>14,}{'ratio':>10}")
    rows = [
        ("expired sessions", "expired", "{:,}"),
        ("bulk insert (s)", "setup", "{:.2f}"),
        ("candidate query, limit 10 (ms)", "query", "ms"),
        ("sweep capped at 10 (ms)", "capped", "ms"),
        ("full sweep (ms)", "full", "ms"),
        ("full sweep per expired (ms)", "per_expired", "ms"),
    ]
    for label, key, fmt in rows:
        a, b = small[key], large[key]
        if fmt == "ms":
            text_a, text_b = f"{a * 1000:.3f}", f"{b * 1000:.3f}"
        else:
            text_a, text_b = fmt.format(a), fmt.format(b)
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{label:34}{text_a:>14}{text_b:>14}{ratio:>10}")
    print(f"query plan: {large['plan']}")
    for key in ("query", "capped", "per_expired"):
        verdict = "ok" if large[key] / small[key] <= 3 else "OVER TARGET"
        print(f"target <= 3 for {key}: {large[key] / small[key]:.2f} {verdict}")


if __name__ == "__main__":
    main()
