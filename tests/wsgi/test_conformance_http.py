"""The conformance vectors (tests/conformance/) through HTTP: a Flask app with
the real blueprint and request handlers answers POST /gossip, and GET /list
shows the view after it. Master-list vectors run through the server's own
read-merge-write on a ``file://`` store.

The server's clocks enter through :class:`ClusterNode`'s ``wall_ms`` and
``monotonic`` parameters, so every case sees exactly its ``now_ms``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot.config import ShazbotConfig
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.web.blueprint import create_blueprint
from flask_clustershazbot.web.handlers import RequestHandlers

from ..support.cluster import GOSSIP_SECRET
from ..support.conformance import Case, as_server_list, body_bytes, case_config, case_ids, load_cases, load_view

GOSSIP = load_cases("gossip")
MASTER_LISTS = load_cases("master_list")
AUTH = {"Authorization": f"Bearer {GOSSIP_SECRET}"}

MakeNode = Callable[[Case], tuple[ClusterNode, ShazbotConfig]]


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[MakeNode]:
    """A server holding a case's view, its clock stopped at the case's now."""
    nodes: list[ClusterNode] = []

    def make(case: Case) -> tuple[ClusterNode, ShazbotConfig]:
        config = case_config(case, (tmp_path / "masterlist.json").as_uri())
        now: int = case["now_ms"]
        node = ClusterNode(config, wall_ms=lambda: now, monotonic=lambda: 1000.0)
        nodes.append(node)
        with node.store.transaction() as membership:
            load_view(membership, case)
        return node, config

    yield make
    for node in nodes:
        node.close()


def serve(node: ClusterNode, config: ShazbotConfig) -> Flask:
    app = Flask("conformance")
    app.register_blueprint(create_blueprint(RequestHandlers(node, config), config.url_prefix))
    return app


@pytest.mark.parametrize("case", GOSSIP, ids=case_ids(GOSSIP))
def test_gossip_vector_over_http(make_node: MakeNode, case: Case) -> None:
    node, config = make_node(case)
    client = serve(node, config).test_client()
    response = client.post(
        f"{config.url_prefix}/gossip",
        data=body_bytes(case["incoming"]),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == case["expected_status"], response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.get_json()
    if response.status_code == 200:
        assert as_server_list(answer) == as_server_list(case["expected_answer"])
    else:
        assert isinstance(answer["error"], str) and answer["error"]
        if "expected_error_mentions" in case:
            assert case["expected_error_mentions"] in json.dumps(answer.get("details"))
    listed = client.get(f"{config.url_prefix}/list", headers=AUTH)
    assert listed.status_code == 200
    assert as_server_list(listed.get_json()) == as_server_list(case["expected_view"])


@pytest.mark.parametrize("case", MASTER_LISTS, ids=case_ids(MASTER_LISTS))
def test_master_list_vector_through_a_file_store(make_node: MakeNode, tmp_path: Path, case: Case) -> None:
    node, _ = make_node(case)
    document = tmp_path / "masterlist.json"
    stored = body_bytes(case["incoming"])
    if stored is not None:
        document.write_bytes(stored)
    node.announce()
    assert as_server_list(node.server_list()) == as_server_list(case["expected_view"])
    assert json.loads(document.read_bytes()) == as_server_list(case["expected_document"])
