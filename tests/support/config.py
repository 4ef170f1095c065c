"""App configuration for in-process tests, independent of the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cluster import CONTROL_SECRET, GOSSIP_SECRET


def config_dict(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A complete SHAZBOT_* configuration: a file:// master list under
    ``tmp_path``, base URL http://127.0.0.1:5999/, no autostart."""
    config: dict[str, Any] = {
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_BASE_URL": "http://127.0.0.1:5999/",
        "SHAZBOT_MASTER_LIST": f"file://{tmp_path}/masterlist.json",
        "SHAZBOT_MASTER_LIST_UPDATE": f"file://{tmp_path}/masterlist.json",
        "SHAZBOT_AUTOSTART": False,
    }
    config.update(overrides)
    return config
