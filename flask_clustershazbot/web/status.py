"""What the status page (``<prefix>/`` and ``<prefix>/status.json``) shows, read from a
running :class:`~flask_clustershazbot.node.ClusterNode`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for the annotation only: no import cycle with the node
    from ..node import ClusterNode

__all__ = ["status_snapshot"]


def status_snapshot(node: ClusterNode) -> dict[str, Any]:
    """Each server in ``node``'s view, how long it has been silent here,
    whether it is suspected (silent for more than half the failure timeout),
    and its metadata (``meta``, an object, empty when it has none: peer-supplied
    text, to be shown escaped)."""
    now_ms, mono = node.wall_ms(), node.monotonic()
    with node.store.transaction() as membership:
        timeout = node.policy.timeout_for(len(membership.entries))
        own = membership.own
        servers = []
        for entry in sorted(membership.view()):
            is_self = entry.base_url == own.base_url
            silent = None if is_self else max(mono - membership.heard_at.get(entry.base_url, mono), 0.0)
            servers.append({
                "baseUrl": entry.base_url,
                "online": entry.online,
                "monitor": entry.monitor,
                "lastUpdate": entry.last_update,
                "ageSeconds": max(now_ms - entry.last_update, 0) / 1000,
                "silentSeconds": silent,
                "suspected": entry.online and silent is not None and silent > timeout / 2,
                "self": is_self,
                "meta": entry.metadata,
            })
    online = sum(1 for s in servers if s["online"])
    return {
        "self": own.to_wire() | {"online": own.online, "meta": own.metadata},
        "servers": servers,
        "online": online,
        "offline": len(servers) - online,
        "failureTimeout": timeout,
    }
