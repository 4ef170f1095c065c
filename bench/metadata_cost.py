"""What server metadata costs per gossip exchange: bytes on the wire, and the
time to encode, decode and merge a full view, with 0, 100 and 1,000 bytes of
metadata per server, measured side by side in one run.

    python bench/metadata_cost.py

One exchange is a request and an answer, each a full view
(``wire.encode_gossip``); every server starts one exchange per gossip round,
so a round of the whole cluster moves N times the exchange's bytes (HTTP
headers not counted). Encode is ``encode_gossip`` of the view; decode is
``parse_json`` + ``load_gossip`` (validation included); merge is
``Membership.merge`` of the decoded view into a view holding the cluster,
with 5% of its entries newer, as in a live cluster. Times are the best of
interleaved repeats; the ratios compare with no metadata at the same N.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.metadata import NO_META, Meta, meta_size
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.wire import encode_gossip, load_gossip, parse_json

SIZES = (0, 100, 1000)
CLUSTERS = (100, 1000)
REPEATS = 9
NOW = int(time.time() * 1000)


def metadata(index: int, size: int) -> Meta:
    """Metadata of server ``index`` whose canonical encoding is exactly ``size``
    bytes: a zone, a role, a version, and a tag list to fill up."""
    if size == 0:
        return NO_META
    base = {"role": "web" if index % 4 else "worker", "version": f"1.4.{index % 7}", "zone": f"eu-west-{index % 3}"}
    fill = size - meta_size(tuple(sorted({**base, "tags": ""}.items())))
    assert fill >= 0, size
    tags = (f"rack-{index},gpu,ssd," * (fill // 10 + 1))[:fill]
    meta = tuple(sorted({**base, "tags": tags}.items()))
    assert meta_size(meta) == size
    return meta


def view(n: int, size: int, *, newer: bool) -> list[ServerEntry]:
    """The cluster's view; ``newer``: with every 20th entry one version on."""
    return [
        ServerEntry(f"http://s{i}.bench:8000/", i % 50 == 0, NOW - 60_000 + (newer and i % 20 == 0), True,
                    metadata(i, size))
        for i in range(n)
    ]


def best(action: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``action``, over ``calls`` calls."""
    began = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - began) / calls


def decode(body: bytes) -> list[ServerEntry]:
    return load_gossip(parse_json(body))


def membership_holding(entries: list[ServerEntry]) -> Membership:
    membership = Membership("http://self.bench/", monitor=False, now_ms=NOW, retention_ms=86_400_000,
                            max_skew_ms=300_000, max_entries=None)
    membership.merge(entries, NOW, 0.0)
    return membership


def measure(n: int) -> dict[int, dict[str, float]]:
    calls = 100 if n <= 100 else 15
    held = {size: view(n, size, newer=False) for size in SIZES}
    sent = {size: view(n, size, newer=True) for size in SIZES}
    bodies = {size: encode_gossip(sent[size]) for size in SIZES}
    decoded = {size: load_gossip(parse_json(bodies[size])) for size in SIZES}
    found: dict[int, dict[str, float]] = {
        size: {"bytes": float(len(bodies[size])), "encode": 1e9, "decode": 1e9, "merge": 1e9} for size in SIZES
    }
    for _ in range(REPEATS):
        # Interleaved: each repeat measures every size, so noise hits all alike.
        for size in SIZES:
            result = found[size]
            result["encode"] = min(result["encode"], best(functools.partial(encode_gossip, sent[size]), calls))
            result["decode"] = min(result["decode"], best(functools.partial(decode, bodies[size]), calls))
            targets = [membership_holding(held[size]) for _ in range(calls)]
            began = time.perf_counter()
            for target in targets:
                target.merge(decoded[size], NOW, 1.0)
            result["merge"] = min(result["merge"], (time.perf_counter() - began) / calls)
    return found


def kib(count: float) -> str:
    return f"{count / 1024:,.1f}"


def main() -> None:
    header = [
        "N", "metadata per server (bytes)", "exchange: request + answer (KiB)", "whole cluster per round (MiB)",
        "bytes ratio", "encode (ms)", "ratio", "decode (ms)", "ratio", "merge (ms)", "ratio",
    ]
    rows: list[list[object]] = []
    per_entry = 0.0
    for n in CLUSTERS:
        found = measure(n)
        zero = found[0]
        per_entry = zero["bytes"] / n
        for size in SIZES:
            got = found[size]
            exchange = 2 * got["bytes"]
            rows.append([
                f"{n:,}", f"{size:,}", kib(exchange), f"{n * exchange / 1024 / 1024:,.2f}",
                f"{got['bytes'] / zero['bytes']:.1f}x",
                f"{got['encode'] * 1000:.2f}", f"{got['encode'] / zero['encode']:.1f}x",
                f"{got['decode'] * 1000:.2f}", f"{got['decode'] / zero['decode']:.1f}x",
                f"{got['merge'] * 1000:.2f}", f"{got['merge'] / zero['merge']:.1f}x",
            ])
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
    write_section(
        "metadata_cost",
        "## Metadata cost (`python bench/metadata_cost.py`)\n\n"
        "What `SHAZBOT_METADATA` costs per gossip exchange, with 0, 100 and 1,000 bytes of metadata (the "
        "canonical JSON of `meta`) per server. An exchange is a request and an answer, each the full view as "
        "`encode_gossip` writes it; every server starts one per round, so the whole cluster moves N exchanges "
        "per round (HTTP headers not counted). Times are per message, one side of an exchange: encode is "
        "`encode_gossip`, decode is `parse_json` + `load_gossip` (validation included), merge is "
        "`Membership.merge` of that view into one holding the cluster with 5% of the entries newer. Best of "
        f"{REPEATS} interleaved runs; ratios against no metadata at the same N, measured in the same run.\n\n"
        + table(header, rows)
        + f"\n\nA server without metadata sends exactly the bytes it sent before metadata existed. An entry "
        f"without metadata is about {per_entry:.0f} bytes on the wire, so the bytes grow with the metadata almost "
        "one for one; SHAZBOT_MAX_METADATA_BYTES (default 1,024) bounds each entry's share. Decode checks every "
        "key and value of every entry (`meta_from_wire`); merge measures the size only of metadata it does not "
        "hold already (what it holds passed the same check when it was accepted).\n",
    )


if __name__ == "__main__":
    main()
