"""The OpenAPI 3 document of the endpoints that speak JSON, generated from the
marshmallow schemas with apispec.

The package ships the generated ``openapi.json`` (so apispec is only needed
to regenerate it) and serves it at ``GET <prefix>/openapi.json``::

    python -m flask_clustershazbot.web.openapi > flask_clustershazbot/web/openapi.json

``tests/test_openapi.py`` fails when the shipped file and the schemas drift.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from marshmallow import Schema, fields

from ..config import ShazbotConfig
from ..protocol.metadata import KEY_PATTERN
from ..schemas import (
    MAX_SAFE_INTEGER,
    BaseUrl,
    ControlMessageSchema,
    GossipMessageSchema,
    GossipServerSchema,
    Milliseconds,
    ProbeAnswerSchema,
    ProbeRequestSchema,
    ServerEntries,
    ServerListSchema,
    StrictBoolean,
)

__all__ = ["build_openapi", "shipped_openapi"]

DEFAULT_PREFIX: str = ShazbotConfig.url_prefix  # SHAZBOT_URL_PREFIX's default, defined once


#: The valid form of an entry's metadata (docs/protocol.md section 8.5).
#: JSON Schema's propertyNames, which OpenAPI 3.0 lacks, is an extension.
VALID_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-propertyNames": {"pattern": f"^{KEY_PATTERN.pattern}$"},
    "additionalProperties": {"type": "string"},
}

#: An entry's optional metadata as the endpoints accept it: any value. A
#: malformed or oversized one refuses that entry alone, and the message is
#: still accepted (so that a peer whose rules differ, a later version or a
#: larger SHAZBOT_MAX_METADATA_BYTES, cannot make whole messages fail); so
#: the request schema may not reject it. Answers only ever carry the valid
#: form, given as ``x-valid-form``.
META_SCHEMA: dict[str, Any] = {
    "description": (
        "The server's metadata: an object of keys [a-z0-9_.-]{1,64} to printable string values, at most "
        "SHAZBOT_MAX_METADATA_BYTES (default 1024) as JSON with sorted keys and no spaces; omitted when empty. "
        "An entry whose metadata is anything else is refused on its own and the rest of the message is merged "
        "(docs/protocol.md section 8.5)."
    ),
    "x-valid-form": VALID_META_SCHEMA,
}


class ErrorSchema(Schema):
    error = fields.String(required=True)
    details = fields.Dict()


class ControlAnswerSchema(Schema):
    success = fields.Boolean(required=True)


class OwnerAnswerSchema(Schema):
    key = fields.String(required=True, metadata={"description": "The key asked about, as decoded."})
    owner = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The base URL of the online server that owns the key, or null when no online "
            "server (matching the filters) exists (docs/protocol.md section 8.6).",
        },
    )


def build_openapi() -> dict[str, Any]:
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Clustershazbot",
        version="1",
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "Gossip membership endpoints of a Flask-ClusterShazbot server."},
    )
    plugin.map_to_openapi_type(BaseUrl, "string", "uri")
    plugin.map_to_openapi_type(StrictBoolean, "boolean", None)
    plugin.map_to_openapi_type(Milliseconds, "integer", "int64")
    plugin.map_to_openapi_type(ServerEntries, "array", None)

    def extra(converter: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
        if isinstance(field, ServerEntries):
            return {"items": {"$ref": "#/components/schemas/GossipServer"}}
        if isinstance(field, Milliseconds):
            return {"minimum": 0, "maximum": MAX_SAFE_INTEGER}
        return {}

    assert plugin.converter is not None
    plugin.converter.add_attribute_function(extra)
    spec.components.security_scheme("secret", {"type": "http", "scheme": "bearer"})
    spec.components.schema("GossipServer", schema=GossipServerSchema)
    spec.components.schema("ServerList", schema=ServerListSchema)
    spec.components.schema("GossipMessage", schema=GossipMessageSchema)
    spec.components.schema("ControlMessage", schema=ControlMessageSchema)
    spec.components.schema("ControlAnswer", schema=ControlAnswerSchema)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("ProbeRequest", schema=ProbeRequestSchema)
    spec.components.schema("ProbeAnswer", schema=ProbeAnswerSchema)
    spec.components.schema("OwnerAnswer", schema=OwnerAnswerSchema)

    def json_of(schema: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}

    def answer(description: str, schema: str) -> dict[str, Any]:
        return {"description": description, "content": json_of(schema)}

    # Any other method on the path gets this answer (the Allow header lists
    # the one that works).
    not_allowed = {
        "description": "Method not allowed on this path; nothing changed.",
        "headers": {"Allow": {"description": "The methods this path accepts.", "schema": {"type": "string"}}},
        "content": json_of("Error"),
    }
    errors = {
        "400": answer("Invalid JSON or message; nothing changed.", "Error"),
        "401": answer("Missing or wrong secret.", "Error"),
        "405": not_allowed,
        "413": answer("Body too large, or too many servers in one message.", "Error"),
    }
    body = {"required": True, "content": json_of("GossipMessage")}
    spec.path(
        path=f"{DEFAULT_PREFIX}/gossip",
        operations={
            "post": {
                "summary": "Merge a peer's view; answer with this server's view after the merge.",
                "security": [{"secret": []}],
                "requestBody": body,
                "responses": {"200": answer("The view after merging.", "GossipMessage"), **errors},
            }
        },
    )
    spec.path(
        path=f"{DEFAULT_PREFIX}/list",
        operations={
            "get": {
                "summary": "This server's view (gossip or control secret).",
                "security": [{"secret": []}],
                "responses": {"200": answer("The view.", "ServerList"), "401": errors["401"], "405": not_allowed},
            }
        },
    )
    spec.path(
        path=f"{DEFAULT_PREFIX}/owner/{{key}}",
        operations={
            "get": {
                "summary": (
                    "Which online server owns a key: rendezvous hashing over this server's view, among the servers "
                    "whose metadata has every filter's value (gossip or control secret; docs/protocol.md section 8.6)."
                ),
                "security": [{"secret": []}],
                "parameters": [
                    {
                        "name": "key",
                        "in": "path",
                        "required": True,
                        "description": (
                            "The key, percent-encoded UTF-8: 1 to 1,024 bytes, printable characters only. It may hold "
                            "slashes but not start with one."
                        ),
                        "schema": {"type": "string", "minLength": 1},
                    },
                    {
                        "name": "filters",
                        "in": "query",
                        "required": False,
                        "description": (
                            "Metadata filters, one query parameter each (role=worker&zone=a): names match "
                            "[a-z0-9_.-]{1,64}, each given once."
                        ),
                        "style": "form",
                        "explode": True,
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                ],
                "responses": {
                    "200": answer("The owner, or null.", "OwnerAnswer"),
                    "400": answer("Bad key, or a filter that is not a metadata key or is given twice.", "Error"),
                    "401": errors["401"],
                    "405": not_allowed,
                },
            }
        },
    )
    spec.path(
        path=f"{DEFAULT_PREFIX}/control",
        operations={
            "post": {
                "summary": "Drain (online: false) or return (online: true) this server (control secret).",
                "security": [{"secret": []}],
                "requestBody": {"required": True, "content": json_of("ControlMessage")},
                "responses": {"200": answer("Done.", "ControlAnswer"), **errors},
            }
        },
    )
    spec.path(
        path=f"{DEFAULT_PREFIX}/probe",
        operations={
            "post": {
                "summary": (
                    "Act as a witness: try the peer at baseUrl with real gossip exchanges within the request "
                    "timeout, and say whether it answered (gossip secret; docs/protocol.md section 8.4)."
                ),
                "security": [{"secret": []}],
                "requestBody": {"required": True, "content": json_of("ProbeRequest")},
                "responses": {
                    "200": answer("Whether the peer answered.", "ProbeAnswer"),
                    **errors,
                    "403": answer("baseUrl is outside SHAZBOT_ALLOWED_PEERS; nothing was tried.", "Error"),
                    "503": {
                        **answer("Not a witness now (unhealthy, or checking too many peers); ask another.", "Error"),
                        "headers": {"Retry-After": {"description": "Seconds.", "schema": {"type": "integer"}}},
                    },
                },
            }
        },
    )
    document = spec.to_dict()
    # A raw field in the schema (malformed metadata refuses the entry, not
    # the message): described here as what a valid one is.
    document["components"]["schemas"]["GossipServer"]["properties"]["meta"] = META_SCHEMA
    return document


@lru_cache(maxsize=8)
def shipped_openapi(prefix: str = DEFAULT_PREFIX) -> bytes:
    """The shipped document, with its paths under ``prefix``."""
    document = json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
    document["paths"] = {prefix + path[len(DEFAULT_PREFIX) :]: ops for path, ops in document["paths"].items()}
    return json.dumps(document, indent=2, sort_keys=True).encode()


if __name__ == "__main__":
    print(json.dumps(build_openapi(), indent=2, sort_keys=True))
