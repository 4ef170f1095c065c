"""Mutual TLS settings: a client key that cannot be used must be
a ConfigError at start, not a failure (or an OpenSSL pass-phrase prompt on
the terminal) in the gossip thread on every exchange."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flask_clustershazbot.config import load_config
from flask_clustershazbot.errors import ConfigError

from ..support.config import config_dict
from ..support.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def encrypted_copy(key: Path, directory: Path) -> Path:
    out = directory / "client-encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:hunter2", "-out", str(out)],
        check=True, capture_output=True, timeout=60,
    )
    return out


def test_a_pass_phrase_protected_key_is_a_config_error_at_start(pki: Pki, tmp_path: Path) -> None:
    key = encrypted_copy(pki.client_key, tmp_path)
    settings = config_dict(tmp_path, SHAZBOT_TLS_CA=str(pki.ca), SHAZBOT_TLS_CERT=str(pki.client_cert),
                           SHAZBOT_TLS_KEY=str(key))
    with pytest.raises(ConfigError, match="SHAZBOT_TLS_KEY") as caught:
        load_config(settings, {})
    assert "BEGIN" not in str(caught.value)  # never the key's contents


def test_a_key_that_does_not_match_the_certificate_is_a_config_error_at_start(pki: Pki, tmp_path: Path) -> None:
    settings = config_dict(tmp_path, SHAZBOT_TLS_CA=str(pki.ca), SHAZBOT_TLS_CERT=str(pki.client_cert),
                           SHAZBOT_TLS_KEY=str(pki.server_key))
    with pytest.raises(ConfigError, match=r"SHAZBOT_TLS_(CERT|KEY)"):
        load_config(settings, {})


def test_a_ca_bundle_that_holds_no_certificate_is_a_config_error_at_start(pki: Pki, tmp_path: Path) -> None:
    # e.g. the key given where the CA belongs
    settings = config_dict(tmp_path, SHAZBOT_TLS_CA=str(pki.client_key))
    with pytest.raises(ConfigError, match="SHAZBOT_TLS_CA") as caught:
        load_config(settings, {})
    assert "BEGIN" not in str(caught.value)
