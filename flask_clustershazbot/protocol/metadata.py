"""Server metadata: string tags a server publishes about itself (role, zone,
version), carried in its entry as ``"meta"`` (docs/protocol.md section 8.5).

Pure: checking, canonical encoding and matching. Metadata is held as
:data:`Meta`, a tuple of ``(key, value)`` pairs sorted by key, so that
entries stay hashable, immutable and totally ordered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "Meta",
    "NO_META",
    "MALFORMED_META",
    "DEFAULT_MAX_METADATA_BYTES",
    "KEY_PATTERN",
    "parse_metadata",
    "meta_from_wire",
    "meta_size",
    "meta_json",
    "shown_key",
    "matches",
]

#: Metadata as held in an entry: ``(key, value)`` pairs sorted by key.
Meta = tuple[tuple[str, str], ...]

#: No metadata: what every entry of a server without metadata carries.
NO_META: Meta = ()

#: What an incoming entry's ``meta`` becomes when it is not an object of
#: valid keys to strings; merge refuses such an entry (the key can never be
#: valid, so nothing else can look like it).
MALFORMED_META: Meta = (("!malformed", ""),)

#: SHAZBOT_MAX_METADATA_BYTES by default.
DEFAULT_MAX_METADATA_BYTES = 1024

#: What a metadata key looks like.
KEY_PATTERN = re.compile(r"[a-z0-9_.-]{1,64}")


def meta_json(meta: Meta) -> str:
    """The canonical JSON text of ``meta``: keys sorted, no spaces, UTF-8
    characters as they are. This is what the size limit counts."""
    return json.dumps(dict(meta), separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def meta_size(meta: Meta) -> int:
    """The size in bytes of ``meta``'s canonical encoding (UTF-8)."""
    return len(meta_json(meta).encode())


def shown_key(key: object) -> str:
    """A metadata key as an error may show it: as it is when short and
    printable, else a placeholder (never odd text into a terminal or log)."""
    return key if isinstance(key, str) and key.isprintable() and len(key) <= 80 else "(unprintable or long)"


def _check(mapping: Any) -> Meta:
    """``mapping`` as :data:`Meta`, or ``ValueError`` saying what is wrong
    (naming the key, never echoing a value)."""
    if not isinstance(mapping, Mapping):
        raise ValueError("must be a JSON object of string keys to string values")
    pairs: list[tuple[str, str]] = []
    for key, value in mapping.items():
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise ValueError(f"key {shown_key(key)!r} must match [a-z0-9_.-]{{1,64}}")
        if not isinstance(value, str):
            raise ValueError(f"the value of {key!r} must be a string")
        if not value.isprintable():
            raise ValueError(f"the value of {key!r} must hold only printable characters")
        pairs.append((key, value))
    return tuple(sorted(pairs))


def parse_metadata(value: Any, max_bytes: int) -> Meta:
    """SHAZBOT_METADATA (a JSON object as text, or a mapping) or the argument
    of ``set_metadata``, checked; ``ValueError`` says what is wrong."""
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        if not text.strip():
            return NO_META
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError("must be a JSON object of string keys to string values") from None
    meta = _check(value)
    size = meta_size(meta)
    if size > max_bytes:
        raise ValueError(f"is {size} bytes encoded, over SHAZBOT_MAX_METADATA_BYTES ({max_bytes})")
    return meta


def meta_from_wire(value: Any) -> Meta:
    """An incoming entry's ``meta`` (absent is ``None``): valid metadata, or
    :data:`MALFORMED_META`. The size limit is applied by merge, which knows it."""
    if value is None:
        return NO_META
    try:
        return _check(value)
    except ValueError:
        return MALFORMED_META


def matches(meta: Meta, filters: Mapping[str, str]) -> bool:
    """Whether ``meta`` has every ``key=value`` of ``filters`` (no filters: any)."""
    if not filters:
        return True
    held = dict(meta)
    return all(held.get(key) == value for key, value in filters.items())
