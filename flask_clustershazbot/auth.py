"""Authorization header checks (docs/protocol.md section 2)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

__all__ = ["is_authorized", "bearer"]


def _token(header: str | None) -> bytes | None:
    if not header:
        return None
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        text = rest.strip()
    return text.encode("utf-8", "surrogateescape")


def is_authorized(header: str | None, secrets: Iterable[str]) -> bool:
    """Accepts ``Bearer <secret>`` and the bare ``<secret>``, for any configured secret.

    Every secret is compared, in constant time, so the answer's timing does not
    tell which secret (or how much of one) matched.
    """
    token = _token(header)
    if token is None:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(token, secret.encode("utf-8", "surrogateescape"))
    return matched


def bearer(secret: str) -> str:
    return f"Bearer {secret}"
