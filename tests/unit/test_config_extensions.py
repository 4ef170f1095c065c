"""The configuration keys of issues 13 and 14: metadata, lame duck, TLS and
DNS sources (docs/protocol.md section 3)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from flask_clustershazbot import ConfigError, load_config

GOOD = {
    "SHAZBOT_SECRET": "g1",
    "SHAZBOT_CONTROL_SECRET": "c1",
    "SHAZBOT_BASE_URL": "https://node-1.example/",
    "SHAZBOT_MASTER_LIST": "https://store.example/list.json",
    "SHAZBOT_MASTER_LIST_UPDATE": "https://store.example/list.json",
    "SHAZBOT_MASTER_LIST_UPDATE_AUTH": "Bearer token",
}
DNS = {key: value for key, value in GOOD.items() if "UPDATE" not in key}


def problems(settings: Mapping[str, object]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(settings, environ={})
    return caught.value.problems


def test_defaults_change_nothing() -> None:
    config = load_config(GOOD, environ={})
    assert config.metadata == () and config.max_metadata_bytes == 1024
    assert config.lame_duck == 0
    assert config.tls_request_args == {"verify": True, "cert": None}
    assert config.dns_scheme == "https" and config.master_list_writable


def test_metadata_is_read_as_sorted_pairs() -> None:
    config = load_config({**GOOD, "SHAZBOT_METADATA": '{"zone": "a", "role": "worker"}'}, environ={})
    assert config.metadata == (("role", "worker"), ("zone", "a"))
    assert load_config({**GOOD, "SHAZBOT_METADATA": {"v": "1.2"}}, environ={}).metadata == (("v", "1.2"),)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{not json", "JSON object"),
        ('["a"]', "JSON object"),
        ('{"Zone": "a"}', "[a-z0-9_.-]"),
        ('{"zone": 3}', "must be a string"),
        ('{"zone": "a\\u001b[31m"}', "printable"),
        (json.dumps({"k": "x" * 2000}), "over SHAZBOT_MAX_METADATA_BYTES"),
    ],
)
def test_bad_metadata_is_named_without_its_value(value: str, reason: str) -> None:
    found = problems({**GOOD, "SHAZBOT_METADATA": value})
    assert reason in found["SHAZBOT_METADATA"]
    assert "x" * 50 not in found["SHAZBOT_METADATA"] and "\x1b" not in found["SHAZBOT_METADATA"]


def test_metadata_limit_follows_the_configured_size() -> None:
    settings = {**GOOD, "SHAZBOT_METADATA": '{"zone": "abcdefghij"}', "SHAZBOT_MAX_METADATA_BYTES": "10"}
    assert "over SHAZBOT_MAX_METADATA_BYTES (10)" in problems(settings)["SHAZBOT_METADATA"]
    settings["SHAZBOT_MAX_METADATA_BYTES"] = "64"
    assert load_config(settings, environ={}).metadata == (("zone", "abcdefghij"),)


def test_lame_duck_is_seconds() -> None:
    assert load_config({**GOOD, "SHAZBOT_LAME_DUCK": "2.5"}, environ={}).lame_duck == 2.5
    assert "SHAZBOT_LAME_DUCK" in problems({**GOOD, "SHAZBOT_LAME_DUCK": "-1"})


CERTS = Path(__file__).resolve().parent.parent / "support" / "certs"


def test_tls_files_are_checked_without_showing_their_contents(tmp_path: Path) -> None:
    ca, cert, key = str(CERTS / "ca.pem"), str(CERTS / "client.pem"), str(CERTS / "client.key")
    config = load_config({**GOOD, "SHAZBOT_TLS_CA": ca, "SHAZBOT_TLS_CERT": cert, "SHAZBOT_TLS_KEY": key},
                         environ={})
    assert config.tls_request_args == {"verify": ca, "cert": (cert, key)}

    fake = tmp_path / "client.key"
    fake.write_text("-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n")
    bad = problems({**GOOD, "SHAZBOT_TLS_CA": str(fake), "SHAZBOT_TLS_CERT": cert, "SHAZBOT_TLS_KEY": str(fake)})
    assert "no usable certificate" in bad["SHAZBOT_TLS_CA"] and "SHAZBOT_TLS_CERT" in bad
    assert "SECRETKEYMATERIAL" not in str(ConfigError(bad))
    encrypted = problems({**GOOD, "SHAZBOT_TLS_CERT": cert, "SHAZBOT_TLS_KEY": str(CERTS / "client-encrypted.key")})
    assert "pass phrase" in encrypted["SHAZBOT_TLS_KEY"]
    mismatch = problems({**GOOD, "SHAZBOT_TLS_CERT": cert, "SHAZBOT_TLS_KEY": str(CERTS / "other.key")})
    assert "does not match" in mismatch["SHAZBOT_TLS_KEY"]

    missing = problems({**GOOD, "SHAZBOT_TLS_CA": str(tmp_path / "nope.pem")})
    assert "existing file" in missing["SHAZBOT_TLS_CA"] and "nope.pem" in missing["SHAZBOT_TLS_CA"]
    alone = problems({**GOOD, "SHAZBOT_TLS_CERT": cert})
    assert "SHAZBOT_TLS_KEY" in alone["SHAZBOT_TLS_CERT"]
    if os.geteuid() != 0:  # root reads anything
        fake.chmod(0)
        unreadable = problems({**GOOD, "SHAZBOT_TLS_CERT": cert, "SHAZBOT_TLS_KEY": str(fake)})
        assert "cannot be read" in unreadable["SHAZBOT_TLS_KEY"]
    everything = str(ConfigError(problems({**GOOD, "SHAZBOT_TLS_KEY": str(tmp_path)})))
    assert "SECRETKEYMATERIAL" not in everything


def test_environment_ca_bundle_does_not_replace_the_configured_one(tmp_path: Path) -> None:
    ca = str(CERTS / "ca.pem")
    config = load_config({**GOOD, "SHAZBOT_TLS_CA": ca}, environ={"REQUESTS_CA_BUNDLE": "/elsewhere.pem"})
    assert config.tls_request_args["verify"] == ca


def test_dns_source_needs_no_update_url() -> None:
    config = load_config({**DNS, "SHAZBOT_MASTER_LIST": "dns+srv://_http._tcp.shazbot.default.svc"}, environ={})
    assert config.master_list_update == "" and not config.master_list_writable
    config = load_config({**DNS, "SHAZBOT_MASTER_LIST": "dns://shazbot.internal:8000",
                          "SHAZBOT_DNS_SCHEME": "HTTP"}, environ={})
    assert config.dns_scheme == "http"


def test_dns_source_refuses_write_settings() -> None:
    found = problems({**GOOD, "SHAZBOT_MASTER_LIST": "dns://shazbot.internal:8000"})
    assert "read-only" in found["SHAZBOT_MASTER_LIST_UPDATE"]
    assert "read-only" in found["SHAZBOT_MASTER_LIST_UPDATE_AUTH"]
    found = problems({**DNS, "SHAZBOT_MASTER_LIST": "dns://shazbot.internal:8000",
                      "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "true"})
    assert "never written" in found["SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN"]
    quiet = {**DNS, "SHAZBOT_MASTER_LIST": "dns://shazbot.internal:8000",
             "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "no"}
    assert not load_config(quiet, environ={}).update_master_list_on_shutdown


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("dns://shazbot.internal", "need a port"),
        ("dns+srv://shazbot.internal", "_service._proto.NAME"),
        ("dns+srv://_http._tcp.x.example:80", "take no port"),
        ("dns://bad_label-.example:80", "valid DNS name"),
    ],
)
def test_bad_dns_sources_are_explained(url: str, reason: str) -> None:
    assert reason in problems({**DNS, "SHAZBOT_MASTER_LIST": url})["SHAZBOT_MASTER_LIST"]


def test_dns_scheme_is_http_or_https() -> None:
    assert "http or https" in problems({**GOOD, "SHAZBOT_DNS_SCHEME": "ftp"})["SHAZBOT_DNS_SCHEME"]
