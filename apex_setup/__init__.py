"""apex-setup: all-or-nothing, crash-safe setup of Discord bot panels.

The public API is the core's (``apex_setup.core``), re-exported here. Adapters live in
``apex_setup.adapters``, the simulated Discord in ``apex_setup.fakes``, the discord.py cog in
``apex_setup.cog``.
"""

import logging

from apex_setup.core import *  # noqa: F403
from apex_setup.core import __all__ as _core_all

__all__ = list(_core_all)
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
