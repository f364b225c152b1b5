"""``apex-setup demo``: the wizard through discord.py, a rollback and Retry, a consistent guild."""

from __future__ import annotations

import io
from pathlib import Path

from apex_setup.demo import run_demo


def test_the_demo_tells_the_whole_story_and_ends_consistent(tmp_path: Path) -> None:
    out = io.StringIO()

    status = run_demo(out=out, workdir=tmp_path)

    text = out.getvalue()
    assert status == 0
    assert "Setup complete: rules, faq." in text
    assert "Rolled back: message" in text
    assert "(reference " in text
    assert "welcome panel messages live in #general now: 0" in text
    assert "Noted:" in text
    assert text.rstrip().endswith("consistent")
    assert "NOT consistent" not in text
    assert (tmp_path / "apex_setup_demo.db").exists()
