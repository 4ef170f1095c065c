"""Marshmallow schemas of the wire format (docs/protocol.md section 1).

Loading validates and normalises; it yields :class:`ServerEntry` objects. Extra
keys are ignored for forward compatibility. Types are strict: ``"true"`` is not
a boolean and ``1.5`` or ``true`` is not a time.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from .protocol.metadata import meta_from_wire
from .protocol.model import ServerEntry
from .urls import InvalidBaseUrl, normalize_base_url

__all__ = [
    "GossipServerSchema",
    "ServerEntries",
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
    #: Optional metadata (docs/protocol.md section 8.5). Never a reason to
    #: refuse the message: malformed metadata makes merge refuse that entry
    #: alone (see :func:`~flask_clustershazbot.protocol.metadata.meta_from_wire`).
    meta = fields.Raw(load_default=None, allow_none=True)


#: Invalid items reported in one error, at most (an error body stays small).
MAX_REPORTED_ITEMS = 20
_server_schema = GossipServerSchema()


class ServerEntries(fields.Field[list[ServerEntry]]):
    """A list of GossipServer objects, loaded as :class:`ServerEntry` values.

    The rules are exactly those of :class:`GossipServerSchema`, applied in one
    tight loop because every exchange carries the whole cluster (a schema
    load per item costs ten times raw JSON). An item the loop does not accept
    is loaded with :class:`GossipServerSchema` itself, so errors read the same
    and anything the schema accepts is accepted; the equivalence is
    property-tested.
    """

    default_error_messages = {"invalid": "Not a list of servers."}

    def __init__(self, *, online: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.online = online

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[ServerEntry]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        online = self.online
        entries: list[ServerEntry] = []
        errors: dict[int, Any] = {}
        for index, item in enumerate(value):
            if type(item) is dict:
                url, monitor, last = item.get("baseUrl"), item.get("monitor"), item.get("lastUpdate")
                # type() not isinstance(): bool is an int, and a str subclass
                # takes the schema's path.
                if type(url) is str and type(monitor) is bool and type(last) is int and 0 <= last <= MAX_SAFE_INTEGER:
                    try:
                        meta = meta_from_wire(item.get("meta"))
                        entries.append(ServerEntry(normalize_base_url(url), monitor, last, online, meta))
                        continue
                    except InvalidBaseUrl:
                        pass
            try:
                loaded = _server_schema.load(item)
            except ValidationError as exc:
                errors[index] = exc.messages
                if len(errors) >= MAX_REPORTED_ITEMS:
                    break
                continue
            entries.append(
                ServerEntry(
                    loaded["baseUrl"], loaded["monitor"], loaded["lastUpdate"], online, meta_from_wire(loaded["meta"])
                )
            )
        if errors:
            raise ValidationError(errors)
        return entries


class ServerListSchema(Schema):
    """``{"online": [...], "offline"?: [...]}``, loaded as a list of entries."""

    class Meta:
        unknown = EXCLUDE

    online = ServerEntries(online=True, required=True)
    offline = ServerEntries(online=False, load_default=list)

    @post_load
    def to_entries(self, data: dict[str, Any], **kwargs: Any) -> list[ServerEntry]:
        result: list[ServerEntry] = data["online"] + data["offline"]
        return result


class GossipMessageSchema(ServerListSchema):
    message = fields.String(required=True, validate=validate.Equal("gossip"))


class ControlMessageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    message = fields.String(required=True, validate=validate.Equal("control"))
    online = StrictBoolean(required=True)


class ProbeRequestSchema(Schema):
    """``POST {prefix}/probe``: check this peer for me (docs/protocol.md section 8.4)."""

    class Meta:
        unknown = EXCLUDE

    baseUrl = BaseUrl(required=True)  # the wire name


class ProbeAnswerSchema(Schema):
    """The witness's answer to a probe."""

    class Meta:
        unknown = EXCLUDE

    reachable = StrictBoolean(required=True)
