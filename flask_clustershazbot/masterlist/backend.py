"""One place chooses the master-list backend from the URL scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from ..tls import DEFAULT_TLS, TlsArgs
from .core import UPDATE_BUDGET_TIMEOUTS, MasterListStore
from .file import FileMasterList
from .http import HttpMasterList
from .location import is_dns_url

__all__ = ["open_master_list"]


def open_master_list(
    read_url: str,
    write_url: str,
    auth: str | None,
    *,
    session: requests.Session,
    timeout: float,
    max_body: int,
    tls: TlsArgs = DEFAULT_TLS,
    dns_scheme: str = "https",
) -> MasterListStore:
    """The store for these URLs, chosen by their scheme; ``tls``: the CA
    bundle and client certificate of an HTTPS or S3 store. A ``dns://`` or
    ``dns+srv://`` ``read_url`` is read-only (``write_url`` is ignored); its
    base URLs take ``dns_scheme``."""
    if is_dns_url(read_url):
        from .dns import DnsMasterList

        return DnsMasterList(read_url, scheme=dns_scheme, timeout=timeout)
    schemes = {urlsplit(read_url).scheme.lower(), urlsplit(write_url).scheme.lower()}
    if schemes == {"file"}:
        return FileMasterList(read_url, write_url, timeout=UPDATE_BUDGET_TIMEOUTS * timeout)
    if schemes == {"s3"}:
        from .s3 import S3MasterList

        return S3MasterList(read_url, write_url, timeout=timeout, max_body=max_body, tls=tls)
    return HttpMasterList(read_url, write_url, auth, session=session, timeout=timeout, max_body=max_body, tls=tls)
