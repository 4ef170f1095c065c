"""Parsing and producing wire messages: JSON text in, entries out, and back."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError

from .errors import InvalidMessage
from .model import ServerEntry, ServerList, entries_to_wire
from .schemas import ControlMessageSchema, GossipMessageSchema, ServerListSchema

__all__ = [
    "parse_json",
    "load_gossip",
    "load_server_list",
    "load_control",
    "gossip_message",
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


def gossip_message(entries: list[ServerEntry]) -> ServerList | dict[str, Any]:
    message: dict[str, Any] = {"message": "gossip"}
    message.update(entries_to_wire(entries))
    return message


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
