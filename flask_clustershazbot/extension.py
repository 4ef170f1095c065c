"""The Flask extension: ``Shazbot(app)`` or ``Shazbot().init_app(app)``.

``init_app`` only registers (config, blueprint, CLI, the autostart hook); it
starts no thread and does no network I/O. The gossip loop starts:

* on the first request the app handles, when SHAZBOT_AUTOSTART is true (the
  default) and the app is not in testing mode; any request counts, so a
  load-balancer health check or readiness probe starts it;
* when ``shazbot.start()`` is called;
* under gunicorn, in each worker right after it boots, with the hooks of
  :mod:`flask_clustershazbot.gunicorn`.

It never starts in a ``flask`` CLI command, and at most once per process.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from flask import Flask, current_app

from .blueprint import create_blueprint
from .cli import shazbot_cli
from .config import ShazbotConfig, load_config
from .handlers import Body, RequestHandlers
from .loop import GossipLoop
from .model import ServerEntry, ServerList
from .node import ClusterNode

__all__ = ["Shazbot", "gossip_request", "list_request", "control_request"]


class Shazbot:
    """Cluster membership for one Flask app; the handle is ``app.extensions["shazbot"]``."""

    def __init__(self, app: Flask | None = None) -> None:
        self._config: ShazbotConfig | None = None
        self._node: ClusterNode | None = None
        self._handlers: RequestHandlers | None = None
        self._loop: GossipLoop | None = None
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopped
        self._testing = False
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self._config is not None:
            raise RuntimeError("this Shazbot is already bound to an app; create one per app")
        config = load_config(app.config)
        node = ClusterNode(config)
        self._config, self._node = config, node
        self._loop = GossipLoop(node)
        self._handlers = RequestHandlers(node, config, on_control=self._loop.request_spread)
        self._testing = bool(app.testing)
        app.extensions["shazbot"] = self
        app.register_blueprint(create_blueprint(self._handlers, config.url_prefix))
        app.cli.add_command(shazbot_cli)
        if config.autostart:
            app.before_request(self._autostart)

    # -- parts ---------------------------------------------------------------

    @property
    def config(self) -> ShazbotConfig:
        if self._config is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._config

    @property
    def node(self) -> ClusterNode:
        if self._node is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._node

    @property
    def handlers(self) -> RequestHandlers:
        if self._handlers is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._handlers

    # -- life cycle ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    def _autostart(self) -> None:
        if self._state == "new" and not (self._testing or current_app.testing):
            self.start()

    def start(self) -> None:
        """Join the cluster: go online with a new version and start the gossip
        loop in a background thread. Returns at once; a second call does nothing."""
        with self._lock:
            if self._state != "new":
                return
            self.node.set_online(True)
            assert self._loop is not None
            self._loop.start()
            atexit.register(self.shutdown)
            self._state = "running"

    def shutdown(self) -> None:
        """Leave the cluster: announce offline to a few peers within
        SHAZBOT_SHUTDOWN_TIMEOUT, write the master list if configured, stop
        the loop. Idempotent; also runs at interpreter exit."""
        with self._lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
        assert self._loop is not None
        self._loop.stop()
        self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
        self.node.close()
        atexit.unregister(self.shutdown)

    # -- read API ------------------------------------------------------------

    def servers(self) -> list[ServerEntry]:
        """Every server this one knows, sorted by base URL."""
        return sorted(self.node.entries(), key=lambda e: e.base_url)

    def online(self) -> list[ServerEntry]:
        """The servers currently online (this one included, unless drained)."""
        return [e for e in self.servers() if e.online]

    def offline(self) -> list[ServerEntry]:
        return [e for e in self.servers() if not e.online]

    @property
    def is_online(self) -> bool:
        """Whether this server is online (not drained, not shut down)."""
        return self.node.own_entry().online

    def view(self) -> ServerList:
        """This server's view in wire form: ``{"online": [...], "offline": [...]}``."""
        return self.node.server_list()

    def set_online(self, online: bool) -> None:
        """Drain (``False``) or return (``True``) this server, as the control endpoint does."""
        if self.node.set_online(online) and self._loop is not None:
            self._loop.request_spread()

    # -- seed API ------------------------------------------------------------

    def gossip_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        return self.handlers.gossip_request(authorization, body)

    def list_request(self, authorization: str | None) -> ServerList:
        return self.handlers.list_request(authorization)

    def control_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        return self.handlers.control_request(authorization, body)


def _current() -> Shazbot:
    extension: Shazbot = current_app.extensions["shazbot"]
    return extension


def gossip_request(authorization: str | None, body: Body) -> dict[str, Any]:
    """``gossipRequest`` of the seed library, for the current app."""
    return _current().gossip_request(authorization, body)


def list_request(authorization: str | None) -> ServerList:
    """``listRequest`` of the seed library, for the current app."""
    return _current().list_request(authorization)


def control_request(authorization: str | None, body: Body) -> dict[str, Any]:
    """``controlRequest`` of the seed library, for the current app."""
    return _current().control_request(authorization, body)
