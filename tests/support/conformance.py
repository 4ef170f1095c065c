"""Reading the language-neutral conformance vectors in ``tests/conformance/``
(their format is described in tests/conformance/README.md and
docs/protocol.md, "Conformance vectors").

Only what every runner needs lives here: the cases, the bytes of a body, the
configuration a case names, and loading a case's view as a state. What a case
expects is checked by the runners themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask_clustershazbot.config import ShazbotConfig, load_config
from flask_clustershazbot.protocol.allowlist import PeerAllowList
from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry

from .cluster import CONTROL_SECRET, GOSSIP_SECRET

__all__ = [
    "VECTORS",
    "Case",
    "load_cases",
    "case_ids",
    "body_bytes",
    "case_config",
    "view_entries",
    "load_view",
    "membership_for",
    "as_server_list",
]

#: The folder of the vector files.
VECTORS = Path(__file__).resolve().parent.parent / "conformance"

#: One case, as decoded from JSON.
Case = dict[str, Any]


def load_cases(kind: str | None = None) -> list[Case]:
    """Every case of every vector file (in file order), or those of one kind."""
    cases: list[Case] = []
    for path in sorted(VECTORS.glob("*.json")):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(loaded, list), f"{path.name} must hold a list of cases"
        cases.extend(loaded)
    return [case for case in cases if kind is None or case["kind"] == kind]


def case_ids(cases: list[Case]) -> list[str]:
    return [str(case["name"]) for case in cases]


def body_bytes(body: dict[str, Any]) -> bytes | None:
    """The exact bytes a body describes; ``None`` for an absent document."""
    if body.get("absent"):
        return None
    if "json" in body:
        raw = json.dumps(body["json"]).encode()
    elif "text" in body:
        raw = str(body["text"]).encode("utf-8")
    else:
        raw = bytes.fromhex(str(body["hex"]))
    pad = body.get("pad_to_bytes")
    if pad is not None:
        assert len(raw) <= pad, "a body longer than its pad_to_bytes is a broken vector"
        # Trailing whitespace is still the same JSON: only the size changes.
        raw += b" " * (int(pad) - len(raw))
    return raw


def view_entries(server_list: dict[str, Any]) -> list[ServerEntry]:
    """A ServerList of normalised URLs as entries (a state: no validation)."""
    return [
        ServerEntry(item["baseUrl"], item["monitor"], item["lastUpdate"], online)
        for online, key in ((True, "online"), (False, "offline"))
        for item in server_list.get(key, [])
    ]


def own_entry(case: Case) -> ServerEntry:
    own = [entry for entry in view_entries(case["view"]) if entry.base_url == case["self"]]
    assert len(own) == 1, "a case's view holds this server's own entry exactly once"
    return own[0]


def case_config(case: Case, master_list: str) -> ShazbotConfig:
    """The configuration a case names, on top of the documented defaults."""
    settings: dict[str, Any] = {
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_BASE_URL": case["self"],
        "SHAZBOT_MONITOR": own_entry(case).monitor,
        "SHAZBOT_MASTER_LIST": master_list,
        "SHAZBOT_MASTER_LIST_UPDATE": master_list,
        "SHAZBOT_AUTOSTART": False,
    }
    settings.update(case.get("config", {}))
    return load_config(settings, environ={})


def load_view(membership: Membership, case: Case) -> None:
    """Make ``membership`` hold exactly the case's view (its own entry included)."""
    membership.entries.clear()
    membership.entries.update((entry.base_url, entry) for entry in view_entries(case["view"]))


def membership_for(case: Case, config: ShazbotConfig) -> Membership:
    """The pure state of a server with ``config``, holding the case's view."""
    membership = Membership(
        config.base_url,
        monitor=config.monitor,
        now_ms=own_entry(case).last_update,
        retention_ms=int(config.offline_retention * 1000),
        max_skew_ms=int(config.max_clock_skew * 1000),
        admits=PeerAllowList(config.allowed_peers).allows if config.allowed_peers else None,
        max_entries=config.max_view_size,
    )
    load_view(membership, case)
    return membership


def as_server_list(document: Any) -> Any:
    """A ServerList or GossipMessage with ``offline`` filled in when left out
    (docs/protocol.md section 1: it is optional), for comparison."""
    if isinstance(document, dict) and "online" in document:
        return {"offline": [], **document}
    return document
