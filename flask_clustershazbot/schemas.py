"""Marshmallow schemas of the wire format (PROTOCOL.md section 1).

Loading validates and normalises; it yields :class:`ServerEntry` objects. Extra
keys are ignored for forward compatibility. Types are strict: ``"true"`` is not
a boolean and ``1.5`` or ``true`` is not a time.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from .model import ServerEntry
from .urls import InvalidBaseUrl, normalize_base_url

__all__ = [
    "GossipServerSchema",
    "ServerListSchema",
    "GossipMessageSchema",
    "ControlMessageSchema",
    "MAX_SAFE_INTEGER",
]

#: Largest integer a JavaScript number holds exactly: the TypeScript peers'
#: limit, so nothing larger can be a valid time on the wire.
MAX_SAFE_INTEGER = 2**53 - 1


class StrictBoolean(fields.Field[bool]):
    default_error_messages = {"invalid": "Not a boolean: use true or false."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Milliseconds(fields.Field[int]):
    default_error_messages = {
        "invalid": "Not an integer number of milliseconds.",
        "range": f"Must be between 0 and {MAX_SAFE_INTEGER}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not 0 <= value <= MAX_SAFE_INTEGER:
            raise self.make_error("range")
        return value


class BaseUrl(fields.Field[str]):
    default_error_messages = {"invalid": "Not a string."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return normalize_base_url(value)
        except InvalidBaseUrl as exc:
            # The reason only: never echo what a client sent.
            raise ValidationError(f"Not a valid base URL: {exc}.") from None


class GossipServerSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    baseUrl = BaseUrl(required=True)
    monitor = StrictBoolean(required=True)
    lastUpdate = Milliseconds(required=True)


def _entries(items: list[dict[str, Any]], online: bool) -> list[ServerEntry]:
    return [ServerEntry(i["baseUrl"], i["monitor"], i["lastUpdate"], online) for i in items]


class ServerListSchema(Schema):
    """``{"online": [...], "offline"?: [...]}``, loaded as a list of entries."""

    class Meta:
        unknown = EXCLUDE

    online = fields.Nested(GossipServerSchema, many=True, required=True)
    offline = fields.Nested(GossipServerSchema, many=True, load_default=list)

    @post_load
    def to_entries(self, data: dict[str, Any], **kwargs: Any) -> list[ServerEntry]:
        return _entries(data["online"], True) + _entries(data["offline"], False)


class GossipMessageSchema(ServerListSchema):
    message = fields.String(required=True, validate=validate.Equal("gossip"))


class ControlMessageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    message = fields.String(required=True, validate=validate.Equal("control"))
    online = StrictBoolean(required=True)
