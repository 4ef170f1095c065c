"""SHAZBOT_ALLOWED_PEERS: which base URLs a server may talk to and keep entries for."""

from __future__ import annotations

import pytest

from flask_clustershazbot.config import load_config
from flask_clustershazbot.errors import ConfigError
from flask_clustershazbot.protocol.allowlist import PeerAllowList, parse_allowed_peers


def allows(patterns: str, base_url: str) -> bool:
    return PeerAllowList(parse_allowed_peers(patterns)).allows(base_url)


def test_unset_allows_every_url() -> None:
    allow = PeerAllowList(None)
    assert allow.allows("http://anything.example/") and allow.allows("https://10.1.2.3:8443/app/")


@pytest.mark.parametrize(
    ("patterns", "url", "expected"),
    [
        ("node-1.example", "http://node-1.example/", True),
        ("node-1.example", "https://NODE-1.example:8443/app/", True),
        ("node-1.example", "http://node-2.example/", False),
        ("*.internal.example", "http://a.internal.example/", True),
        ("*.internal.example", "http://a.b.internal.example/", True),
        ("*.internal.example", "http://internal.example/", False),
        ("*.internal.example", "http://evil.example/a.internal.example/", False),
        ("node-?.example", "http://node-7.example/", True),
        ("node-?.example", "http://node-17.example/", False),
        ("node-[12].example", "http://node-2.example/", True),
        ("node-[12].example", "http://node-3.example/", False),
        ("[ab]-node.example", "http://b-node.example/", True),
        ("[ab]-node.example", "http://c-node.example/", False),
        ("10.0.0.0/8", "http://10.200.3.4:8000/", True),
        ("10.0.0.0/8", "http://11.0.0.1/", False),
        ("10.0.0.0/8", "http://10.example/", False),
        ("192.168.1.5", "http://192.168.1.5:5000/", True),
        ("192.168.1.5", "http://192.168.1.6:5000/", False),
        ("fd00::/8", "http://[fd12:3456::1]:8000/", True),
        ("fd00::/8", "http://[fe80::1]:8000/", False),
        ("fd00::1", "http://[fd00::1]:8000/", True),
        ("localhost, 10.0.0.0/8", "http://localhost:5000/", True),
        ("localhost, 10.0.0.0/8", "http://10.0.0.1/", True),
        ("localhost, 10.0.0.0/8", "http://169.254.169.254/", False),
    ],
)
def test_patterns_match_the_host_of_a_base_url(patterns: str, url: str, expected: bool) -> None:
    assert allows(patterns, url) is expected


@pytest.mark.parametrize(
    ("pattern", "inside", "outside"),
    [
        ("[fd00::1]", "http://[fd00::1]:8000/", "http://[fd00::2]:8000/"),
        ("[FD00::1]", "https://[fd00::1]/", "http://127.0.0.1:8000/"),
        ("[fd00::]/64", "http://[fd00::abcd]:8000/", "http://[fd00:0:0:1::1]:8000/"),
        ("[fd00::/64]", "http://[fd00::abcd]:8000/", "http://[fd01::1]:8000/"),
    ],
)
def test_bracketed_ipv6_patterns_are_accepted_as_written_in_urls(pattern: str, inside: str, outside: str) -> None:
    assert allows(pattern, inside)
    assert not allows(pattern, outside)


def test_bracketed_ipv6_allow_list_passes_the_configuration_check() -> None:
    config = load_config(
        {
            "SHAZBOT_SECRET": "gossip-secret",
            "SHAZBOT_CONTROL_SECRET": "control-secret",
            "SHAZBOT_BASE_URL": "http://[fd00::1]:8000/",
            "SHAZBOT_MASTER_LIST": "file:///tmp/masterlist.json",
            "SHAZBOT_MASTER_LIST_UPDATE": "file:///tmp/masterlist.json",
            "SHAZBOT_ALLOWED_PEERS": "[fd00::1]",
        },
        environ={},
    )
    allow = PeerAllowList(config.allowed_peers)
    assert allow.allows("http://[fd00::1]:8000/")
    assert not allow.allows("http://[fd00::2]:8000/")


def test_patterns_are_lower_cased_trimmed_and_empty_items_dropped() -> None:
    assert parse_allowed_peers(" Node-1.Example ,, 10.0.0.0/8 ,") == ("node-1.example", "10.0.0.0/8")
    assert parse_allowed_peers(["A.example", " "]) == ("a.example",)


def test_international_names_are_stored_in_their_idna_form() -> None:
    assert parse_allowed_peers("bücher.example") == ("xn--bcher-kva.example",)
    assert allows("*.bücher.example", "http://shop.xn--bcher-kva.example/")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "at least one"),
        (" , ,", "at least one"),
        ("10.0.0.0/33", "not a valid CIDR range"),
        ("fd00::/129", "not a valid CIDR range"),
        ("[fd00::1", "not a valid IPv6 address or range in brackets"),
        ("[fd00::zz]", "not a valid IPv6 address or range in brackets"),
        ("[fd00::]x", "not a valid IPv6 address or range in brackets"),
        ("[fd00::/64]/64", "not a valid IPv6 address or range in brackets"),
        ("[10.0.0.1]", "only IPv6 addresses are written in brackets"),
        ("host name.example", "not a host pattern"),
        ("http://node.example/", "not a host pattern or CIDR range"),
        ("node.example/app", "not a host pattern or CIDR range"),
        ("*.bücher*.example", "xn-- form"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_allowed_peers(value)


def test_a_bad_pattern_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            {
                "SHAZBOT_SECRET": "gossip-secret",
                "SHAZBOT_CONTROL_SECRET": "control-secret",
                "SHAZBOT_BASE_URL": "http://[fd00::1]:8000/",
                "SHAZBOT_MASTER_LIST": "file:///tmp/masterlist.json",
                "SHAZBOT_MASTER_LIST_UPDATE": "file:///tmp/masterlist.json",
                "SHAZBOT_ALLOWED_PEERS": "[fd00::1",
            },
            environ={},
        )
    assert list(caught.value.problems) == ["SHAZBOT_ALLOWED_PEERS"]


def test_results_are_cached_per_url_without_changing_the_answer() -> None:
    allow = PeerAllowList(parse_allowed_peers("*.example"))
    assert [allow.allows("http://a.example/") for _ in range(3)] == [True, True, True]
    assert not allow.allows("http://a.example.evil/")
