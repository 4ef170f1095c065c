"""Parsing and producing wire messages: JSON text in, entries out, and back."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from marshmallow import Schema, ValidationError

from .errors import InvalidMessage
from .model import ServerEntry, entries_to_wire
from .schemas import ControlMessageSchema, GossipMessageSchema, ServerListSchema

__all__ = [
    "parse_json",
    "load_gossip",
    "load_server_list",
    "load_control",
    "gossip_message",
    "encode_gossip",
    "encode_server_list",
    "dumps",
]

_gossip_schema = GossipMessageSchema()
_server_list_schema = ServerListSchema()
_control_schema = ControlMessageSchema()


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


@lru_cache(maxsize=65536)
def _url_json(url: str) -> str:
    return json.dumps(url)


def _encode_lists(entries: list[ServerEntry]) -> str:
    online: list[str] = []
    offline: list[str] = []
    for url, monitor, last_update, is_online in sorted(entries):  # by base URL
        item = f'{{"baseUrl":{_url_json(url)},"monitor":{"true" if monitor else "false"},"lastUpdate":{last_update}}}'
        (online if is_online else offline).append(item)
    return f'"online":[{",".join(online)}],"offline":[{",".join(offline)}]'


def encode_gossip(entries: list[ServerEntry]) -> bytes:
    """``{"message": "gossip", "online": [...], "offline": [...]}`` as JSON bytes."""
    return f'{{"message":"gossip",{_encode_lists(entries)}}}'.encode()


def encode_server_list(entries: list[ServerEntry]) -> bytes:
    """``{"online": [...], "offline": [...]}`` as JSON bytes."""
    return f"{{{_encode_lists(entries)}}}".encode()
