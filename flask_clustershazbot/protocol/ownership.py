"""Key ownership: which online server owns a key, by rendezvous (highest
random weight) hashing (docs/protocol.md section 8.6).

Pure: no Flask, no clock, no I/O. Every server whose view agrees computes the
same owner; when a server joins or leaves, only the keys it gains or loses
move. The hash and its input encoding are specified in the protocol document
so that an implementation in another language computes the same owner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from .metadata import KEY_PATTERN, matches, shown_key
from .model import ServerEntry

__all__ = ["MAX_KEY_BYTES", "weight", "owner_of", "owner_in_view", "check_key", "check_filters"]

#: The longest key ``GET {prefix}/owner/<key>`` accepts, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def _key_hash(key: str) -> hashlib._Hash:
    # The key's part of every weight for it, hashed once per lookup.
    return hashlib.sha256(key.encode("utf-8") + b"\x00")


def _weight(key_hash: hashlib._Hash, base_url: str) -> int:
    digest = key_hash.copy()
    digest.update(base_url.encode("utf-8"))
    return int.from_bytes(digest.digest()[:8], "big")


def weight(key: str, base_url: str) -> int:
    """The weight of ``base_url`` for ``key``: the first 8 bytes, as a
    big-endian unsigned integer, of SHA-256(UTF-8(key) || 0x00 ||
    UTF-8(base_url)). ``base_url`` is the normalised form that goes on the
    wire. The 0x00 separator keeps the encoding unambiguous: a base URL never
    holds one. ``UnicodeEncodeError`` (a ``ValueError``) for a key that is not
    valid Unicode (a lone surrogate)."""
    return _weight(_key_hash(key), base_url)


def owner_of(key: str, candidates: Iterable[str]) -> str | None:
    """The candidate base URL with the largest :func:`weight` for ``key``; on
    an equal weight the smallest URL by UTF-8 bytes (code-point order, the
    same thing). ``None`` when there is no candidate. The order of
    ``candidates`` does not matter, nor do repeats."""
    best: str | None = None
    best_weight = -1
    key_hash = _key_hash(key)
    for url in candidates:
        w = _weight(key_hash, url)
        if w > best_weight or (w == best_weight and best is not None and url < best):
            best, best_weight = url, w
    return best


def owner_in_view(key: str, entries: Iterable[ServerEntry], filters: Mapping[str, str] | None = None) -> str | None:
    """The owner of ``key`` among the online entries of a view whose metadata
    has every ``key=value`` of ``filters``: a drained or departed server owns
    nothing."""
    wanted = filters or {}
    return owner_of(key, (e.base_url for e in entries if e.online and matches(e.meta, wanted)))


def check_key(key: str) -> str:
    """``key`` if the HTTP endpoint and the CLI accept it: not empty, at most
    :data:`MAX_KEY_BYTES` in UTF-8, every character printable (it is echoed
    in the answer). Otherwise ``ValueError`` says why, without echoing it."""
    if not key:
        raise ValueError("The key must not be empty.")
    if not key.isprintable():
        raise ValueError("The key must hold only printable characters.")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("The key must be valid UTF-8.") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"The key is {size} bytes in UTF-8; at most {MAX_KEY_BYTES} are accepted.")
    return key


def check_filters(filters: Mapping[str, str]) -> dict[str, str]:
    """``filters`` as a dict if every name is a valid metadata key
    (``[a-z0-9_.-]{1,64}``) and every value a string; otherwise
    ``ValueError`` says which is not (escaped, so nothing odd reaches a
    terminal or a log)."""
    for name, value in filters.items():
        if not isinstance(name, str) or not KEY_PATTERN.fullmatch(name):
            raise ValueError(f"Filter {shown_key(name)!r} is not a metadata key: keys match [a-z0-9_.-]{{1,64}}.")
        if not isinstance(value, str):
            raise ValueError(f"Filter {name!r} must have a string value: filters map metadata keys to string values.")
    return dict(filters)
