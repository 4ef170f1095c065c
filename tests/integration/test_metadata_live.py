"""Metadata among real servers (issue 13): SHAZBOT_METADATA spreads by
gossip, and ``flask shazbot status`` shows it as a column and in ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask

from ..support.cluster import Server
from ..support.waiting import wait_until

META = {"role": "web", "note": "<b>zone 1</b>"}


def test_metadata_spreads_and_status_shows_it(
    servers: Callable[..., Server], http_env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    tagged = servers("tagged", {**http_env, "SHAZBOT_METADATA": json.dumps(META)})
    plain = servers("plain", http_env)

    def seen_by_plain() -> dict[str, object]:
        entries = {s["baseUrl"]: s for s in plain.raw_view()["online"]}
        return dict(entries.get(tagged.base_url, {}))

    wait_until(lambda: seen_by_plain().get("meta") == META, timeout=30, what="plain to see tagged's metadata")
    runner = make_app(SHAZBOT_BASE_URL=plain.base_url).test_cli_runner()

    table = runner.invoke(args=["shazbot", "status"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split()[-1] == "META"
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert rows[tagged.base_url].endswith("note=<b>zone 1</b>,role=web")
    assert rows[plain.base_url].split()[-1] == "ago"  # no metadata: an empty cell

    as_json = runner.invoke(args=["shazbot", "status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    entries = {s["baseUrl"]: s for s in json.loads(as_json.output)["online"]}
    assert entries[tagged.base_url]["meta"] == META and "meta" not in entries[plain.base_url]
