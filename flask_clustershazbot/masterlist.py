"""Master-list stores: where new servers find the cluster (PROTOCOL.md section 6).

``read()`` returns the entries of the stored list. ``update(merge)`` is one
read-merge-write: it reads the list, hands its entries to ``merge`` (which
returns what to store) and writes the result, so that concurrent writers lose
nothing: under a file lock for ``file://``; with ``If-Match`` and a retry on 412
for an HTTP store that gives ETags.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import unquote, urlsplit

import requests

from .errors import InvalidMasterList, InvalidMessage, MasterListError, PreconditionFailed
from .model import ServerEntry
from .transport import ExchangeError, read_limited
from .wire import encode_server_list, load_server_list, parse_json

__all__ = ["MasterListStore", "FileMasterList", "HttpMasterList", "open_master_list"]

log = logging.getLogger("flask_clustershazbot")

MergeFn = Callable[[list[ServerEntry]], list[ServerEntry]]
MAX_UPDATE_ATTEMPTS = 5


class MasterListStore(Protocol):
    def read(self) -> list[ServerEntry]: ...

    def update(self, merge: MergeFn) -> None: ...


def decode_server_list(body: bytes, where: str) -> list[ServerEntry]:
    if not body.strip():
        return []
    try:
        return load_server_list(parse_json(body))
    except InvalidMessage as exc:
        raise InvalidMasterList(f"master list at {where} is not a valid server list: {exc.message}") from None


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
    """A JSON file on this machine; written to a temporary file and renamed over."""

    def __init__(self, read_url: str, write_url: str) -> None:
        self.read_path = _file_path(read_url)
        self.write_path = _file_path(write_url)

    def _read_path(self, path: str) -> list[ServerEntry]:
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise MasterListError(f"cannot read master list {path}: {exc.strerror}") from None
        return decode_server_list(body, path)

    def read(self) -> list[ServerEntry]:
        return self._read_path(self.read_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        directory = os.path.dirname(os.path.abspath(self.write_path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self.write_path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise MasterListError(f"cannot lock master list {self.write_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def update(self, merge: MergeFn) -> None:
        with self._locked():
            try:
                current = self._read_path(self.write_path)
            except InvalidMasterList as exc:
                log.warning("%s; replacing it with this server's view", exc)
                current = []
            body = encode_server_list(merge(current))
            directory = os.path.dirname(os.path.abspath(self.write_path))
            try:
                fd, tmp = tempfile.mkstemp(prefix=".masterlist-", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(body)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, self.write_path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            except OSError as exc:
                raise MasterListError(f"cannot write master list {self.write_path}: {exc.strerror}") from None


class HttpMasterList:
    """A JSON document behind GET/PUT, e.g. an object store or WebDAV server.

    The write Authorization header is also sent with reads when both URLs share
    an origin, and never to another host.
    """

    def __init__(
        self,
        read_url: str,
        write_url: str,
        auth: str | None,
        *,
        session: requests.Session,
        timeout: float,
        max_body: int,
    ) -> None:
        self.read_url = read_url
        self.write_url = write_url
        self._auth = auth
        self._session = session
        self._timeout = timeout
        self._max_body = max_body
        same_origin = urlsplit(read_url)[:2] == urlsplit(write_url)[:2]
        self._read_headers = {"Authorization": auth} if auth and same_origin else {}

    def _get(self, url: str, headers: dict[str, str]) -> tuple[list[ServerEntry], str | None]:
        where = _redact(url)
        try:
            with self._session.get(
                url, headers=headers, timeout=(min(self._timeout, 3.0), self._timeout),
                allow_redirects=False, stream=True,
            ) as response:
                if response.status_code == 404:
                    return [], None
                if response.status_code != 200:
                    raise MasterListError(f"reading master list {where} failed: HTTP {response.status_code}")
                body = read_limited(response, self._max_body)
                return decode_server_list(body, where), response.headers.get("ETag")
        except ExchangeError as exc:
            raise MasterListError(f"reading master list {where} failed: {exc}") from None
        except requests.RequestException as exc:
            raise MasterListError(f"reading master list {where} failed: {type(exc).__name__}") from None

    def read(self) -> list[ServerEntry]:
        return self._get(self.read_url, self._read_headers)[0]

    def _put(self, body: bytes, etag: str | None) -> None:
        where = _redact(self.write_url)
        # Azure Blob Storage requires the blob type on PUT; other stores ignore it.
        headers = {"Content-Type": "application/json", "x-ms-blob-type": "BlockBlob"}
        if self._auth:
            headers["Authorization"] = self._auth
        if etag:
            headers["If-Match"] = etag
        try:
            response = self._session.put(
                self.write_url, data=body, headers=headers,
                timeout=(min(self._timeout, 3.0), self._timeout), allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise MasterListError(f"writing master list {where} failed: {type(exc).__name__}") from None
        response.close()
        if response.status_code == 412:
            raise PreconditionFailed(f"master list {where} changed while we merged")
        if not 200 <= response.status_code < 300:
            raise MasterListError(f"writing master list {where} failed: HTTP {response.status_code}")

    def update(self, merge: MergeFn) -> None:
        read_merge_write(
            lambda: self._get(self.read_url, self._read_headers), self._put, merge, _redact(self.write_url)
        )


def read_merge_write(
    read: Callable[[], tuple[list[ServerEntry], str | None]],
    write: Callable[[bytes, str | None], None],
    merge: MergeFn,
    where: str,
) -> None:
    """The conditional-write loop of stores with ETags: ``read`` gives the
    entries and their ETag, ``write`` stores a body on that ETag (or raises
    :class:`PreconditionFailed` if the document changed meanwhile). A corrupt
    stored list is replaced."""
    for _attempt in range(MAX_UPDATE_ATTEMPTS):
        try:
            current, etag = read()
        except InvalidMasterList as exc:
            log.warning("%s; replacing it with this server's view", exc)
            current, etag = [], None
        try:
            write(encode_server_list(merge(current)), etag)
            return
        except PreconditionFailed:
            continue
    raise MasterListError(f"master list {where} kept changing: gave up after {MAX_UPDATE_ATTEMPTS} attempts")


def open_master_list(
    read_url: str,
    write_url: str,
    auth: str | None,
    *,
    session: requests.Session,
    timeout: float,
    max_body: int,
) -> MasterListStore:
    schemes = {urlsplit(read_url).scheme.lower(), urlsplit(write_url).scheme.lower()}
    if schemes == {"file"}:
        return FileMasterList(read_url, write_url)
    if schemes == {"s3"}:
        from .s3store import S3MasterList

        return S3MasterList(read_url, write_url, timeout=timeout, max_body=max_body)
    return HttpMasterList(read_url, write_url, auth, session=session, timeout=timeout, max_body=max_body)
