"""The command line: ``apex-setup demo`` (and ``python -m apex_setup demo``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from apex_setup.core.errors import SetupOperationError

__all__ = ["main"]

_log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apex-setup",
        description="Crash-safe setup of Discord bot panels.",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log to stderr (default: WARNING; ERROR for the demo, which narrates)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="deploy panels in a simulated guild, with faults, and check the result"
    )
    demo.add_argument(
        "--database",
        metavar="URL",
        help="a peewee database URL (default: a fresh SQLite file apex_setup_demo.db here)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or ("ERROR" if args.command == "demo" else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from apex_setup.demo import run_demo

            return run_demo(args.database, out=sys.stdout)
    except SetupOperationError as exc:
        _log.error("%s failed (reference %s)", args.command, exc.reference, exc_info=True)
        print(f"apex-setup {args.command}: {exc.user_text()}", file=sys.stderr)
        return 1
    return 2
