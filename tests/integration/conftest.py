"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_harness import Bot, start_bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    the_bot = start_bot(tmp_path)
    yield the_bot
    the_bot.store.close()
