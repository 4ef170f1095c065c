"""Master-list stores: where new servers find the cluster (docs/protocol.md section 6).

``read()`` returns the entries of the stored list. ``update(merge)`` is one
read-merge-write: it reads the list, hands its entries to ``merge`` (which
returns what to store) and writes the result, so that concurrent writers lose
nothing: under a file lock for ``file://``; with ``If-Match`` and a retry on 412
for an HTTP store that gives ETags.

Every failure of a store, whatever raised it, leaves as :class:`MasterListError`.
Each HTTP or S3 call has a total deadline (connect, headers and body) of the
request timeout; an ``update`` as a whole, with its retries, of
``UPDATE_BUDGET_TIMEOUTS`` request timeouts.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import unquote, urlsplit

import requests

from .deadline import current_deadline, deadline, deadline_session
from .errors import InvalidMasterList, InvalidMessage, MasterListError, PreconditionFailed
from .model import ServerEntry
from .transport import ExchangeError, read_limited
from .wire import encode_server_list, load_server_list, parse_json

__all__ = ["MasterListStore", "FileMasterList", "HttpMasterList", "open_master_list"]

log = logging.getLogger("flask_clustershazbot")

MergeFn = Callable[[list[ServerEntry]], list[ServerEntry]]
#: A raw read: the stored body (None if there is none) and its ETag.
RawRead = Callable[[], tuple[bytes | None, str | None]]

#: An update, with its retries, may take this many request timeouts in all.
UPDATE_BUDGET_TIMEOUTS = 4
#: Backoff between attempts after a 412: full jitter, uniform in
#: [0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)].
BACKOFF_BASE = 0.05
BACKOFF_CAP = 1.0
#: How much of an HTTP store's answer to a PUT is read before closing it.
MAX_PUT_ANSWER = 64 * 1024


class MasterListStore(Protocol):
    """What every store offers; both methods raise only :class:`MasterListError`."""

    def read(self) -> list[ServerEntry]: ...

    def update(self, merge: MergeFn) -> None: ...


def decode_server_list(body: bytes | None, where: str) -> list[ServerEntry]:
    """The entries of a stored body (none if there is no list, ``None``);
    :class:`InvalidMasterList` if it is not a server list."""
    if body is None or not body.strip():
        return []
    try:
        return load_server_list(parse_json(body))
    except InvalidMessage as exc:
        raise InvalidMasterList(f"master list at {where} is not a valid server list: {exc.message}") from None


def stored_or_replaced(body: bytes | None, where: str) -> list[ServerEntry]:
    """The entries of a stored list to merge into; none if there is no list,
    or if it is corrupt (logged: the write then replaces it)."""
    try:
        return decode_server_list(body, where)
    except InvalidMasterList as exc:
        log.warning("%s; replacing it with this server's view", exc)
        return []


def _file_path(url: str) -> str:
    return unquote(urlsplit(url).path)


def _redact(url: str) -> str:
    """The URL without credentials or query (a signed URL's query is a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class FileMasterList:
    """A JSON file on this machine; written to a temporary file and renamed over.

    A symlink is followed at every update: the lock, the temporary file and
    the replace all act on the file it points to, so servers that reach one
    file through different links share it, and the link stays a link. A path
    that is not a regular file (a FIFO, a directory) is an error at once.
    """

    def __init__(self, read_url: str, write_url: str, *, timeout: float = 10.0) -> None:
        self.read_path = _file_path(read_url)
        self.write_path = _file_path(write_url)
        self._timeout = timeout

    def _read_path(self, path: str) -> bytes | None:
        try:
            # O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise MasterListError(f"cannot read master list {path}: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise MasterListError(f"cannot read master list {path}: not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read()
        except OSError as exc:
            raise MasterListError(f"cannot read master list {path}: {exc.strerror}") from None
        finally:
            os.close(fd)

    def read(self) -> list[ServerEntry]:
        return decode_server_list(self._read_path(self.read_path), self.read_path)

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise MasterListError(f"cannot lock master list {path}: {exc.strerror}") from None
        try:
            # Polled rather than blocking, so a stopped holder cannot stall us for ever.
            give_up = time.monotonic() + self._timeout
            outer = current_deadline()  # e.g. the shutdown budget
            if outer is not None:
                give_up = min(give_up, outer.at)
            pause = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        raise MasterListError(
                            f"cannot lock master list {path}: still locked by another writer"
                        ) from None
                    time.sleep(random.uniform(0, pause))
                    pause = min(pause * 2, 0.1)
                except OSError as exc:
                    raise MasterListError(f"cannot lock master list {path}: {exc.strerror}") from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def update(self, merge: MergeFn) -> None:
        # Resolved at every update: the link may have been pointed elsewhere.
        path = os.path.realpath(self.write_path)
        with self._locked(path):
            body = self._read_path(path)
            encoded = encode_server_list(merge(stored_or_replaced(body, path)))
            try:
                fd, tmp = tempfile.mkstemp(prefix=".masterlist-", dir=os.path.dirname(path))
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(encoded)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            except OSError as exc:
                raise MasterListError(f"cannot write master list {path}: {exc.strerror}") from None


class HttpMasterList:
    """A JSON document behind GET/PUT, e.g. an object store or WebDAV server.

    The write Authorization header is also sent with reads when both URLs share
    an origin, and never to another host. ``session`` should come from
    :func:`~flask_clustershazbot.deadline.deadline_session` (the default), or
    the total deadline of each call cannot be enforced.
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
    ) -> None:
        self.read_url = read_url
        self.write_url = write_url
        self._auth = auth
        self._session = session if session is not None else deadline_session()
        self._timeout = timeout
        self._max_body = max_body
        same_origin = urlsplit(read_url)[:2] == urlsplit(write_url)[:2]
        self._read_headers = {"Authorization": auth} if auth and same_origin else {}

    def _socket_timeout(self) -> tuple[float, float]:
        return (min(self._timeout, 3.0), self._timeout)

    def _get(self, url: str, headers: dict[str, str]) -> tuple[bytes | None, str | None]:
        where = _redact(url)
        with deadline(self._timeout) as call:
            try:
                with self._session.get(
                    url, headers=headers, timeout=self._socket_timeout(), allow_redirects=False, stream=True,
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
        return decode_server_list(body, _redact(self.read_url))

    def _put(self, body: bytes, etag: str | None) -> None:
        where = _redact(self.write_url)
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
                    allow_redirects=False, stream=True,
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
            lambda: self._get(self.read_url, self._read_headers), self._put, merge, _redact(self.write_url),
            budget=UPDATE_BUDGET_TIMEOUTS * self._timeout,
        )


def _why(exc: BaseException | None, expired: bool) -> str:
    """A short reason for a failed call, never its message (which may hold a URL)."""
    if expired:
        return "timed out (no complete answer within the request timeout)"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def read_merge_write(
    read: RawRead,
    write: Callable[[bytes, str | None], None],
    merge: MergeFn,
    where: str,
    *,
    budget: float,
) -> None:
    """The conditional-write loop of stores with ETags.

    ``read`` gives the stored body (None if absent) and its ETag; ``write``
    stores a body on that ETag (or raises :class:`PreconditionFailed` if the
    document changed meanwhile). A corrupt stored list is replaced, on the
    corrupt document's own ETag, so a writer that fixed it first is not
    overwritten. After a 412 the loop waits a jittered, growing pause and
    tries again, as long as ``budget`` seconds (and any enclosing deadline)
    allow; every call within it is cut off when the budget runs out.
    """
    attempts = 0
    with deadline(budget) as total:
        while True:
            attempts += 1
            body, etag = read()
            try:
                write(encode_server_list(merge(stored_or_replaced(body, where))), etag)
                return
            except PreconditionFailed:
                pass
            pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempts, 16)))
            # Another attempt needs time for its pause and a little for its calls.
            if pause + 0.05 >= total.remaining():
                break
            time.sleep(pause)
    raise MasterListError(
        f"master list {where} kept changing: gave up after {attempts} attempts in {budget:g}s"
    )


def open_master_list(
    read_url: str,
    write_url: str,
    auth: str | None,
    *,
    session: requests.Session,
    timeout: float,
    max_body: int,
) -> MasterListStore:
    """The store for these URLs, chosen by their scheme."""
    schemes = {urlsplit(read_url).scheme.lower(), urlsplit(write_url).scheme.lower()}
    if schemes == {"file"}:
        return FileMasterList(read_url, write_url, timeout=UPDATE_BUDGET_TIMEOUTS * timeout)
    if schemes == {"s3"}:
        from .s3store import S3MasterList

        return S3MasterList(read_url, write_url, timeout=timeout, max_body=max_body)
    return HttpMasterList(read_url, write_url, auth, session=session, timeout=timeout, max_body=max_body)
