"""The Flask blueprint: HTTP in and out around :class:`RequestHandlers`."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import PathConverter

from ..auth import is_authorized
from ..errors import ClientError, InvalidMessage, Unauthorized
from ..protocol.metadata import shown_key
from ..protocol.text import printable
from ..transport import SENDER_HEADER
from ..urls import InvalidBaseUrl, canonical_base_url
from ..wire import dumps
from .handlers import RequestHandlers
from .metrics import metrics_available, render_metrics
from .openapi import shipped_openapi
from .status import status_snapshot
from .status_page import render_status_page, send_static

__all__ = ["create_blueprint"]


def _json(data: object, status: int = 200) -> Response:
    return _raw_json(dumps(data), status)


def _raw_json(body: bytes, status: int = 200) -> Response:
    response = current_app.response_class(body, status=status, mimetype="application/json")
    # Views and errors describe this moment and may be behind a secret: no
    # proxy or browser may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


class KeyConverter(PathConverter):
    """A key in GET /owner/<key>: like ``path``, slashes included, but also
    matching control characters (``.`` does not match a newline), so that a
    bad key gets a 400 JSON answer, not a 404 page."""

    regex = r"[^/][\s\S]*?"


def _add_key_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("shazbot_key", KeyConverter)


def _path_is_utf8(environ: dict[str, Any]) -> bool:
    """Whether the request path, percent-decoded, is valid UTF-8. Werkzeug
    turns bytes that are not into U+FFFD, so a key that was not UTF-8 would
    quietly become another key; the raw URI (gunicorn's and Werkzeug's
    RAW_URI or REQUEST_URI), else the WSGI PATH_INFO (bytes as latin-1),
    tells."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        path = unquote_to_bytes(raw.split("?", 1)[0].encode("latin-1", "replace"))
    else:
        path = str(environ.get("PATH_INFO", "")).encode("latin-1", "replace")
    try:
        path.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def create_blueprint(handlers: RequestHandlers, url_prefix: str) -> Blueprint:
    # The status page's template comes from web/templates/ (an app's own
    # templates/shazbot/status.html takes precedence, as Flask does for
    # every blueprint); its static files have their own route below.
    bp = Blueprint("shazbot", __name__, url_prefix=url_prefix, template_folder="templates")
    # Before any route: the owner route's converter must exist when it is added.
    bp.record_once(_add_key_converter)
    limit = handlers.config.max_content_length

    def body() -> bytes:
        # Never read more than one byte past the limit, whatever the client says.
        return request.stream.read(limit + 1)

    def authorization() -> str | None:
        return request.headers.get("Authorization")

    def source() -> str:
        """Who sent this, for logs: the address, and the sender's base URL if
        it names one (only well-formed URLs, escaped, so nothing odd reaches
        a log). The handlers call it only once the secret is checked, and it
        caches nothing: no trace of an unauthenticated request is kept."""
        address = printable(request.remote_addr or "a peer")
        named = sender_url()
        return address if named is None else f"{printable(named)} ({address})"

    def sender_url() -> str | None:
        """The sender's base URL as it names itself, if well formed."""
        try:
            return canonical_base_url(request.headers.get(SENDER_HEADER, ""))
        except InvalidBaseUrl:
            return None

    def owner_filters() -> dict[str, str]:
        """The metadata filters of GET /owner: its query parameters, each once
        (after checking that the path was UTF-8). Called only once the secret
        is checked: the handler checks it first."""
        if not _path_is_utf8(request.environ):
            raise InvalidMessage("The key must be valid UTF-8 (percent-encoded).")
        filters: dict[str, str] = {}
        for name, values in request.args.lists():
            if len(values) != 1:
                raise InvalidMessage(f"Filter {shown_key(name)!r} is given {len(values)} times; give each once.")
            filters[name] = values[0]
        return filters

    @bp.post("/gossip")
    def gossip() -> Response:
        return _raw_json(handlers.gossip_response(authorization(), body(), source, sender_url))

    @bp.get("/list")
    def server_list() -> Response:
        return _raw_json(handlers.list_response(authorization()))

    @bp.get("/owner/", defaults={"key": ""}, strict_slashes=False)
    @bp.get("/owner/<shazbot_key:key>")
    def owner(key: str) -> Response:
        return _json(handlers.owner_request(authorization(), key, owner_filters))

    @bp.post("/probe")
    def probe() -> Response:
        return _json(handlers.probe_request(authorization(), body(), source))

    @bp.post("/control")
    def control() -> Response:
        return _json(handlers.control_request(authorization(), body()))

    def require_operator() -> None:
        """The status page uses HTTP Basic (any user, the control secret as
        password) so that a browser asks for it."""
        credentials = request.authorization
        password = credentials.password if credentials is not None and credentials.type == "basic" else None
        if password is None or not is_authorized(password, handlers.config.control_secrets):
            raise Unauthorized(
                "The status page needs the control secret as the Basic auth password.",
                headers={"WWW-Authenticate": 'Basic realm="clustershazbot", charset="UTF-8"'},
            )

    @bp.get("/")
    def status_page() -> Response:
        require_operator()
        return render_status_page()

    @bp.get("/static/<name>")
    def static_file(name: str) -> Response:
        # Public, like openapi.json: the page's script and style hold no
        # cluster data; the page and status.json keep the control secret.
        response = send_static(name)
        if response is None:
            return _json({"error": "No such file."}, 404)
        return response

    @bp.get("/status.json")
    def status_json() -> Response:
        require_operator()
        return _json(status_snapshot(handlers.node))

    @bp.get("/health")
    def health() -> Response:
        # For load balancers: no secret, no details. 503 takes a drained or
        # leaving server out of rotation.
        online = handlers.node.own_entry().online
        return _json({"online": online}, 200 if online else 503)

    @bp.get("/metrics")
    def metrics() -> Response:
        handlers.check_list_secret(authorization())
        if not metrics_available():
            return _json({"error": "Metrics need prometheus_client: pip install Flask-ClusterShazbot[metrics]."}, 501)
        text, content_type = render_metrics(handlers.node)
        response = current_app.response_class(text, content_type=content_type)
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/openapi.json")
    def openapi() -> Response:
        # Public: it describes the endpoints, not the cluster, so it may be cached.
        return current_app.response_class(shipped_openapi(url_prefix), mimetype="application/json")

    @bp.errorhandler(ClientError)
    def client_error(error: ClientError) -> Response:
        response = _json(error.to_json(), error.status)
        response.headers.update(error.headers)
        return response

    @bp.app_errorhandler(MethodNotAllowed)
    def method_not_allowed(error: MethodNotAllowed) -> Response | MethodNotAllowed:
        # Routing fails before a blueprint is chosen, so this handler is
        # app-wide; it answers JSON only under our prefix.
        if not request.path.startswith(url_prefix.rstrip("/") + "/"):
            return error
        response = _json({"error": f"Method {request.method} is not allowed here."}, 405)
        response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response

    return bp

