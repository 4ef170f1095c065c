"""Flask-ClusterShazbot: gossip-based cluster membership for Flask servers."""

from __future__ import annotations

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
from .membership import Membership
from .model import ServerEntry
from .urls import normalize_base_url

#: The wire format's name for one server's entry.
GossipServer = ServerEntry

__version__ = "0.1.0"

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
