"""The master list behind HTTP GET and PUT, with ETags when the store gives them.

Each call has a total deadline (connect, headers and body) of the request
timeout; an ``update`` as a whole, with its retries on 412, of
``UPDATE_BUDGET_TIMEOUTS`` request timeouts.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import requests

from ..deadline import deadline, deadline_session
from ..errors import MasterListError, PreconditionFailed
from ..protocol.model import ServerEntry
from ..tls import DEFAULT_TLS, TlsArgs, tls_failure
from ..transport import ExchangeError, read_limited
from .core import UPDATE_BUDGET_TIMEOUTS, MergeFn, decode_server_list, read_merge_write
from .location import redact

__all__ = ["HttpMasterList"]

#: How much of an HTTP store's answer to a PUT is read before closing it.
MAX_PUT_ANSWER = 64 * 1024


class HttpMasterList:
    """A JSON document behind GET/PUT, e.g. an object store or WebDAV server.

    The write Authorization header is also sent with reads when both URLs share
    an origin, and never to another host. ``session`` should come from
    :func:`~flask_clustershazbot.deadline.deadline_session` (the default), or
    the total deadline of each call cannot be enforced. ``tls``: the CA
    bundle and client certificate of every call (SHAZBOT_TLS_*).
    """

    def __init__(
        self,
        read_url: str,
        write_url: str,
        auth: str | None,
        *,
        session: requests.Session | None = None,
        timeout: float,
        max_body: int,
        tls: TlsArgs = DEFAULT_TLS,
    ) -> None:
        self.read_url = read_url
        self.write_url = write_url
        self._auth = auth
        self._session = session if session is not None else deadline_session()
        self._timeout = timeout
        self._max_body = max_body
        # Passed on every call: a session's verify loses to REQUESTS_CA_BUNDLE.
        self._tls: TlsArgs = {"verify": tls["verify"], "cert": tls["cert"]}
        same_origin = urlsplit(read_url)[:2] == urlsplit(write_url)[:2]
        self._read_headers = {"Authorization": auth} if auth and same_origin else {}

    def _socket_timeout(self) -> tuple[float, float]:
        return (min(self._timeout, 3.0), self._timeout)

    def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes | None, str | None]:
        where = redact(url)
        with deadline(self._timeout) as call:
            try:
                with self._session.get(
                    url, headers=headers, timeout=self._socket_timeout(), allow_redirects=False, stream=True,
                    verify=self._tls["verify"], cert=self._tls["cert"],
                ) as response:
                    if response.status_code == 404:
                        return None, None
                    if response.status_code != 200:
                        raise MasterListError(f"reading master list {where} failed: HTTP {response.status_code}")
                    body = read_limited(response, self._max_body)
                    # A cut socket may read as the end; a short body otherwise
                    # raises (urllib3 enforces Content-Length).
                    if call.expired:
                        raise MasterListError(f"reading master list {where} failed: {_why(None, True)}")
                    return body, response.headers.get("ETag")
            except MasterListError:
                raise
            except ExchangeError as exc:
                why = _why(None, True) if call.expired else str(exc)
                raise MasterListError(f"reading master list {where} failed: {why}") from None
            except Exception as exc:  # whatever requests, urllib3 or ssl raise
                raise MasterListError(f"reading master list {where} failed: {_why(exc, call.expired)}") from None

    def read(self) -> list[ServerEntry]:
        body, _etag = self._get(self.read_url, self._read_headers)
        return decode_server_list(body, redact(self.read_url))

    def _put(self, body: bytes, etag: str | None) -> None:
        where = redact(self.write_url)
        # Azure Blob Storage requires the blob type on PUT; other stores ignore it.
        headers = {"Content-Type": "application/json", "x-ms-blob-type": "BlockBlob"}
        if self._auth:
            headers["Authorization"] = self._auth
        if etag:
            headers["If-Match"] = etag
        with deadline(self._timeout) as call:
            try:
                response = self._session.put(
                    self.write_url, data=body, headers=headers, timeout=self._socket_timeout(),
                    allow_redirects=False, stream=True, verify=self._tls["verify"], cert=self._tls["cert"],
                )
            except Exception as exc:  # whatever requests, urllib3 or ssl raise
                raise MasterListError(f"writing master list {where} failed: {_why(exc, call.expired)}") from None
            # The status decides; a little of the answer is read so that the
            # connection can be reused, and a failure to read it (even a drip
            # cut by the deadline) changes nothing.
            with response, contextlib.suppress(Exception):
                response.raw.read(MAX_PUT_ANSWER)
        if response.status_code == 412:
            raise PreconditionFailed(f"master list {where} changed while we merged")
        if not 200 <= response.status_code < 300:
            raise MasterListError(f"writing master list {where} failed: HTTP {response.status_code}")

    def update(self, merge: MergeFn) -> None:
        read_merge_write(
            lambda: self._get(self.read_url, self._read_headers), self._put, merge, redact(self.write_url),
            budget=UPDATE_BUDGET_TIMEOUTS * self._timeout,
        )


def _why(exc: BaseException | None, expired: bool) -> str:
    """A short reason for a failed call, never its message (which may hold a URL)."""
    if expired:
        return "timed out (no complete answer within the request timeout)"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    tls = tls_failure(exc) if exc is not None else None
    if tls is not None:
        return f"TLS: {tls}"
    return type(exc).__name__

