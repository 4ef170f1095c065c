"""DNS discovery against hostile or broken answers: a record whose target is
not a plain host name (a dot or a backslash inside a label) or whose port is
0 is skipped, a server never connects outside SHAZBOT_ALLOWED_PEERS, and
records outside it cost one rate-limited warning per read, not one each. The
resolver enters through DnsMasterList's ``lookup`` parameter; the HTTP side
is the real PeerClient with a requests Session whose adapter records where
each request would connect (and refuses it)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.dns import DnsMasterList, target_text
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.allowlist import PeerAllowList
from flask_clustershazbot.transport import PeerClient

from ..support.memory_network import memory_config

SRV_NAME = "_http._tcp.shazbot.test"
ALLOWED = ("*.shazbot.test",)


class SrvLookup:
    """Answers every SRV query with ``records``."""

    def __init__(self, records: list[tuple[str, int]]) -> None:
        self.records = records

    def addresses(self, name: str, timeout: float) -> list[str]:
        return []

    def services(self, name: str, timeout: float) -> list[tuple[str, int]]:
        return list(self.records)


class RecordingAdapter(BaseAdapter):
    """Records the host and port each request would connect to; refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, int | None]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        from urllib3.util import parse_url

        parsed = parse_url(str(request.url))
        self.targets.append((str(parsed.host), parsed.port))
        raise requests.ConnectionError("refused by the test")

    def close(self) -> None:
        pass


def node_with(records: list[tuple[str, int]]) -> tuple[ClusterNode, RecordingAdapter]:
    config = memory_config("http://me.shazbot.test:8000", allowed_peers=ALLOWED, request_timeout=2.0)
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    transport = PeerClient(
        secret="gossip-secret", sender=config.base_url, url_prefix=config.url_prefix,
        timeout=2.0, max_body=config.max_content_length, session=session,
    )
    master_list = DnsMasterList(f"dns+srv://{SRV_NAME}", scheme="http", timeout=2.0, lookup=SrvLookup(records))
    return ClusterNode(config, transport=transport, master_list=master_list), adapter


# dnspython's Name.to_text() of a target whose first label is b"2130706433.x"
# (a dot inside a label is legal in DNS and escaped in text). 2130706433 is
# 127.0.0.1 written as one decimal number, which getaddrinfo accepts.
ESCAPED_TARGET = "2130706433\\.x.shazbot.test."


def test_an_srv_target_never_makes_the_server_connect_outside_the_allowed_peers() -> None:
    node, adapter = node_with([(ESCAPED_TARGET, 8000)])
    with pytest.raises(MasterListError):
        node.load_master_list()  # nobody answered
    allow = PeerAllowList(ALLOWED)
    # Every host actually contacted (with the gossip secret in a header) must
    # be one SHAZBOT_ALLOWED_PEERS admits.
    outside = [(host, port) for host, port in adapter.targets if not allow.allows(f"http://{host}:{port or 80}/")]
    assert outside == []


def test_seed_urls_hold_only_host_names_a_client_parses_the_same_way() -> None:
    from urllib.parse import urlsplit

    from urllib3.util import parse_url

    source = DnsMasterList(f"dns+srv://{SRV_NAME}", scheme="http", timeout=2.0,
                           lookup=SrvLookup([(ESCAPED_TARGET, 8000), ("odd\\032name.shazbot.test.", 8000)]))
    try:
        urls = source.urls()
    except MasterListError:
        urls = []  # refusing such records altogether is fine
    for url in urls:
        # The allow-list checks urlsplit's host; requests connects to urllib3's.
        assert parse_url(url).host == urlsplit(url).hostname, url


def test_a_port_0_srv_record_is_not_a_server() -> None:
    source = DnsMasterList(f"dns+srv://{SRV_NAME}", scheme="http", timeout=2.0,
                           lookup=SrvLookup([("a.shazbot.test.", 0), ("b.shazbot.test.", 8000)]))
    assert source.urls() == ["http://b.shazbot.test:8000/"]


def test_records_outside_the_allowed_peers_are_not_one_warning_each_at_every_announce(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records = [(f"host{i}.elsewhere.example.", 8000) for i in range(200)]
    node, adapter = node_with(records)
    with caplog.at_level(logging.WARNING, logger="flask_clustershazbot"), pytest.raises(MasterListError):
        node.load_master_list()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert adapter.targets == []  # none contacted: good
    assert len(warnings) <= 2, f"{len(warnings)} warnings for one DNS read"


def test_the_refused_records_are_counted_and_the_read_fails_saying_why() -> None:
    node, adapter = node_with([("a.elsewhere.example.", 8000), ("b.elsewhere.example.", 8000)])
    with pytest.raises(MasterListError, match="SHAZBOT_ALLOWED_PEERS"):
        node.load_master_list()
    assert node.counters["entries_refused_not_allowed"] == 2
    assert adapter.targets == []


def test_an_allowed_record_is_still_contacted_next_to_refused_ones() -> None:
    node, adapter = node_with([("x.elsewhere.example.", 8000), ("ok.shazbot.test.", 8000)])
    with pytest.raises(MasterListError):
        node.load_master_list()  # the adapter refuses every connection
    assert adapter.targets == [("ok.shazbot.test", 8000)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("peer-1.shazbot.test.", "peer-1.shazbot.test"),
        ("my_service.shazbot.test.", "my_service.shazbot.test"),
        (".", "."),
        (ESCAPED_TARGET, None),  # a dot inside a label
        ("odd\\032name.shazbot.test.", None),  # a space inside a label
        ("a\\\\b.shazbot.test.", None),  # a backslash inside a label
        ("a\\@b.shazbot.test.", None),
        ("\\195\\188.shazbot.test.", None),  # not ASCII
    ],
)
def test_srv_targets_are_read_from_their_labels_and_only_plain_names_kept(text: str, expected: str | None) -> None:
    dns_name = pytest.importorskip("dns.name")  # the optional dns extra

    # What dnspython gives for a record on the wire, whatever its text form.
    assert target_text(dns_name.from_text(text).labels) == expected
