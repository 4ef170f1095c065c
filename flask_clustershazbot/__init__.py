"""Flask-ClusterShazbot: gossip-based cluster membership for Flask servers.

The public API is what this package's ``__all__`` lists, plus the modules
:mod:`flask_clustershazbot.signals` and :mod:`flask_clustershazbot.gunicorn`.
Everything else (every other module and subpackage, such as ``node``,
``protocol`` or ``web``, and the objects they define even where a public
property returns one, such as ``Shazbot.node``) is internal and may change in
any release. docs/api.rst documents the public API; docs/development.md
describes the internal layout.
"""

from __future__ import annotations

import os

# POSIX only (Linux, macOS): the leader election and the file:// master list
# lock with fcntl.flock. Say so instead of failing on a bare `import fcntl`.
if os.name != "posix":  # pragma: no cover - CI runs on Linux
    raise ImportError(
        "Flask-ClusterShazbot supports POSIX systems only (Linux, macOS): it locks files with fcntl.flock, "
        f"which {os.name!r} systems do not have. On Windows, run it under WSL or in a Linux container."
    )

from . import signals
from .config import ShazbotConfig, load_config
from .errors import (
    ConfigError,
    InvalidMessage,
    MasterListError,
    PayloadTooLarge,
    ShazbotError,
    Unauthorized,
)
from .extension import Shazbot, control_request, gossip_request, list_request
from .protocol.membership import Membership
from .protocol.model import ServerEntry
from .urls import normalize_base_url

#: The wire format's name for one server's entry.
GossipServer = ServerEntry

__version__ = "0.2.0"

__all__ = [
    "Shazbot",
    "ShazbotConfig",
    "load_config",
    "ServerEntry",
    "GossipServer",
    "Membership",
    "normalize_base_url",
    "gossip_request",
    "list_request",
    "control_request",
    "ShazbotError",
    "Unauthorized",
    "InvalidMessage",
    "PayloadTooLarge",
    "ConfigError",
    "MasterListError",
    "signals",
]
