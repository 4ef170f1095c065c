"""Parsing and producing wire messages: JSON text in, entries out, and back."""

from __future__ import annotations

import functools
import json
from typing import Any

from marshmallow import Schema, ValidationError

from .cache import bounded_str_cache
from .errors import InvalidMessage
from .protocol.metadata import Meta
from .protocol.model import ServerEntry, entries_to_wire
from .schemas import (
    ControlMessageSchema,
    GossipMessageSchema,
    ProbeAnswerSchema,
    ProbeRequestSchema,
    ServerListSchema,
)

__all__ = [
    "parse_json",
    "load_gossip",
    "load_server_list",
    "load_control",
    "gossip_message",
    "encode_gossip",
    "fit_gossip",
    "encode_server_list",
    "dumps",
]

_gossip_schema = GossipMessageSchema()
_server_list_schema = ServerListSchema()
_control_schema = ControlMessageSchema()
_probe_request_schema = ProbeRequestSchema()
_probe_answer_schema = ProbeAnswerSchema()


def parse_json(body: bytes | str) -> Any:
    """Decode a JSON body; anything undecodable is an :class:`InvalidMessage`."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON and integers too long to convert.
        raise InvalidMessage("Body is not valid JSON.") from None


def _load(schema: Schema, data: Any, what: str) -> Any:
    if not isinstance(data, dict):
        raise InvalidMessage(f"Body must be a JSON object ({what}).")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidMessage(f"Invalid {what}.", details=exc.messages) from None


def load_gossip(data: Any) -> list[ServerEntry]:
    result: list[ServerEntry] = _load(_gossip_schema, data, "gossip message")
    return result


def load_server_list(data: Any) -> list[ServerEntry]:
    result: list[ServerEntry] = _load(_server_list_schema, data, "server list")
    return result


def load_control(data: Any) -> bool:
    """The ``online`` flag of a valid control message."""
    result: dict[str, Any] = _load(_control_schema, data, "control message")
    return bool(result["online"])


def load_probe_request(data: Any) -> str:
    """The normalized base URL a valid probe request asks about."""
    result: dict[str, Any] = _load(_probe_request_schema, data, "probe request")
    return str(result["baseUrl"])


def load_probe_answer(data: Any) -> bool:
    """The ``reachable`` flag of a valid probe answer."""
    result: dict[str, Any] = _load(_probe_answer_schema, data, "probe answer")
    return bool(result["reachable"])


def gossip_message(entries: list[ServerEntry]) -> dict[str, Any]:
    message: dict[str, Any] = {"message": "gossip"}
    message.update(entries_to_wire(entries))
    return message


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# -- fast encoding of views ---------------------------------------------------
# Views are encoded on every exchange; building a dict per entry for
# json.dumps costs more than the JSON itself, so entries are written straight
# to text. The output parses to exactly what dumps(gossip_message(...)) gives
# (tested).


@bounded_str_cache(4 * 1024 * 1024)
def _url_json(url: str) -> str:
    return json.dumps(url)


def _meta_text(meta: Meta) -> str:
    # ASCII (escaped) like every other part of an item, so that an item's
    # length is its size in bytes, which trimming to a peer's
    # SHAZBOT_MAX_CONTENT_LENGTH counts. The size limit of metadata counts
    # its canonical UTF-8 form (meta_size), not this.
    return ',"meta":' + json.dumps(dict(meta), separators=(",", ":"), sort_keys=True)


#: Metadata of at most this many characters is cached encoded: with the
#: cache's 1,024 entries at most a few MiB, whatever peers send.
_CACHED_META_CHARS = 512


@functools.lru_cache(maxsize=1024)
def _small_meta_item(meta: Meta) -> str:
    return _meta_text(meta)


def _meta_item(meta: Meta) -> str:
    if not meta:
        return ""
    if sum(len(key) + len(value) for key, value in meta) <= _CACHED_META_CHARS:
        return _small_meta_item(meta)
    return _meta_text(meta)


def _item(entry: ServerEntry) -> str:
    url, monitor, last_update, _, meta = entry
    return (
        f'{{"baseUrl":{_url_json(url)},"monitor":{"true" if monitor else "false"},'
        f'"lastUpdate":{last_update}{_meta_item(meta)}}}'
    )


#: ``{"message":"gossip","online":[],"offline":[]}``: what a gossip message
#: costs besides its entries.
_GOSSIP_OVERHEAD = len('{"message":"gossip","online":[],"offline":[]}')


def _fit(
    entries: list[ServerEntry], items: list[str], max_entries: int | None, max_bytes: int | None, own_url: str | None
) -> list[int]:
    """Indices (in ``entries``' order) of what fits in one message: this
    server's own entry first, then online servers, then offline ones, newest
    first within each group."""
    # Each item costs its text and a comma; every non-empty list has one comma
    # fewer than items.
    costs = [len(item) + 1 for item in items]
    online = sum(1 for entry in entries if entry.online)
    size = _GOSSIP_OVERHEAD + sum(costs) - (online > 0) - (len(entries) - online > 0)
    if (max_entries is None or len(entries) <= max_entries) and (max_bytes is None or size <= max_bytes):
        return list(range(len(entries)))
    order = sorted(
        range(len(entries)),
        key=lambda i: (entries[i].base_url != own_url, not entries[i].online, -entries[i].last_update),
    )
    room = len(entries) if max_entries is None else max_entries
    budget = (max_bytes if max_bytes is not None else 1 << 62) - _GOSSIP_OVERHEAD + 1  # one comma saved at least
    chosen: list[int] = []
    for index in order:
        if len(chosen) >= room:
            break
        if costs[index] <= budget:
            chosen.append(index)
            budget -= costs[index]
    chosen.sort()
    return chosen


def _encode_lists(
    entries: list[ServerEntry],
    max_entries: int | None = None,
    max_bytes: int | None = None,
    own_url: str | None = None,
) -> str:
    ordered = sorted(entries)  # by base URL
    items = [_item(entry) for entry in ordered]
    online: list[str] = []
    offline: list[str] = []
    for index in _fit(ordered, items, max_entries, max_bytes, own_url):
        (online if ordered[index].online else offline).append(items[index])
    return f'"online":[{",".join(online)}],"offline":[{",".join(offline)}]'


def fit_gossip(
    entries: list[ServerEntry],
    *,
    max_entries: int | None = None,
    max_bytes: int | None = None,
    own_url: str | None = None,
) -> list[ServerEntry]:
    """The entries :func:`encode_gossip` would send with the same limits,
    sorted by base URL."""
    ordered = sorted(entries)
    items = [_item(entry) for entry in ordered]
    return [ordered[i] for i in _fit(ordered, items, max_entries, max_bytes, own_url)]


def encode_gossip(
    entries: list[ServerEntry],
    *,
    max_entries: int | None = None,
    max_bytes: int | None = None,
    own_url: str | None = None,
) -> bytes:
    """``{"message": "gossip", "online": [...], "offline": [...]}`` as JSON bytes.

    With ``max_entries`` (a peer's SHAZBOT_MAX_ENTRIES_PER_MESSAGE) or
    ``max_bytes`` (its SHAZBOT_MAX_CONTENT_LENGTH), a view that does not fit
    is trimmed so that the peer accepts it: ``own_url``'s entry is kept
    first, then online servers, then offline servers, newest first. Merging
    is per entry, so a trimmed message is a smaller true view; what it leaves
    out travels in other exchanges and the master list. A view that fits is
    encoded exactly as without limits.
    """
    return f'{{"message":"gossip",{_encode_lists(entries, max_entries, max_bytes, own_url)}}}'.encode()


def encode_server_list(entries: list[ServerEntry]) -> bytes:
    """``{"online": [...], "offline": [...]}`` as JSON bytes."""
    return f"{{{_encode_lists(entries)}}}".encode()
