"""Master list in S3 (``s3://bucket/key``), through boto3: the optional ``s3``
extra, ``pip install Flask-ClusterShazbot[s3]``.

Credentials come from the standard AWS chain (environment, shared config,
instance or task role), so no static secret needs configuring; set
``AWS_ENDPOINT_URL`` for an S3-compatible store. Writes are conditional (S3
conditional writes): ``If-Match`` the ETag read, or ``If-None-Match: *`` when
the object did not exist, retried on a precondition failure, so concurrent
writers lose nothing. A corrupt object is replaced on its own ETag.

botocore's timeouts bound each socket operation, not a call, so an endpoint
that drips its answer would hold a call for ever. Here botocore signs and
parses, but each HTTP request is sent by a ``before-send`` hook through a
:func:`~flask_clustershazbot.deadline.deadline_session` and read whole (up to
a bound) within the call's total deadline, the request timeout. Those
requests verify the store against SHAZBOT_TLS_CA when it is set (else
AWS_CA_BUNDLE, else requests' bundle) and present SHAZBOT_TLS_CERT when set.
"""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import urlsplit

from ..deadline import current_deadline, deadline, deadline_session
from ..errors import MasterListError, PreconditionFailed
from ..protocol.model import ServerEntry
from ..tls import DEFAULT_TLS, TlsArgs, tls_failure
from .core import UPDATE_BUDGET_TIMEOUTS, MergeFn, decode_server_list, read_merge_write
from .location import parse_s3_url

__all__ = ["S3MasterList"]

_RETRY_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
# Room above the largest accepted list for an error document or an XML answer.
_ANSWER_SLACK = 64 * 1024
# Not signed, and requests cannot wait for a 100 Continue: dropped.
_DROPPED_HEADERS = {"expect"}


