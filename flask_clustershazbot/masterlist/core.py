"""The read-merge-write every master-list store shares (docs/protocol.md section 6).

A store's ``update(merge)`` reads the list, hands its entries to ``merge``
(which returns what to store) and writes the result, so that concurrent
writers lose nothing. :func:`read_merge_write` is that loop for stores with
ETags (HTTP, S3); the file store does it under a file lock.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Protocol

from ..deadline import deadline
from ..errors import InvalidMasterList, InvalidMessage, MasterListError, PreconditionFailed
from ..protocol.model import ServerEntry
from ..wire import encode_server_list, load_server_list, parse_json

__all__ = ["MasterListStore", "MergeFn", "decode_server_list", "is_writable", "read_merge_write"]

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
    """What every store offers; both methods raise only :class:`MasterListError`.

    A read-only source (DNS, :mod:`.dns`) says so with a class attribute
    ``writable = False`` (see :func:`is_writable`): it names servers to
    contact rather than storing entries, and is never written.
    """

    def read(self) -> list[ServerEntry]: ...

    def update(self, merge: MergeFn) -> None: ...


def is_writable(store: MasterListStore) -> bool:
    """Whether announcing writes ``store`` (a stored list of entries) rather
    than only reading it (a read-only source of servers to contact, which sets
    ``writable = False``). Stores that do not say are writable."""
    # Not a member of the protocol: stores and test fakes predating it stay valid.
    return bool(getattr(store, "writable", True))


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

