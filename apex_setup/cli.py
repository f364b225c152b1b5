"""The command line: ``apex-setup run`` and ``apex-setup demo`` (or ``python -m apex_setup``).

``run`` starts a discord.py bot (prefix ``!``, default intents plus message content and members)
with the apex-setup cog. Its failures at startup - no token, a token Discord refuses, a database
that cannot be opened - are one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from apex_setup.core.errors import SetupOperationError, new_reference

__all__ = ["main", "run_bot"]

_log = logging.getLogger(__name__)

#: Where ``run`` reads the bot token from when ``--token-file`` is not given.
TOKEN_ENV = "DISCORD_TOKEN"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="apex-setup",
        description="Crash-safe setup of Discord bot panels.",
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log to stderr (default: WARNING for run, ERROR for the demo, which "
        "narrates); tracebacks of warnings only at DEBUG",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot with the apex-setup cog")
    run.add_argument(
        "--token-file", metavar="PATH", help=f"a file holding the bot token (default: ${TOKEN_ENV})"
    )
    run.add_argument(
        "--database",
        metavar="URL",
        help="a peewee database URL (default: $APEX_SETUP_DATABASE_URL, else the SQLite file "
        "apex_setup.db here)",
    )
    run.add_argument(
        "--discord-url",
        metavar="URL",
        help="for tests: talk to a simulator's wire front at URL (python -m "
        "apex_setup.fakes.sim_wire) instead of Discord",
    )

    demo = commands.add_parser(
        "demo", help="run the setup wizard through discord.py in a simulated guild, with faults"
    )
    demo.add_argument(
        "--database",
        metavar="URL",
        help="a peewee database URL (default: a fresh SQLite file apex_setup_demo.db here)",
    )
    return parser


class _ConsoleFormatter(logging.Formatter):
    """Tracebacks only for errors (and at DEBUG); a warning stays one line."""

    def __init__(self, *, all_tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._all = all_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self._all or record.levelno >= logging.ERROR or not record.exc_info:
            return super().format(record)
        plain = logging.makeLogRecord(record.__dict__)
        plain.exc_info, plain.exc_text = None, None
        return super().format(plain)


def _no_voice_notice(record: logging.LogRecord) -> bool:
    """discord.py warns at every start that voice support is not installed; we need none."""
    return "voice will NOT be supported" not in record.getMessage()


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter(all_tracebacks=level == "DEBUG"))
    handler.addFilter(_no_voice_notice)
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    default_level = "ERROR" if args.command == "demo" else "WARNING"
    _configure_logging(args.log_level or default_level)
    try:
        if args.command == "demo":
            from apex_setup.demo import run_demo

            return run_demo(args.database, out=sys.stdout)
        if args.command == "run":
            token = _read_token(args.token_file)
            if token is None:
                return _fail(f"no bot token: set {TOKEN_ENV} or pass --token-file PATH", status=2)
            return run_bot(token, database_url=args.database, discord_url=args.discord_url)
    except SetupOperationError as exc:
        _log.debug("%s failed (reference %s)", args.command, exc.reference, exc_info=True)
        return _fail(exc.user_text())
    return 2


def _fail(message: str, *, status: int = 1) -> int:
    print(f"apex-setup: {message}", file=sys.stderr)
    return status


def _read_token(path: str | None) -> str | None:
    if path is None:
        return os.environ.get(TOKEN_ENV, "").strip() or None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        _log.debug("could not read the token file %s", path, exc_info=True)
        return None


@contextlib.contextmanager
def _pointed_at(discord_url: str | None) -> Iterator[None]:
    if discord_url is None:
        yield
        return
    from apex_setup.fakes.sim_client import pointed_at

    with pointed_at(discord_url):
        yield


def run_bot(token: str, *, database_url: str | None, discord_url: str | None = None) -> int:
    """Run the bot until it is stopped (SIGINT, SIGTERM); returns the exit status."""
    import discord
    from discord.ext import commands

    from apex_setup.cog import bot_intents
    from apex_setup.composition import SetupConfig

    async def serve() -> None:
        # Against the simulator every guild arrives at once: no need to wait 2 s for more.
        ready_timeout = 0.05 if discord_url is not None else 2.0
        bot = commands.Bot(
            command_prefix="!", intents=bot_intents(), guild_ready_timeout=ready_timeout
        )
        bot.apex_setup_config = SetupConfig(database_url=database_url)  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            await bot.load_extension("apex_setup.cog")
            await bot.start(token)

    try:
        with _pointed_at(discord_url):
            asyncio.run(serve())
    except discord.LoginFailure:
        _log.debug("login failed", exc_info=True)
        return _fail("Discord refused the bot token; check DISCORD_TOKEN or --token-file")
    except discord.PrivilegedIntentsRequired:
        _log.debug("privileged intents refused", exc_info=True)
        return _fail(
            "Discord refused the Server Members and Message Content intents: enable them for "
            "this bot in the Discord developer portal (Bot > Privileged Gateway Intents)"
        )
    except commands.ExtensionFailed as exc:
        original = exc.original
        _log.debug("the cog could not start", exc_info=True)
        if isinstance(original, SetupOperationError):
            return _fail(f"could not start: {original.user_text()}")
        reference = new_reference()
        _log.error("The cog could not start (reference %s)", reference, exc_info=original)
        return _fail(f"could not start the setup cog (reference {reference}; see the log)")
    except discord.HTTPException as exc:
        _log.debug("Discord answered HTTP %s", exc.status, exc_info=True)
        return _fail(f"Discord answered HTTP {exc.status} while the bot was starting; try again")
    except (OSError, discord.GatewayNotFound) as exc:
        _log.debug("could not connect", exc_info=True)
        return _fail(f"could not reach Discord ({type(exc).__name__})")
    return 0
