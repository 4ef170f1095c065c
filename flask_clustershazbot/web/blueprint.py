"""The Flask blueprint: HTTP in and out around :class:`RequestHandlers`."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed

from ..auth import is_authorized
from ..errors import ClientError, Unauthorized
from ..protocol.text import printable
from ..transport import SENDER_HEADER
from ..urls import InvalidBaseUrl, canonical_base_url
from ..wire import dumps
from .handlers import RequestHandlers
from .metrics import metrics_available, render_metrics
from .openapi import shipped_openapi
from .status_page import STATUS_PAGE

__all__ = ["create_blueprint"]


def _json(data: object, status: int = 200) -> Response:
    return _raw_json(dumps(data), status)


def _raw_json(body: bytes, status: int = 200) -> Response:
    response = current_app.response_class(body, status=status, mimetype="application/json")
    # Views and errors describe this moment and may be behind a secret: no
    # proxy or browser may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


def create_blueprint(handlers: RequestHandlers, url_prefix: str) -> Blueprint:
    bp = Blueprint("shazbot", __name__, url_prefix=url_prefix)
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
        try:
            return f"{printable(canonical_base_url(request.headers.get(SENDER_HEADER, '')))} ({address})"
        except InvalidBaseUrl:
            return address

    @bp.post("/gossip")
    def gossip() -> Response:
        return _raw_json(handlers.gossip_response(authorization(), body(), source))

    @bp.get("/list")
    def server_list() -> Response:
        return _raw_json(handlers.list_response(authorization()))

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
        response = current_app.response_class(STATUS_PAGE, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
            "frame-ancestors 'none'"
        )
        # For browsers that predate frame-ancestors: no clickjacking of the page.
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @bp.get("/status.json")
    def status_json() -> Response:
        require_operator()
        return _json(handlers.node.status())

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

