"""TLS settings of outgoing calls (SHAZBOT_TLS_CA, _CERT, _KEY), why a TLS
handshake failed, in words an operator can act on, and the memory that logs
such a failure once per peer rather than once per tick.

``verify`` and ``cert`` are passed on every requests call, never only set on
a session: requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override a
session's ``verify`` (psf/requests#3829), and SHAZBOT_TLS_CA must win.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from typing import TypedDict

__all__ = ["TlsArgs", "DEFAULT_TLS", "tls_args", "tls_failure", "TlsFailureMemory"]


class TlsArgs(TypedDict):
    """The ``verify`` and ``cert`` arguments of a requests call."""

    #: A CA bundle's path, or True for requests' own bundle.
    verify: bool | str
    #: The client certificate and its key, or None to present none.
    cert: tuple[str, str] | None


#: No TLS settings: requests' CA bundle, no client certificate.
DEFAULT_TLS: TlsArgs = {"verify": True, "cert": None}


def tls_args(ca: str | None = None, cert: str | None = None, key: str | None = None) -> TlsArgs:
    """The requests arguments for these paths (each one may be None)."""
    return {"verify": ca or True, "cert": (cert, key) if cert and key else None}


# OpenSSL reason codes, grouped by what the operator should do.
_NO_CLIENT_CERT = {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "PEER_DID_NOT_RETURN_A_CERTIFICATE"}
_CLIENT_CERT_REFUSED = {
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_ACCESS_DENIED",
}
_NOT_TLS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"}


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` inside what requests and urllib3 wrap around it."""
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        # urllib3's MaxRetryError keeps the cause in ``reason``; others in args.
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return None


def tls_failure(exc: BaseException) -> str | None:
    """Why a call failed in its TLS handshake, in a short sentence (from the
    OpenSSL reason code, never a certificate's or key's contents); None when
    ``exc`` is not a TLS failure."""
    error = _ssl_error(exc)
    if error is None:
        return None
    reason = str(getattr(error, "reason", None) or type(error).__name__)
    if isinstance(error, ssl.SSLCertVerificationError) or reason == "CERTIFICATE_VERIFY_FAILED":
        detail = getattr(error, "verify_message", None) or reason
        return f"its certificate did not verify against our CA bundle (SHAZBOT_TLS_CA): {detail}"
    if reason in _NO_CLIENT_CERT:
        return "it requires a client certificate and we present none: set SHAZBOT_TLS_CERT and SHAZBOT_TLS_KEY"
    if reason in _CLIENT_CERT_REFUSED:
        return f"it refused our client certificate (SHAZBOT_TLS_CERT): {reason}"
    if reason in _NOT_TLS:
        return f"it does not speak TLS on that port (an http:// server?): {reason}"
    return f"TLS handshake failed: {reason}"


class TlsFailureMemory:
    """Which peers a TLS failure was already logged for, and why: the first
    failure with a peer is worth a warning, the same failure every tick is
    not, and a different reason (the certificate fixed, the CA now wrong) is
    news again. A success with a peer forgets it, so the next failure is
    logged again. Thread-safe; remembers at most ``limit`` peers (oldest
    forgotten first)."""

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._failed: OrderedDict[str, str] = OrderedDict()

    def first_failure(self, peer: str, reason: str = "") -> bool:
        """Record a TLS failure with ``peer`` for ``reason``; True when it is
        the first since the last success, or its reason changed (so it
        should be logged)."""
        with self._lock:
            if self._failed.get(peer) == reason:
                self._failed.move_to_end(peer)
                return False
            self._failed[peer] = reason
            self._failed.move_to_end(peer)
            while len(self._failed) > self._limit:
                self._failed.popitem(last=False)
            return True

    def succeeded(self, peer: str) -> None:
        """A call to ``peer`` succeeded: its next TLS failure is news again."""
        with self._lock:
            self._failed.pop(peer, None)
