"""Base URL validation and normalisation (docs/protocol.md section 1).

A base URL is the key of a server everywhere in the protocol, so every
spelling of one server must normalise to the same string: scheme and host
lower-cased, the default port dropped, exactly one trailing slash, non-ASCII
path characters percent-encoded (UTF-8), IPv6
literals in their RFC 5952 form (compressed, lower-case, ``[::ffff:1.2.3.4]``
for IPv4-mapped addresses), and international host names in their IDNA
ASCII form (``xn--...``, UTS #46 as ``requests`` uses to connect).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, urlsplit

import idna

from .cache import BoundedStrCache, CacheInfo, bounded_str_cache
from .protocol.text import is_printable

__all__ = [
    "InvalidBaseUrl",
    "normalize_base_url",
    "canonical_base_url",
    "endpoint_url",
    "url_cache_info",
    "MAX_URL_LENGTH",
    "URL_CACHE_BYTES",
]

MAX_URL_LENGTH = 2048
#: What the normalisation cache may hold, in bytes (key and value).
URL_CACHE_BYTES = 4 * 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Every printable ASCII character: in a path only what lies outside is
#: percent-encoded (existing escapes stay as they are).
_ASCII_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))


class InvalidBaseUrl(ValueError):
    """The text is not an absolute http(s) base URL."""


def _ipv6_host(host: str) -> str:
    if "%" in host:
        # A zone (``%eth0``) names an interface of the sender: meaningless on
        # any other machine, so never part of a shared key.
        raise InvalidBaseUrl("has an IPv6 zone id, which other servers cannot use")
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        raise InvalidBaseUrl("has an invalid IPv6 address") from None
    mapped = address.ipv4_mapped
    # RFC 5952 section 5, the same on every Python version (3.13 prints this
    # form itself, earlier versions print ::ffff:c000:201).
    text = f"::ffff:{mapped}" if mapped is not None else address.compressed
    return f"[{text}]"


def _idna(text: str) -> str:
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidBaseUrl("has an invalid international host name") from None


def _dns_host(host: str) -> str:
    if not host.isascii():
        return _idna(host)
    # Plain ASCII names are kept as they are (underscores included, as in
    # container names); only A-labels must be valid IDNA.
    for label in host.split("."):
        if label.startswith("xn--"):
            _idna(label)
    return host


def canonical_base_url(url: str) -> str:
    """Return the canonical form of ``url`` or raise :class:`InvalidBaseUrl`.

    Not cached: for text whose origin is not trusted yet. Query, fragment and
    credentials are refused (a base URL names a server, nothing more), and so
    is every character that is not printable (controls, bidi and other format
    characters, separators, surrogates): a URL is shown on terminals and in logs.
    A backslash is refused too: parsers disagree on where it ends the host.
    """
    if not isinstance(url, str) or not url:
        raise InvalidBaseUrl("must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidBaseUrl(f"longer than {MAX_URL_LENGTH} characters")
    if not is_printable(url) or " " in url:
        raise InvalidBaseUrl("contains whitespace or non-printable characters")
    if "\\" in url:
        # urlsplit keeps it in the host; urllib3 and WHATWG parsers read it as
        # "/": the allow-list would check one host and requests reach another.
        raise InvalidBaseUrl("contains a backslash")
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
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if bracketed:
        host = _ipv6_host(host)
    elif ":" in host:
        raise InvalidBaseUrl("has an IPv6 address without brackets")
    else:
        host = _dns_host(host)
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    # Non-ASCII in the path as UTF-8 percent escapes, as WHATWG URL parsers
    # (browsers, the TypeScript peers) write it: the whole key is then ASCII,
    # which an HTTP header (the sender's name) can carry.
    path = quote(parts.path.rstrip("/") + "/", safe=_ASCII_PRINTABLE)
    return f"{scheme}://{netloc}{path}"


@bounded_str_cache(URL_CACHE_BYTES)
def _normalize_cached(url: str) -> str:
    """The canonical form of a base URL (see :func:`canonical_base_url`); raises
    :class:`InvalidBaseUrl`. Cached: only for URLs from configuration or from
    authenticated messages."""
    return canonical_base_url(url)


#: :func:`canonical_base_url`, cached (every gossip message repeats the same
#: few URLs), bounded in bytes by :data:`URL_CACHE_BYTES`. Only for URLs from
#: configuration or from authenticated messages: nothing an unauthenticated
#: client sends may enter a cache.
normalize_base_url: BoundedStrCache = _normalize_cached


def url_cache_info() -> CacheInfo:
    """Entries and bytes held by the cache of :func:`normalize_base_url`."""
    return normalize_base_url.cache_info()


def endpoint_url(base_url: str, prefix: str, name: str) -> str:
    """URL of one of a peer's endpoints, e.g. ``.../clustershazbot/gossip``."""
    return f"{base_url}{prefix.strip('/')}/{name}"
