"""The HTML status page: every known server, refreshed every few seconds.

Served at ``<prefix>/`` behind the control secret as HTTP Basic auth (any user
name, the secret as password), so a browser can open it. The page is the
Jinja template ``templates/shazbot/status.html``; its style and script are
files in ``static/``, served at ``<prefix>/static/<name>`` without a secret
(they hold no cluster data, like ``openapi.json``). With no inline code the
Content-Security-Policy allows scripts and styles from this origin only, and
nothing from elsewhere. The script polls ``<prefix>/status.json``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Response, current_app, render_template, request

__all__ = ["STATUS_PAGE_CSP", "STATIC_FILES", "render_status_page", "send_static"]

#: The page's Content-Security-Policy: no inline script or style, nothing
#: from another origin, no framing.
STATUS_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)

#: Every file ``<prefix>/static/`` serves, with its content type (Werkzeug
#: adds ``charset=utf-8``). Fixed here rather than guessed from the system's
#: MIME table: with ``nosniff``, browsers refuse a script of any other type.
STATIC_FILES = {
    "shazbot-status.js": "text/javascript",
    "shazbot-status.css": "text/css",
}

_STATIC_DIR = Path(__file__).resolve().parent / "static"


@lru_cache(maxsize=len(STATIC_FILES))
def _static_bytes(name: str) -> bytes:
    """A shipped static file, read once (only names in STATIC_FILES get here)."""
    return (_STATIC_DIR / name).read_bytes()


def render_status_page() -> Response:
    """The page itself, for an already authorized request."""
    response = current_app.response_class(render_template("shazbot/status.html"), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = STATUS_PAGE_CSP
    # For browsers that predate frame-ancestors: no clickjacking of the page.
    response.headers["X-Frame-Options"] = "DENY"
    return response


def send_static(name: str) -> Response | None:
    """One of :data:`STATIC_FILES`, or ``None`` for any other name. Cached
    only with revalidation (an ETag of the content), so an upgrade shows at
    the next load. Held whole in memory: the files are small, and no open
    file is left to a WSGI server or test client to close."""
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return None
    response = current_app.response_class(_static_bytes(name), mimetype=content_type)
    response.cache_control.no_cache = True
    response.add_etag()
    response.make_conditional(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
