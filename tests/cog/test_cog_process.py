"""``apex-setup run`` as a real process against a simulator process, killed mid-deploy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apex_setup.composition import open_store


class SimProcess:
    """``python -m apex_setup.fakes.sim_wire --control`` and its test-only control API."""

    def __init__(self, process: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.process = process
        self.url: str = info["url"]
        self.token: str = info["token"]
        self.guild: dict[str, int] = {k: int(v) for k, v in info["guild"].items()}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + "/_sim" + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def post_as(self, user: str, channel: str, content: str) -> None:
        body = {
            "user_id": self.guild[user],
            "channel_id": self.guild[channel],
            "content": content,
        }
        self._call("POST", "/post_as", body)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", f"/messages?channel_id={self.guild[channel]}"
        )
        return result

    def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        bot = str(self.guild["bot_id"])
        return [m for m in self.messages(channel) if m["author_id"] == bot]

    def set_send_delay(self, seconds: float) -> None:
        self._call("POST", "/send_delay", {"seconds": seconds})


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def sim_process() -> Iterator[SimProcess]:
    process = subprocess.Popen(
        [sys.executable, "-m", "apex_setup.fakes.sim_wire", "--no-rate-limits", "--control"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield SimProcess(process, json.loads(process.stdout.readline()))
    finally:
        process.terminate()
        process.wait(5)


def start_bot(sim: SimProcess, db: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DISCORD_TOKEN": sim.token}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apex_setup",
            "run",
            "--discord-url",
            sim.url,
            "--database",
            f"sqlite:///{db}",
        ],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(sim: SimProcess) -> None:
    """Ask for the status until the bot answers it (it says 'starting up' before recovery)."""

    def statuses() -> int:
        return sum("**Setup status**" in m["content"] for m in sim.bot_messages("general_id"))

    before = statuses()

    def answered() -> bool:
        sim.post_as("admin_id", "general_id", "!setup-status")
        time.sleep(0.2)
        return statuses() > before

    wait_for(answered, timeout=15.0)


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    return stderr


def test_a_bot_killed_mid_deploy_and_restarted_leaves_no_orphan(
    sim_process: SimProcess, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    bot = start_bot(sim_process, db, tmp_path)
    try:
        wait_until_serving(sim_process)
        sim_process.set_send_delay(5.0)

        sim_process.post_as("admin_id", "general_id", "!setup rules=#rules")
        wait_for(lambda: len(sim_process.bot_messages("rules_id")) == 1)
        bot.send_signal(signal.SIGKILL)
        bot.wait(5)
    finally:
        stop(bot)
    sim_process.set_send_delay(0.0)
    store = open_store(f"sqlite:///{db}")
    try:
        assert len(store.open_operations()) == 1  # the kill landed mid-deploy
    finally:
        store.close()

    restarted = start_bot(sim_process, db, tmp_path)
    try:
        wait_until_serving(sim_process)
    finally:
        stderr = stop(restarted)

    assert sim_process.bot_messages("rules_id") == []
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.open_operations() == []
        assert store.list_panels() == []
    finally:
        store.close()
    assert "Traceback" not in stderr


def test_run_with_a_token_the_simulator_refuses_is_one_line_and_a_non_zero_exit(
    sim_process: SimProcess, tmp_path: Path
) -> None:
    env = {**os.environ, "DISCORD_TOKEN": "not-the-token"}
    done = subprocess.run(
        [sys.executable, "-m", "apex_setup", "run", "--discord-url", sim_process.url],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "apex-setup: Discord refused the bot token; check DISCORD_TOKEN or --token-file"
    ]


def test_run_without_a_token_says_how_to_give_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "apex_setup", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "apex-setup: no bot token: set DISCORD_TOKEN or pass --token-file PATH"
    ]


def test_run_with_a_database_that_cannot_be_opened_ends_with_one_clear_line(
    sim_process: SimProcess, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {**os.environ, "DISCORD_TOKEN": sim_process.token}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "apex_setup",
            "run",
            "--discord-url",
            sim_process.url,
            "--database",
            f"sqlite:///{blocker}/bot.db",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("apex-setup: could not start: ")
    assert "(reference " in last
