"""The conformance vectors (tests/conformance/) against the pure protocol:
wire decoding, then :class:`Membership` merge, tick and master-list merge,
with time passed in. Limits on the body (413) belong to the HTTP layer and
run in tests/wsgi/test_conformance_http.py."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from flask_clustershazbot.errors import InvalidMessage
from flask_clustershazbot.masterlist.core import stored_or_replaced
from flask_clustershazbot.protocol.model import entries_to_wire
from flask_clustershazbot.protocol.tick import TickPolicy, plan_tick
from flask_clustershazbot.wire import encode_server_list, fit_gossip, gossip_message, load_gossip, parse_json

from ..support.conformance import (
    Case,
    as_server_list,
    body_bytes,
    case_config,
    case_ids,
    load_cases,
    membership_for,
)

#: Never read: the pure runner touches no store.
UNUSED_STORE = "file:///nonexistent/conformance-masterlist.json"
#: Any monotonic reading: only differences matter.
MONO = 1000.0

GOSSIP = [case for case in load_cases("gossip") if case["expected_status"] != 413]
TICKS = load_cases("tick")
MASTER_LISTS = load_cases("master_list")


def test_the_vectors_are_many_and_named_uniquely() -> None:
    cases = load_cases()
    names = case_ids(cases)
    assert len(names) == len(set(names))
    assert len(cases) >= 30
    assert {case["kind"] for case in cases} == {"gossip", "tick", "master_list", "ownership"}
    assert {case["expected_status"] for case in load_cases("gossip")} == {200, 400, 413}


@pytest.mark.parametrize("case", GOSSIP, ids=case_ids(GOSSIP))
def test_gossip_vector(case: Case) -> None:
    membership = membership_for(case, case_config(case, UNUSED_STORE))
    raw = body_bytes(case["incoming"])
    assert raw is not None
    status: int
    answer: dict[str, Any]
    try:
        entries = load_gossip(parse_json(raw))
    except InvalidMessage as exc:
        status, answer = exc.status, exc.to_json()
    else:
        membership.merge(entries, case["now_ms"], MONO)
        status, answer = 200, gossip_message(membership.view())
    assert status == case["expected_status"], answer
    if status == 200:
        assert as_server_list(answer) == as_server_list(case["expected_answer"])
    else:
        assert isinstance(answer["error"], str) and answer["error"]
        if "expected_error_mentions" in case:
            assert case["expected_error_mentions"] in json.dumps(answer.get("details"))
    assert entries_to_wire(membership.view()) == as_server_list(case["expected_view"])


@pytest.mark.parametrize("case", TICKS, ids=case_ids(TICKS))
def test_tick_vector(case: Case) -> None:
    config = case_config(case, UNUSED_STORE)
    membership = membership_for(case, config)
    tick = case["tick"]
    for url, seconds in tick["seconds_since_heard"].items():
        membership.heard_at[url] = MONO - seconds
    previous = tick["seconds_since_previous_tick"]
    membership.last_detection = None if previous is None else MONO - previous
    policy = TickPolicy(config.gossip_interval, config.monitor_preference, config.failure_timeout)
    plan_tick(membership, case["now_ms"], MONO, random.Random(0), policy.new_backoff(), policy)
    assert entries_to_wire(membership.view()) == as_server_list(case["expected_view"])


@pytest.mark.parametrize("case", MASTER_LISTS, ids=case_ids(MASTER_LISTS))
def test_master_list_vector(case: Case) -> None:
    config = case_config(case, UNUSED_STORE)
    membership = membership_for(case, config)
    stored = stored_or_replaced(body_bytes(case["incoming"]), "the conformance vector")
    membership.merge(stored, case["now_ms"], MONO)
    assert entries_to_wire(membership.view()) == as_server_list(case["expected_view"])
    written = encode_server_list(fit_gossip(membership.view(), **config.message_limits))
    assert json.loads(written) == as_server_list(case["expected_document"])
