"""The endpoints as plain functions (the seed library's ``gossipRequest``,
``listRequest`` and ``controlRequest``), for the blueprint and for users who
route requests themselves. They raise :class:`Unauthorized`,
:class:`InvalidMessage` or :class:`PayloadTooLarge`; a refused request changes
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..auth import is_authorized
from ..config import ShazbotConfig
from ..errors import Forbidden, InvalidMessage, NotAWitness, PayloadTooLarge, Unauthorized
from ..node import ClusterNode
from ..protocol.model import ServerEntry, ServerList, entries_to_wire
from ..protocol.ownership import check_filters, check_key, owner_in_view
from ..wire import (
    encode_gossip,
    encode_server_list,
    fit_gossip,
    gossip_message,
    load_control,
    load_gossip,
    load_probe_request,
    parse_json,
)

__all__ = ["RequestHandlers", "Body", "Source", "SenderUrl", "Filters"]

log = logging.getLogger("flask_clustershazbot")

#: A request body: raw bytes or text, or JSON already decoded.
Body = bytes | str | Mapping[str, Any]

#: Who sent a request, for logs: text, or a function that tells, called only
#: once the request is authenticated (nothing is worked out for a stranger).
Source = str | Callable[[], str]

#: The sender's base URL, as it names itself (None if it does not), worked
#: out only once the request is authenticated.
SenderUrl = Callable[[], str | None] | None

#: Metadata filters of an owner request (name to value), or a function that
#: tells them, called only once the request is authenticated.
Filters = Mapping[str, str] | Callable[[], Mapping[str, str]]


class RequestHandlers:
    def __init__(self, node: ClusterNode, config: ShazbotConfig, on_control: Callable[[], None] | None = None) -> None:
        self.node = node
        self.config = config
        self._list_secrets = config.secrets + config.control_secrets
        self._on_control = on_control

    def _decode(self, body: Body) -> Any:
        if isinstance(body, Mapping):
            return dict(body)
        if len(body) > self.config.max_content_length:
            raise PayloadTooLarge(f"Body is larger than {self.config.max_content_length} bytes.")
        return parse_json(body)

    def _merge_gossip(
        self, authorization: str | None, body: Body, sender: Source, sender_url: SenderUrl
    ) -> list[ServerEntry]:
        if not is_authorized(authorization, self.config.secrets):
            raise Unauthorized("Missing or wrong gossip secret.")
        source = sender() if callable(sender) else sender
        data = self._decode(body)
        self._check_entry_count(data, source)
        entries = load_gossip(data)
        return self.node.receive_gossip(entries, source, sender_url() if sender_url is not None else None)

    def _check_entry_count(self, data: Any, source: str) -> None:
        """Refuse a message listing more servers than we accept, before
        validating any of them."""
        if not isinstance(data, Mapping):
            return
        count = sum(len(v) for v in (data.get("online"), data.get("offline")) if isinstance(v, list))
        if count > self.config.max_entries_per_message:
            log.warning(
                "refused a gossip message from %s listing %d servers (SHAZBOT_MAX_ENTRIES_PER_MESSAGE=%d)",
                source,
                count,
                self.config.max_entries_per_message,
            )
            raise PayloadTooLarge(
                f"Message lists {count} servers; at most {self.config.max_entries_per_message} are accepted."
            )

    def check_list_secret(self, authorization: str | None) -> None:
        """The gossip or the control secret (for reading: list, metrics)."""
        if not is_authorized(authorization, self._list_secrets):
            raise Unauthorized("Missing or wrong secret.")

    def _view(self, authorization: str | None) -> list[ServerEntry]:
        self.check_list_secret(authorization)
        return self.node.entries()

    def gossip_request(
        self, authorization: str | None, body: Body, source: Source = "a peer", sender_url: SenderUrl = None
    ) -> dict[str, Any]:
        """Merge a peer's gossip; answer with this server's view after the
        merge, trimmed to SHAZBOT_MAX_ENTRIES_PER_MESSAGE entries and
        SHAZBOT_MAX_CONTENT_LENGTH bytes. ``sender_url`` tells the sender's
        base URL, if it named one (called only once authenticated)."""
        # Answers are trimmed to the same caps as requests (wire.encode_gossip).
        merged = self._merge_gossip(authorization, body, source, sender_url)
        return gossip_message(fit_gossip(merged, **self.config.message_limits))

    def gossip_response(
        self, authorization: str | None, body: Body, source: Source = "a peer", sender_url: SenderUrl = None
    ) -> bytes:
        """:meth:`gossip_request` with the answer encoded as JSON bytes."""
        merged = self._merge_gossip(authorization, body, source, sender_url)
        return encode_gossip(merged, **self.config.message_limits)

    def list_request(self, authorization: str | None) -> ServerList:
        """This server's view; the gossip or the control secret is accepted."""
        return entries_to_wire(self._view(authorization))

    def list_response(self, authorization: str | None) -> bytes:
        """:meth:`list_request` encoded as JSON bytes."""
        return encode_server_list(self._view(authorization))

    def owner_request(self, authorization: str | None, key: str, filters: Filters | None = None) -> dict[str, Any]:
        """Which online server owns ``key`` (docs/protocol.md section 8.6),
        among those whose metadata has every ``filters`` value; the gossip or
        the control secret is accepted. Answers ``{"key": key, "owner": base
        URL or None}``. ``filters`` may be a function that tells them, called
        only once the request is authenticated. :class:`InvalidMessage` for
        an empty key, one over 1,024 UTF-8 bytes or holding a non-printable
        character, or a filter name that is not a metadata key."""
        entries = self._view(authorization)
        try:
            check_key(key)
            wanted = check_filters((filters() if callable(filters) else filters) or {})
        except ValueError as exc:
            raise InvalidMessage(str(exc)) from None
        return {"key": key, "owner": owner_in_view(key, entries, wanted)}

    def probe_request(self, authorization: str | None, body: Body, source: Source = "a peer") -> dict[str, Any]:
        """Act as a witness (docs/protocol.md section 8.4): try the peer named
        in the body with real exchanges, within SHAZBOT_REQUEST_TIMEOUT, and
        say whether it answered. Raises :class:`Forbidden` for a URL outside
        SHAZBOT_ALLOWED_PEERS or not in this server's view, and
        :class:`NotAWitness` (503) when this server cannot judge now."""
        if not is_authorized(authorization, self.config.secrets):
            raise Unauthorized("Missing or wrong gossip secret.")
        suspect = load_probe_request(self._decode(body))
        if not self.node.allowlist.allows(suspect):
            raise Forbidden("baseUrl is outside SHAZBOT_ALLOWED_PEERS.")
        if suspect == self.config.base_url:
            return {"reachable": True}  # answering proves it
        if not self.node.knows(suspect):
            # A witness checks cluster members only, never an arbitrary host.
            raise Forbidden("baseUrl is not a server this one knows.")
        reachable = self.node.detector.witness(suspect)
        if reachable is None:
            raise NotAWitness("this server is unhealthy or busy")
        source_text = source() if callable(source) else source
        log.debug("probed %s for %s: %s", suspect, source_text, "reachable" if reachable else "unreachable")
        return {"reachable": reachable}

    def control_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        """Drain (``online: false``) or return (``online: true``) this server."""
        if not is_authorized(authorization, self.config.control_secrets):
            raise Unauthorized("Missing or wrong control secret.")
        online = load_control(self._decode(body))
        if self.node.set_online(online) and self._on_control is not None:
            self._on_control()
        return {"success": True}

