"""Master-list locations: URL parsing that needs no backend (config uses it)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["file_path", "parse_s3_url", "redact"]


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
