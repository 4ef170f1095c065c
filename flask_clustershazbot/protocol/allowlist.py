"""Which base URLs this server may talk to (SHAZBOT_ALLOWED_PEERS). Pure.

Patterns are host names with ``*`` wildcards (``*.internal.example``,
``node-?.example``) and CIDR ranges (``10.0.0.0/8``, ``fd00::/8``, a bare IP).
IPv6 addresses and ranges may also be written in brackets as URLs write them
(``[fd00::1]``, ``[fd00::]/64``, ``[fd00::/64]``).
Matching is on the URL's host as written, not on what it resolves to, so a
name pattern trusts your DNS: prefer CIDR ranges for IP-addressed clusters.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import idna

__all__ = ["PeerAllowList", "parse_allowed_peers"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ascii_pattern(pattern: str) -> str:
    """International labels in their IDNA ASCII form, as base URLs hold them."""
    if pattern.isascii():
        return pattern
    labels = []
    for label in pattern.split("."):
        if label.isascii():
            labels.append(label)
            continue
        if any(c in label for c in "*?[]"):
            raise ValueError(f"{pattern!r}: write wildcards in international labels in their xn-- form")
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError):
            raise ValueError(f"{pattern!r} is not a valid international host name") from None
    return ".".join(labels)


def parse_allowed_peers(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated host patterns and CIDR ranges, lower-cased, with
    international names in their IDNA ASCII form; raises ``ValueError``."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    patterns = tuple(_ascii_pattern(p.strip().lower()) for p in items if p.strip())
    if not patterns:
        raise ValueError("must hold at least one host pattern or CIDR range")
    for pattern in patterns:
        if _ip_text(pattern) is None and not all(c.isalnum() or c in "-.*?_[]" for c in pattern):
            raise ValueError(f"{pattern!r} is not a host pattern")
    return patterns


def _ip_text(pattern: str) -> str | None:
    """The address or CIDR range a pattern names, without the brackets URLs
    put around IPv6 hosts; ``None`` for a host-name pattern. Raises
    ``ValueError`` for a malformed address or range."""
    text = pattern
    # Host names never hold ":", so a "[" with one (or with an address
    # inside) is an IP literal, not a glob character class.
    if pattern.startswith("[") and (":" in pattern or _is_ip(pattern[1:].split("]")[0].split("/")[0])):
        inner, closed, rest = pattern[1:].partition("]")
        if not closed or (rest and not rest.startswith("/")) or ("/" in inner and rest):
            raise ValueError(f"{pattern!r} is not a valid IPv6 address or range in brackets")
        text = inner + rest
        try:
            version = ipaddress.ip_network(text, strict=False).version
        except ValueError:
            raise ValueError(f"{pattern!r} is not a valid IPv6 address or range in brackets") from None
        if version != 6:
            raise ValueError(f"{pattern!r}: only IPv6 addresses are written in brackets")
        return text
    if "/" in text or _is_ip(text):
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            if not _is_ip(text.split("/")[0]):
                raise ValueError(
                    f"{pattern!r} is not a host pattern or CIDR range (write a host without scheme, port or path)"
                ) from None
            raise ValueError(f"{pattern!r} is not a valid CIDR range") from None
        return text
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class PeerAllowList:
    """``allows(base_url)``: may we send to, and keep an entry for, this URL?"""

    def __init__(self, patterns: tuple[str, ...] | None) -> None:
        self.patterns = patterns
        self._networks: list[Network] = []
        self._names: list[str] = []
        for pattern in patterns or ():
            ip_text = _ip_text(pattern)
            if ip_text is not None:
                self._networks.append(ipaddress.ip_network(ip_text, strict=False))
            else:
                self._names.append(pattern)
        # Keys are base URLs (at most 2,048 characters), so 4,096 entries
        # bound the cache to about 10 MB.
        self.allows = lru_cache(maxsize=4096)(self._allows)

    def _allows(self, base_url: str) -> bool:
        if self.patterns is None:
            return True
        host = (urlsplit(base_url).hostname or "").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return any(fnmatch.fnmatchcase(host, name) for name in self._names)
        return any(address in network for network in self._networks)
