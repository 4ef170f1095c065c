"""One place chooses the master-list backend from the URL scheme."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from .core import UPDATE_BUDGET_TIMEOUTS, MasterListStore
from .file import FileMasterList
from .http import HttpMasterList

__all__ = ["open_master_list"]


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
        from .s3 import S3MasterList

        return S3MasterList(read_url, write_url, timeout=timeout, max_body=max_body)
    return HttpMasterList(read_url, write_url, auth, session=session, timeout=timeout, max_body=max_body)
