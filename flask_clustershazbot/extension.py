"""The Flask extension: ``Shazbot(app)``, or ``shazbot = Shazbot()`` and
``shazbot.init_app(app)`` in an app factory.

One ``Shazbot`` object may serve any number of apps, as Flask extensions do:
each app gets its own member of the cluster
(:class:`~flask_clustershazbot.member.Member`, its configuration, view, loop
and life cycle), kept in the app's ``extensions``. Inside an app context every
method and property acts for that app's member. Outside one, an object that
serves a single app acts for it (so ``Shazbot(app).start()`` works anywhere);
one that serves several needs a context.

``init_app`` only registers (the blueprint, the CLI, the autostart hook); it
starts no thread and does no network I/O. See
:mod:`flask_clustershazbot.member` for when the gossip loop starts.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from flask import Flask, current_app, has_app_context

from .cli import shazbot_cli
from .config import ShazbotConfig, load_config
from .jobs import ClusterJobs
from .member import Member
from .node import ClusterNode
from .protocol.metadata import matches, parse_metadata
from .protocol.model import ServerEntry, ServerList
from .protocol.ownership import check_filters, owner_in_view
from .state.base import StateStore
from .web.blueprint import create_blueprint
from .web.handlers import Body, RequestHandlers

__all__ = ["Shazbot", "gossip_request", "list_request", "control_request"]

F = TypeVar("F", bound=Callable[[], object])

#: Where ``init_app`` keeps an app's member; ``app.extensions["shazbot"]`` is
#: the extension object itself.
MEMBER_KEY = "shazbot.member"


class Shazbot:
    """Cluster membership for Flask apps; the handle is ``app.extensions["shazbot"]``."""

    _instances: ClassVar[weakref.WeakSet[Shazbot]] = weakref.WeakSet()

    def __init__(self, app: Flask | None = None) -> None:
        # The apps this object serves, without keeping them alive.
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        self._cluster_jobs = ClusterJobs()  # shared by every app's member
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register this extension on ``app``: read and check its configuration,
        then add the blueprint (at SHAZBOT_URL_PREFIX), the ``flask shazbot``
        commands and, with SHAZBOT_AUTOSTART, the hook that starts the member
        on the first request. Nothing is registered if anything is wrong: a
        bad configuration raises :class:`~flask_clustershazbot.errors.ConfigError`
        naming every bad key, and a second ``init_app`` on the same app raises
        ``RuntimeError``.

        Keys read from ``app.config``, else the environment (README
        "Configuration" and docs/protocol.md section 3 give their meaning and
        defaults): SHAZBOT_SECRET, SHAZBOT_CONTROL_SECRET, SHAZBOT_BASE_URL,
        SHAZBOT_MASTER_LIST, SHAZBOT_MASTER_LIST_UPDATE,
        SHAZBOT_MASTER_LIST_UPDATE_AUTH, SHAZBOT_GOSSIP_INTERVAL,
        SHAZBOT_MASTER_ANNOUNCE_MINIMUM, SHAZBOT_MASTER_ANNOUNCE_INTERVAL,
        SHAZBOT_MONITOR, SHAZBOT_MONITOR_PREFERENCE,
        SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN, SHAZBOT_FAILURE_TIMEOUT,
        SHAZBOT_OFFLINE_RETENTION, SHAZBOT_MAX_CLOCK_SKEW,
        SHAZBOT_MAX_CONTENT_LENGTH, SHAZBOT_AUTOSTART, SHAZBOT_URL_PREFIX,
        SHAZBOT_REQUEST_TIMEOUT, SHAZBOT_SHUTDOWN_TIMEOUT, SHAZBOT_STATE_PATH,
        SHAZBOT_ALLOWED_PEERS, SHAZBOT_MAX_ENTRIES_PER_MESSAGE,
        SHAZBOT_MAX_VIEW_SIZE, SHAZBOT_INDIRECT_PROBES, SHAZBOT_METADATA,
        SHAZBOT_MAX_METADATA_BYTES, SHAZBOT_LAME_DUCK, SHAZBOT_TLS_CA,
        SHAZBOT_TLS_CERT, SHAZBOT_TLS_KEY, SHAZBOT_DNS_SCHEME. Any other
        ``SHAZBOT_*`` key gets a warning.
        """
        if "shazbot" in app.extensions:
            raise RuntimeError("Shazbot is already registered on this app; call init_app once per app")
        member = Member(app, load_config(app.config), self._cluster_jobs)  # validates everything first
        blueprint = create_blueprint(member.handlers, member.config.url_prefix)
        app.register_blueprint(blueprint)
        app.cli.add_command(shazbot_cli)
        if member.config.autostart:
            app.before_request(member.autostart)
        app.extensions[MEMBER_KEY] = member
        app.extensions["shazbot"] = self
        self._apps.add(app)
        Shazbot._instances.add(self)

    @classmethod
    def instances(cls) -> list[Shazbot]:
        """Every initialised extension object in this process."""
        return list(cls._instances)

    def _member(self) -> Member:
        """The member this call acts for: the current app's, else the one app's."""
        if has_app_context() and current_app.extensions.get("shazbot") is self:
            member: Member = current_app.extensions[MEMBER_KEY]
            return member
        apps = list(self._apps)
        if len(apps) == 1:
            only: Member = apps[0].extensions[MEMBER_KEY]
            return only
        if not apps:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        raise RuntimeError(
            "this Shazbot serves several apps: call it inside an app context (with app.app_context(): ...)"
        )

    # -- parts ---------------------------------------------------------------

    @property
    def member(self) -> Member:
        """The member of the current app. Internal: for tests and tools; its
        type and contents may change in any release."""
        return self._member()

    @property
    def config(self) -> ShazbotConfig:
        """The current app's configuration, as read by ``init_app``."""
        return self._member().config

    @property
    def node(self) -> ClusterNode:
        """The current app's protocol node. Internal: for tests and tools; its
        type and contents may change in any release."""
        return self._member().node

    @property
    def handlers(self) -> RequestHandlers:
        """The current app's endpoint functions. Internal: for tests and
        tools; its type and contents may change in any release."""
        return self._member().handlers

    @property
    def shared_store(self) -> StateStore | None:
        """The store shared by this server's processes, if it has several.
        Internal: for tests and tools; its type and contents may change in
        any release."""
        return self._member().shared_store

    # -- life cycle ----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether this member has started and not shut down."""
        return self._member().running

    @property
    def is_leader(self) -> bool:
        """Whether this process runs the server's gossip loop."""
        return self._member().is_leader

    def start(self) -> None:
        """Join the cluster: go online with a new version and start the gossip
        loop in a background thread (in one process per server). Returns at
        once; a second call does nothing."""
        self._member().start()

    def shutdown(self) -> None:
        """Leave the cluster: announce offline to a few peers within
        SHAZBOT_SHUTDOWN_TIMEOUT, write the master list if configured, stop
        the loop. Idempotent; also runs at interpreter exit. In a gunicorn
        worker it only stops this process's part.

        With SHAZBOT_LAME_DUCK above 0 it first goes offline (``/health``
        503, peers told) and blocks that many seconds while the app keeps
        serving, so load balancers take the server out before it stops; a
        second call ends the wait at once. Not at interpreter exit, when
        nothing serves any more."""
        self._member().shutdown()

    def leave_server(self) -> None:
        """Say goodbye for the whole server from the gunicorn master."""
        self._member().leave_server()

    def hand_back_run(self, pid: int) -> None:
        """In the new master of an aborted gunicorn ``USR2`` upgrade: hand the
        run back to the old master ``pid``."""
        self._member().hand_back_run(pid)

    # -- read API ------------------------------------------------------------

    def servers(self) -> list[ServerEntry]:
        """Every server this one knows, sorted by base URL."""
        return sorted(self.node.entries(), key=lambda e: e.base_url)

    def online(self, **filters: str) -> list[ServerEntry]:
        """The servers currently online (this one included, unless drained).

        With ``filters`` (``role="worker", zone="a"``), only those whose
        metadata has every one of these values."""
        return [e for e in self.servers() if e.online and matches(e.meta, filters)]

    def owner(self, key: str, /, **filters: str) -> str | None:
        """The base URL of the online server that owns ``key`` (this one
        included), or ``None`` when no server is online; with ``filters``,
        among those whose metadata has every one of these values.

        Rendezvous hashing over this server's view (docs/protocol.md section
        8.6): every server whose view agrees names the same owner, and when
        a server joins or leaves only the keys it gains or loses move. A
        drained server owns nothing. Views agree once a change has spread, not
        before: this is not a lock. A filter name that is not a metadata key,
        or a value that is not a string, is a ``ValueError``."""
        return owner_in_view(key, self.node.entries(), check_filters(filters))

    def owns(self, key: str, /, **filters: str) -> bool:
        """Whether this server owns ``key`` (:meth:`owner`, same ``filters``)."""
        return self.owner(key, **filters) == self.config.base_url

    def offline(self) -> list[ServerEntry]:
        """The servers currently offline (drained, gone, or declared failed)."""
        return [e for e in self.servers() if not e.online]

    @property
    def is_online(self) -> bool:
        """Whether this server is online (not drained, not shut down)."""
        return self.node.own_entry().online

    def view(self) -> ServerList:
        """This server's view in wire form: ``{"online": [...], "offline": [...]}``."""
        return self.node.server_list()

    @property
    def metadata(self) -> dict[str, str]:
        """This server's metadata as published now (SHAZBOT_METADATA, or the
        last :meth:`set_metadata`), as a new dict."""
        return self.node.own_entry().metadata

    def set_metadata(self, mapping: Mapping[str, str]) -> None:
        """Publish new metadata for this server (replacing all of it): a new
        version of its entry, spread at once as a drain is. Keys match
        ``[a-z0-9_.-]{1,64}``, values are printable strings, and the encoded
        object is at most SHAZBOT_MAX_METADATA_BYTES; otherwise ``ValueError``
        says why and nothing changes. Under gunicorn any worker may call it."""
        meta = parse_metadata(mapping, self.config.max_metadata_bytes)
        if self.node.set_metadata(meta):
            self._member().spread()

    def set_online(self, online: bool) -> None:
        """Drain (``False``) or return (``True``) this server, as the control endpoint does."""
        if self.node.set_online(online):
            self._member().spread()

    # -- cluster jobs --------------------------------------------------------

    def cluster_job(
        self, job_id: str, trigger: str, *, filters: Mapping[str, str] | None = None, **trigger_args: Any
    ) -> Callable[[F], F]:
        """Decorator: run the function once per cluster at each fire time of
        an APScheduler trigger (``"interval"``, ``"cron"`` or ``"date"``, with
        that trigger's arguments; UTC unless ``timezone`` is given).

        Every server schedules it in its gossip loop (under gunicorn, in the
        leading worker only), and at each fire time runs it, inside the app's
        context, only if it owns ``job_id`` then (:meth:`owns`, among the
        servers matching ``filters``). Once views agree that is exactly one
        server; while a change spreads a fire may run twice or not at all: it
        is not a lock (docs/cluster-jobs.md). Exceptions are logged with the
        job id. Works before or after ``init_app``; a ``job_id`` already
        registered on this object, or a bad trigger, raises ``ValueError``.
        """

        def register(func: F) -> F:
            self._cluster_jobs.add(job_id, func, trigger, filters, trigger_args)
            return func

        return register

    # -- seed API ------------------------------------------------------------

    def gossip_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        """``gossipRequest`` of the seed library: merge a peer's gossip, answer our view."""
        return self.handlers.gossip_request(authorization, body)

    def list_request(self, authorization: str | None) -> ServerList:
        """``listRequest`` of the seed library: this server's view."""
        return self.handlers.list_request(authorization)

    def control_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        """``controlRequest`` of the seed library: drain or return this server."""
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
