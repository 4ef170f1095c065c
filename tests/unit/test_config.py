from __future__ import annotations

import pytest

from flask_clustershazbot import ConfigError, load_config

GOOD = {
    "SHAZBOT_SECRET": "g1,g2",
    "SHAZBOT_CONTROL_SECRET": "c1",
    "SHAZBOT_BASE_URL": "HTTPS://Node-1.example:443",
    "SHAZBOT_MASTER_LIST": "https://store.example/list.json",
    "SHAZBOT_MASTER_LIST_UPDATE": "https://store.example/list.json",
    "SHAZBOT_MASTER_LIST_UPDATE_AUTH": "Bearer topsecret-store-token",
}


def test_defaults_and_normalisation() -> None:
    config = load_config(GOOD, environ={})
    assert config.base_url == "https://node-1.example/"
    assert config.secrets == ("g1", "g2") and config.gossip_secret == "g1"
    assert config.gossip_interval == 30 and config.master_announce_minimum == 300
    assert config.master_announce_interval == 600 and config.monitor is False
    assert config.monitor_preference == 0.5 and config.failure_timeout is None
    assert config.offline_retention == 86400 and config.max_clock_skew == 300
    assert config.max_content_length == 8 * 1024 * 1024 and config.autostart is True


def test_app_config_wins_over_environment_which_wins_over_defaults() -> None:
    env = {**GOOD, "SHAZBOT_GOSSIP_INTERVAL": "0.2", "SHAZBOT_MONITOR": "yes"}
    config = load_config({"SHAZBOT_GOSSIP_INTERVAL": 5}, environ=env)
    assert config.gossip_interval == 5.0 and config.monitor is True
    assert load_config({}, environ=env).gossip_interval == 0.2


def test_every_bad_key_is_named_in_one_error() -> None:
    bad = {
        "SHAZBOT_BASE_URL": "ftp://x",
        "SHAZBOT_GOSSIP_INTERVAL": "soon",
        "SHAZBOT_MONITOR_PREFERENCE": "1.5",
        "SHAZBOT_MONITOR": "maybe",
        "SHAZBOT_MASTER_LIST": "s3:/nope",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(bad, environ={})
    problems = caught.value.problems
    assert set(problems) == {
        "SHAZBOT_SECRET",
        "SHAZBOT_CONTROL_SECRET",
        "SHAZBOT_BASE_URL",
        "SHAZBOT_MASTER_LIST",
        "SHAZBOT_MASTER_LIST_UPDATE",
        "SHAZBOT_MASTER_LIST_UPDATE_AUTH",
        "SHAZBOT_GOSSIP_INTERVAL",
        "SHAZBOT_MONITOR_PREFERENCE",
        "SHAZBOT_MONITOR",
    }
    for key in problems:
        assert key in str(caught.value)


def test_secret_values_never_appear_in_config_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, "SHAZBOT_CONTROL_SECRET": "g2", "SHAZBOT_GOSSIP_INTERVAL": "-1"}, environ={})
    text = str(caught.value)
    assert "SHAZBOT_CONTROL_SECRET" in text and "SHAZBOT_GOSSIP_INTERVAL" in text
    assert "g2" not in text and "topsecret" not in text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SHAZBOT_GOSSIP_INTERVAL", "0"),
        ("SHAZBOT_FAILURE_TIMEOUT", "nan"),
        ("SHAZBOT_MAX_CONTENT_LENGTH", "-5"),
        ("SHAZBOT_SECRET", " , "),
        ("SHAZBOT_AUTOSTART", "perhaps"),
        ("SHAZBOT_MASTER_LIST_UPDATE", "file:///tmp/x.json"),
    ],
)
def test_malformed_values(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, key: value}, environ={})
    assert key in caught.value.problems


def test_fractions_of_seconds_are_accepted() -> None:
    config = load_config({**GOOD, "SHAZBOT_GOSSIP_INTERVAL": "0.2", "SHAZBOT_FAILURE_TIMEOUT": 1.5}, environ={})
    assert config.gossip_interval == 0.2 and config.failure_timeout == 1.5


def test_file_master_list_needs_no_write_auth() -> None:
    config = load_config(
        {
            **GOOD,
            "SHAZBOT_MASTER_LIST": "file:///tmp/list.json",
            "SHAZBOT_MASTER_LIST_UPDATE": "file:///tmp/list.json",
            "SHAZBOT_MASTER_LIST_UPDATE_AUTH": None,
        },
        environ={},
    )
    assert config.master_list_update_auth is None
