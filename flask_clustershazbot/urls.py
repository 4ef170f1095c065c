"""Base URL validation and normalisation (PROTOCOL.md section 1).

A base URL is the key of a server everywhere in the protocol, so two spellings
of the same server must normalise to the same string.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

__all__ = ["InvalidBaseUrl", "normalize_base_url", "endpoint_url"]

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidBaseUrl(ValueError):
    """The text is not an absolute http(s) base URL."""


@lru_cache(maxsize=65536)
def normalize_base_url(url: str) -> str:
    """Return the canonical form of ``url`` or raise :class:`InvalidBaseUrl`.

    Scheme and host are lower-cased, the default port is dropped and the path
    ends in exactly one slash. Query, fragment and credentials are refused:
    a base URL names a server, nothing more. Cached, because every gossip
    message repeats the same few URLs.
    """
    if not isinstance(url, str) or not url:
        raise InvalidBaseUrl("must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidBaseUrl(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidBaseUrl("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidBaseUrl("is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidBaseUrl("must be an absolute http or https URL")
    host = parts.hostname
    if not host:
        raise InvalidBaseUrl("has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidBaseUrl("must not contain credentials")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise InvalidBaseUrl("must not have a query or fragment")
    host = host.lower()
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path.rstrip("/") + "/"
    return f"{scheme}://{netloc}{path}"


def endpoint_url(base_url: str, prefix: str, name: str) -> str:
    """URL of one of a peer's endpoints, e.g. ``.../clustershazbot/gossip``."""
    return f"{base_url}{prefix.strip('/')}/{name}"
