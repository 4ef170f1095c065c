"""The OpenAPI 3 document of the three endpoints, generated from the
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


class ErrorSchema(Schema):
    error = fields.String(required=True)
    details = fields.Dict()


class ControlAnswerSchema(Schema):
    success = fields.Boolean(required=True)


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
    return spec.to_dict()


@lru_cache(maxsize=8)
def shipped_openapi(prefix: str = DEFAULT_PREFIX) -> bytes:
    """The shipped document, with its paths under ``prefix``."""
    document = json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
    document["paths"] = {prefix + path[len(DEFAULT_PREFIX) :]: ops for path, ops in document["paths"].items()}
    return json.dumps(document, indent=2, sort_keys=True).encode()


if __name__ == "__main__":
    print(json.dumps(build_openapi(), indent=2, sort_keys=True))
