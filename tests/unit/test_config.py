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
        ("SHAZBOT_REQUEST_TIMEOUT", "1e308"),  # would overflow a timer
        ("SHAZBOT_OFFLINE_RETENTION", str(400 * 86400)),
        ("SHAZBOT_MASTER_LIST", "https://store.example/\u202elist.json"),
        ("SHAZBOT_MASTER_LIST_UPDATE", "https://store.example/\x9b2J.json"),
        ("SHAZBOT_URL_PREFIX", "/\x1b[2J"),
        ("SHAZBOT_URL_PREFIX", "/a b"),
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


# -- caps that agree (issue 9, item 3) ----------------------------------------


def test_default_caps_let_a_full_view_through_a_peer_with_the_same_settings() -> None:
    config = load_config(GOOD, environ={})
    # The view counts this server too, so a full view is max_view_size entries.
    assert config.max_entries_per_message >= config.max_view_size


@pytest.mark.parametrize(("per_message", "view"), [("10000", None), ("99", "100"), (5, 6)])
def test_a_per_message_cap_below_the_view_cap_is_refused_naming_both(per_message: object, view: object) -> None:
    settings = {**GOOD, "SHAZBOT_MAX_ENTRIES_PER_MESSAGE": per_message}
    if view is not None:
        settings["SHAZBOT_MAX_VIEW_SIZE"] = view
    with pytest.raises(ConfigError) as caught:
        load_config(settings, environ={})
    problem = caught.value.problems["SHAZBOT_MAX_ENTRIES_PER_MESSAGE"]
    assert "SHAZBOT_MAX_VIEW_SIZE" in problem


def test_equal_caps_are_fine() -> None:
    config = load_config({**GOOD, "SHAZBOT_MAX_ENTRIES_PER_MESSAGE": 100, "SHAZBOT_MAX_VIEW_SIZE": 100}, environ={})
    assert config.max_entries_per_message == config.max_view_size == 100


def test_a_content_length_too_small_for_one_entry_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, "SHAZBOT_MAX_CONTENT_LENGTH": "4096"}, environ={})
    assert "65536" in caught.value.problems["SHAZBOT_MAX_CONTENT_LENGTH"]


# -- secrets: printable ASCII only (issue 15, item 7) -------------------------

ODD_SECRETS = [
    "пароль", "pässword", "tab\there", "new\nline", "sp ace", "nul\x00", "csi\x9b", "bidi\u202e", "nb\u00a0sp",
]


@pytest.mark.parametrize("key", ["SHAZBOT_SECRET", "SHAZBOT_CONTROL_SECRET"])
@pytest.mark.parametrize("secret", ODD_SECRETS, ids=range(len(ODD_SECRETS)))
def test_a_secret_outside_printable_ascii_is_refused_without_echo(key: str, secret: str) -> None:
    for value in (secret, f"good-one,{secret}"):
        with pytest.raises(ConfigError) as caught:
            load_config({**GOOD, key: value}, environ={})
        assert set(caught.value.problems) == {key}
        assert "ASCII" in caught.value.problems[key]
        text = str(caught.value) + repr(caught.value)
        assert secret.strip() not in text and repr(secret.strip()).strip("'") not in text


@pytest.mark.parametrize("auth", ["Bearer пароль", "Bearer zq\tzq", "Bearer zq\x9b", "Bearer zq\r\nX-Evil: 1"])
def test_a_store_authorization_outside_printable_ascii_is_refused_without_echo(auth: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, "SHAZBOT_MASTER_LIST_UPDATE_AUTH": auth}, environ={})
    assert set(caught.value.problems) == {"SHAZBOT_MASTER_LIST_UPDATE_AUTH"}
    assert "ASCII" in caught.value.problems["SHAZBOT_MASTER_LIST_UPDATE_AUTH"]
    assert auth[7:9] not in str(caught.value)


