"""Master-list locations: URL parsing that needs no backend (config uses it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["DNS_SCHEMES", "DnsLocation", "file_path", "is_dns_url", "parse_dns_url", "parse_s3_url", "redact"]

#: The read-only master-list sources found through DNS (docs/protocol.md section 6).
DNS_SCHEMES = ("dns", "dns+srv")

# One DNS label: letters, digits, hyphens and underscores (SRV names use them),
# at most 63 characters, a hyphen neither first nor last.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def file_path(url: str) -> str:
    """The local path of a ``file://`` URL."""
    return unquote(urlsplit(url).path)


def redact(url: str) -> str:
    """The URL without credentials or query (a signed URL's query is a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` URL; ValueError otherwise."""
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise ValueError(f"must be s3://bucket/key (got {url!r})")
    return bucket, key


@dataclass(frozen=True)
class DnsLocation:
    """A DNS master-list source: ``dns://NAME:PORT`` (A and AAAA records of
    ``name``, each address on ``port``) or ``dns+srv://_service._proto.NAME``
    (SRV records of ``name``: their targets and ports; ``port`` is None)."""

    srv: bool
    name: str
    port: int | None

    @property
    def url(self) -> str:
        """The URL again, normalised (for logs and errors)."""
        if self.srv:
            return f"dns+srv://{self.name}"
        return f"dns://{self.name}:{self.port}"


def is_dns_url(url: str) -> bool:
    """Whether ``url`` names a DNS source (``dns://`` or ``dns+srv://``)."""
    return url.split(":", 1)[0].lower() in DNS_SCHEMES


def _dns_name(name: str, url: str) -> str:
    name = name[:-1] if name.endswith(".") else name  # a fully qualified name
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{url!r} does not name a valid DNS name ({name!r})")
    return name.lower()


def parse_dns_url(url: str) -> DnsLocation:
    """The DNS source a ``dns://NAME:PORT`` or ``dns+srv://_service._proto.NAME``
    URL names; ValueError with the reason otherwise.

    No credentials, path, query or fragment: the name (and for ``dns://``
    the port) is all there is.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DNS_SCHEMES:
        raise ValueError(f"must be dns://NAME:PORT or dns+srv://_service._proto.NAME (got {url!r})")
    if "@" in parts.netloc:
        raise ValueError(f"{scheme}:// URLs take no user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # The URL is not echoed: a query may hold a secret.
        raise ValueError(f"{scheme}:// URLs take no path, query or fragment")
    host = parts.netloc
    if scheme == "dns+srv":
        if ":" in host:
            raise ValueError(
                f"dns+srv:// URLs take no port: the SRV records give it (got {url!r}); "
                "use dns+srv://_service._proto.NAME"
            )
        name = _dns_name(host, url)
        labels = name.split(".")
        if len(labels) < 3 or not labels[0].startswith("_") or not labels[1].startswith("_"):
            raise ValueError(
                f"dns+srv:// URLs name an SRV record, _service._proto.NAME, e.g. "
                f"dns+srv://_http._tcp.shazbot.default.svc.cluster.local (got {url!r})"
            )
        return DnsLocation(srv=True, name=name, port=None)
    name, sep, port_text = host.rpartition(":")
    if not sep or not port_text:
        raise ValueError(f"dns:// URLs need a port: dns://NAME:PORT (got {url!r})")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"dns:// URL port must be a number from 1 to 65535 (got {port_text!r})")
    return DnsLocation(srv=False, name=_dns_name(name, url), port=int(port_text))
