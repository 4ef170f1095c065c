"""Writes ownership.json: the key-ownership vectors of docs/protocol.md
section 8.6, computed here with a few lines of hashlib straight from the
specification, never with the package under test::

    .venv/bin/python tests/conformance/make_ownership.py > tests/conformance/ownership.json

The cases are data below; only the weights and owners are computed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

NOW = 1700000000000


def spec_weight(key: str, url: str) -> int:
    """Section 8.6, word for word: first 8 bytes, big-endian, of
    SHA-256(UTF-8(key) || 0x00 || UTF-8(baseUrl))."""
    return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + url.encode()).digest()[:8], "big")


def entry(url: str, meta: dict[str, str] | None = None, monitor: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"baseUrl": url, "monitor": monitor, "lastUpdate": NOW - 1000}
    if meta:
        item["meta"] = meta
    return item


def case(
    name: str,
    description: str,
    key: str,
    online: list[dict[str, Any]],
    offline: list[dict[str, Any]] | None = None,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    offline = offline or []
    wanted = filters or {}
    everyone = online + offline
    weights = {e["baseUrl"]: spec_weight(key, e["baseUrl"]) for e in everyone}
    candidates = [
        e["baseUrl"] for e in online if all(e.get("meta", {}).get(k) == v for k, v in wanted.items())
    ]
    # Largest weight; on an equal weight the smallest URL by UTF-8 bytes.
    ranked = sorted(candidates, key=lambda url: (-weights[url], url.encode()))
    self_url = everyone[0]["baseUrl"]
    return {
        "name": name,
        "description": description,
        "kind": "ownership",
        "self": self_url,
        "now_ms": NOW,
        "view": {
            "online": sorted(online, key=lambda e: e["baseUrl"]),
            "offline": sorted(offline, key=lambda e: e["baseUrl"]),
        },
        "key": key,
        "filters": wanted,
        "expected_weights": {url: f"{w:016x}" for url, w in sorted(weights.items())},
        "expected_owner": ranked[0] if ranked else None,
    }


A, B, C, D = "http://a.example/", "http://b.example/", "http://c.example/", "http://d.example/"
THREE = [entry(A), entry(B), entry(C)]


def first_key_owned_by(url: str, others: list[str], prefix: str) -> str:
    """The first of prefix-0, prefix-1, ... that ``url`` wins among ``others``."""
    n = 0
    while True:
        key = f"{prefix}-{n}"
        if all(spec_weight(key, url) > spec_weight(key, o) for o in others):
            return key
        n += 1


def cases() -> list[dict[str, Any]]:
    drained_key = first_key_owned_by(B, [A, C], "order")
    workers = [
        entry(A, {"role": "web", "zone": "a"}),
        entry(B, {"role": "worker", "zone": "a"}),
        entry(C, {"role": "worker", "zone": "b"}),
        entry(D, {"role": "worker", "zone": "b"}),
    ]
    return [
        case("ownership-single-server", "One online server owns every key (8.6).", "user:42", [entry(A)]),
        case("ownership-three-servers", "The largest weight wins (8.6).", "user:42", THREE),
        case("ownership-three-servers-other-key", "Another key, the same view: weights differ per key (8.6).",
             "invoice/2023/0001", THREE),
        case("ownership-candidate-order-irrelevant", "The same view listed in another order: same owner (8.6).",
             "user:42", [entry(C), entry(A), entry(B)]),
        case("ownership-unicode-key", "A non-ASCII key is hashed as its UTF-8 bytes (2- 3- and 4-byte characters).",
             "ключ-ü-東京-🙂", THREE),
        case("ownership-no-server-online", "No online server: the owner is null (8.6).", "user:42", [],
             [entry(A), entry(B)]),
        case("ownership-drained-owns-nothing",
             "B has the largest weight but is offline (drained): the next largest online server owns the key.",
             drained_key, [entry(A), entry(C)], [entry(B)]),
        case("ownership-filter-role", "Only servers whose meta has role=worker are candidates (8.6).", "report-daily",
             workers, filters={"role": "worker"}),
        case("ownership-two-filters", "Every filter must match: role=worker and zone=b (8.6).", "report-daily",
             workers, filters={"role": "worker", "zone": "b"}),
        case("ownership-filter-matches-nothing", "No server has role=db: the owner is null (8.6).", "report-daily",
             workers, filters={"role": "db"}),
        case("ownership-normalised-urls",
             "Weights use the normalised baseUrl as on the wire: IPv6 compressed, IDNA host, path and port (1, 8.6).",
             "session:9f8e",
             [entry("http://[::1]:8080/"), entry("https://xn--bcher-kva.example/"),
              entry("https://c.example:8443/app/")]),
        case("ownership-monitor-and-meta-irrelevant",
             "monitor and metadata (without filters) do not change weights: the same servers own the same key as in "
             "ownership-three-servers.",
             "user:42", [entry(A, monitor=True), entry(B, {"role": "web"}), entry(C)]),
        case("ownership-longest-key", "A key of 1,024 UTF-8 bytes, the longest GET /owner accepts (8.6).",
             "k" * 1024, THREE),
    ]


if __name__ == "__main__":
    print(json.dumps(cases(), indent=2, ensure_ascii=False))