class _CallFailed(Exception):
    """Raised from the send hook; botocore passes it through without retrying."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason



class S3MasterList:
    """The master list as one S3 object; see the module documentation."""

    def __init__(
        self, read_url: str, write_url: str, *, timeout: float, max_body: int, tls: TlsArgs = DEFAULT_TLS
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the install
            raise MasterListError("s3:// master lists need boto3: pip install Flask-ClusterShazbot[s3]") from None
        self.read_at = parse_s3_url(read_url)
        self.write_at = parse_s3_url(write_url)
        self._timeout = timeout
        self._max_body = max_body
        self._session = deadline_session()
        # Exactly the headers botocore prepared (and signed), nothing of requests' defaults.
        self._session.headers.clear()
        # SHAZBOT_TLS_CA first; passed per call, as REQUESTS_CA_BUNDLE would
        # override a session's verify.
        ca = tls["verify"] if isinstance(tls["verify"], str) else None
        self._verify: bool | str = ca or os.environ.get("AWS_CA_BUNDLE") or True
        self._cert = tls["cert"]
        options: dict[str, Any] = {
            "connect_timeout": min(timeout, 3.0), "read_timeout": timeout, "retries": {"max_attempts": 2},
        }
        try:
            # Checksums in headers, not in an aws-chunked trailer (botocore >= 1.36 would use one over TLS).
            config = Config(**options, request_checksum_calculation="when_required")
        except TypeError:  # an older botocore, which never uses trailers
            config = Config(**options)
        try:
            # verify for botocore too, though the hook below sends every request.
            extra: dict[str, Any] = {"verify": ca} if ca else {}
            self._client: Any = boto3.client("s3", config=config, **extra)
        except Exception as exc:  # no region, a malformed endpoint, ...
            raise MasterListError(f"cannot set up the S3 client: {type(exc).__name__}") from None
        self._client.meta.events.register("before-send.s3", self._send)

    def _send(self, request: Any, **_: Any) -> Any:
        """Sends one prepared request within the current deadline and returns
        botocore's response, its body already read (up to a bound)."""
        import urllib3
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import ConnectionClosedError

        call = current_deadline()
        headers = {
            name: value for name, value in request.headers.items() if name.lower() not in _DROPPED_HEADERS
        }
        body = request.body
        if hasattr(body, "read"):
            # A wrapped body (an aws-chunked trailer, say): ours, and small, so
            # it is sent whole with a Content-Length rather than chunked.
            body = body.read()
            headers = {name: value for name, value in headers.items() if name.lower() != "transfer-encoding"}
        limit = self._max_body + _ANSWER_SLACK
        try:
            response = self._session.request(
                request.method, request.url, headers=headers, data=body, stream=True,
                timeout=(min(self._timeout, 3.0), self._timeout), allow_redirects=False, verify=self._verify,
                cert=self._cert,
            )
            with response:
                data = response.raw.read(limit + 1, decode_content=False)
                if len(data) > limit:
                    raise _CallFailed(f"answer larger than {limit} bytes")
                answer_headers = response.raw.headers
                status = response.status_code
            if call is not None and call.expired:  # a cut socket may just read as the end
                raise _CallFailed("timed out (no complete answer within the request timeout)")
            length = answer_headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != len(data) and request.method != "HEAD":
                raise _CallFailed(f"truncated answer ({len(data)} of {length} bytes)")
        except _CallFailed:
            raise
        except Exception as exc:
            if call is not None and call.expired:
                raise _CallFailed("timed out (no complete answer within the request timeout)") from None
            why = tls_failure(exc)
            if why is not None:  # a certificate problem: no retry mends it
                raise _CallFailed(f"TLS: {why}") from None
            # A dropped or truncated answer: botocore may retry it while time remains.
            raise ConnectionClosedError(endpoint_url=_endpoint(request.url)) from exc
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), headers=answer_headers, status=status, preload_content=False,
            decode_content=False,
        )
        return AWSResponse(request.url, status, answer_headers, raw)

    @staticmethod
    def _name(at: tuple[str, str]) -> str:
        return f"s3://{at[0]}/{at[1]}"

    def _error(self, doing: str, at: tuple[str, str], exc: BaseException) -> MasterListError:
        if isinstance(exc, _CallFailed):
            code = exc.reason
        else:
            response = getattr(exc, "response", None)
            error = response.get("Error") if isinstance(response, dict) else None
            code = (error.get("Code") if isinstance(error, dict) else None) or type(exc).__name__
        return MasterListError(f"{doing} master list {self._name(at)} failed: {code}")

    def _get(self, at: tuple[str, str]) -> tuple[bytes | None, str | None]:
        from botocore.exceptions import ClientError

        with deadline(self._timeout):
            try:
                answer = self._client.get_object(Bucket=at[0], Key=at[1])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None, None
                raise self._error("reading", at, exc) from None
            except Exception as exc:
                raise self._error("reading", at, exc) from None
            stream = answer.get("Body")
            try:
                length = answer.get("ContentLength")
                if length is not None and int(length) > self._max_body:
                    raise MasterListError(
                        f"reading master list {self._name(at)} failed: larger than {self._max_body} bytes"
                    )
                # Bounded even when the store gave no length.
                body: bytes = stream.read(self._max_body + 1)
                if len(body) > self._max_body:
                    raise MasterListError(
                        f"reading master list {self._name(at)} failed: larger than {self._max_body} bytes"
                    )
                if length is not None and len(body) != int(length):
                    raise MasterListError(
                        f"reading master list {self._name(at)} failed: truncated ({len(body)} of {length} bytes)"
                    )
            except MasterListError:
                raise
            except Exception as exc:
                raise self._error("reading", at, exc) from None
            finally:
                if stream is not None:
                    stream.close()
        return body, answer.get("ETag")

    def read(self) -> list[ServerEntry]:
        """The stored entries; an absent object is an empty list."""
        body, _etag = self._get(self.read_at)
        return decode_server_list(body, self._name(self.read_at))

    def _put(self, body: bytes, etag: str | None) -> None:
        from botocore.exceptions import ClientError

        bucket, key = self.write_at
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        with deadline(self._timeout):
            try:
                self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _RETRY_CODES:
                    raise PreconditionFailed(
                        f"master list {self._name(self.write_at)} changed while we merged"
                    ) from None
                raise self._error("writing", self.write_at, exc) from None
            except Exception as exc:
                raise self._error("writing", self.write_at, exc) from None

    def update(self, merge: MergeFn) -> None:
        """One conditional read-merge-write, retried with jittered backoff."""
        read_merge_write(
            lambda: self._get(self.write_at), self._put, merge, self._name(self.write_at),
            budget=UPDATE_BUDGET_TIMEOUTS * self._timeout,
        )


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
