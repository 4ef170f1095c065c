"""How a server reaches its peers: the :class:`PeerTransport` interface, and
:class:`PeerClient`, its HTTP implementation: a requests Session, a total
deadline on every call (connect, headers and body), no redirects, bounded
response size, the TLS settings (SHAZBOT_TLS_*) on every call, and every
failure as one typed error.

``ClusterNode`` only talks to a ``PeerTransport``, so tests can put it on an
in-memory network (tests/support/memory_network.py), as memberlist's
``MockNetwork`` does.
"""

from __future__ import annotations

from typing import Protocol

import requests

from .auth import bearer
from .deadline import deadline, deadline_session
from .errors import InvalidMessage, ShazbotError
from .protocol.model import ServerEntry
from .tls import DEFAULT_TLS, TlsArgs, tls_failure
from .urls import endpoint_url
from .wire import dumps, load_probe_answer, load_server_list, parse_json

__all__ = ["ExchangeError", "PeerTransport", "PeerClient", "read_limited", "SENDER_HEADER"]

SENDER_HEADER = "X-Clustershazbot-Sender"
#: A probe answer is one small JSON object; anything longer is not one.
PROBE_ANSWER_LIMIT = 4096


class ExchangeError(ShazbotError):
    """A direct exchange with a peer failed; ``reason`` is a short counter
    label (``tls`` for a failed TLS handshake), ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class PeerTransport(Protocol):
    """Carries one gossip exchange to a peer: every call a server makes to
    another (tick partner, offline probe, spread, goodbye) is one exchange."""

    def exchange(self, base_url: str, message: bytes, timeout: float | None = None) -> list[ServerEntry]:
        """Deliver ``message`` (an encoded gossip message) to the peer at
        ``base_url``; return the entries of its answer.

        Ends within ``timeout`` seconds (None: the transport's own limit).
        Every failure raises :class:`ExchangeError`, whose ``reason`` names
        it for the counters (``timeout``, ``connection``, ``http_401``...).
        """
        ...

    def probe(self, witness_url: str, suspect_url: str, timeout: float) -> bool | None:
        """Ask the peer at ``witness_url`` to try ``suspect_url``
        (docs/protocol.md section 8.4); within ``timeout`` seconds in all.

        Returns the witness's ``reachable``, or None when it answered but is
        not a witness this time (404 or 405 from a peer without the
        endpoint, 503 from one that abstains, anything but a valid answer).
        Raises :class:`ExchangeError` when no answer came (refused, reset,
        timed out): that one counts against this server's own health.
        """
        ...

    def close(self) -> None:
        """Release connections; no exchange follows."""
        ...


def read_limited(response: requests.Response, limit: int) -> bytes:
    """The body of a streamed response, refusing more than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            raise ExchangeError("too_large", f"answer larger than {limit} bytes")
        chunks.append(chunk)
    # urllib3 1.x does not enforce Content-Length: a cut or closed connection
    # would read as a short, complete body.
    announced = (response.headers.get("Content-Length") or "").strip()
    plain = not response.headers.get("Content-Encoding")
    if plain and announced.isdigit() and size != int(announced):
        raise ExchangeError("truncated", f"{size} of {int(announced)} bytes")
    return b"".join(chunks)


def _exchange_error(exc: Exception | None, expired: bool) -> ExchangeError:
    """One typed error for a failed call; a call the deadline cut is a
    timeout, whatever the cut read as (an error, or a short body)."""
    if expired or isinstance(exc, requests.Timeout):
        return ExchangeError("timeout", "no complete answer within the deadline")
    if isinstance(exc, ExchangeError):
        return exc
    why = tls_failure(exc) if exc is not None else None
    if why is not None:
        return ExchangeError("tls", why)
    if isinstance(exc, requests.ConnectionError):
        return ExchangeError("connection", type(exc).__name__)
    return ExchangeError("request", type(exc).__name__)


class PeerClient:
    """The HTTP :class:`PeerTransport`: POSTs to peers' gossip endpoints.

    ``tls``: the CA bundle and client certificate of every call (default:
    requests' bundle, no certificate). ``session`` should come from
    :func:`~flask_clustershazbot.deadline.deadline_session` (the default), or
    the total deadline of each call cannot be enforced.
    """

    def __init__(
        self,
        *,
        secret: str,
        sender: str,
        url_prefix: str,
        timeout: float,
        max_body: int,
        tls: TlsArgs = DEFAULT_TLS,
        session: requests.Session | None = None,
    ) -> None:
        self.session = session if session is not None else deadline_session()
        self.tls: TlsArgs = {"verify": tls["verify"], "cert": tls["cert"]}
        self._headers = {
            "Authorization": bearer(secret),
            "Content-Type": "application/json",
            # Not part of the protocol: lets the receiver's logs name us.
            SENDER_HEADER: sender,
        }
        self._prefix = url_prefix
        self._timeout = timeout
        self._max_body = max_body

    def exchange(self, base_url: str, message: bytes, timeout: float | None = None) -> list[ServerEntry]:
        """POST our view to a peer; return the entries of its answer.

        The whole call, answer included, ends within ``timeout`` (at most
        SHAZBOT_REQUEST_TIMEOUT) seconds, however slowly the peer sends.
        """
        limit = self._timeout if timeout is None else min(timeout, self._timeout)
        status, body = self._post(base_url, "gossip", message, limit, self._max_body)
        if status != 200:
            raise ExchangeError(f"http_{status}")
        try:
            return load_server_list(parse_json(body))
        except InvalidMessage as exc:
            raise ExchangeError("invalid_answer", exc.message) from None

    def probe(self, witness_url: str, suspect_url: str, timeout: float) -> bool | None:
        """POST ``{"baseUrl": suspect_url}`` to a witness's probe endpoint; see
        :meth:`PeerTransport.probe`."""
        try:
            status, body = self._post(witness_url, "probe", dumps({"baseUrl": suspect_url}), timeout,
                                      PROBE_ANSWER_LIMIT)
        except ExchangeError as exc:
            if exc.reason in ("too_large", "truncated"):
                return None  # it answered, with too much or too little
            raise
        if status != 200:
            return None
        try:
            return load_probe_answer(parse_json(body))
        except InvalidMessage:
            return None

    def _post(self, base_url: str, name: str, body: bytes, limit: float, max_body: int) -> tuple[int, bytes]:
        """POST ``body`` to a peer's endpoint ``name``; the whole call, answer
        included, ends within ``limit`` seconds however slowly the peer
        sends. Returns the status and, for a 200, the answer (at most
        ``max_body`` bytes). Raises :class:`ExchangeError` without a complete
        answer."""
        url = endpoint_url(base_url, self._prefix, name)
        with deadline(limit) as call:
            try:
                with self.session.post(
                    url,
                    data=body,
                    headers=self._headers,
                    timeout=(min(limit, 3.0), limit),
                    allow_redirects=False,
                    stream=True,
                    # Per call: a session's verify loses to REQUESTS_CA_BUNDLE.
                    verify=self.tls["verify"],
                    cert=self.tls["cert"],
                ) as response:
                    status = response.status_code
                    answer = read_limited(response, max_body) if status == 200 else b""
            except Exception as exc:  # ours, or whatever requests, urllib3 or ssl raise
                raise _exchange_error(exc, call.expired) from None
            if call.expired:  # a cut socket may read as the end of the answer
                raise _exchange_error(None, expired=True)
        return status, answer

    def close(self) -> None:
        self.session.close()