def test_printable_ascii_secrets_and_a_spaced_store_header_are_fine() -> None:
    config = load_config({**GOOD, "SHAZBOT_SECRET": "a!~#$%&'()*+-./:;<=>?@[]^_`{|}", "SHAZBOT_CONTROL_SECRET": "Zz09",
                          "SHAZBOT_MASTER_LIST_UPDATE_AUTH": "Basic dXNlcjpwYXNz"}, environ={})
    assert config.gossip_secret.startswith("a!~") and config.master_list_update_auth == "Basic dXNlcjpwYXNz"


# -- control characters in the base URL (issue 15, item 6) --------------------


@pytest.mark.parametrize("char", ["\x9b", "\x9d", "\x9c", "\u202e", "\u200b", "\u2028", "\ufeff", "\x85", "\x1b"])
def test_a_base_url_with_a_non_printable_character_is_refused(char: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, "SHAZBOT_BASE_URL": f"https://node-1.example/{char}2J"}, environ={})
    assert set(caught.value.problems) == {"SHAZBOT_BASE_URL"}
    assert char not in str(caught.value)


def test_the_base_url_takes_its_canonical_spelling() -> None:
    for spelling, canonical in [("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080/"),
                                ("http://BÜCHER.example", "http://xn--bcher-kva.example/")]:
        assert load_config({**GOOD, "SHAZBOT_BASE_URL": spelling}, environ={}).base_url == canonical


# -- unknown keys (issue 9, found by reading) ---------------------------------


def test_unknown_keys_get_one_warning_naming_them(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="flask_clustershazbot")
    load_config({**GOOD, "SHAZBOT_GOSIP_INTERVAL": "1", "OTHER_KEY": 1, "SHAZBOT_STATE_PATH": "/tmp/x"},
                environ={"SHAZBOT_MONITR": "true", "SHAZBOT_MONITOR": "true", "PATH": "/bin"})
    warnings = [r for r in caplog.records if r.name == "flask_clustershazbot" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "SHAZBOT_GOSIP_INTERVAL" in message and "SHAZBOT_MONITR" in message
    assert "SHAZBOT_GOSSIP_INTERVAL" in message  # the likely meaning
    assert "SHAZBOT_STATE_PATH" not in message and "OTHER_KEY" not in message


def test_known_keys_only_means_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="flask_clustershazbot")
    every_key = {**GOOD, "SHAZBOT_GOSSIP_INTERVAL": "1", "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "1",
                 "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "1", "SHAZBOT_MONITOR": "no", "SHAZBOT_MONITOR_PREFERENCE": "0.5",
                 "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "no", "SHAZBOT_FAILURE_TIMEOUT": "9",
                 "SHAZBOT_OFFLINE_RETENTION": "99", "SHAZBOT_MAX_CLOCK_SKEW": "9",
                 "SHAZBOT_MAX_CONTENT_LENGTH": "100000", "SHAZBOT_AUTOSTART": "no", "SHAZBOT_URL_PREFIX": "/x",
                 "SHAZBOT_REQUEST_TIMEOUT": "0.5", "SHAZBOT_SHUTDOWN_TIMEOUT": "1", "SHAZBOT_STATE_PATH": "/tmp/s",
                 "SHAZBOT_ALLOWED_PEERS": "*.example", "SHAZBOT_MAX_ENTRIES_PER_MESSAGE": "9",
                 "SHAZBOT_MAX_VIEW_SIZE": "9"}
    load_config(every_key, environ=dict.fromkeys(every_key, "x"))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_store_url_error_never_shows_its_query() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({**GOOD, "SHAZBOT_MASTER_LIST": "ftp://store.example/list.json?sig=topsecret-signature"},
                    environ={})
    assert "SHAZBOT_MASTER_LIST" in caught.value.problems
    assert "topsecret" not in str(caught.value)


def test_a_request_timeout_not_below_the_interval_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="flask_clustershazbot"):
        load_config({**GOOD, "SHAZBOT_GOSSIP_INTERVAL": "1", "SHAZBOT_REQUEST_TIMEOUT": "1"}, environ={})
    assert any("SHAZBOT_REQUEST_TIMEOUT" in r.getMessage() for r in caplog.records)
